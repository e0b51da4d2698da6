"""Metrics against values worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from tinykd.distill.metrics import classification_metrics, confusion_matrix, per_class_markdown
from tinykd.errors import TinykdError


def test_confusion_rows_are_true_classes():
    cm = confusion_matrix(np.array([0, 0, 1, 2, 2, 2]), np.array([0, 1, 1, 2, 0, 2]), 3)
    assert cm.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]


def test_metrics_by_hand():
    y = np.array([0, 0, 1, 2, 2, 2])
    p = np.array([0, 1, 1, 2, 0, 2])
    m = classification_metrics(y, p, ["a", "b", "c"])
    # class a: tp 1, predicted 2, support 2 -> P 0.5 R 0.5 F1 0.5
    # class b: tp 1, predicted 2, support 1 -> P 0.5 R 1 F1 2/3
    # class c: tp 2, predicted 2, support 3 -> P 1 R 2/3 F1 0.8
    assert m["n"] == 6 and m["accuracy"] == pytest.approx(4 / 6)
    assert m["macro_precision"] == pytest.approx((0.5 + 0.5 + 1) / 3)
    assert m["macro_recall"] == pytest.approx((0.5 + 1 + 2 / 3) / 3)
    assert m["macro_f1"] == pytest.approx((0.5 + 2 / 3 + 0.8) / 3)
    assert m["weighted_f1"] == pytest.approx((2 * 0.5 + 1 * 2 / 3 + 3 * 0.8) / 6)
    assert [r["support"] for r in m["per_class"]] == [2, 1, 3]
    assert m["confusion"] == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]
    assert "| b | 0.500 | 1.000 | 0.667 | 1 |" in per_class_markdown(m)


def test_absent_class_scores_zero_not_nan():
    m = classification_metrics(np.array([0, 0]), np.array([0, 0]), ["a", "b"])
    assert m["per_class"][1] == {"label": "b", "precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert m["accuracy"] == 1.0 and m["weighted_f1"] == 1.0 and m["macro_f1"] == 0.5


def test_bad_input_is_one_line_error():
    with pytest.raises(TinykdError, match="outside 0..1"):
        confusion_matrix(np.array([0, 2]), np.array([0, 1]), 2)
    with pytest.raises(TinykdError, match="no clips"):
        classification_metrics(np.array([], int), np.array([], int), ["a"])
