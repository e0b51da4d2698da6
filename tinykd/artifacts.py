"""The artifact folders every stage writes, defined once: their file names, how to read them back, and the
marker that says which kind of folder a path is.

    teacher/  TeacherDir  `tinykd teacher train`   (Hugging Face save_pretrained + tinykd_teacher.json)
    cache/    CacheDir    `tinykd teacher export`  (meta.json + safetensors shards)
    run/      RunDir      `tinykd distill`         (model.keras, config.json, labels.json, metrics.json, ...)
    int8/     Int8Dir     `tinykd quantize`        (model_int8.tflite, quantize.json, labels.json, C sources)

Each folder gets a marker file, `tinykd.json` ({"kind": ..., "tinykd": version}), written when tinykd creates
the folder. `--force` replaces a folder only when its marker (or, for folders made before markers existed,
its kind's signature files) says it is of the same kind. Facts a later stage needs are read from the record
the earlier stage wrote (quantize.json for the sample rate and arena, config.json for the data config), never
re-derived from generated code.

Imports only the foundation (errors, configio, frontend.spec) and the data config dataclass, so every stage
can use it.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any, ClassVar

from tinykd.configio import from_dict, is_inside, load_json, os_reason, save_json
from tinykd.errors import CacheError, TinykdError

MARKER = "tinykd.json"
LABELS = "labels.json"
REPORT = "report.md"


# -- markers ---------------------------------------------------------------------------------------------


def write_marker(folder: str | os.PathLike, kind: str) -> None:
    """Record that `folder` is a tinykd artifact of `kind` (written when tinykd creates the folder)."""
    from tinykd import __version__

    save_json(Path(folder) / MARKER, {"kind": kind, "tinykd": __version__})


def marker_kind(folder: str | os.PathLike) -> str | None:
    """The kind recorded in `folder`'s marker, or None when there is no readable marker."""
    path = Path(folder) / MARKER
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    kind = doc.get("kind") if isinstance(doc, dict) else None
    return kind if isinstance(kind, str) else None


def model_hash(flatbuffer: bytes) -> str:
    """First 16 hex characters of sha256(.tflite): how firmware, host and records agree on a model."""
    return hashlib.sha256(flatbuffer).hexdigest()[:16]


def deployment_hash(frontend: bytes | None, body: bytes) -> str:
    """What a board reports as its model: the body's hash for a waveform model, and for a signal model the
    first 16 hex characters of sha256(front end + body), so a board with another front end is told apart."""
    return model_hash(body) if frontend is None else model_hash(frontend + body)


def read_labels(path: str | os.PathLike) -> list[str]:
    """A labels.json file: a JSON list of class names (index = class id)."""
    path = Path(path)
    labels = load_json(path)
    if not (isinstance(labels, list) and labels and all(isinstance(v, str) for v in labels)):
        raise TinykdError(f"{path}: must be a non-empty JSON list of class names")
    return labels


