"""`QuantizeConfig`: the knobs of `tinykd quantize`, saved in quantize.json beside the model."""

from __future__ import annotations

from dataclasses import dataclass

from tinykd.errors import TinykdError

@dataclass
class QuantizeConfig:
    representative_size: int = 200  # training clips used to calibrate activation ranges
    # logmel (research) students only: their float front end's matrices stored int8 + DEQUANTIZE (4x less
    # flash) | float | auto
    frontend_weights: str = "auto"
    float_head: bool = False  # keep the pooling head and classifier float (their matrices stored int8)
    arena_margin: float = 0.10  # emitted arena = measured * (1 + margin), rounded up to 1 KiB
    max_test_clips: int = 0  # 0 = the whole test split
    seed: int = 0  # which training clips calibrate
    name: str = "tinykd"  # prefix of the emitted C identifiers (sanitised)
    board: str = ""  # when set, refuse a model that does not fit this board

    def validate(self) -> None:
        if int(self.representative_size) < 1:
            raise TinykdError(f"--representative-size must be >= 1, got {self.representative_size}")
        if self.frontend_weights not in ("auto", "int8", "float"):
            raise TinykdError(f"--frontend-weights must be auto, int8 or float, got {self.frontend_weights!r}")
        if not (0.0 <= self.arena_margin <= 4.0):
            raise TinykdError(f"--arena-margin must be in [0, 4] (a fraction), got {self.arena_margin}")
        if int(self.max_test_clips) < 0:
            raise TinykdError(f"--max-test-clips must be >= 0, got {self.max_test_clips}")
