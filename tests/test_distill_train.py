"""The training loop: loss goes down for every alpha (and with attention), resume continues exactly,
a NaN loss stops with the step named and the last good checkpoint kept, the attention head never leaves."""

from __future__ import annotations

import json

import numpy as np
import pytest

from distill_helpers import tone_batch, write_tiny_preset
from tinykd.errors import TinykdError


def _student(tmp_path, samples, n_classes=3, seed=0):
    import keras

    from tinykd.students import build_student

    keras.utils.set_random_seed(seed)
    return build_student(write_tiny_preset(tmp_path, clip_seconds=samples / 16000), n_classes, samples)


@pytest.fixture(scope="module")
def batch():
    return tone_batch(per_class=4)


@pytest.fixture(scope="module")
def teacher_outputs(tmp_path_factory, batch):
    """Soft labels from a real model: a tiny student trained on the batch (the teacher of these tests)."""
    from tinykd.distill.config import AugmentConfig, DistillConfig
    from tinykd.distill.train import TrainArrays, train_student

    x, y = batch
    tmp = tmp_path_factory.mktemp("teacher")
    teacher = _student(tmp, x.shape[1], seed=7)
    cfg = DistillConfig(alpha=1.0, epochs=6, batch_size=len(x), lr=2e-2, warmup_epochs=0, patience=0,
                        augment=AugmentConfig(enabled=False))
    train_student(teacher, TrainArrays(x, y), None, cfg, tmp / "ck", sample_rate=16000, show_progress=False)
    logits = np.asarray(teacher(x, training=False))
    # A peaked, non-uniform "rollout": the teacher attends to the middle of the clip.
    frames = 62  # the tiny student's feature frames for 4000 samples (pool after block 1)
    w = np.exp(-0.5 * ((np.arange(frames) - frames / 2) / 6.0) ** 2)
    return logits, np.tile(w / w.sum(), (len(x), 1)).astype(np.float32)


@pytest.mark.parametrize("alpha,beta", [(0.0, 0.0), (0.5, 0.0), (1.0, 0.0), (0.5, 1.0)])
def test_steps_decrease_loss(tmp_path, batch, teacher_outputs, alpha, beta):
    import tensorflow as tf

    from tinykd.distill.config import AugmentConfig, DistillConfig
    from tinykd.distill.train import Trainer

    x, y = batch
    t_logits, t_att = teacher_outputs
    student = _student(tmp_path, x.shape[1])
    assert student.get_layer("features").output.shape[1] == t_att.shape[1]
    cfg = DistillConfig(alpha=alpha, attention_weight=beta, temperature=2.0, lr=1e-2, warmup_epochs=0,
                        augment=AugmentConfig(enabled=False))
    trainer = Trainer(student, cfg, steps_per_epoch=12, sample_rate=16000)
    args = (x, y, t_logits if alpha < 1 else None, t_att if beta > 0 else None)
    before, _ = trainer.loss(*args, training=True)
    for _ in range(12):
        trainer._train_step(*(None if a is None else tf.constant(a) for a in args))
    after, _ = trainer.loss(*args, training=True)
    assert np.isfinite(float(after.total))
    assert float(after.total) < 0.9 * float(before.total)
    if beta > 0:
        assert float(after.attention) < float(before.attention)


def test_attention_head_is_not_in_saved_model(tmp_path, batch, teacher_outputs):
    import keras

    from tinykd.distill.config import AugmentConfig, DistillConfig
    from tinykd.students.saved import load_run_model
    from tinykd.distill.train import TrainArrays, train_student

    x, y = batch
    t_logits, t_att = teacher_outputs
    student = _student(tmp_path, x.shape[1])
    n_weights = len(student.weights)
    layer_names = [layer.name for layer in student.layers]
    cfg = DistillConfig(alpha=0.5, attention_weight=1.0, epochs=1, batch_size=6, warmup_epochs=0,
                        augment=AugmentConfig(enabled=True))
    train_student(student, TrainArrays(x, y, t_logits, t_att), None, cfg, tmp_path / "ck", sample_rate=16000,
                  show_progress=False)
    # the checkpoint holds the head (training state), the model file does not
    assert (tmp_path / "ck" / "last" / "attention_head.weights.h5").is_file()
    (tmp_path / "labels.json").write_text(json.dumps(["a", "b", "c"]))
    student.save(tmp_path / "model.keras")
    loaded, labels = load_run_model(tmp_path / "model.keras")
    assert labels == ["a", "b", "c"]
    assert [layer.name for layer in loaded.layers] == layer_names
    assert len(loaded.weights) == n_weights
    assert not any("attention_score" in w.path for w in loaded.weights)
    np.testing.assert_allclose(np.asarray(loaded(x)), np.asarray(student(x, training=False)), rtol=1e-5, atol=1e-5)
    assert isinstance(loaded, keras.Model)


