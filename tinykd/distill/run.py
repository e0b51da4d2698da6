"""`distill`: one distillation run from a data folder to a complete run folder.

Order of writing: config.json and labels.json first (a resumable run needs them), checkpoints every epoch,
then model.keras, history, plots, report, and metrics.json last: a run folder with metrics.json is complete.
"""

from __future__ import annotations

import dataclasses
import resource
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tinykd.configio import from_dict, load_json, save_json, to_dict
from tinykd.artifacts import RunDir, prepare_output
from tinykd.distill.config import DistillConfig
from tinykd.errors import TinykdError


@dataclass
class DistillResult:
    run_dir: Path
    metrics: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)
    resumed_from_epoch: int = 0
    already_complete: bool = False


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _check_resume_config(run_dir: Path, cfg: DistillConfig, teacher: dict[str, Any]) -> dict[str, Any]:
    saved = load_json(run_dir / RunDir.CONFIG)
    saved_cfg = to_dict(from_dict(DistillConfig, saved["distill"]))
    new_cfg = to_dict(cfg)
    diff = sorted(k for k in new_cfg if k != "epochs" and new_cfg[k] != saved_cfg.get(k))
    if diff:
        raise TinykdError(
            f"{run_dir}: --resume with different settings ({', '.join(f'{k}: {saved_cfg.get(k)} -> {new_cfg[k]}' for k in diff)}); "
            "use the run's settings or --force to start over"
        )
    if saved.get("teacher") != teacher:
        raise TinykdError(f"{run_dir}: --resume with a different teacher ({saved.get('teacher')} -> {teacher})")
    return saved


def trainable_params(model) -> int:
    """Learned parameters (the front end's frozen DFT and mel constants are not counted)."""
    return int(sum(int(np.prod(w.shape)) for w in model.trainable_weights))


def resolve_config(overrides: dict[str, Any], out: str | Path | None = None, resume: bool = False) -> DistillConfig:
    """DistillConfig from the options a user gave; with --resume the run's saved settings fill the rest, so
    `tinykd distill DATA --out RUN --resume` continues a run without repeating its options."""
    overrides = {k: v for k, v in overrides.items() if v is not None}
    no_augment = overrides.pop("no_augment", None)
    saved_file = Path(out) / RunDir.CONFIG if out is not None else None
    if resume and saved_file is not None and saved_file.is_file():
        cfg = from_dict(DistillConfig, load_json(saved_file)["distill"])
        cfg = dataclasses.replace(cfg, **overrides)
    else:
        cfg = DistillConfig(**overrides)
    if no_augment is not None:
        cfg.augment = dataclasses.replace(cfg.augment, enabled=not no_augment)
    cfg.validate()
    return cfg


def default_data_config(cfg: DistillConfig, cache: str | Path | None = None):
    """The data config a run uses when none is given: the cache's own (so its clips and splits match the
    cached soft labels), else the student preset's sample rate and clip length with the data set's own split."""
    from tinykd.data import DataConfig
    from tinykd.students.config import load_student_config

    if cache is not None:
        from tinykd.teacher.cache import read_meta

        saved = read_meta(Path(cache)).get("data_config")
        if isinstance(saved, dict):
            return from_dict(DataConfig, saved)
    preset = load_student_config(cfg.student)
    return DataConfig(sample_rate=preset.spec().sample_rate, clip_seconds=preset.clip_seconds)


