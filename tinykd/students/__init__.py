"""Keras student models (Wav2Small, Wav2Tiny and their presets) with the log-mel front end inside.

    from tinykd.students import build_student, describe
    model = build_student("wav2small", n_classes=10, clip_samples=16000)
    model.get_layer("features").output   # [batch, time', freq', channels], for attention distillation

Importing this package registers every custom layer a student contains (`tinykd>LogMelFrontEnd`,
`tinykd>SoftmaxTimePool`, `tinykd>GramConcat`, `tinykd>TimeMean`), so `keras.models.load_model("model.keras")`
works right after `import tinykd.students`. That import pulls in Keras; `tinykd.students.config`,
`.plan` and `.describe` do not need it.
"""

import tinykd.frontend.keras_layer  # noqa: F401  (registers tinykd>LogMelFrontEnd)
import tinykd.frontend.signal_keras  # noqa: F401  (registers tinykd>SignalFrontEnd)
from tinykd.students.build import build_student, trainable_params
from tinykd.students.config import (
    StudentConfig,
    load_student_config,
    models_dir,
    preset_names,
    save_student_config,
)
from tinykd.students.describe import describe, describe_all
from tinykd.students.layers import GramConcat, SoftmaxTimePool, TimeMean
from tinykd.students.saved import load_run_model

__all__ = [
    "GramConcat",
    "SoftmaxTimePool",
    "StudentConfig",
    "TimeMean",
    "build_student",
    "trainable_params",
    "describe",
    "describe_all",
    "load_run_model",
    "load_student_config",
    "models_dir",
    "preset_names",
    "save_student_config",
]
