"""`distill`: one distillation run from a data folder to a complete run folder.

Order of writing: config.json and labels.json first (a resumable run needs them), checkpoints every epoch,
then model.keras, history and metrics.json (a run folder with model.keras and metrics.json is complete), then
the plots and report.md, which are drawn from those files: a plot can never cost the trained model or its
figures.

The output folder follows `tinykd.artifacts.prepare_output` (only a run folder is replaced by --force, never one
that holds an input); a resumed run checks the data set is still the one config.json records
(`Dataset.changes_since`) and refuses, naming what changed, when it is not; the data set must pass
`Dataset.check_trainable`, the same rule `teacher train` applies.
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
    replaced: str | None = None  # what --force replaced, in words


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def saved_run_config(run_dir: Path) -> dict[str, Any]:
    """config.json of a run being resumed, with the parts a resume reads checked (one line when corrupt)."""
    saved = RunDir(run_dir).config()
    for key in ("distill", "data"):
        if not isinstance(saved.get(key), dict):
            raise TinykdError(f"{run_dir / RunDir.CONFIG}: has no {key!r} settings (corrupt?); use --force to start over")
    if not isinstance(saved.get("teacher", {}), dict) or not isinstance(saved.get("dataset", {}), dict):
        raise TinykdError(f"{run_dir / RunDir.CONFIG}: 'teacher' and 'dataset' must be JSON objects (corrupt?); "
                          "use --force to start over")
    return saved


def _check_resume_config(run_dir: Path, cfg: DistillConfig, teacher: dict[str, Any]) -> dict[str, Any]:
    saved = saved_run_config(run_dir)
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
        cfg = from_dict(DistillConfig, saved_run_config(Path(out))["distill"])
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
    allow_outside: bool = False,
    log=None,
    baselines=None,
) -> DistillResult:
    """Train `cfg.student` on the data set at `data` (optionally distilled from a teacher) into run folder `out`.

    `allow_outside`: CSV rows may name files outside the manifest's folder. `log(line)` gets warnings (files the
    data set skipped), what --force replaced, and the weak-teacher warning.

    `baselines` (a folder or a `tinykd.distill.baseline.BaselineCache`; None = no comparison, the library's
    default; the `distill` command passes the default cache): a run with a teacher is compared with the alpha = 1
    run of the same student, data and settings, taken from that cache of runs or trained into it first; the
    teacher's validation accuracy is checked against the baseline's before training (a warning when lower), and
    metrics.json gets `baseline` (difference, binomial SE, verdict) and `teacher_val`. A finished alpha = 1 run
    is copied into the cache, so a later distillation reuses it."""
    from tinykd.data import DataConfig, load_dataset
    from tinykd.students.config import load_student_config

    say = log or (lambda line: None)
    cfg.validate()
    saved_config = Path(out) / RunDir.CONFIG
    if resume and cache is None and teacher_student is None and saved_config.is_file():
        saved_teacher = saved_run_config(Path(out)).get("teacher") or {}  # resume with the run's own teacher
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
    inputs = [p for p in (data, cache, teacher_student) if p is not None]
    resuming, replaced = prepare_output(RunDir(run_dir), resume=resume, force=force, inputs=inputs)
    if replaced:
        say(replaced)
    student_cfg = load_student_config(cfg.student)
    spec = student_cfg.spec()
    if resuming:
        saved = _check_resume_config(run_dir, cfg, teacher)
        if RunDir(run_dir).is_complete():
            return DistillResult(run_dir, load_json(run_dir / RunDir.METRICS), load_json(run_dir / RunDir.HISTORY),
                                 already_complete=True)
        known = set(DataConfig.__dataclass_fields__)
        data_config = from_dict(DataConfig, {k: v for k, v in saved["data"].items() if k in known})
    if data_config is None:
        data_config = default_data_config(cfg, cache if cfg.uses_teacher else None)
    if allow_outside and not data_config.allow_outside:
        data_config = dataclasses.replace(data_config, allow_outside=True)
    if int(data_config.sample_rate) != spec.sample_rate:
        raise TinykdError(
            f"data sample rate {data_config.sample_rate} Hz differs from student {cfg.student!r}'s front end "
            f"({spec.sample_rate} Hz); load the data at the student's rate"
        )

    ds = load_dataset(data, data_config, progress=show_progress)
    if resuming:
        changed = ds.changes_since(saved.get("dataset") or {})
        if changed:
            raise TinykdError(f"{data}: the data set changed since {run_dir} was started ({changed}); resuming would "
                              "train and score it on other clips than its config.json records: restore the data, or "
                              "start over with --force")
        if saved["distill"].get("epochs") != cfg.epochs:  # --epochs may change on resume: keep config.json true
            save_json(run_dir / RunDir.CONFIG, {**saved, "distill": to_dict(cfg)})
    ds.check_trainable()
    if ds.problem_summary():
        say(f"warning: {ds.problem_summary()}")
    labels = list(ds.labels)
    train, val, test = (ds.load_split(s) for s in ("train", "val", "test"))

    import keras

    from tinykd.distill.attention import feature_frames
    from tinykd.distill.teachers import cache_attention, cache_logits, open_cache, teacher_student_logits
    from tinykd.distill.train import TrainArrays, train_student
    from tinykd.students import build_student

    arrays = TrainArrays(x=train.x, y=train.y)
    soft = None
    if cfg.uses_teacher and cache is not None:
        soft = open_cache(cache, ds)
    if cfg.needs_teacher_logits:
        if teacher_student is not None:
            arrays.teacher_logits = teacher_student_logits(teacher_student, labels, train.x)
        else:
            arrays.teacher_logits = cache_logits(soft, cache, train.hashes)
    against = None
    if baselines is not None and cfg.uses_teacher:  # before this run trains: the warning comes first
        against = _baseline_for(data, cfg, student_cfg.to_dict(), ds, val, soft, cache, teacher_student, baselines,
                                show_progress, allow_outside, say)
    keras.utils.set_random_seed(int(cfg.seed))
    student = build_student(cfg.student, len(labels), ds.clip_samples)
    if cfg.attention_weight > 0:
        arrays.teacher_attention = cache_attention(soft, cache, train.hashes, feature_frames(student))

    if not resuming:
        config_doc = {
            "distill": to_dict(cfg),
            "student": student_cfg.to_dict(),
            "frontend": spec.to_dict(),
            "data": to_dict(data_config),
            "dataset": ds.record(),
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
        label=f"{cfg.student} T={cfg.temperature:g} a={cfg.alpha:g}" + (f" b={cfg.attention_weight:g}" if cfg.attention_weight else ""),
    )
    train_seconds = time.perf_counter() - t0
    done = finish_run(run_dir, student, labels, result, test, val, cfg, train_seconds, against=against)
    done.replaced = replaced
    if baselines is not None and not cfg.uses_teacher:
        _publish_baseline(run_dir, cfg, student_cfg.to_dict(), ds, baselines)
    return done


def _cache_of(baselines):
    from tinykd.distill.baseline import BaselineCache

    return baselines if isinstance(baselines, BaselineCache) else BaselineCache(baselines)


def _baseline_for(data, cfg: DistillConfig, preset: dict[str, Any], ds, val, soft, cache, teacher_student, baselines,
                  show_progress: bool, allow_outside: bool, say) -> dict[str, Any]:
    """The alpha = 1 baseline (reused or trained now) and the teacher's validation accuracy; warns when the
    teacher is the weaker of the two. What finish_run compares the run with."""
    from tinykd.distill.baseline import baseline_key, load_baseline_metrics, teacher_accuracy, weak_teacher_warning
    from tinykd.distill.teachers import cache_logits, teacher_student_logits

    bc = _cache_of(baselines)
    key = baseline_key(cfg, preset, ds)
    teacher_val = None
    if len(val):
        if cfg.needs_teacher_logits and teacher_student is not None:
            logits = teacher_student_logits(teacher_student, list(ds.labels), val.x)
        else:
            logits = cache_logits(soft, cache, val.hashes)
        teacher_val = teacher_accuracy(logits, val.y)
    folder = bc.lookup(key)
    trained_now = False
    if folder is None:
        folder, trained_now = bc.ensure(data, cfg, key, ds.config, show_progress=show_progress,
                                        allow_outside=allow_outside, log=say)
    base = load_baseline_metrics(folder)
    base_val = (base.get("val") or {}).get("accuracy")
    if teacher_val is not None and isinstance(base_val, (int, float)):
        warning = weak_teacher_warning(teacher_val, float(base_val), len(val))
        if warning:
            say(warning)
    return {"run": str(folder), "trained_now": trained_now, "metrics": base, "teacher_val": teacher_val,
            "n_val": len(val), "baseline_val": base_val}


def _publish_baseline(run_dir: Path, cfg: DistillConfig, preset: dict[str, Any], ds, baselines) -> None:
    from tinykd.distill.baseline import baseline_key

    _cache_of(baselines).publish(run_dir, baseline_key(cfg, preset, ds))


def finish_run(run_dir: Path, student, labels: list[str], result, test, val, cfg: DistillConfig,
               train_seconds: float, against: dict[str, Any] | None = None) -> DistillResult:
    """Score the trained student and write the model, history, plots, report and (last) metrics; `against`
    (from `_baseline_for`) adds the comparison with the alpha = 1 baseline."""
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
    if against is not None:
        from tinykd.distill.baseline import compare

        base = against["metrics"]
        if base.get("split") == eval_split:
            metrics["baseline"] = {**compare(metrics["accuracy"], metrics["n"], base["accuracy"], base["n"]),
                                   "run": against["run"], "trained_now": against["trained_now"],
                                   "baseline_val_accuracy": against["baseline_val"]}
        if against["teacher_val"] is not None:
            metrics["teacher_val"] = {"accuracy": against["teacher_val"], "n": against["n_val"]}
    tmp_model = run_dir / ".tmp-model.keras"
    student.save(tmp_model)
    os.replace(tmp_model, run_dir / RunDir.MODEL)
    save_json(run_dir / RunDir.HISTORY, result.history)
    save_json(run_dir / RunDir.METRICS, metrics)  # the run is complete here: the plots and report follow from it
    title = f"{cfg.student}  T={cfg.temperature:g}  alpha={cfg.alpha:g}" + (
        f"  beta={cfg.attention_weight:g}" if cfg.attention_weight else "")
    training_curves(result.history, run_dir / RunDir.CURVES, title)
    confusion_matrix_png(metrics["confusion"], labels, run_dir / RunDir.CONFUSION,
                         f"{title}\n{eval_split} accuracy {metrics['accuracy']:.3f}")
    write_run_report(run_dir, metrics, result.history)
    return DistillResult(run_dir, metrics, result.history, result.resumed_from_epoch)
