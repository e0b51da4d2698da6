"""The distillation training loop (a custom tf.GradientTape loop: Keras' Distiller has no cached-teacher mode).

The student model is never modified: training runs through two views that share its layers, the front end
(waveform -> log-mel) and the body (log-mel -> logits and, for attention distillation, the `features` map),
so SpecAugment masks can sit between them without entering the saved graph. The attention head is a separate
training-only model.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from tinykd.distill.attention import build_attention_head, features_output
from tinykd.distill.augment import augment_waveform, spec_augment
from tinykd.distill.checkpoint import BEST_WEIGHTS, find_checkpoint, load_checkpoint, save_best_weights, save_checkpoint
from tinykd.distill.config import DistillConfig
from tinykd.distill.loss import distillation_loss
from tinykd.distill.progress import EpochProgress
from tinykd.distill.schedule import WarmupDecay
from tinykd.errors import TinykdError


class NonFiniteLossError(TinykdError):
    """The loss became NaN or inf; the last good checkpoint is kept."""


@dataclass
class TrainArrays:
    """What one training split feeds the loop (rows aligned)."""

    x: np.ndarray  # [n, samples] float32 waveform
    y: np.ndarray  # [n] int64
    teacher_logits: np.ndarray | None = None  # [n, C]
    teacher_attention: np.ndarray | None = None  # [n, student feature frames], rows sum to 1


@dataclass
class TrainResult:
    history: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: int = 0  # 1-based epoch whose weights the student now holds
    stopped_early: bool = False
    resumed_from_epoch: int = 0


def _find_frontend(student: keras.Model):
    from tinykd.frontend.layers import front_end_layers

    layers = front_end_layers(student)
    return layers[0] if layers else None


class Trainer:
    """Holds the training views, the attention head, the optimizer and the random state of one run."""

    def __init__(self, student: keras.Model, cfg: DistillConfig, steps_per_epoch: int, sample_rate: int):
        self.student = student
        self.cfg = cfg
        self.sample_rate = int(sample_rate)
        self.use_attention = cfg.attention_weight > 0
        outputs = [student.outputs[0]]
        if self.use_attention:
            outputs.append(features_output(student))
        self.frontend = _find_frontend(student)
        self.spec_masks = False
        if self.frontend is not None:
            try:
                self.fe_view = keras.Model(student.inputs, self.frontend.output, name="train_frontend_view")
                self.body_view = keras.Model(self.frontend.output, outputs, name="train_body_view")
                self.spec_masks = True
            except ValueError:  # the body also reads the waveform directly: no place for masks
                self.frontend = None
        if self.frontend is None:
            self.body_view = keras.Model(student.inputs, outputs, name="train_view")
        self.head = None
        if self.use_attention:
            self.head = build_attention_head(features_output(student).shape, seed=cfg.seed)
        self.trainable = list(student.trainable_variables) + (list(self.head.trainable_variables) if self.head else [])
        total = max(int(cfg.epochs) * steps_per_epoch, 1)
        warmup = int(round(cfg.warmup_epochs * steps_per_epoch))
        lr = WarmupDecay(cfg.lr, warmup, total, cfg.schedule)
        if cfg.weight_decay > 0:
            self.optimizer = keras.optimizers.AdamW(learning_rate=lr, weight_decay=cfg.weight_decay)
        else:
            self.optimizer = keras.optimizers.Adam(learning_rate=lr)
        self.rng = tf.random.Generator.from_seed(int(cfg.seed))
        self._train_step = tf.function(self._step, reduce_retracing=True)
        self._predict = tf.function(lambda x: self.student(x, training=False), reduce_retracing=True)

    # -- forward and loss ------------------------------------------------------------------------
    def forward(self, x, training: bool, augment: bool):
        """Student logits (and attention logits) through the training views."""
        if augment and self.cfg.augment.enabled:
            x = augment_waveform(x, self.cfg.augment, self.rng, self.sample_rate)
        if self.frontend is not None:
            mel = self.fe_view(x, training=training)
            if augment and self.cfg.augment.enabled and self.spec_masks:
                mel = spec_augment(mel, self.cfg.augment, self.rng)
            out = self.body_view(mel, training=training)
        else:
            out = self.body_view(x, training=training)
        if self.use_attention:
            logits, feats = out
            return logits, self.head(feats, training=training)
        logits = out[0] if isinstance(out, (list, tuple)) else out
        return logits, None

    def loss(self, x, y, teacher_logits=None, teacher_attention=None, training: bool = False, augment: bool = False):
        """Loss terms and logits for one batch (eager use: tests, diagnostics)."""
        logits, att_logits = self.forward(x, training=training, augment=augment)
        terms = distillation_loss(
            y,
            logits,
            teacher_logits,
            alpha=float(self.cfg.alpha),
            temperature=float(self.cfg.temperature),
            student_attention_logits=att_logits,
            teacher_attention=teacher_attention,
            attention_weight=float(self.cfg.attention_weight),
        )
        return terms, logits

    def _step(self, x, y, teacher_logits, teacher_attention):
        with tf.GradientTape() as tape:
            terms, logits = self.loss(x, y, teacher_logits, teacher_attention, training=True, augment=True)
        grads = tape.gradient(terms.total, self.trainable)
        self.optimizer.apply_gradients(zip(grads, self.trainable))
        correct = tf.reduce_sum(tf.cast(tf.equal(tf.argmax(logits, -1), tf.cast(y, tf.int64)), tf.float32))
        return terms.total, terms.ce, terms.kd, terms.attention, correct

    def predict_logits(self, x: np.ndarray, batch_size: int) -> np.ndarray:
        out = [self._predict(tf.constant(x[i : i + batch_size])).numpy() for i in range(0, len(x), batch_size)]
        return np.concatenate(out, axis=0) if out else np.zeros((0, self.student.outputs[0].shape[-1]), np.float32)


def _val_scores(logits: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(CE, accuracy) of logits against labels, numpy."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    ce = float(-log_p[np.arange(len(y)), y].mean())
    return ce, float((logits.argmax(axis=1) == y).mean())


def train_student(
    student: keras.Model,
    train: TrainArrays,
    val: tuple[np.ndarray, np.ndarray] | None,
    cfg: DistillConfig,
    ckpt_root: Path,
    *,
    sample_rate: int,
    resume: bool = False,
    show_progress: bool = True,
    label: str = "distill",
) -> TrainResult:
    """Train `student` in place; checkpoint every epoch under `ckpt_root`; leave the best weights in it."""
    cfg.validate()
    n = len(train.x)
    if n == 0:
        raise TinykdError("no training clips")
    if cfg.needs_teacher_logits and train.teacher_logits is None:
        raise TinykdError(f"alpha={cfg.alpha} < 1 needs teacher logits (give --cache or --teacher-student)")
    if cfg.attention_weight > 0 and train.teacher_attention is None:
        raise TinykdError("--attention-weight > 0 needs teacher attention from a cache that holds rollouts")
    bs = int(cfg.batch_size)
    steps = math.ceil(n / bs)
    trainer = Trainer(student, cfg, steps, sample_rate)
    result = TrainResult()
    state: dict[str, Any] = {"epoch": 0, "global_step": 0, "best_val_acc": -1.0, "best_val_loss": math.inf,
                             "best_epoch": 0, "bad_epochs": 0, "history": []}
    ckpt_root = Path(ckpt_root)
    # A run stopped before its first epoch ended has no checkpoint: resuming it is starting it (nothing is lost).
    ckpt = find_checkpoint(ckpt_root) if resume else None
    if ckpt is not None:
        state = load_checkpoint(ckpt, student, trainer.head, trainer.optimizer, trainer.trainable, trainer.rng)
        state.pop("optimizer_variables", None)
        result.resumed_from_epoch = int(state["epoch"])
    result.history = list(state["history"])

    tl = train.teacher_logits.astype(np.float32) if cfg.needs_teacher_logits else None
    ta = train.teacher_attention.astype(np.float32) if cfg.attention_weight > 0 else None
    start_epoch = int(state["epoch"])
    with EpochProgress(enabled=show_progress, label=label) as progress:
        for epoch in range(start_epoch, int(cfg.epochs)):
            if state["bad_epochs"] >= cfg.patience > 0:
                result.stopped_early = True
                break
            t0 = time.perf_counter()
            order = np.random.default_rng([int(cfg.seed), epoch]).permutation(n)
            sums = np.zeros(4)
            correct = 0.0
            progress.start_epoch(epoch + 1, int(cfg.epochs), steps)
            for step in range(steps):
                idx = np.sort(order[step * bs : (step + 1) * bs])
                out = trainer._train_step(
                    tf.constant(train.x[idx]),
                    tf.constant(train.y[idx]),
                    None if tl is None else tf.constant(tl[idx]),
                    None if ta is None else tf.constant(ta[idx]),
                )
                total, ce, kd, att, corr = (float(v) for v in out)
                if not math.isfinite(total):
                    last = find_checkpoint(ckpt_root)
                    kept = f"last good checkpoint {last} (epoch {state['epoch']}) kept" if last else "no checkpoint yet"
                    raise NonFiniteLossError(
                        f"loss became {total} at epoch {epoch + 1}, step {step + 1} (global step "
                        f"{int(state['global_step']) + step + 1}); {kept}; lower --lr or check the data, "
                        "then rerun with --resume"
                    )
                sums += np.array([total, ce, kd, att]) * len(idx)
                correct += corr
                seen = min((step + 1) * bs, n)
                progress.advance(loss=sums[0] / seen, acc=correct / seen)
            state["global_step"] = int(state["global_step"]) + steps
            row: dict[str, Any] = {
                "epoch": epoch + 1,
                "lr": float(keras.ops.convert_to_numpy(trainer.optimizer.learning_rate)),
                "train_loss": sums[0] / n,
                "train_ce": sums[1] / n,
                "train_kd": sums[2] / n,
                "train_attention": sums[3] / n,
                "train_acc": correct / n,
            }
            improved = True
            if val is not None and len(val[0]):
                val_loss, val_acc = _val_scores(trainer.predict_logits(val[0], bs), val[1])
                row.update(val_loss=val_loss, val_acc=val_acc)
                improved = val_acc > state["best_val_acc"] + 1e-12 or (
                    val_acc >= state["best_val_acc"] - 1e-12 and val_loss < state["best_val_loss"]
                )
                if improved:
                    state.update(best_val_acc=val_acc, best_val_loss=val_loss)
            row["seconds"] = time.perf_counter() - t0
            if improved:
                state.update(best_epoch=epoch + 1, bad_epochs=0)
                save_best_weights(ckpt_root, student)
            else:
                state["bad_epochs"] = int(state["bad_epochs"]) + 1
            result.history.append(row)
            state["history"] = result.history
            state["epoch"] = epoch + 1
            save_checkpoint(ckpt_root, student, trainer.head, trainer.optimizer, trainer.rng, state)
            progress.end_epoch(row)
    best = ckpt_root / BEST_WEIGHTS
    if best.is_file():
        student.load_weights(best)
    result.best_epoch = int(state["best_epoch"])
    return result
