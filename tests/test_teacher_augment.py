"""The teacher's augmentations (issue 14): pitch perturbation moves a tone by the asked interval at the same length,
the phase-vocoder stretch changes only the length, mixup mixes clips and targets by the same weight, Wav2Vec2's own
masking reaches the model config; every setting is checked."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

import torch  # noqa: E402

from tinykd.errors import TinykdError  # noqa: E402
from tinykd.teacher.augment import augment_batch, mix_batch, pitch_shift, pitch_shift_batch, time_stretch  # noqa: E402
from tinykd.teacher.config import AugmentConfig, Masking, TeacherTrainConfig, TinyTeacherSize  # noqa: E402

pytestmark = pytest.mark.teacher

RATE = 8000


def _tone(freq: float, n: int = RATE) -> np.ndarray:
    return np.sin(2 * np.pi * freq * np.arange(n) / RATE).astype(np.float32)


def _peak_hz(x: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x)), n=8 * len(x)))
    return float(np.argmax(spectrum) * RATE / (8 * len(x)))


@pytest.mark.parametrize("semitones", [-4.0, 2.5, 12.0])
def test_pitch_shift_moves_a_tone_by_the_interval_at_the_same_length(semitones):
    y = pitch_shift(_tone(440.0), semitones, RATE)
    assert y.shape == (RATE,) and y.dtype == np.float32
    assert _peak_hz(y[800:-800]) == pytest.approx(440.0 * 2 ** (semitones / 12), rel=0.01)
    # A clean tone stays a tone: its level is steady over the clip (no gaps or bursts).
    rms = np.sqrt(np.mean(y[800:-800].reshape(-1, 400) ** 2, axis=1))
    assert rms.min() > 0.8 * rms.max()


def test_batched_pitch_shift_is_the_per_clip_one_but_for_the_last_half_window():
    rng = np.random.default_rng(3)
    clips = np.stack([_tone(300.0 + 70 * i) * (0.2 + 0.1 * i) + 0.01 * rng.standard_normal(RATE).astype(np.float32)
                      for i in range(5)])
    semitones = np.array([-3.0, -1.2, 0.0, 0.7, 3.0])
    batched = pitch_shift_batch(clips, semitones, RATE)
    assert batched.shape == clips.shape and batched.dtype == np.float32
    # Each row's own interval: the rows differ in length after the stretch, so the padding is exercised.
    for row, clip, st in zip(batched, clips, semitones):
        alone = pitch_shift(clip, float(st), RATE)
        head = len(alone) - 256  # at 8 kHz the analysis window is 256 samples: the last half-window may differ
        np.testing.assert_allclose(row[:head], alone[:head], atol=1e-5)
    assert _peak_hz(batched[4, 800:-800]) == pytest.approx(580.0 * 2 ** (3 / 12), rel=0.01)  # row 4: 580 Hz
    assert pitch_shift_batch(clips[:0], semitones[:0], RATE).shape == (0, RATE)


@pytest.mark.parametrize("rate", [0.8, 1.25])
def test_time_stretch_changes_the_length_and_keeps_the_pitch(rate):
    y = time_stretch(_tone(600.0), rate, RATE)
    assert len(y) == round(RATE / rate)
    assert _peak_hz(y[800:-800]) == pytest.approx(600.0, rel=0.01)


def test_augment_batch_is_seeded_and_shape_preserving():
    x = np.random.default_rng(0).standard_normal((4, RATE)).astype(np.float32) * 0.1
    cfg = AugmentConfig(pitch_prob=1.0)
    a = augment_batch(x, np.random.default_rng(7), cfg, RATE)
    b = augment_batch(x, np.random.default_rng(7), cfg, RATE)
    assert a.shape == x.shape and a.dtype == np.float32 and np.array_equal(a, b)
    assert not np.allclose(a, x)
    off = AugmentConfig(shift_seconds=0, speed=0, pitch_semitones=0, noise_prob=0)
    assert np.allclose(augment_batch(x, np.random.default_rng(7), off, RATE), x)


def test_mixup_mixes_clips_and_targets_by_the_same_weight():
    from tinykd.teacher.train import mixed_cross_entropy

    rng = np.random.default_rng(1)
    x = rng.standard_normal((16, 200)).astype(np.float32) * rng.uniform(0.1, 2.0, size=(16, 1)).astype(np.float32)
    mixed, partner, lam = mix_batch(x, np.random.default_rng(3), AugmentConfig(mixup_alpha=0.4, mixup_prob=0.5))
    used = lam < 1
    assert used.any() and (~used).any() and np.all(lam >= 0.5)
    assert np.array_equal(mixed[~used], x[~used])
    rms = np.sqrt(np.mean(x.astype(np.float64) ** 2, axis=1, keepdims=True)) + 1e-8
    want = (lam[:, None] * x / rms + (1 - lam[:, None]) * x[partner] / rms[partner]) * rms
    assert np.allclose(mixed[used], want[used], atol=1e-5)
    logits = torch.randn(16, 5)
    y = torch.as_tensor(rng.integers(0, 5, 16))
    lam_t = torch.as_tensor(lam, dtype=torch.float32)
    got = mixed_cross_entropy(logits, y, torch.as_tensor(partner), lam_t)
    log_p = torch.log_softmax(logits, dim=-1)
    expect = -(lam_t * log_p[torch.arange(16), y] + (1 - lam_t) * log_p[torch.arange(16), y[partner]]).mean()
    assert float(got) == pytest.approx(float(expect), rel=1e-6)
    same, _, ones = mix_batch(x, np.random.default_rng(3), AugmentConfig(mixup_alpha=0.0))
    assert np.array_equal(same, x) and np.all(ones == 1)


def test_wav2vec2_masking_reaches_the_model_config():
    from tinykd.teacher.model import tiny_config

    cfg = tiny_config(TinyTeacherSize(), ["a", "b"], Masking())
    assert cfg.apply_spec_augment and cfg.mask_time_prob == 0.05 and cfg.mask_time_length == 2
    assert cfg.mask_feature_prob == 0.05 and cfg.mask_feature_length == 8
    off = tiny_config(TinyTeacherSize(), ["a", "b"], Masking(mask_time_prob=0.0, mask_feature_prob=0.0))
    assert not off.apply_spec_augment and off.mask_time_prob == 0.0
    assert Masking().config_overrides(tiny=False) == {}  # a pretrained base keeps its own settings
    assert Masking(mask_time_prob=0.1).config_overrides(tiny=False) == {"mask_time_prob": 0.1, "apply_spec_augment": True}


def test_settings_are_checked_in_one_line():
    with pytest.raises(TinykdError, match="speed must be in"):
        AugmentConfig(speed=1.5)
    with pytest.raises(TinykdError, match="mixup_prob must be in"):
        AugmentConfig(mixup_prob=2)
    with pytest.raises(TinykdError, match="mask_time_prob must be in"):
        Masking(mask_time_prob=1.0)
    with pytest.raises(TinykdError, match="bad override"):
        AugmentConfig().with_overrides(["volume=3"])
    assert AugmentConfig().with_overrides(["pitch_semitones=2", "snr_db=5,20"]) == AugmentConfig(
        pitch_semitones=2.0, snr_db=(5.0, 20.0))
    assert TeacherTrainConfig().masking == Masking()
