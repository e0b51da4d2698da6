"""The run folder written by `tinykd distill` (see docs/architecture.md) and how to read it back."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from tinykd.configio import load_json
from tinykd.errors import TinykdError

MODEL = "model.keras"
CONFIG = "config.json"
LABELS = "labels.json"
METRICS = "metrics.json"
HISTORY = "history.json"
CURVES = "training_curves.png"
CONFUSION = "confusion_matrix.png"
REPORT = "report.md"
CHECKPOINTS = "checkpoints"


def is_complete(run_dir: Path) -> bool:
    """A run is complete once its metrics are written (the last artifact, after the model)."""
    return (run_dir / METRICS).is_file() and (run_dir / MODEL).is_file()


def prepare_run_dir(run_dir: Path, *, resume: bool, force: bool) -> bool:
    """Refuse an existing run folder unless resume/force; return True when training should resume."""
    if resume and force:
        raise TinykdError("give either --resume or --force, not both")
    if run_dir.exists() and not run_dir.is_dir():
        raise TinykdError(f"{run_dir}: exists and is not a folder; choose another --out")
    if not run_dir.exists() or not any(run_dir.iterdir()):
        run_dir.mkdir(parents=True, exist_ok=True)
        return False
    looks_like_run = (run_dir / CONFIG).is_file() or (run_dir / CHECKPOINTS).is_dir()
    if force:
        if not looks_like_run:
            raise TinykdError(f"{run_dir}: not a tinykd run folder (no config.json); refusing to delete it with --force")
        shutil.rmtree(run_dir)
        run_dir.mkdir(parents=True)
        return False
    if resume:
        if not looks_like_run:
            raise TinykdError(f"{run_dir}: not a tinykd run folder (no config.json); nothing to resume")
        return True
    raise TinykdError(f"{run_dir}: run folder exists; use --resume to continue it or --force to start over")


def model_labels(model_path: Path) -> list[str]:
    """labels.json beside the model, or one folder up (RUN/int8/model_int8.tflite -> RUN/labels.json)."""
    for folder in (model_path.parent, model_path.parent.parent):
        cand = folder / LABELS
        if cand.is_file():
            labels = load_json(cand)
            if not (isinstance(labels, list) and all(isinstance(v, str) for v in labels)):
                raise TinykdError(f"{cand}: must be a JSON list of class names")
            return labels
    raise TinykdError(f"{model_path}: no labels.json beside it or in its parent folder; the label map lives with the model")


def load_run_model(path: str | os.PathLike):
    """(keras model, labels) from a run folder or a `.keras` file."""
    import keras

    import tinykd.frontend.keras_layer  # noqa: F401  (registers LogMelFrontEnd)

    try:
        import tinykd.students.layers  # noqa: F401  (registers the student head layers)
    except ImportError:
        pass
    path = Path(path)
    model_path = path / MODEL if path.is_dir() else path
    if not model_path.is_file():
        raise TinykdError(f"{model_path}: no model found; give a run folder or a .keras file")
    try:
        model = keras.saving.load_model(model_path, compile=False, safe_mode=True)
    except Exception as exc:  # keras raises many types for a bad file
        raise TinykdError(f"{model_path}: cannot load the Keras model ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})") from None
    return model, model_labels(model_path)
