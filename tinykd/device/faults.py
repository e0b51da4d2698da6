"""Faults the virtual board can be asked to show, so hosts are tested against boards that misbehave the way
real hardware does (boot noise, lost and corrupted lines, resets, slow or wrong answers, line noise)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tinykd.device.protocol import FRAME_CLIP
from tinykd.errors import TinykdError

# name -> (meaning of the number after "@", default)
FAULTS: dict[str, tuple[str, int]] = {
    "garbage": ("bytes of boot noise before the hello (and after every reset)", 96),
    "corrupt-line": ("flip one character of the Nth result line", 2),
    "drop-line": ("never send the Nth result line", 2),
    "reset": ("reset the board after the Nth result line (noise, then a new hello)", 3),
    "slow": ("extra milliseconds per inference", 300),
    "corrupt-frame": ("flip one byte of the Nth clip frame received (line noise host -> board)", 2),
    "silent": ("the board never writes anything (N unused)", 0),
    "skew": ("every Nth inference swaps its two best scores (a board computing wrong answers)", 3),
}


def parse_faults(specs: list[str] | tuple[str, ...]) -> dict[str, int]:
    """["reset@5", "garbage"] -> {"reset": 5, "garbage": 96}; a one-line error for unknown names."""
    out: dict[str, int] = {}
    for spec in specs:
        for part in spec.split(","):
            name, _, num = part.strip().partition("@")
            if not name:
                continue
            if name not in FAULTS:
                raise TinykdError(f"unknown fault {name!r}; known: {', '.join(FAULTS)} (optionally name@N)")
            if num and not num.isdigit():
                raise TinykdError(f"fault {part!r}: the number after @ must be a non-negative integer")
            out[name] = int(num) if num else FAULTS[name][1]
    return out


@dataclass
class FaultInjector:
    """Applies the requested faults; positions count from the host's connection (`connected()`)."""

    faults: dict[str, int]
    rng: np.random.Generator
    applied: list[str] = field(default_factory=list)
    results: int = 0
    inferences: int = 0
    pending_reset: bool = False
    reset_fired: bool = False
    _frame_pos: int = -1  # position inside an incoming frame, for corrupt-frame
    _frame_type: int = 0
    _clip_frames: int = 0
    _prev_byte: int = -1

    def connected(self) -> None:
        self.results = 0
        self.reset_fired = False
        self._clip_frames = 0

    def boot_noise(self) -> bytes:
        n = self.faults.get("garbage", 0)
        if not n:
            return b""
        # What a reader at 921 600 baud sees of the ROM boot loader's 115 200 baud banner.
        noise = self.rng.integers(0, 256, n, dtype=np.uint8).tobytes()
        return noise[: n // 2] + b"\r\n" + noise[n // 2 :] + b"\r\n"

    def outgoing(self, line: bytearray) -> bytes | None:
        """A line the board writes, as it reaches the wire (None: lost)."""
        if "silent" in self.faults:
            return None
        if line[:1] == b"R":
            self.results += 1
            k = self.results
            if self.faults.get("drop-line") == k:
                self.applied.append(f"drop-line@{k}")
                return None
            if self.faults.get("corrupt-line") == k:
                line[len(line) // 2] ^= 0x01
                self.applied.append(f"corrupt-line@{k}")
            if self.faults.get("reset") == k and not self.reset_fired:
                self.pending_reset = True
        return bytes(line)

    def take_reset(self) -> bool:
        """True once when a reset fault is due (once per connection: a board that resets forever is another fault)."""
        if not self.pending_reset:
            return False
        self.pending_reset = False
        self.reset_fired = True
        self.applied.append(f"reset@{self.results}")
        return True

    def scores(self, out: np.ndarray) -> np.ndarray:
        """Scores after a 'skew' fault (wrong answers) and the 'slow' delay in ms to add."""
        self.inferences += 1
        skew = self.faults.get("skew")
        if skew and self.inferences % skew == 0 and len(out) > 1:
            top2 = np.argsort(out)[-2:]
            out[top2] = out[top2[::-1]]
            self.applied.append(f"skew@{self.inferences}")
        return out

    @property
    def slow_ms(self) -> int:
        return self.faults.get("slow", 0)

    def incoming(self, data: bytearray) -> None:
        """Line noise host -> board: flip a byte of the Nth clip frame's payload in place."""
        target = self.faults.get("corrupt-frame")
        if target is None:
            return
        for i, b in enumerate(data):
            if self._frame_pos < 0:
                if self._prev_byte == 0xA5 and b == 0x5A:
                    self._frame_pos = 2
            else:
                if self._frame_pos == 2:
                    self._frame_type = b
                    if b == FRAME_CLIP:
                        self._clip_frames += 1
                if self._frame_pos == 20 and self._frame_type == FRAME_CLIP and self._clip_frames == target:
                    data[i] ^= 0x10
                    self.applied.append(f"corrupt-frame@{target}")
                    self._frame_pos = -1
                    self._prev_byte = -1
                    continue
                self._frame_pos = -1 if self._frame_pos > 20 else self._frame_pos + 1
            self._prev_byte = b
