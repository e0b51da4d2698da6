"""`evaluate`: score a `.keras` model, a run folder or a `.tflite` model on any data set folder or manifest.

Which clips (`tinykd.data.dataset.scoring_split`): the split asked for, or by default the test split when the
data is the set the model was trained on (the run records its root and fingerprint), and every clip of any
other data set: new recordings are all unseen, so they need no training split (none is demanded) and may hold
any subset of the model's classes. A loose model with no record of its training data is scored on the test
split (`--split all` scores everything). A class the model does not know is refused. When the data holds only some
of the model's classes, the metrics cover the classes that occur in it or are predicted (scikit-learn's
convention), so absent classes do not pull the macro averages down; `classes_absent` lists them.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from tinykd.artifacts import Int8Dir, RunDir, model_labels
from tinykd.configio import save_json
from tinykd.errors import TinykdError


def _trained_on(path: Path) -> dict[str, Any] | None:
    """The training data record of the run a model file belongs to (for an int8 folder written elsewhere, the
    run its quantize.json names, else the data set it was proven on), or None for a loose model."""
    run = RunDir.of_model(path)
    report = None
    if run is None and (path.parent / Int8Dir.REPORT_JSON).is_file():
        report = Int8Dir(path.parent).report()
        named = report.get("run")
        if isinstance(named, str) and (Path(named) / RunDir.CONFIG).is_file():
            run = RunDir(named)
    if run is not None:
        record = run.config().get("dataset")
        if isinstance(record, dict):
            return record
    if report is not None and isinstance(report.get("data"), str):
        return {"root": str(Path(report["data"]).resolve())}
    return None


def evaluate(model: str | Path, data: str | Path, *, split: str | None = None, json_out: str | Path | None = None,
             data_config=None, fmt: str | None = None, allow_outside: bool = False,
             show_progress: bool = False) -> dict[str, Any]:
    """Metrics of `model` on the data set at `data` (same keys as a run's metrics.json, plus `split_reason`).

    `split`: train, val, test or all; None picks as the module docstring says. `fmt` overrides the layout the
    run recorded (e.g. "csv" for a manifest of new recordings). A `.tflite` model is run in LiteRT on int16 PCM
    with the firmware's input rule (tinykd.tflite.io)."""
    import numpy as np

    from tinykd.data import DataConfig, load_dataset
    from tinykd.data.dataset import scoring_split
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
    changes = {}
    if fmt is not None:
        changes["format"] = fmt
    if allow_outside:
        changes["allow_outside"] = True
    if changes:
        data_config = dataclasses.replace(data_config, **changes)
    if data_config.clip_samples != samples:
        raise TinykdError(f"{path}: the model takes {samples} samples per clip but the data settings give "
                          f"{data_config.clip_samples}; its run records other clip settings")
    ds = load_dataset(data, data_config, progress=show_progress, require_splits=())
    unknown = [label for label in ds.labels if label not in labels]
    if unknown:
        raise TinykdError(f"{data}: class(es) {unknown} are not among the model's {labels}")
    name, why = scoring_split(split, ds, _trained_on(path))
    arrays = ds.load_split(name)
    if len(arrays) == 0:
        raise TinykdError(f"{data}: split {name!r} is empty ({ds.split_how}); pass --split all to score every clip")
    if keras_model is not None:
        logits = keras_logits(keras_model, arrays.x)
    else:
        logits = waveform_scores(flatbuffer, arrays.x, where=str(path))
    index = {label: i for i, label in enumerate(labels)}
    y = np.array([index[ds.labels[int(v)]] for v in arrays.y], dtype=np.int64)
    pred = np.asarray(logits).argmax(axis=1)
    scored = sorted(set(y.tolist()) | set(pred.tolist())) if set(ds.labels) != set(labels) else list(range(len(labels)))
    compact = {k: i for i, k in enumerate(scored)}
    metrics = classification_metrics(np.array([compact[v] for v in y.tolist()], dtype=np.int64),
                                     np.array([compact[v] for v in pred.tolist()], dtype=np.int64),
                                     [labels[k] for k in scored])
    metrics.update(split=name, split_reason=why, model=str(path), data=str(data), model_type=kind.lstrip("."),
                   classes_absent=[label for label in labels if label not in ds.labels])
    if ds.problems:
        metrics["problems_skipped"] = len(ds.problems)
    if json_out is not None:
        save_json(json_out, metrics)
    return metrics
