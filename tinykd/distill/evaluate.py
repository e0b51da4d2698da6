"""`evaluate`: score a `.keras` model, a run folder or a `.tflite` model on a data set's split."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tinykd.configio import from_dict, load_json, save_json
from tinykd.distill import runfolder as rf
from tinykd.errors import TinykdError


def _run_config(model_path: Path) -> dict[str, Any] | None:
    """config.json of the run the model came from (beside it, or one folder up for RUN/int8/)."""
    for folder in (model_path.parent, model_path.parent.parent):
        if (folder / rf.CONFIG).is_file():
            return load_json(folder / rf.CONFIG)
    return None


def evaluate(model: str | Path, data: str | Path, *, split: str = "test", json_out: str | Path | None = None,
             data_config=None, show_progress: bool = False) -> dict[str, Any]:
    """Metrics of `model` on `split` of the data set at `data` (same keys as a run's metrics.json)."""
    from tinykd.data import DataConfig, load_dataset
    from tinykd.distill.metrics import classification_metrics
    from tinykd.distill.predict import keras_logits, tflite_input_samples, tflite_logits

    path = Path(model)
    if path.is_dir():
        path = path / rf.MODEL
    if not path.is_file():
        raise TinykdError(f"{model}: no such model; give a run folder, a .keras file or a .tflite file")
    kind = path.suffix.lower()
    if kind not in (".keras", ".tflite"):
        raise TinykdError(f"{path}: unknown model type {kind or '(no suffix)'}; give a .keras or .tflite file or a run folder")
    labels = rf.model_labels(path)
    run_config = _run_config(path)
    if data_config is None:
        if run_config is not None:
            data_config = from_dict(DataConfig, run_config["data"])
        else:  # a loose model: take the clip length from its input, the front end's default rate
            rate = DataConfig().sample_rate
            if kind == ".tflite":
                data_config = DataConfig(sample_rate=rate, clip_seconds=tflite_input_samples(path) / rate)
            else:
                keras_model, _ = rf.load_run_model(path)
                data_config = DataConfig(sample_rate=rate, clip_seconds=int(keras_model.inputs[0].shape[-1]) / rate)
    ds = load_dataset(data, data_config, progress=show_progress)
    if list(ds.labels) != list(labels):
        raise TinykdError(f"{data}: label maps disagree: model has {labels}, data set has {list(ds.labels)}")
    arrays = ds.load_split(split)
    if len(arrays) == 0:
        raise TinykdError(f"{data}: split {split!r} is empty")
    if kind == ".keras":
        keras_model, _ = rf.load_run_model(path)
        logits = keras_logits(keras_model, arrays.x)
    else:
        logits = tflite_logits(path, arrays.x)
    metrics = classification_metrics(arrays.y, logits.argmax(axis=1), labels)
    metrics.update(split=split, model=str(path), data=str(data), model_type=kind.lstrip("."))
    if json_out is not None:
        save_json(json_out, metrics)
    return metrics
