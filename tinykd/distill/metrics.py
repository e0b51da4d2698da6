"""Classification metrics (numpy only): accuracy, precision/recall/F1 (macro and weighted), per-class
table, confusion matrix. Classes that never occur and are never predicted get 0 for precision, recall and F1
(the scikit-learn `zero_division=0` convention) and weight 0 in the weighted averages."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from tinykd.errors import TinykdError


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """[n_classes, n_classes] int64 counts; rows are the true class, columns the predicted one."""
    y_true = np.asarray(y_true, dtype=np.int64).ravel()
    y_pred = np.asarray(y_pred, dtype=np.int64).ravel()
    if y_true.shape != y_pred.shape:
        raise TinykdError(f"metrics: {y_true.size} labels but {y_pred.size} predictions")
    for name, arr in (("labels", y_true), ("predictions", y_pred)):
        if arr.size and (arr.min() < 0 or arr.max() >= n_classes):
            raise TinykdError(f"metrics: {name} outside 0..{n_classes - 1}")
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (y_true, y_pred), 1)
    return cm


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, labels: Sequence[str]) -> dict[str, Any]:
    """All metrics as a JSON-ready dict: accuracy, macro/weighted precision, recall and F1, per_class, confusion, n."""
    labels = list(labels)
    cm = confusion_matrix(y_true, y_pred, len(labels))
    n = int(cm.sum())
    if n == 0:
        raise TinykdError("metrics: no clips to score")
    tp = np.diag(cm).astype(np.float64)
    support = cm.sum(axis=1).astype(np.float64)
    predicted = cm.sum(axis=0).astype(np.float64)
    precision = _safe_div(tp, predicted)
    recall = _safe_div(tp, support)
    f1 = _safe_div(2 * precision * recall, precision + recall)
    weights = support / n
    per_class = [
        {
            "label": label,
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
        }
        for i, label in enumerate(labels)
    ]
    return {
        "n": n,
        "accuracy": float(tp.sum() / n),
        "macro_precision": float(precision.mean()),
        "macro_recall": float(recall.mean()),
        "macro_f1": float(f1.mean()),
        "weighted_precision": float((precision * weights).sum()),
        "weighted_recall": float((recall * weights).sum()),
        "weighted_f1": float((f1 * weights).sum()),
        "labels": labels,
        "per_class": per_class,
        "confusion": cm.tolist(),
    }


def per_class_markdown(metrics: dict[str, Any]) -> str:
    """The per-class table as Markdown."""
    lines = ["| class | precision | recall | F1 | support |", "|---|---:|---:|---:|---:|"]
    for row in metrics["per_class"]:
        lines.append(
            f"| {row['label']} | {row['precision']:.3f} | {row['recall']:.3f} | {row['f1']:.3f} | {row['support']} |"
        )
    return "\n".join(lines)
