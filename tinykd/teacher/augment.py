"""Waveform augmentation for teacher training (numpy, per batch): shift, speed change, white noise.

A from-scratch transformer on a few thousand clips overfits the exact position and pitch of each recording;
these three cheap changes are the ones a spoken-word classifier must be invariant to anyway.
"""

from __future__ import annotations

import numpy as np

from tinykd.teacher.config import AugmentConfig


def augment_batch(x: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig, sample_rate: int) -> np.ndarray:
    """x float32 [batch, samples] -> augmented copy, same shape."""
    out = np.empty_like(x)
    n = x.shape[1]
    grid = np.arange(n, dtype=np.float64)
    max_shift = int(round(cfg.shift_seconds * sample_rate))
    for i, clip in enumerate(x):
        clip = clip.astype(np.float64)
        if cfg.speed > 0:
            factor = rng.uniform(1 - cfg.speed, 1 + cfg.speed)
            # Read the clip `factor` times faster, centred: the middle of the clip stays in place.
            pos = (grid - n / 2) * factor + n / 2
            clip = np.interp(pos, grid, clip, left=0.0, right=0.0)
        if max_shift > 0:
            shift = int(rng.integers(-max_shift, max_shift + 1))
            clip = np.roll(clip, shift)
            if shift > 0:
                clip[:shift] = 0.0
            elif shift < 0:
                clip[shift:] = 0.0
        if cfg.noise_prob > 0 and rng.random() < cfg.noise_prob:
            power = float(np.mean(clip**2))
            if power > 0:
                snr = rng.uniform(*cfg.snr_db)
                clip = clip + rng.standard_normal(n) * np.sqrt(power / 10 ** (snr / 10))
        out[i] = clip
    return out
