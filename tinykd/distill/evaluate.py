"""`evaluate`: score a `.keras` model, a run folder or a `.tflite` model on a data set's split."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tinykd.artifacts import Int8Dir, RunDir, model_labels
from tinykd.configio import save_json
from tinykd.errors import TinykdError


def evaluate(model: str | Path, data: str | Path, *, split: str = "test", json_out: str | Path | None = None,
             data_config=None, show_progress: bool = False) -> dict[str, Any]:
    """Metrics of `model` on `split` of the data set at `data` (same keys as a run's metrics.json).

    A `.tflite` model is run in LiteRT on int16 PCM with the firmware's input rule (tinykd.tflite.io)."""
    from tinykd.data import DataConfig, load_dataset
    from tinykd.distill.metrics import classification_metrics
    from tinykd.distill.predict import keras_logits
    from tinykd.students.saved import load_run_model
    from tinykd.tflite.run import io_quant, read_tflite, waveform_scores

    path = Path(model)
    if path.is_dir():
        path = path / RunDir.MODEL
    if not path.is_file():
        raise TinykdError(f"{model}: no such model; give a run folder, a .keras file or a .tflite file")
    kind = path.suffix.lower()
    if kind not in (".keras", ".tflite"):
        raise TinykdError(f"{path}: unknown model type {kind or '(no suffix)'}; give a .keras or .tflite file or a run folder")
    labels = model_labels(path)
    keras_model = flatbuffer = None
    if kind == ".keras":
        keras_model, _ = load_run_model(path)
        samples = int(keras_model.inputs[0].shape[-1])
    else:
        flatbuffer = read_tflite(path)
        try:
            samples = int(io_quant(flatbuffer)[2][-1])
        except TinykdError as exc:
            raise TinykdError(f"{path}: {exc}") from None
    if data_config is None:
        run = RunDir.of_model(path)
        if kind == ".tflite" and (path.parent / Int8Dir.REPORT_JSON).is_file():  # the int8 model's own record
            data_config = Int8Dir(path.parent).data_config()
        elif run is not None:
            data_config = run.data_config()
        else:  # a loose model: take the clip length from its input, the front end's default rate
            rate = DataConfig().sample_rate
            data_config = DataConfig(sample_rate=rate, clip_seconds=samples / rate)
    ds = load_dataset(data, data_config, progress=show_progress)
    if list(ds.labels) != list(labels):
        raise TinykdError(f"{data}: label maps disagree: model has {labels}, data set has {list(ds.labels)}")
    arrays = ds.load_split(split)
    if len(arrays) == 0:
        raise TinykdError(f"{data}: split {split!r} is empty")
    if keras_model is not None:
        logits = keras_logits(keras_model, arrays.x)
    else:
        logits = waveform_scores(flatbuffer, arrays.x, where=str(path))
    metrics = classification_metrics(arrays.y, logits.argmax(axis=1), labels)
    metrics.update(split=split, model=str(path), data=str(data), model_type=kind.lstrip("."))
    if json_out is not None:
        save_json(json_out, metrics)
    return metrics