def distill(
    data: str | Path,
    cfg: DistillConfig,
    out: str | Path,
    *,
    cache: str | Path | None = None,
    teacher_student: str | Path | None = None,
    data_config=None,
    resume: bool = False,
    force: bool = False,
    show_progress: bool = True,
) -> DistillResult:
    """Train `cfg.student` on the data set at `data` (optionally distilled from a teacher) into run folder `out`."""
    from tinykd.data import DataConfig, load_dataset
    from tinykd.students.config import load_student_config

    cfg.validate()
    saved_config = Path(out) / RunDir.CONFIG
    if resume and cache is None and teacher_student is None and saved_config.is_file():
        saved_teacher = load_json(saved_config).get("teacher") or {}  # resume with the run's own teacher
        cache, teacher_student = saved_teacher.get("cache"), saved_teacher.get("teacher_student")
    if cfg.needs_teacher_logits and cache is None and teacher_student is None:
        raise TinykdError(f"--alpha {cfg.alpha} < 1 needs a teacher: give --cache CACHE or --teacher-student RUN (or use --alpha 1)")
    if cfg.attention_weight > 0 and cache is None:
        raise TinykdError("--attention-weight > 0 needs --cache with the teacher's attention rollouts")
    run_dir = Path(out)
    teacher = {
        "cache": str(cache) if cache is not None and cfg.uses_teacher else None,
        "teacher_student": str(teacher_student) if teacher_student is not None and cfg.needs_teacher_logits else None,
    }
    resuming, replaced = prepare_output(RunDir(run_dir), resume=resume, force=force)
    student_cfg = load_student_config(cfg.student)
    spec = student_cfg.spec()
    if resuming:
        saved = _check_resume_config(run_dir, cfg, teacher)
        if RunDir(run_dir).is_complete():
            return DistillResult(run_dir, load_json(run_dir / RunDir.METRICS), load_json(run_dir / RunDir.HISTORY),
                                 already_complete=True)
        data_config = from_dict(DataConfig, saved["data"])
        if saved["distill"].get("epochs") != cfg.epochs:  # --epochs may change on resume: keep config.json true
            save_json(run_dir / RunDir.CONFIG, {**saved, "distill": to_dict(cfg)})
    if data_config is None:
        data_config = default_data_config(cfg, cache if cfg.uses_teacher else None)
    if int(data_config.sample_rate) != spec.sample_rate:
        raise TinykdError(
            f"data sample rate {data_config.sample_rate} Hz differs from student {cfg.student!r}'s front end "
            f"({spec.sample_rate} Hz); load the data at the student's rate"
        )

    ds = load_dataset(data, data_config, progress=show_progress)
    labels = list(ds.labels)
    train, val, test = (ds.load_split(s) for s in ("train", "val", "test"))

    import keras

    from tinykd.distill.attention import feature_frames
    from tinykd.distill.teachers import cache_attention, cache_logits, open_cache, teacher_student_logits
    from tinykd.distill.train import TrainArrays, train_student
    from tinykd.students import build_student

    keras.utils.set_random_seed(int(cfg.seed))
    student = build_student(cfg.student, len(labels), ds.clip_samples)
    arrays = TrainArrays(x=train.x, y=train.y)
    soft = None
    if cfg.uses_teacher and cache is not None:
        soft = open_cache(cache, ds)
    if cfg.needs_teacher_logits:
        if teacher_student is not None:
            arrays.teacher_logits = teacher_student_logits(teacher_student, labels, train.x)
        else:
            arrays.teacher_logits = cache_logits(soft, cache, train.hashes)
    if cfg.attention_weight > 0:
        arrays.teacher_attention = cache_attention(soft, cache, train.hashes, feature_frames(student))

    if not resuming:
        config_doc = {
            "distill": to_dict(cfg),
            "student": student_cfg.to_dict(),
            "frontend": spec.to_dict(),
            "data": to_dict(data_config),
            "dataset": {"root": str(Path(data).resolve()), "fingerprint": ds.fingerprint(),
                        "n_train": len(train), "n_val": len(val), "n_test": len(test)},
            "teacher": teacher,
            "params": trainable_params(student),
            "params_total": int(student.count_params()),
        }
        save_json(run_dir / RunDir.CONFIG, config_doc)
        save_json(run_dir / RunDir.LABELS, labels)

    t0 = time.perf_counter()
    result = train_student(
        student, arrays, (val.x, val.y) if len(val) else None, cfg, run_dir / RunDir.CHECKPOINTS,
        sample_rate=ds.sample_rate, resume=resuming, show_progress=show_progress,
        label=f"{cfg.student} T={cfg.temperature:g} a={cfg.alpha:g}",
    )
    train_seconds = time.perf_counter() - t0
    return finish_run(run_dir, student, labels, result, test, val, cfg, train_seconds)


def finish_run(run_dir: Path, student, labels: list[str], result, test, val, cfg: DistillConfig,
               train_seconds: float) -> DistillResult:
    """Score the trained student and write the model, history, plots, report and (last) metrics."""
    import os

    from tinykd.distill.metrics import classification_metrics
    from tinykd.distill.plots import confusion_matrix_png, training_curves
    from tinykd.distill.predict import keras_logits
    from tinykd.distill.report import write_run_report

    eval_split, arrays = ("test", test) if len(test) else ("val", val)
    metrics = classification_metrics(arrays.y, keras_logits(student, arrays.x).argmax(axis=1), labels)
    metrics["split"] = eval_split
    if len(val):
        val_m = classification_metrics(val.y, keras_logits(student, val.x).argmax(axis=1), labels)
        metrics["val"] = {"accuracy": val_m["accuracy"], "macro_f1": val_m["macro_f1"], "n": val_m["n"]}
    epoch_secs = [h["seconds"] for h in result.history]
    metrics["training"] = {
        "epochs_run": len(result.history),
        "best_epoch": result.best_epoch,
        "stopped_early": result.stopped_early,
        "seconds_per_epoch": float(np.median(epoch_secs)) if epoch_secs else None,
        "train_seconds_this_process": train_seconds,
        "peak_rss_mb": peak_rss_mb(),
        "params": trainable_params(student),
        "temperature": cfg.temperature,
        "alpha": cfg.alpha,
        "attention_weight": cfg.attention_weight,
    }
    tmp_model = run_dir / ".tmp-model.keras"
    student.save(tmp_model)
    os.replace(tmp_model, run_dir / RunDir.MODEL)
    save_json(run_dir / RunDir.HISTORY, result.history)
    title = f"{cfg.student}  T={cfg.temperature:g}  alpha={cfg.alpha:g}" + (
        f"  beta={cfg.attention_weight:g}" if cfg.attention_weight else "")
    training_curves(result.history, run_dir / RunDir.CURVES, title)
    confusion_matrix_png(metrics["confusion"], labels, run_dir / RunDir.CONFUSION,
                         f"{title}\n{eval_split} accuracy {metrics['accuracy']:.3f}")
    write_run_report(run_dir, metrics, result.history)
    save_json(run_dir / RunDir.METRICS, metrics)
    return DistillResult(run_dir, metrics, result.history, result.resumed_from_epoch)