def test_resume_continues_where_it_stopped(tmp_path, batch, teacher_outputs, monkeypatch):
    """Interrupted after epoch 1, resumed: the same weights as one uninterrupted run."""
    import tinykd.distill.train as train_mod
    from tinykd.distill.config import DistillConfig
    from tinykd.distill.train import TrainArrays, train_student

    x, y = batch
    t_logits, _ = teacher_outputs
    cfg = DistillConfig(alpha=0.5, epochs=2, batch_size=6, lr=5e-3, warmup_epochs=1, patience=0)
    data = TrainArrays(x, y, t_logits)
    (tmp_path / "a").mkdir()
    straight = _student(tmp_path / "a", x.shape[1])
    train_student(straight, data, (x, y), cfg, tmp_path / "a" / "ck", sample_rate=16000, show_progress=False)

    real_save = train_mod.save_checkpoint
    calls = {"n": 0}

    def crash_after_first(*args, **kwargs):  # the process dies right after epoch 1's checkpoint
        out = real_save(*args, **kwargs)
        calls["n"] += 1
        if calls["n"] == 1:
            raise KeyboardInterrupt
        return out

    (tmp_path / "b").mkdir()
    monkeypatch.setattr(train_mod, "save_checkpoint", crash_after_first)
    with pytest.raises(KeyboardInterrupt):
        train_student(_student(tmp_path / "b", x.shape[1]), data, (x, y), cfg, tmp_path / "b" / "ck",
                      sample_rate=16000, show_progress=False)
    monkeypatch.setattr(train_mod, "save_checkpoint", real_save)
    resumed = _student(tmp_path / "b", x.shape[1], seed=123)  # fresh weights: all state must come from the checkpoint
    res = train_student(resumed, data, (x, y), cfg, tmp_path / "b" / "ck", sample_rate=16000, resume=True,
                        show_progress=False)
    assert res.resumed_from_epoch == 1
    assert [h["epoch"] for h in res.history] == [1, 2]
    for a, b in zip(straight.weights, resumed.weights):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-5, err_msg=a.path)


def test_nan_loss_stops_naming_the_step_and_keeps_checkpoint(tmp_path, batch):
    from tinykd.distill.checkpoint import find_checkpoint
    from tinykd.distill.config import DistillConfig
    from tinykd.distill.train import NonFiniteLossError, TrainArrays, train_student

    x, y = batch
    cfg = DistillConfig(alpha=1.0, epochs=1, batch_size=4, patience=0)
    student = _student(tmp_path, x.shape[1])
    train_student(student, TrainArrays(x, y), None, cfg, tmp_path / "ck", sample_rate=16000, show_progress=False)
    good = [np.asarray(w).copy() for w in student.weights]
    # A diverging run: one clip turns non-finite in epoch 2 (inf audio -> NaN after normalisation).
    bad_x = x.copy()
    bad_x[5, 100] = np.inf
    cfg.epochs = 2
    with pytest.raises(NonFiniteLossError, match=r"loss became nan at epoch 2, step \d+ \(global step \d+\); last good checkpoint .*epoch 1"):
        train_student(_student(tmp_path, x.shape[1], seed=5), TrainArrays(bad_x, y), None, cfg, tmp_path / "ck",
                      sample_rate=16000, resume=True, show_progress=False)
    ckpt = find_checkpoint(tmp_path / "ck")
    assert json.loads((ckpt / "state.json").read_text())["epoch"] == 1
    fresh = _student(tmp_path, x.shape[1], seed=9)
    fresh.load_weights(ckpt / "student.weights.h5")
    for a, b in zip(good, fresh.weights):
        np.testing.assert_array_equal(a, np.asarray(b))


def test_config_rejects_bad_alpha_and_temperature():
    from tinykd.distill.config import DistillConfig

    with pytest.raises(TinykdError, match=r"--alpha must be in \[0, 1\]"):
        DistillConfig(alpha=1.5).validate()
    with pytest.raises(TinykdError, match="--temperature must be > 0"):
        DistillConfig(temperature=0).validate()
    with pytest.raises(TinykdError, match="--attention-weight"):
        DistillConfig(attention_weight=-1).validate()


def test_teacher_needed_below_alpha_one(tmp_path, batch):
    from tinykd.distill.config import DistillConfig
    from tinykd.distill.train import TrainArrays, train_student

    x, y = batch
    with pytest.raises(TinykdError, match="needs teacher logits"):
        train_student(_student(tmp_path, x.shape[1]), TrainArrays(x, y), None, DistillConfig(alpha=0.5), tmp_path,
                      sample_rate=16000, show_progress=False)
