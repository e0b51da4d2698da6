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
    # How the feature encoder's first conv layer starts: "learned" (Wav2Vec2's random init) or "mel" (a bank of
    # mel-spaced Hann-windowed cosine/sine filters, four phases per band: tinykd.teacher.model.init_filterbank;
    # still trained). "mel" wants a first layer as long as an analysis window (e.g. kernel 400, stride 160).
    filterbank: str = "learned"

    FILTERBANKS = ("learned", "mel")

    def __post_init__(self) -> None:
        if self.filterbank not in self.FILTERBANKS:
            raise TinykdError(f"tiny teacher: filterbank must be one of {', '.join(self.FILTERBANKS)}, got {self.filterbank!r}")
        if self.filterbank == "mel" and (self.conv_dim[0] % 4 or self.conv_kernel[0] < 32):
            raise TinykdError("tiny teacher: filterbank=mel needs conv_dim[0] divisible by 4 (four phases per band) "
                              f"and conv_kernel[0] >= 32 samples, got {self.conv_dim[0]} and {self.conv_kernel[0]}; at "
                              "16 kHz add --tiny conv_dim=160,128 --tiny conv_kernel=400,2 --tiny conv_stride=160,2")
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
                if kind == "str":  # annotations are strings here (from __future__ import annotations)
                    changes[key] = value.strip()
                elif "tuple" in kind:
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
    """Waveform augmentation for teacher training (applied to the training split only; tinykd.teacher.augment).

    Defaults: the recipe that lets a from-scratch tiny teacher generalise to a speaker it never heard
    (docs/teacher.md, "Held-out speakers")."""

    shift_seconds: float = 0.1  # random shift (zero-filled) up to +- this
    speed: float = 0.15  # speed perturbation: resample by a factor in [1 - speed, 1 + speed] (tempo + pitch + formants)
    pitch_semitones: float = 3.0  # pitch perturbation: pitch and formants moved up to +- this, duration kept; 0 = off
    pitch_prob: float = 0.5  # chance a clip gets the pitch perturbation
    noise_prob: float = 0.5  # chance of white noise at a random SNR
    snr_db: tuple[float, float] = (10.0, 40.0)
    mixup_alpha: float = 0.4  # mixup lam ~ Beta(a, a); 0 = off
    mixup_prob: float = 0.5  # chance a clip is mixed with another of its batch

    def __post_init__(self) -> None:
        for name in ("shift_seconds", "pitch_semitones", "mixup_alpha"):
            if not getattr(self, name) >= 0:
                raise TinykdError(f"teacher augmentation: {name} must be >= 0, got {getattr(self, name)}")
        if not 0 <= self.speed < 1:
            raise TinykdError(f"teacher augmentation: speed must be in [0, 1), got {self.speed}")
        for name in ("pitch_prob", "noise_prob", "mixup_prob"):
            if not 0 <= getattr(self, name) <= 1:
                raise TinykdError(f"teacher augmentation: {name} must be in [0, 1], got {getattr(self, name)}")
        if len(self.snr_db) != 2 or self.snr_db[0] > self.snr_db[1]:
            raise TinykdError(f"teacher augmentation: snr_db must be (low, high) with low <= high, got {self.snr_db}")

    def with_overrides(self, overrides: list[str]) -> "AugmentConfig":
        """Apply `KEY=VALUE` strings (snr_db as `low,high`), e.g. `pitch_semitones=2`, `mixup_alpha=0`."""
        kinds = {f.name: str(f.type) for f in fields(self)}
        changes: dict = {}
        for item in overrides:
            key, sep, value = item.partition("=")
            key = key.strip().replace("-", "_")
            if not sep or key not in kinds:
                raise TinykdError(f"teacher augmentation: bad override {item!r}; use KEY=VALUE with KEY one of {', '.join(kinds)}")
            try:
                changes[key] = tuple(float(v) for v in value.split(",")) if "tuple" in kinds[key] else float(value)
            except ValueError:
                raise TinykdError(f"teacher augmentation: {key} needs {'two numbers' if 'tuple' in kinds[key] else 'a number'}, got {value!r}") from None
        return replace(self, **changes)


@dataclass(frozen=True)
class Masking:
    """Wav2Vec2's own SpecAugment (its config's mask_time_* and mask_feature_*), applied inside the model in
    training mode: time spans of the feature encoder's output replaced by a learned vector, and channel spans
    zeroed. A field left None keeps the base model's own setting; the tiny teacher's defaults are below."""

    mask_time_prob: float | None = None
    mask_time_length: int | None = None
    mask_feature_prob: float | None = None
    mask_feature_length: int | None = None

    TINY = {"mask_time_prob": 0.05, "mask_time_length": 2, "mask_feature_prob": 0.05, "mask_feature_length": 8}

    def __post_init__(self) -> None:
        for name in ("mask_time_prob", "mask_feature_prob"):
            value = getattr(self, name)
            if value is not None and not 0 <= value < 1:
                raise TinykdError(f"teacher masking: {name} must be in [0, 1), got {value}")
        for name in ("mask_time_length", "mask_feature_length"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise TinykdError(f"teacher masking: {name} must be >= 1, got {value}")

    def config_overrides(self, tiny: bool) -> dict:
        """The Wav2Vec2Config fields to set (the tiny defaults fill unset fields of a tiny teacher)."""
        values = {k: getattr(self, k) for k in self.TINY}
        if tiny:
            values = {k: self.TINY[k] if v is None else v for k, v in values.items()}
        values = {k: v for k, v in values.items() if v is not None}
        if values.get("mask_time_prob", 0) > 0 or values.get("mask_feature_prob", 0) > 0:
            values["apply_spec_augment"] = True
        return values


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
    masking: Masking = field(default_factory=Masking)
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
