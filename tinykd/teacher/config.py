"""Typed configs of the teacher: the `tiny` model's size and the fine-tuning run (saved as JSON)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace

from tinykd.errors import TinykdError

DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class TinyTeacherSize:
    """A small Wav2Vec2 built from scratch (`--base tiny`).

    Defaults: the stable recipe in FIELD-NOTES (pre-norm transformer, layer-normed feature encoder, no time
    masking), hidden 128, 4 layers, 4 heads, with a 4-layer feature encoder of total stride 320 (20 ms frames,
    49 per second at 16 kHz) instead of Wav2Vec2's 7 layers: 2.6x cheaper per step on a CPU, same frame rate.
    """

    hidden_size: int = 128
    num_hidden_layers: int = 4
    num_attention_heads: int = 4
    intermediate_size: int = 512
    conv_dim: tuple[int, ...] = (64, 64, 128, 128)
    conv_kernel: tuple[int, ...] = (20, 4, 4, 2)
    conv_stride: tuple[int, ...] = (10, 4, 4, 2)
    num_conv_pos_embeddings: int = 16  # relative position conv width, in frames
    num_conv_pos_embedding_groups: int = 16
    dropout: float = 0.1  # hidden, attention, activation and final dropout

    def __post_init__(self) -> None:
        if not (len(self.conv_dim) == len(self.conv_kernel) == len(self.conv_stride) >= 1):
            raise TinykdError("tiny teacher: conv_dim, conv_kernel and conv_stride need the same length (>= 1)")
        if self.hidden_size % self.num_attention_heads:
            raise TinykdError(
                f"tiny teacher: hidden_size {self.hidden_size} is not divisible by "
                f"num_attention_heads {self.num_attention_heads}"
            )
        if self.hidden_size % self.num_conv_pos_embedding_groups:
            raise TinykdError(
                f"tiny teacher: hidden_size {self.hidden_size} is not divisible by "
                f"num_conv_pos_embedding_groups {self.num_conv_pos_embedding_groups}"
            )
        if min(self.hidden_size, self.num_hidden_layers, self.intermediate_size, *self.conv_dim) <= 0:
            raise TinykdError("tiny teacher: sizes must be positive")

    def with_overrides(self, overrides: list[str]) -> "TinyTeacherSize":
        """Apply `KEY=VALUE` strings (tuples as comma lists, e.g. `conv_dim=32,32,64,64`)."""
        kinds = {f.name: f.type for f in fields(self)}
        changes: dict = {}
        for item in overrides:
            key, sep, value = item.partition("=")
            key = key.strip().replace("-", "_")
            if not sep or key not in kinds:
                raise TinykdError(f"tiny teacher: bad override {item!r}; use KEY=VALUE with KEY one of {', '.join(kinds)}")
            kind = str(kinds[key])
            try:
                if "tuple" in kind:
                    changes[key] = tuple(int(v) for v in value.split(","))
                elif "float" in kind:
                    changes[key] = float(value)
                else:
                    changes[key] = int(value)
            except ValueError:
                raise TinykdError(f"tiny teacher: {key} needs {'integers' if 'tuple' in kind else 'a number'}, got {value!r}") from None
        return replace(self, **changes)


@dataclass(frozen=True)
class AugmentConfig:
    """Waveform augmentation for teacher training (applied to the training split only)."""

    shift_seconds: float = 0.1  # random shift (zero-filled) up to +- this
    speed: float = 0.1  # random speed/pitch change: resample by a factor in [1 - speed, 1 + speed]
    noise_prob: float = 0.5  # chance of white noise at a random SNR
    snr_db: tuple[float, float] = (10.0, 40.0)


@dataclass(frozen=True)
class TeacherTrainConfig:
    base: str = "tiny"  # hub id, local directory, or "tiny"
    epochs: int = 30
    batch_size: int = 32
    grad_accum: int = 1
    lr: float = 3e-4  # peak learning rate (AdamW)
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1  # fraction of optimizer steps spent warming up, then linear decay to 0
    freeze_feature_encoder: bool = False
    seed: int = 0
    device: str = "auto"
    threads: int = 0  # torch intra-op threads; 0 = torch's default
    augment: bool = True
    augmentation: AugmentConfig = field(default_factory=AugmentConfig)
    tiny: TinyTeacherSize = field(default_factory=TinyTeacherSize)  # used when base == "tiny"

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.grad_accum < 1:
            raise TinykdError("teacher train: epochs, batch size and grad accumulation must be >= 1")
        if not self.lr > 0:
            raise TinykdError(f"teacher train: learning rate must be > 0, got {self.lr}")
        if not 0 <= self.warmup_ratio < 1:
            raise TinykdError(f"teacher train: warm-up ratio must be in [0, 1), got {self.warmup_ratio}")
        if self.device not in DEVICES:
            raise TinykdError(f"teacher train: device must be one of {', '.join(DEVICES)}, got {self.device!r}")
