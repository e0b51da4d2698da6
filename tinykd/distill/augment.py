"""Training-only augmentation for small speech sets, as TensorFlow ops inside the training step.

Waveform ops (before the front end): gain, additive white noise at a random SNR, time shift with zero fill.
Log-mel ops (after the front end): SpecAugment-style time and frequency masks, filled with each clip's mean.
Randomness comes from a `tf.random.Generator` whose state is checkpointed, so a resumed run continues the
same random stream. None of this is part of the student model, so it never reaches an exported graph.
"""

from __future__ import annotations

import tensorflow as tf

from tinykd.distill.config import AugmentConfig


def augment_waveform(x, cfg: AugmentConfig, rng: tf.random.Generator, sample_rate: int):
    """x: [batch, samples] float32 -> augmented copy."""
    batch = tf.shape(x)[0]
    n = tf.shape(x)[1]
    if cfg.gain_db > 0:
        gain_db = rng.uniform([batch, 1], -cfg.gain_db, cfg.gain_db)
        x = x * tf.pow(10.0, gain_db / 20.0)
    if cfg.noise_prob > 0:
        lo, hi = cfg.noise_snr_db
        snr_db = rng.uniform([batch, 1], lo, hi) if hi > lo else tf.fill([batch, 1], float(lo))
        rms = tf.sqrt(tf.reduce_mean(x * x, axis=1, keepdims=True) + 1e-12)
        noise_rms = rms / tf.pow(10.0, snr_db / 20.0)
        apply = tf.cast(rng.uniform([batch, 1]) < cfg.noise_prob, x.dtype)
        x = x + apply * noise_rms * rng.normal(tf.shape(x))
    max_shift = int(round(cfg.shift_ms * sample_rate / 1000.0))
    if max_shift > 0:
        shift = rng.uniform([batch, 1], -max_shift, max_shift + 1, dtype=tf.int32)
        src = tf.range(n)[None, :] - shift  # output sample i takes input sample i - shift
        valid = (src >= 0) & (src < n)
        gathered = tf.gather(x, tf.clip_by_value(src, 0, n - 1), batch_dims=1)
        x = tf.where(valid, gathered, tf.zeros_like(gathered))
    return x


def _band_masks(rng: tf.random.Generator, batch, length, count: int, max_width):
    """Boolean [batch, length], True inside any of `count` random bands of width 0..max_width per clip."""
    mask = tf.zeros([batch, length], dtype=tf.bool)
    pos = tf.range(length)[None, :]
    max_width = tf.maximum(max_width, 0)
    for _ in range(count):
        width = rng.uniform([batch, 1], 0, max_width + 1, dtype=tf.int32)
        start = tf.cast(
            tf.floor(rng.uniform([batch, 1]) * tf.cast(tf.maximum(length - width, 0) + 1, tf.float32)), tf.int32
        )
        mask = mask | ((pos >= start) & (pos < start + width))
    return mask


def spec_augment(mel, cfg: AugmentConfig, rng: tf.random.Generator):
    """mel: [batch, frames, n_mels] -> masked copy (masked cells take the clip's mean log-mel)."""
    if cfg.time_masks == 0 and cfg.freq_masks == 0:
        return mel
    batch = tf.shape(mel)[0]
    frames = tf.shape(mel)[1]
    bands = tf.shape(mel)[2]
    fill = tf.reduce_mean(mel, axis=[1, 2], keepdims=True)
    max_t = tf.cast(tf.floor(cfg.time_mask_frac * tf.cast(frames, tf.float32)), tf.int32)
    t_mask = _band_masks(rng, batch, frames, int(cfg.time_masks), max_t)[:, :, None]
    f_mask = _band_masks(rng, batch, bands, int(cfg.freq_masks), tf.constant(int(cfg.freq_mask_bands)))[:, None, :]
    return tf.where(t_mask | f_mask, fill, mel)
