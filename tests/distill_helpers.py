"""Shared pieces of the distillation tests: a tiny real student preset and small generated batches."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

TINY_PRESET = {
    "name": "tiny-test",
    "description": "a 2-block student small enough for unit tests",
    "depth": 2,
    "channels": 4,
    "kernel_size": 3,
    "pool_after": 1,
    "pool_size": 3,
    "pool_stride": 2,
    "dropout": 0.0,
    "head": "mean",
    "clip_seconds": 1.0,
    "frontend": {},
}


def write_tiny_preset(folder: Path, **changes) -> Path:
    path = Path(folder) / "tiny-test.json"
    path.write_text(json.dumps({**TINY_PRESET, **changes}), encoding="utf-8")
    return path


def tone_batch(n_classes: int = 3, per_class: int = 6, samples: int = 4000, seed: int = 0):
    """Waveforms of class-dependent tones with noise (a learnable task), labels int64."""
    rng = np.random.default_rng(seed)
    t = np.arange(samples) / 16000.0
    y = np.repeat(np.arange(n_classes), per_class).astype(np.int64)
    x = np.stack([
        0.5 * np.sin(2 * np.pi * (400.0 + 900.0 * c) * t + rng.uniform(0, 2 * np.pi)) + 0.05 * rng.standard_normal(samples)
        for c in y
    ]).astype(np.float32)
    return x, y