class ArtifactDir:
    """A folder of one artifact kind; subclasses name their files."""

    kind: ClassVar[str] = ""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def __fspath__(self) -> str:
        return os.fspath(self.path)

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r})"

    def is_own_kind(self) -> bool:
        """True when the folder is a tinykd artifact of this kind (by marker, else by its signature files)."""
        kind = marker_kind(self.path)
        if kind is not None:
            return kind == self.kind
        try:
            return self._looks_like()
        except (OSError, ValueError, AttributeError, TinykdError):
            return False

    def _looks_like(self) -> bool:
        """Whether a folder without a marker (made by an earlier tinykd) is of this kind."""
        return False

    def mark(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        write_marker(self.path, self.kind)


# -- teacher ---------------------------------------------------------------------------------------------


class TeacherDir(ArtifactDir):
    """`tinykd teacher train`: a Hugging Face `save_pretrained` folder plus tinykd's own records."""

    kind = "teacher"
    HF_CONFIG = "config.json"  # the model config (save_pretrained)
    WEIGHTS = "model.safetensors"
    PREPROCESSOR = "preprocessor_config.json"  # the feature extractor (per-utterance normalisation)
    META = "tinykd_teacher.json"  # train config, data config, base, best epoch, test accuracy, status
    METRICS = "train_metrics.json"  # per-epoch history
    BASE_RECORD = "base.json"  # only in a teacher base (tinykd.teacher.base): its words, voices and making
    LABELS = LABELS
    REPORT = REPORT

    def _looks_like(self) -> bool:
        return (self.path / self.META).is_file()

    def meta(self) -> dict[str, Any]:
        doc = load_json(self.path / self.META)
        if not isinstance(doc, dict):
            raise TinykdError(f"{self.path / self.META}: not a JSON object; train the teacher again")
        return doc

    def is_complete(self) -> bool:
        return (self.path / self.META).is_file() and self.meta().get("status") == "complete"

    def labels(self) -> list[str]:
        return read_labels(self.path / self.LABELS)


# -- soft-label cache ------------------------------------------------------------------------------------


class CacheDir(ArtifactDir):
    """`tinykd teacher export`: meta.json (written complete last) and safetensors shards; the format is
    documented in tinykd.teacher.cache."""

    kind = "cache"
    META = "meta.json"
    REPORT = REPORT
    SHARD_GLOB = "shard-*.safetensors"
    FORMAT = "tinykd-softlabels"
    VERSION = 1

    def _looks_like(self) -> bool:
        doc = json.loads((self.path / self.META).read_text(encoding="utf-8"))
        return isinstance(doc, dict) and doc.get("format") == self.FORMAT

    @staticmethod
    def shard_name(index: int) -> str:
        return f"shard-{index:05d}.safetensors"

    def meta(self) -> dict[str, Any]:
        """meta.json, checked to be a tinykd cache of this format version; CacheError otherwise."""
        path = self.path / self.META
        if not path.is_file():
            raise CacheError(f"{self.path}: no {self.META}; not a soft-label cache (make one with `tinykd teacher export`)")
        try:
            meta = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise CacheError(f"{path}: not valid JSON ({exc}); re-run `tinykd teacher export`") from None
        if not isinstance(meta, dict) or meta.get("format") != self.FORMAT:
            raise CacheError(f"{path}: not a tinykd soft-label cache")
        if meta.get("version") != self.VERSION:
            raise CacheError(f"{path}: cache format version {meta.get('version')} is not {self.VERSION}; re-export it with this tinykd")
        return meta

    def is_complete(self) -> bool:
        try:
            return self.meta().get("complete") is True
        except CacheError:
            return False

    def data_config(self):
        """The data config the cache was exported with (its clips and splits), or None."""
        from tinykd.data.config import DataConfig

        saved = self.meta().get("data_config")
        return from_dict(DataConfig, saved) if isinstance(saved, dict) else None


# -- distillation run ------------------------------------------------------------------------------------


class RunDir(ArtifactDir):
    """`tinykd distill`: config.json and labels.json first, checkpoints while training, then model.keras,
    history, plots, report and metrics.json last (a run folder with metrics.json is complete)."""

    kind = "run"
    MODEL = "model.keras"
    CONFIG = "config.json"  # distill config, student preset, front-end spec, data config, data set, teacher
    LABELS = LABELS
    METRICS = "metrics.json"
    HISTORY = "history.json"
    CURVES = "training_curves.png"
    CONFUSION = "confusion_matrix.png"
    REPORT = REPORT
    CHECKPOINTS = "checkpoints"
    INT8 = "int8"  # where `tinykd quantize` writes by default

    def _looks_like(self) -> bool:
        doc = json.loads((self.path / self.CONFIG).read_text(encoding="utf-8"))
        return isinstance(doc, dict) and isinstance(doc.get("distill"), dict)

    def is_complete(self) -> bool:
        return (self.path / self.METRICS).is_file() and (self.path / self.MODEL).is_file()

    def config(self) -> dict[str, Any]:
        doc = load_json(self.path / self.CONFIG)
        if not isinstance(doc, dict):
            raise TinykdError(f"{self.path / self.CONFIG}: not a JSON object; this is not a tinykd run folder")
        return doc

    def labels(self) -> list[str]:
        return read_labels(self.path / self.LABELS)

    def data_config(self, **overrides: Any):
        """The run's DataConfig (config.json "data"), with `overrides` applied."""
        from tinykd.data.config import DataConfig

        saved = self.config().get("data")
        if not isinstance(saved, dict):
            raise TinykdError(f"{self.path / self.CONFIG}: has no data config; give the data settings explicitly")
        known = set(DataConfig.__dataclass_fields__)
        values = {k: v for k, v in saved.items() if k in known}
        values.update(overrides)
        try:
            return from_dict(DataConfig, values)
        except (TypeError, TinykdError) as exc:
            raise TinykdError(f"{self.path / self.CONFIG}: unusable data config ({exc})") from None

    def data_root(self) -> str | None:
        dataset = self.config().get("dataset")
        root = dataset.get("root") if isinstance(dataset, dict) else None
        return root if isinstance(root, str) else None

    def student(self) -> dict[str, Any] | str | None:
        """The student preset as saved (a full StudentConfig dict) or, in older runs, its name."""
        return self.config().get("student")

    def int8_dir(self) -> "Int8Dir":
        return Int8Dir(self.path / self.INT8)

    @classmethod
    def of_model(cls, model_path: str | os.PathLike) -> "RunDir | None":
        """The run folder a model file belongs to (beside it, or one folder up for RUN/int8/), or None."""
        model_path = Path(model_path)
        for folder in (model_path.parent, model_path.parent.parent):
            if (folder / cls.CONFIG).is_file() and isinstance(cls(folder).config().get("data"), dict):
                return cls(folder)
        return None


def model_labels(model_path: str | os.PathLike) -> list[str]:
    """labels.json beside a model file, or one folder up (RUN/int8/model_int8.tflite -> RUN/labels.json)."""
    model_path = Path(model_path)
    for folder in (model_path.parent, model_path.parent.parent):
        if (folder / LABELS).is_file():
            return read_labels(folder / LABELS)
    raise TinykdError(f"{model_path}: no labels.json beside it or in its parent folder; the label map lives with the model")


# -- int8 model ------------------------------------------------------------------------------------------


class Int8Dir(ArtifactDir):
    """`tinykd quantize`: the int8 flatbuffer(s), quantize.json (THE record: labels, sample rate, tensors, arena,
    accuracy), report.md, labels.json and the emitted C sources. verify.json is added by `tinykd verify`.

    A "signal" model is two flatbuffers: frontend.tflite (the Signal-op front end, one hop per invoke) and
    model_int8.tflite (the int8 body); a "waveform" model (a logmel research preset) is model_int8.tflite alone."""

    kind = "int8"
    TFLITE = "model_int8.tflite"
    FRONTEND_TFLITE = "frontend.tflite"
    REPORT_JSON = "quantize.json"
    REPORT = REPORT
    LABELS = LABELS
    C_HEADER = "model_data.h"
    C_SOURCE = "model_data.cc"
    OPS_HEADER = "model_ops.h"
    C_FILES = (C_HEADER, C_SOURCE, OPS_HEADER)
    VERIFY = "verify.json"

    def _looks_like(self) -> bool:
        return (self.path / self.TFLITE).is_file() and (self.path / self.REPORT_JSON).is_file()

    @classmethod
    def find(cls, path: str | os.PathLike) -> "Int8Dir":
        """RUN (uses RUN/int8/), the int8 folder itself, or its model_int8.tflite."""
        path = Path(path)
        for cand in (path, path / RunDir.INT8):
            if (cand / cls.TFLITE).is_file() and (cand / cls.REPORT_JSON).is_file():
                return cls(cand)
        if path.is_file() and path.name == cls.TFLITE and (path.parent / cls.REPORT_JSON).is_file():
            return cls(path.parent)
        if not path.exists():
            raise TinykdError(f"{path}: no such run folder or int8 folder")
        raise TinykdError(f"{path}: no {cls.TFLITE} with {cls.REPORT_JSON} here or in {path / RunDir.INT8}; "
                          "run `tinykd quantize` first")

    def report(self) -> dict[str, Any]:
        doc = load_json(self.path / self.REPORT_JSON)
        if not isinstance(doc, dict):
            raise TinykdError(f"{self.path / self.REPORT_JSON}: not a JSON object; run `tinykd quantize` again")
        return doc

    def labels(self) -> list[str]:
        labels = self.report().get("labels")
        if not (isinstance(labels, list) and labels and all(isinstance(v, str) for v in labels)):
            raise TinykdError(f"{self.path / self.REPORT_JSON}: has no label list; run `tinykd quantize` again")
        return labels

    def sample_rate(self) -> int:
        rate = self.report().get("sample_rate")
        if not (isinstance(rate, int) and rate > 0):
            raise TinykdError(f"{self.path / self.REPORT_JSON}: has no sample rate; run `tinykd quantize` again")
        return rate

    def arena_bytes(self) -> int:
        arena = self.report().get("arena")
        value = arena.get("bytes") if isinstance(arena, dict) else None
        if not (isinstance(value, int) and value > 0):
            raise TinykdError(f"{self.path / self.REPORT_JSON}: has no arena size; run `tinykd quantize` again")
        return value

    def _checked_flatbuffer(self, path: Path, record: str) -> bytes:
        """The bytes at `path`, refused unless they hash to quantize.json's `record`.hash16."""
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise TinykdError(f"{path}: cannot read it ({os_reason(exc)})") from None
        entry = self.report().get(record)
        recorded = entry.get("hash16") if isinstance(entry, dict) else None
        if recorded != model_hash(data):
            raise TinykdError(f"{path} does not match {self.path / self.REPORT_JSON} (hash differs); "
                              "run `tinykd quantize` again")
        return data

    def flatbuffer(self) -> bytes:
        """The .tflite bytes, refused when they are not the model quantize.json describes."""
        return self._checked_flatbuffer(self.path / self.TFLITE, "model")

    def model_kind(self) -> str:
        """"signal" (front end + body) or "waveform" (one model)."""
        return "signal" if self.report().get("kind") == "signal" else "waveform"

    def frontend_flatbuffer(self) -> bytes | None:
        """A signal model's front end (frontend.tflite), refused when it is not the one quantize.json
        describes; None for a waveform model."""
        if self.model_kind() != "signal":
            return None
        return self._checked_flatbuffer(self.path / self.FRONTEND_TFLITE, "frontend")

    def run_dir(self) -> RunDir | None:
        return RunDir.of_model(self.path / self.TFLITE)

    def data_config(self, **overrides: Any):
        """The data settings the int8 model was proven with: recorded in quantize.json, else the run's."""
        from tinykd.data.config import DataConfig

        saved = self.report().get("data_config")
        if isinstance(saved, dict):
            known = set(DataConfig.__dataclass_fields__)
            return from_dict(DataConfig, {**{k: v for k, v in saved.items() if k in known}, **overrides})
        run = self.run_dir()
        if run is not None:
            return run.data_config(**overrides)
        return DataConfig(**{"sample_rate": self.sample_rate(), **overrides})


# -- folders of several artifacts ------------------------------------------------------------------


class PretrainDir(TeacherDir):
    """`tinykd teacher pretrain`: a save_pretrained Wav2Vec2ForPreTraining folder plus tinykd_pretrain.json."""

    kind = "pretrained"
    META = "tinykd_pretrain.json"

    def _looks_like(self) -> bool:
        return (self.path / self.META).is_file()

    def is_complete(self) -> bool:
        return (self.path / self.META).is_file() and self.meta().get("status") == "complete"


class ProtocolDir(ArtifactDir):
    """`tinykd sweep --folds speakers`: protocol.json, the summary files and one FoldDir per held-out speaker."""

    kind = "protocol"
    META = "protocol.json"
    REPORT = "protocol.md"
    PLOT = "protocol.png"

    def _looks_like(self) -> bool:
        return isinstance(load_json(self.path / self.META), dict)


class FoldDir(ArtifactDir):
    """One fold: fold.json, pretrained/, teacher/, cache/ and a sweep folder per student."""

    kind = "fold"
    META = "fold.json"
    PRETRAINED = "pretrained"
    TEACHER = "teacher"
    CACHE = "cache"

    def _looks_like(self) -> bool:
        return isinstance(load_json(self.path / self.META), dict)


class SynthDir(ArtifactDir):
    """`tinykd data synth`: the built-in data set (class folders of WAVs, README.md, synth.json written last)."""

    kind = "synth"
    META = "synth.json"  # tinykd.data.synth.MARKER
    GENERATOR = "tinykd.data.synth"

    def _looks_like(self) -> bool:
        doc = json.loads((self.path / self.META).read_text(encoding="utf-8"))
        return isinstance(doc, dict) and doc.get("generator") == self.GENERATOR


class SweepDir(ArtifactDir):
    """`tinykd sweep`: one run folder per cell, sweep.json, the ablation table and plots."""

    kind = "sweep"
    META = "sweep.json"

    def _looks_like(self) -> bool:
        return isinstance(json.loads((self.path / self.META).read_text(encoding="utf-8")), dict)


class DemoDir(ArtifactDir):
    """`tinykd demo`: every stage's folder (data, teacher, cache, runs), demo_config.json, the summary."""

    kind = "demo"
    CONFIG = "demo_config.json"

    def _looks_like(self) -> bool:
        return isinstance(json.loads((self.path / self.CONFIG).read_text(encoding="utf-8")), dict)


KINDS: dict[str, type[ArtifactDir]] = {k.kind: k for k in (TeacherDir, CacheDir, RunDir, Int8Dir, SynthDir, SweepDir,
                                                           DemoDir)}


def describe_folder(path: str | os.PathLike) -> str:
    """What a folder is, in a few words, for messages: 'a tinykd run folder', 'a folder of 3 files', ..."""
    path = Path(path)
    kind = marker_kind(path)
    if kind is None:
        for name, cls in KINDS.items():
            if cls(path).is_own_kind():
                kind = name
                break
    if kind is not None:
        return f"a tinykd {kind} folder"
    try:
        n = sum(1 for _ in path.iterdir())
    except OSError:
        return "an unreadable folder"
    return f"a folder of {n} entr{'y' if n == 1 else 'ies'} that tinykd did not make"


# -- replacing an output folder -----------------------------------------------------------------------


def _is_empty(path: Path) -> bool:
    """Nothing in it but, at most, a marker (or the temp file of a marker being written: a process killed inside
    `mark`): a command that stopped right after creating its output folder (bad data, say, or a kill) has
    written nothing, and the next attempt must not be told the folder "exists"."""
    return all(p.name == MARKER or _is_marker_temp(p.name) for p in path.iterdir())


def _is_marker_temp(name: str) -> bool:
    """The name `atomic_write_bytes` gives the marker's temp file (`.tinykd.json.XXXXXXXX.tmp`)."""
    return name.startswith(f".{MARKER}.") and name.endswith(".tmp")


def _entries(path: Path) -> int:
    try:
        return sum(1 for _ in path.iterdir())
    except OSError:
        return 0


def check_output(folder: ArtifactDir, *, resume: bool = False, force: bool = False, resumable: bool = True,
                 inputs: Iterable[str | os.PathLike] = ()) -> None:
    """Raise the one-line refusal `prepare_output` would give, without touching anything.

    Commands that work a while before writing (load the data, the base model) call this first, so a folder
    that will be refused is refused at once; `prepare_output` repeats the check when it is time to write.
    """
    path, kind = folder.path, folder.kind
    if resume and force:
        raise TinykdError("give either --resume or --force, not both")
    if path.is_symlink():
        raise TinykdError(f"{path}: is a symbolic link; give the folder it points to, or another --out")
    if path.exists() and not path.is_dir():
        raise TinykdError(f"{path}: exists and is not a folder; choose another --out")
    if not path.exists():
        return
    try:
        empty = _is_empty(path)
    except OSError as exc:
        raise TinykdError(f"{path}: cannot read the folder ({os_reason(exc)}); choose another --out") from None
    if empty:
        return
    if not folder.is_own_kind():
        action = "choose another --out"
        if force:
            action = f"refusing to delete it with --force (it replaces only a tinykd {kind} folder); {action}"
        elif resume:
            action = f"nothing to resume; {action}"
        raise TinykdError(f"{path}: not a tinykd {kind} folder ({describe_folder(path)}); {action}")
    if force:
        for item in inputs:
            if is_inside(item, path) or is_inside(os.path.realpath(item), os.path.realpath(path)):
                raise TinykdError(f"{path}: --force would delete {item}, an input of this command, that lies inside it; "
                                  "choose another --out")
        return
    if resume:
        return
    how = "use --resume to continue it or --force to start over" if resumable else "use --force to replace it"
    raise TinykdError(f"{path}: {kind} folder exists; {how}")


def prepare_output(folder: ArtifactDir, *, resume: bool = False, force: bool = False, resumable: bool = True,
                   inputs: Iterable[str | os.PathLike] = ()) -> tuple[bool, str | None]:
    """Make `folder` ready to be written: (resuming, what --force replaced or None).

    A new or empty folder is created and marked. An existing one is continued with `resume`, replaced with
    `force` (deleted, then created again) only when it is a tinykd folder of the same kind, and refused
    otherwise: tinykd never deletes a folder it did not make, nor one that holds one of the command's
    `inputs` (the data, a teacher, a cache). `resumable=False` for commands that cannot continue a folder
    (their refusal then points at --force alone).
    """
    import shutil

    check_output(folder, resume=resume, force=force, resumable=resumable, inputs=inputs)
    path, kind = folder.path, folder.kind
    if not path.exists() or _is_empty(path):
        folder.mark()
        return False, None
    if force:
        n = _entries(path)
        try:
            shutil.rmtree(path)
        except OSError as exc:
            raise TinykdError(f"{path}: cannot delete the old {kind} folder ({os_reason(exc)}); remove it yourself "
                              "or choose another --out") from None
        folder.mark()
        return False, f"replaced the tinykd {kind} folder {path} ({n} entr{'y' if n == 1 else 'ies'} deleted)"
    return True, None
