"""The knowledge-distillation loss (Hinton convention) and the temporal attention term.

    loss = alpha * CE(y, s) + (1 - alpha) * T^2 * KL(softmax(t/T) || softmax(s/T))
           + beta * KL(a_teacher || a_student)

All terms are means over the batch. KL terms use log-softmax of the student (stable for large logits) and
treat teacher probabilities of 0 as contributing 0 (0 * log 0 = 0).
"""

from __future__ import annotations

from dataclasses import dataclass

from keras import ops


def cross_entropy(labels, student_logits):
    """Mean CE of integer labels [batch] against logits [batch, C]."""
    log_p = ops.log_softmax(student_logits, axis=-1)
    picked = ops.take_along_axis(log_p, ops.expand_dims(ops.cast(labels, "int32"), -1), axis=-1)
    return -ops.mean(picked)


def kl_divergence(target_probs, student_log_probs):
    """Mean over the batch of sum_k p_k (log p_k - log q_k), with 0 * log 0 = 0."""
    p = ops.cast(target_probs, "float32")
    safe_log_p = ops.log(ops.where(p > 0, p, ops.ones_like(p)))
    return ops.mean(ops.sum(p * (safe_log_p - student_log_probs), axis=-1))


def soft_target_kl(teacher_logits, student_logits, temperature: float):
    """KL(softmax(t/T) || softmax(s/T)), batch mean (not yet scaled by T^2)."""
    t = ops.cast(teacher_logits, "float32") / temperature
    s = ops.cast(student_logits, "float32") / temperature
    return kl_divergence(ops.softmax(t, axis=-1), ops.log_softmax(s, axis=-1))


@dataclass(frozen=True)
class LossTerms:
    total: object
    ce: object
    kd: object  # T^2 * KL, before the (1 - alpha) weight
    attention: object  # attention KL, before the beta weight


def distillation_loss(
    labels,
    student_logits,
    teacher_logits=None,
    *,
    alpha: float,
    temperature: float,
    student_attention_logits=None,
    teacher_attention=None,
    attention_weight: float = 0.0,
) -> LossTerms:
    """The full loss and its parts. `teacher_logits` may be None only when alpha == 1;
    attention inputs only matter when attention_weight > 0 (student attention as logits over time)."""
    ce = cross_entropy(labels, student_logits)
    zero = ops.zeros((), dtype="float32")
    total = alpha * ce
    kd = zero
    if alpha < 1.0:
        if teacher_logits is None:
            raise ValueError("teacher logits are needed when alpha < 1")
        kd = (temperature**2) * soft_target_kl(teacher_logits, student_logits, temperature)
        total = total + (1.0 - alpha) * kd
    att = zero
    if attention_weight > 0:
        if teacher_attention is None or student_attention_logits is None:
            raise ValueError("teacher and student attention are needed when attention_weight > 0")
        att = kl_divergence(teacher_attention, ops.log_softmax(student_attention_logits, axis=-1))
        total = total + attention_weight * att
    return LossTerms(total=total, ce=ce, kd=kd, attention=att)
