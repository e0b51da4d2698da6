"""The clips `tinykd quantize` uses: a calibration (representative) set from the training split and the test
split the int8 model is proven on, both rounded to int16 PCM as a board sees them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tinykd.errors import TinykdError
from tinykd.tflite.io import as_pcm16

SILENT_PEAK = 1e-4  # a clip whose peak is below -80 dBFS carries no calibration information


@dataclass
class QuantizeSets:
    representative: np.ndarray  # float32 [n, samples], PCM-rounded
    silent_skipped: int
    x_test: np.ndarray  # float32 [n, samples], PCM-rounded
    y_test: np.ndarray  # int64 [n]


def representative(x: np.ndarray, size: int, seed: int, data: Path) -> tuple[np.ndarray, int]:
    """Up to `size` non-silent training clips (seeded choice, in data order) and how many were silent."""
    if len(x) == 0:
        raise TinykdError(f"{data}: the training split is empty; the representative set needs training clips")
    loud = np.max(np.abs(x), axis=1) >= SILENT_PEAK
    if not loud.any():
        raise TinykdError(f"{data}: every training clip is silent (peak < {SILENT_PEAK:g}); calibration needs real audio")
    pool = np.flatnonzero(loud)
    rng = np.random.default_rng(seed)
    pick = rng.choice(pool, size=min(size, len(pool)), replace=False)
    return as_pcm16(x[np.sort(pick)]), int((~loud).sum())


def load_sets(data: Path, data_config, labels: list[str], representative_size: int, max_test_clips: int,
              seed: int) -> QuantizeSets:
    from tinykd.data import load_dataset

    ds = load_dataset(data, data_config)
    if list(ds.labels) != list(labels):
        raise TinykdError(f"{data}: classes {ds.labels} differ from the run's labels.json {labels}; use the run's data")
    train = ds.load_split("train")
    rep, n_silent = representative(train.x, representative_size, seed, data)
    test = ds.load_split("test")
    if len(test) == 0:
        raise TinykdError(f"{data}: no test clips; quantize proves the int8 model on the test split")
    x_test, y_test = test.x, test.y
    if max_test_clips and len(y_test) > max_test_clips:
        keep = np.sort(np.random.default_rng(seed).choice(len(y_test), max_test_clips, replace=False))
        x_test, y_test = x_test[keep], y_test[keep]
    return QuantizeSets(rep, n_silent, as_pcm16(x_test), y_test)
