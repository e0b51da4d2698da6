"""`DistillConfig`: every knob of one distillation run, saved as `RUN/config.json`.

Loss (Hinton convention): alpha * CE(y, s) + (1 - alpha) * T^2 * KL(softmax(t/T) || softmax(s/T))
+ attention_weight * KL(teacher attention || student attention). alpha = 1 trains without a teacher.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from tinykd.errors import TinykdError

SCHEDULES = ("cosine", "linear", "constant")


@dataclass
class AugmentConfig:
    """Training-only augmentation. Waveform ops run before the front end, masks on its log-mel output;
    none of them is part of the saved model."""

    enabled: bool = True
    noise_prob: float = 0.5  # chance a clip gets white noise
    noise_snr_db: tuple[float, float] = (10.0, 40.0)  # SNR drawn uniformly in this range (relative to clip RMS)
    gain_db: float = 6.0  # gain drawn uniformly in [-gain_db, gain_db] (a no-op under per-utterance normalisation
    # unless noise is added after it; kept for front ends with normalize="none")
    shift_ms: float = 100.0  # circular-free time shift (zero fill) drawn in [-shift_ms, shift_ms]
    time_masks: int = 2  # SpecAugment time masks per clip
    time_mask_frac: float = 0.05  # max width of one time mask, as a fraction of the frames
    freq_masks: int = 2  # SpecAugment frequency masks per clip
    freq_mask_bands: int = 3  # max width of one frequency mask, in mel bands

    def validate(self) -> None:
        if not 0.0 <= self.noise_prob <= 1.0:
            raise TinykdError(f"augment.noise_prob must be in [0, 1], got {self.noise_prob}")
        lo, hi = self.noise_snr_db
        if lo > hi:
            raise TinykdError(f"augment.noise_snr_db must be (low, high) with low <= high, got {self.noise_snr_db}")
        for name in ("gain_db", "shift_ms", "time_mask_frac"):
            if getattr(self, name) < 0:
                raise TinykdError(f"augment.{name} must be >= 0, got {getattr(self, name)}")
        for name in ("time_masks", "freq_masks", "freq_mask_bands"):
            if int(getattr(self, name)) < 0:
                raise TinykdError(f"augment.{name} must be >= 0, got {getattr(self, name)}")


@dataclass
class DistillConfig:
    student: str = "wav2tiny"  # preset name in models/
    temperature: float = 2.0
    alpha: float = 0.5  # weight of the hard-label CE; 1 = no teacher
    attention_weight: float = 0.0  # beta of the temporal attention KL term; needs cached teacher attention
    epochs: int = 30
    batch_size: int = 32
    lr: float = 3e-3  # peak learning rate (Adam)
    warmup_epochs: float = 1.0  # linear warm-up from 0 to lr
    schedule: str = "cosine"  # decay after warm-up: cosine | linear (to 0) | constant
    weight_decay: float = 0.0  # AdamW decoupled weight decay (0 = plain Adam)
    patience: int = 8  # early stopping: epochs without a better validation accuracy; 0 = off
    val_fraction: float = 0.1  # carved from train (by speaker when known) when the data has no val split
    seed: int = 0
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    def validate(self) -> None:
        if not (isinstance(self.alpha, (int, float)) and 0.0 <= self.alpha <= 1.0):
            raise TinykdError(f"--alpha must be in [0, 1] (1 = no teacher), got {self.alpha}")
        if not (math.isfinite(self.temperature) and self.temperature > 0):
            raise TinykdError(f"--temperature must be > 0, got {self.temperature}")
        if not (math.isfinite(self.attention_weight) and self.attention_weight >= 0):
            raise TinykdError(f"--attention-weight must be >= 0, got {self.attention_weight}")
        if int(self.epochs) < 1:
            raise TinykdError(f"--epochs must be >= 1, got {self.epochs}")
        if int(self.batch_size) < 1:
            raise TinykdError(f"--batch-size must be >= 1, got {self.batch_size}")
        if not (self.lr > 0):
            raise TinykdError(f"--lr must be > 0, got {self.lr}")
        if self.warmup_epochs < 0:
            raise TinykdError(f"--warmup-epochs must be >= 0, got {self.warmup_epochs}")
        if self.schedule not in SCHEDULES:
            raise TinykdError(f"--schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}")
        if self.weight_decay < 0:
            raise TinykdError(f"--weight-decay must be >= 0, got {self.weight_decay}")
        if int(self.patience) < 0:
            raise TinykdError(f"--patience must be >= 0, got {self.patience}")
        if not 0.0 <= self.val_fraction < 1.0:
            raise TinykdError(f"--val-fraction must be in [0, 1), got {self.val_fraction}")
        self.augment.validate()

    @property
    def uses_teacher(self) -> bool:
        """Whether the run needs teacher logits (alpha < 1) or teacher attention (beta > 0)."""
        return self.alpha < 1.0 or self.attention_weight > 0

    @property
    def needs_teacher_logits(self) -> bool:
        return self.alpha < 1.0
