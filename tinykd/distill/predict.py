"""Batch inference of a Keras student for scoring (a `.tflite` model is run by tinykd.tflite.run)."""

from __future__ import annotations

import numpy as np


def keras_logits(model, x: np.ndarray, batch_size: int = 64) -> np.ndarray:
    out = [np.asarray(model(x[i : i + batch_size], training=False)) for i in range(0, len(x), batch_size)]
    return np.concatenate(out, axis=0).astype(np.float32)
