"""What `tinykd quantize` starts from: the run's Keras model, its labels and front end, where its data set is
and which front-end precision to use, read from the run folder's own records (tinykd.artifacts.RunDir)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tinykd.artifacts import Int8Dir, RunDir
from tinykd.errors import TinykdError
from tinykd.frontend.spec import FrontEndSpec


@dataclass
class QuantizeSource:
    run: RunDir
    out: Int8Dir
    model: object  # the keras.Model
    labels: list[str]
    spec: FrontEndSpec
    clip_samples: int
    student_name: str
    frontend_int8_hint: bool | None  # the student preset's deployment hint (`frontend_int8`)

    def data_config(self):
        """The run's data settings at the model's own rate and clip length (defaults for a loose model)."""
        from tinykd.data import DataConfig

        fixed = {"sample_rate": self.spec.sample_rate, "clip_seconds": self.clip_samples / self.spec.sample_rate}
        if (self.run / RunDir.CONFIG).is_file():
            return self.run.data_config(**fixed)
        return DataConfig(**fixed)

    def data_root(self) -> str | None:
        return self.run.data_root() if (self.run / RunDir.CONFIG).is_file() else None


def _student_hint(run: RunDir) -> tuple[str, bool | None]:
    """(student name, frontend_int8 hint) from config.json: a saved preset dict, or (older runs) a preset name."""
    if not (run / RunDir.CONFIG).is_file():
        return "", None
    config = run.config()
    student = config.get("student")
    name, hint = "", None
    if isinstance(student, dict):
        name, hint = str(student.get("name", "")), student.get("frontend_int8")
    elif isinstance(student, str):
        from tinykd.students.config import load_student_config

        name = student
        try:
            hint = load_student_config(student).frontend_int8
        except TinykdError:  # a preset renamed or removed since the run: fall back to the default
            hint = None
    if isinstance(config.get("frontend_int8"), bool):
        hint = config["frontend_int8"]
    return name, hint if isinstance(hint, bool) else None


def check_out_dir(out: Path, run_dir: Path) -> None:
    """The output folder is replaced whole at the end: refuse one that holds anything but an earlier output."""
    if out.resolve() in (run_dir.resolve(), *run_dir.resolve().parents):
        raise TinykdError(f"--out {out} would replace the run folder itself; give a folder of its own (default RUN/int8)")
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not Int8Dir(out).is_own_kind())):
        raise TinykdError(f"--out {out} exists and is not a tinykd quantize output (no {Int8Dir.REPORT_JSON}); "
                          "choose another folder")


def load_source(run: str | Path, out: str | Path | None) -> QuantizeSource:
    from tinykd.frontend.keras_layer import LogMelFrontEnd
    from tinykd.students.saved import load_run_model

    run_path = Path(run)
    model, labels = load_run_model(run_path)
    run_dir = RunDir(run_path if run_path.is_dir() else run_path.parent)
    out_dir = Int8Dir(Path(out) if out is not None else run_dir / RunDir.INT8)
    check_out_dir(out_dir.path, run_dir.path)
    fe_layers = [layer for layer in model.layers if isinstance(layer, LogMelFrontEnd)]
    if len(fe_layers) != 1:
        raise TinykdError(f"{run_dir.path}: the model needs exactly one LogMelFrontEnd layer (waveform in), found {len(fe_layers)}")
    n_out = int(model.outputs[0].shape[-1])
    if n_out != len(labels):
        raise TinykdError(f"{run_dir.path}: model has {n_out} outputs but labels.json lists {len(labels)} classes")
    name, hint = _student_hint(run_dir)
    return QuantizeSource(run_dir, out_dir, model, list(labels), fe_layers[0].spec, int(model.inputs[0].shape[-1]),
                          name or model.name, hint)
