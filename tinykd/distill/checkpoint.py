"""Per-epoch training checkpoints: `RUN/checkpoints/last/` (weights, optimizer and RNG state, loop state)
and `RUN/checkpoints/best.weights.h5` (the best student so far, for early stopping).

A checkpoint is written into a temporary folder and renamed into place, so `last/` is always a complete
checkpoint: a crash (or a NaN loss) mid-epoch leaves the previous one intact. Formats: Keras `.weights.h5`,
`npz` (loaded with allow_pickle=False) and JSON.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from tinykd.configio import load_json, save_json
from tinykd.errors import TinykdError

LAST = "last"
BEST_WEIGHTS = "best.weights.h5"


def _save_arrays(path: Path, arrays: list[np.ndarray]) -> None:
    np.savez(path, **{f"v{i}": np.asarray(a) for i, a in enumerate(arrays)})


def _load_arrays(path: Path) -> list[np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return [data[f"v{i}"] for i in range(len(data.files))]


def save_checkpoint(ckpt_root: Path, student, head, optimizer, rng, state: dict[str, Any]) -> Path:
    """Write `ckpt_root/last` atomically (temp folder, then rename)."""
    ckpt_root.mkdir(parents=True, exist_ok=True)
    tmp = ckpt_root / ".tmp-last"
    old = ckpt_root / ".old-last"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    student.save_weights(tmp / "student.weights.h5")
    if head is not None:
        head.save_weights(tmp / "attention_head.weights.h5")
    _save_arrays(tmp / "optimizer.npz", [v.numpy() for v in optimizer.variables])
    _save_arrays(tmp / "rng.npz", [rng.state.numpy()])
    save_json(tmp / "state.json", {**state, "optimizer_variables": [v.path for v in optimizer.variables]})
    last = ckpt_root / LAST
    shutil.rmtree(old, ignore_errors=True)
    if last.exists():
        os.replace(last, old)
    os.replace(tmp, last)
    shutil.rmtree(old, ignore_errors=True)
    return last


def find_checkpoint(ckpt_root: Path) -> Path | None:
    """The last complete checkpoint (or the previous one if a crash hit between the two renames)."""
    for name in (LAST, ".old-last"):
        cand = ckpt_root / name
        if (cand / "state.json").is_file():
            return cand
    return None


def load_checkpoint(ckpt: Path, student, head, optimizer, trainable_variables, rng) -> dict[str, Any]:
    """Restore weights, optimizer and RNG state in place; return the loop state."""
    state = load_json(ckpt / "state.json")
    try:
        student.load_weights(ckpt / "student.weights.h5")
        if head is not None:
            head_file = ckpt / "attention_head.weights.h5"
            if not head_file.is_file():
                raise TinykdError(f"{ckpt}: checkpoint has no attention head; resume with the same --attention-weight")
            head.load_weights(head_file)
    except (ValueError, OSError) as exc:
        raise TinykdError(f"{ckpt}: checkpoint does not fit this student ({exc}); start again with --force") from None
    optimizer.build(trainable_variables)
    values = _load_arrays(ckpt / "optimizer.npz")
    if len(values) != len(optimizer.variables):
        raise TinykdError(f"{ckpt}: optimizer state has {len(values)} variables, expected {len(optimizer.variables)}")
    for var, value in zip(optimizer.variables, values):
        var.assign(value)
    rng.state.assign(_load_arrays(ckpt / "rng.npz")[0])
    return state


def save_best_weights(ckpt_root: Path, student) -> None:
    ckpt_root.mkdir(parents=True, exist_ok=True)
    tmp = ckpt_root / ".tmp-best.weights.h5"
    student.save_weights(tmp)
    os.replace(tmp, ckpt_root / BEST_WEIGHTS)
