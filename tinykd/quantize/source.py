"""What `tinykd quantize` starts from: the run's Keras model, its labels and front end, and where its data
set is, read from the run folder's own records (tinykd.artifacts.RunDir)."""

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

    @property
    def kind(self) -> str:
        """"signal" (Signal-op front end + int8 body) or "waveform" (a logmel student: one waveform model)."""
        return "signal" if self.spec.kind == "signal" else "waveform"

    def path_note(self) -> str:
        """Which conversion path the student takes, and why, in one sentence for the report."""
        if self.kind == "signal":
            return ("signal path: the student's front end is SignalFrontEnd, so it deploys as the integer Signal-op "
                    "graph (one hop per invoke) and the int8 body")
        return ("float front-end path: the student's front end is LogMelFrontEnd (a logmel research preset, e.g. "
                "the papers' 2 ms hop), which has no Signal-op form; it deploys as one flatbuffer with the front end "
                "float and the body int8")

    def data_config(self):
        """The run's data settings at the model's own rate and clip length (defaults for a loose model)."""
        from tinykd.data import DataConfig

        fixed = {"sample_rate": self.spec.sample_rate, "clip_seconds": self.clip_samples / self.spec.sample_rate}
        if (self.run / RunDir.CONFIG).is_file():
            return self.run.data_config(**fixed)
        return DataConfig(**fixed)

    def data_root(self) -> str | None:
        return self.run.data_root() if (self.run / RunDir.CONFIG).is_file() else None


def _student_name(run: RunDir) -> str:
    """The student preset's name from config.json (a saved preset dict or, in older runs, its name)."""
    if not (run / RunDir.CONFIG).is_file():
        return ""
    student = run.config().get("student")
    if isinstance(student, dict):
        return str(student.get("name", ""))
    return student if isinstance(student, str) else ""


def check_out_dir(out: Path, run_dir: Path) -> None:
    """The output folder is replaced whole at the end: refuse one that holds anything but an earlier output."""
    if out.resolve() in (run_dir.resolve(), *run_dir.resolve().parents):
        raise TinykdError(f"--out {out} would replace the run folder itself; give a folder of its own (default RUN/int8)")
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not Int8Dir(out).is_own_kind())):
        raise TinykdError(f"--out {out} exists and is not a tinykd quantize output (no {Int8Dir.REPORT_JSON}); "
                          "choose another folder")


def load_source(run: str | Path, out: str | Path | None) -> QuantizeSource:
    from tinykd.frontend.layers import front_end_layers
    from tinykd.students.saved import load_run_model

    run_path = Path(run)
    model, labels = load_run_model(run_path)
    run_dir = RunDir(run_path if run_path.is_dir() else run_path.parent)
    out_dir = Int8Dir(Path(out) if out is not None else run_dir / RunDir.INT8)
    check_out_dir(out_dir.path, run_dir.path)
    fe_layers = front_end_layers(model)
    if len(fe_layers) != 1:
        raise TinykdError(f"{run_dir.path}: the model needs exactly one front-end layer (waveform in: LogMelFrontEnd or "
                          f"SignalFrontEnd), found {len(fe_layers)}")
    n_out = int(model.outputs[0].shape[-1])
    if n_out != len(labels):
        raise TinykdError(f"{run_dir.path}: model has {n_out} outputs but labels.json lists {len(labels)} classes")
    return QuantizeSource(run_dir, out_dir, model, list(labels), fe_layers[0].spec, int(model.inputs[0].shape[-1]),
                          _student_name(run_dir) or model.name)
