"""Comparing the float Keras model, the int8 model in TFLM and the int8 model in LiteRT on the same clips.

Accuracies and agreements are fractions in [0, 1], as in every tinykd artifact (reports render percent).
"""

from __future__ import annotations

import numpy as np


def compare(labels: list[str], y: np.ndarray, float_scores: np.ndarray, tflm_scores: np.ndarray,
            litert_scores: np.ndarray) -> dict:
    """Accuracies, agreements and per-class deltas."""
    f_pred = float_scores.argmax(axis=1)
    t_pred = tflm_scores.argmax(axis=1)
    l_pred = litert_scores.argmax(axis=1)
    per_class = []
    for c, label in enumerate(labels):
        mask = y == c
        n = int(mask.sum())
        fa = float((f_pred[mask] == c).mean()) if n else None
        ta = float((t_pred[mask] == c).mean()) if n else None
        per_class.append({"label": label, "n": n, "float_accuracy": fa, "int8_accuracy": ta,
                          "delta": None if n == 0 else ta - fa})
    float_acc = float((f_pred == y).mean())
    int8_acc = float((t_pred == y).mean())
    return {
        "n_test": int(len(y)),
        "float_accuracy": float_acc,
        "int8_tflm_accuracy": int8_acc,
        "int8_litert_accuracy": float((l_pred == y).mean()),
        "drop": float_acc - int8_acc,
        "agreement_float_tflm": float((f_pred == t_pred).mean()),
        "agreement_litert_tflm": float((l_pred == t_pred).mean()),
        "max_abs_diff_litert_tflm": float(np.max(np.abs(litert_scores - tflm_scores))) if len(y) else 0.0,
        "max_abs_diff_float_tflm": float(np.max(np.abs(float_scores - tflm_scores))) if len(y) else 0.0,
        "per_class": per_class,
    }
