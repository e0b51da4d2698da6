"""Loading a saved student (`model.keras` in a run folder, or any `.keras` file) with its label map.

Loading needs every custom layer a student may contain to be registered with Keras: this module imports
them (the front ends and the head layers), so `keras.saving.load_model` works with `safe_mode=True`.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

from tinykd.artifacts import RunDir, model_labels
from tinykd.configio import os_reason
from tinykd.errors import TinykdError


def load_run_model(path: str | os.PathLike):
    """(keras model, labels) from a run folder or a `.keras` file (labels.json beside it or one folder up)."""
    import keras

    import tinykd.frontend.keras_layer  # noqa: F401  (registers LogMelFrontEnd)
    import tinykd.frontend.signal_keras  # noqa: F401  (registers SignalFrontEnd)
    import tinykd.students.layers  # noqa: F401  (registers the student head layers)

    path = Path(path)
    model_path = path / RunDir.MODEL if path.is_dir() else path
    if not model_path.is_file():
        raise TinykdError(f"{model_path}: no model found; give a run folder or a .keras file")
    try:
        is_zip = zipfile.is_zipfile(model_path)
    except OSError as exc:
        raise TinykdError(f"{model_path}: cannot read it ({os_reason(exc)})") from None
    if not is_zip:  # Keras calls any non-zip "File not found"
        raise TinykdError(f"{model_path}: cannot load the Keras model: not a .keras (zip) file; is it corrupt or "
                          "truncated? Train the run again or give another model")
    try:
        model = keras.saving.load_model(model_path, compile=False, safe_mode=True)
    except Exception as exc:  # keras raises many types for a bad file
        raise TinykdError(f"{model_path}: cannot load the Keras model ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})") from None
    return model, model_labels(model_path)
