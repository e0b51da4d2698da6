"""Where teacher outputs come from: the soft-label cache, or an already distilled student (teacher-assistant
chain). Both give logits aligned with a split's rows; only the cache gives rollout attention."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tinykd.errors import CacheError, TinykdError


def _check_finite(name: str, arr: np.ndarray) -> np.ndarray:
    if not np.all(np.isfinite(arr)):
        raise CacheError(f"{name}: teacher outputs hold NaN or inf values; rebuild it")
    return arr


def open_cache(path: str | Path, dataset) -> Any:
    """Open the soft-label cache and check it covers `dataset` with the same label map."""
    from tinykd.teacher.cache import SoftLabelCache

    cache = SoftLabelCache.open(path)
    if list(cache.labels) != list(dataset.labels):
        raise CacheError(
            f"{path}: label maps disagree: cache has {list(cache.labels)}, data set has {list(dataset.labels)}; "
            "export the cache from a teacher trained on this data set"
        )
    cache.check(dataset)
    return cache


def cache_logits(cache, path: str | Path, hashes: list[str]) -> np.ndarray:
    return _check_finite(str(path), np.asarray(cache.logits(hashes), dtype=np.float32))


def cache_attention(cache, path: str | Path, hashes: list[str], n_frames: int) -> np.ndarray:
    att = _check_finite(str(path), np.asarray(cache.attention(hashes, n_frames), dtype=np.float32))
    if att.shape != (len(hashes), n_frames):
        raise CacheError(f"{path}: attention has shape {att.shape}, expected {(len(hashes), n_frames)}")
    return att


def teacher_student_logits(run_dir: str | Path, labels: list[str], x: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """Logits of an already distilled student (a run folder) on waveforms `x`, computed once up front."""
    from tinykd.students.saved import load_run_model

    model, run_labels = load_run_model(run_dir)
    if list(run_labels) != list(labels):
        raise TinykdError(
            f"{run_dir}: label maps disagree: teacher student has {run_labels}, data set has {list(labels)}"
        )
    want = model.inputs[0].shape[-1]
    if want is not None and int(want) != x.shape[1]:
        raise TinykdError(
            f"{run_dir}: teacher student takes {want} samples per clip but the data gives {x.shape[1]}; "
            "use the same --clip-seconds and sample rate"
        )
    out = [np.asarray(model(x[i : i + batch_size], training=False)) for i in range(0, len(x), batch_size)]
    return _check_finite(str(run_dir), np.concatenate(out, axis=0).astype(np.float32))
