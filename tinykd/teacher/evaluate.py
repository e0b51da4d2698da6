"""Scoring a trained teacher on a data set (`tinykd teacher evaluate`).

Which clips: the split asked for, or by default (`scoring_split`) the test split of the data set the teacher
was trained on and every clip of any other data set (new recordings: the teacher has heard none of them).
The data set may hold any subset of the teacher's classes; a class the teacher does not know is refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tinykd.artifacts import TeacherDir
from tinykd.errors import TinykdError


def trained_on(teacher_dir: Path) -> dict[str, Any] | None:
    """What a teacher's record says about its training data set (root, fingerprint), or None."""
    teacher = TeacherDir(teacher_dir)
    if not (teacher / TeacherDir.META).is_file():
        return None
    meta = teacher.meta()
    record = meta.get("dataset")
    if isinstance(record, dict):
        return record
    root = meta.get("data_root")  # teachers trained before the record existed
    return {"root": str(Path(root).resolve()) if isinstance(root, str) else None,
            "fingerprint": meta.get("dataset_fingerprint")}


def evaluate_teacher(
    data_root: str | Path, teacher_dir: str | Path, data_config: Any = None, split: str | None = "test",
    batch_size: int = 32, device: str = "auto", threads: int = 0,
) -> dict[str, Any]:
    """{"split", "split_reason", "n", "accuracy", "loss", "per_class_accuracy"} of the teacher on the data set;
    `split` None picks the clips as described in the module docstring."""
    import numpy as np
    import torch

    from tinykd.data import DataConfig, load_dataset
    from tinykd.data.dataset import scoring_split
    from tinykd.teacher.export import teacher_labels
    from tinykd.teacher.model import load_teacher, resolve_device, teacher_sample_rate
    from tinykd.teacher.train import evaluate

    if threads > 0:
        torch.set_num_threads(threads)
    teacher_dir = Path(teacher_dir)
    ds = load_dataset(data_root, data_config if data_config is not None else DataConfig(), require_splits=())
    labels = teacher_labels(teacher_dir)
    unknown = [label for label in ds.labels if label not in labels]
    if unknown:
        raise TinykdError(f"{data_root}: class(es) {unknown} are not among the teacher's {labels} ({teacher_dir})")
    rate = teacher_sample_rate(teacher_dir)
    if rate != ds.sample_rate:
        raise TinykdError(f"{teacher_dir}: teacher takes {rate} Hz audio but the data is loaded at {ds.sample_rate} Hz; set --sample-rate {rate}")
    model, fe = load_teacher(teacher_dir, attentions=False)
    name, why = scoring_split(split, ds, trained_on(teacher_dir))
    arrays = ds.load_split(name)
    if len(arrays.y) == 0:
        raise TinykdError(f"{data_root}: the {name} split is empty ({ds.split_how}); pass --on all to score every clip")
    index = {label: i for i, label in enumerate(labels)}
    y = np.array([index[ds.labels[int(v)]] for v in arrays.y], dtype=np.int64)
    dev = resolve_device(device)
    model.to(dev)
    loss, acc, logits = evaluate(model, fe, arrays.x, y, rate, dev, batch_size)
    pred = logits.argmax(axis=1)
    per_class = {label: float(np.mean(pred[y == k] == k)) for k, label in enumerate(labels) if np.any(y == k)}
    return {"split": name, "split_reason": why, "n": int(len(y)), "accuracy": acc, "loss": loss,
            "per_class_accuracy": per_class}
