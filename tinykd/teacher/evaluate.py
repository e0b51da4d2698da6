"""Scoring a trained teacher on one split of a data set (`tinykd teacher evaluate`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tinykd.errors import TinykdError


def evaluate_teacher(
    data_root: str | Path, teacher_dir: str | Path, data_config: Any = None, split: str = "test",
    batch_size: int = 32, device: str = "auto", threads: int = 0,
) -> dict[str, Any]:
    """{"split", "n", "accuracy", "loss", "per_class_accuracy"} of the teacher on `split` of the data set."""
    import numpy as np
    import torch

    from tinykd.data import DataConfig, load_dataset
    from tinykd.teacher.export import teacher_labels
    from tinykd.teacher.model import load_teacher, resolve_device, teacher_sample_rate
    from tinykd.teacher.train import evaluate

    if threads > 0:
        torch.set_num_threads(threads)
    ds = load_dataset(data_root, data_config if data_config is not None else DataConfig())
    teacher_dir = Path(teacher_dir)
    model, fe = load_teacher(teacher_dir, attentions=False)
    labels = teacher_labels(teacher_dir)
    if labels != list(ds.labels):
        raise TinykdError(f"{teacher_dir}: teacher label map {labels} does not match the data's {list(ds.labels)}")
    rate = teacher_sample_rate(teacher_dir)
    if rate != ds.sample_rate:
        raise TinykdError(f"{teacher_dir}: teacher takes {rate} Hz audio but the data is loaded at {ds.sample_rate} Hz; set --sample-rate {rate}")
    arrays = ds.load_split(split)
    if len(arrays.y) == 0:
        raise TinykdError(f"{data_root}: the {split} split is empty")
    dev = resolve_device(device)
    model.to(dev)
    loss, acc, logits = evaluate(model, fe, arrays.x, arrays.y, rate, dev, batch_size)
    pred = logits.argmax(axis=1)
    per_class = {
        name: float(np.mean(pred[arrays.y == k] == k)) for k, name in enumerate(labels) if np.any(arrays.y == k)
    }
    return {"split": split, "n": int(len(arrays.y)), "accuracy": acc, "loss": loss, "per_class_accuracy": per_class}
