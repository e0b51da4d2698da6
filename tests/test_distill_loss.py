"""The KD loss equals a hand computation in numpy, alone and through the training views of a real student."""

from __future__ import annotations

import numpy as np
import pytest

from distill_helpers import tone_batch, write_tiny_preset


def _log_softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def hand_loss(y, s, t, alpha, temp, att_s=None, att_t=None, beta=0.0):
    """alpha*CE + (1-alpha)*T^2*KL(softmax(t/T)||softmax(s/T)) + beta*KL(att_t||softmax(att_s)), float64."""
    s = np.asarray(s, np.float64)
    ce = -np.mean(_log_softmax(s)[np.arange(len(y)), y])
    total = alpha * ce
    if alpha < 1:
        p = np.exp(_log_softmax(np.asarray(t, np.float64) / temp))
        kl = np.mean(np.sum(p * (np.log(p) - _log_softmax(s / temp)), axis=-1))
        total += (1 - alpha) * temp**2 * kl
    if beta > 0:
        a = np.asarray(att_t, np.float64)
        la = np.log(np.where(a > 0, a, 1.0))
        total += beta * np.mean(np.sum(a * (la - _log_softmax(np.asarray(att_s, np.float64))), axis=-1))
    return total


@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("beta", [0.0, 0.7])
def test_loss_matches_numpy(alpha, beta):
    from tinykd.distill.loss import distillation_loss

    rng = np.random.default_rng(1)
    y = np.array([0, 2, 1, 4, 3, 2], dtype=np.int64)
    s = (rng.standard_normal((6, 5)) * 3).astype(np.float32)
    t = (rng.standard_normal((6, 5)) * 4).astype(np.float32)
    att_s = rng.standard_normal((6, 9)).astype(np.float32)
    att_t = rng.dirichlet(np.ones(9), size=6).astype(np.float32)
    att_t[0, :3] = 0  # a teacher weight of exactly 0 must contribute 0, not NaN
    att_t[0] /= att_t[0].sum()
    for temp in (1.0, 2.0, 3.0):
        terms = distillation_loss(y, s, None if alpha == 1 else t, alpha=alpha, temperature=temp,
                                  student_attention_logits=att_s, teacher_attention=att_t, attention_weight=beta)
        want = hand_loss(y, s, t, alpha, temp, att_s, att_t, beta)
        assert float(terms.total) == pytest.approx(want, rel=1e-5, abs=1e-6)


def test_kd_term_is_zero_when_student_equals_teacher():
    from tinykd.distill.loss import soft_target_kl

    z = np.array([[1.0, -2.0, 0.5], [3.0, 3.0, -1.0]], np.float32)
    assert float(soft_target_kl(z, z, 2.0)) == pytest.approx(0.0, abs=1e-6)
    assert float(soft_target_kl(z, z[::-1], 2.0)) > 0.01


@pytest.mark.parametrize("alpha,beta", [(0.0, 0.0), (0.5, 0.0), (1.0, 0.0), (0.5, 0.5), (0.0, 1.0)])
def test_trainer_loss_on_fixed_batch_matches_numpy(tmp_path, alpha, beta):
    """The loss the loop optimises (student logits and the training-only attention head on a real student)."""
    import keras

    from tinykd.distill.config import AugmentConfig, DistillConfig
    from tinykd.distill.train import Trainer
    from tinykd.students import build_student

    keras.utils.set_random_seed(0)
    x, y = tone_batch(per_class=2)
    student = build_student(write_tiny_preset(tmp_path, clip_seconds=0.25), 3, x.shape[1])
    cfg = DistillConfig(student="tiny", alpha=alpha, temperature=2.0, attention_weight=beta, augment=AugmentConfig(enabled=False))
    trainer = Trainer(student, cfg, steps_per_epoch=1, sample_rate=16000)
    rng = np.random.default_rng(3)
    teacher = (rng.standard_normal((len(y), 3)) * 2).astype(np.float32)
    frames = student.get_layer("features").output.shape[1]
    att_t = rng.dirichlet(np.ones(frames), size=len(y)).astype(np.float32)
    terms, logits = trainer.loss(x, y, teacher, att_t, training=False)
    s = np.asarray(student(x, training=False))
    np.testing.assert_allclose(np.asarray(logits), s, rtol=1e-5, atol=1e-5)
    att_s = None
    if beta > 0:
        feats = keras.Model(student.inputs, student.get_layer("features").output)(x)
        att_s = np.asarray(trainer.head(feats))
    assert float(terms.total) == pytest.approx(hand_loss(y, s, teacher, alpha, 2.0, att_s, att_t, beta), rel=1e-4)
