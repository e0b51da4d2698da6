"""Learning rate: linear warm-up from 0 to the peak, then cosine or linear decay to 0 (or constant)."""

from __future__ import annotations

import math

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="tinykd")
class WarmupDecay(keras.optimizers.schedules.LearningRateSchedule):
    def __init__(self, peak_lr: float, warmup_steps: int, total_steps: int, kind: str = "cosine"):
        self.peak_lr = float(peak_lr)
        self.warmup_steps = int(warmup_steps)
        self.total_steps = max(int(total_steps), 1)
        self.kind = kind

    def __call__(self, step):
        step = ops.cast(step, "float32")
        warm = float(max(self.warmup_steps, 0))
        warm_lr = self.peak_lr * (step + 1.0) / max(warm, 1.0)  # +1: the first step does not use lr 0
        decay_len = float(max(self.total_steps - self.warmup_steps, 1))
        progress = ops.clip((step - warm) / decay_len, 0.0, 1.0)
        if self.kind == "cosine":
            decayed = self.peak_lr * 0.5 * (1.0 + ops.cos(math.pi * progress))
        elif self.kind == "linear":
            decayed = self.peak_lr * (1.0 - progress)
        else:
            decayed = self.peak_lr * ops.ones_like(progress)
        return ops.where(step < warm, warm_lr, decayed)

    def get_config(self):
        return {
            "peak_lr": self.peak_lr,
            "warmup_steps": self.warmup_steps,
            "total_steps": self.total_steps,
            "kind": self.kind,
        }
