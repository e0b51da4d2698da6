"""Leave-one-speaker-out: does the teacher help on a voice neither it nor the student has heard?

`tinykd sweep DATA --folds speakers --out OUT ...` holds each speaker out in turn (the data layer's
`split="speaker:NAME"`: that speaker is the test split, validation is carved from the others). Per fold:

1. `pretrained/` (optional, `PretrainDir`): wav2vec 2.0 pretraining on the unlabeled clips of every speaker
   but the held-out one (the test voice is not heard, not even unlabeled);
2. `teacher/` (`TeacherDir`): the teacher fine-tuned on the fold's training split (from `pretrained/`, from
   scratch `tiny`, or from any base), at the teacher's own sample rate;
3. `cache/` (`CacheDir`): its soft labels for every clip of the students' data set (clips resampled to the
   teacher's rate when it differs, `ExportConfig.resample`);
4. `<student>/` (a sweep folder, `tinykd.distill.sweep`): the T x alpha (x beta) grid of that student, with the
   alpha = 1 baseline always in it.

Every folder is an artifact with a marker; the root is a `ProtocolDir` (`protocol.json`), each fold a
`FoldDir` (`fold.json`, with the seconds each unit took). Rerunning the command continues a killed protocol:
finished units are skipped, an interrupted pretraining or teacher is trained again (the unit of work), an
interrupted export or student run resumes from its last shard or epoch. The grid may change between runs (new
cells are added to each fold); the teacher, pretraining, data and student training settings may not (a
different one is refused: use another --out, or --force).

Results (`protocol.md`, `protocol.json`, `protocol.png`): for every student and cell, the held-out-speaker
accuracy per fold, the mean over folds with its standard error (sample standard deviation / sqrt(folds)), and
the per-fold difference from alpha = 1, averaged, with its standard error over folds and a verdict
("helped" when the mean difference is above two standard errors, "did not help" below minus two, "within
noise" between); the teacher's own held-out accuracy the same way.

The kinds `protocol` and `fold` are defined here until tinykd.artifacts gains them.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from tinykd.artifacts import CacheDir, FoldDir, ProtocolDir, RunDir, TeacherDir, prepare_output
from tinykd.configio import atomic_write_text, load_json, save_json, to_dict
from tinykd.distill.baseline import SE_BAND, verdict
from tinykd.distill.config import DistillConfig
from tinykd.distill.sweep import BASELINE_CELL, cell_name
from tinykd.errors import TinykdError


FOLD_KINDS = ("speakers",)


@dataclass
class FoldsPlan:
    """What a leave-one-speaker-out protocol trains, besides the students' own training settings."""

    students: list[str] = field(default_factory=lambda: ["wav2tiny"])
    temperatures: list[float] = field(default_factory=lambda: [2.0])
    alphas: list[float] = field(default_factory=lambda: [0.5, 1.0])
    attention_weights: list[float] = field(default_factory=lambda: [0.0])
    speakers: list[str] | None = None  # the speakers to hold out (None: every speaker)
    teacher: Any = None  # tinykd.teacher.config.TeacherTrainConfig (None: its defaults)
    teacher_sample_rate: int | None = None  # None: the students' rate
    pretrain: Any = None  # tinykd.teacher.pretrain.PretrainConfig, or None for no pretraining
    export_batch_size: int = 32
    threads: int = 0  # torch threads of the teacher units
    # More labelled data sets the teacher trains on in every fold (`train_teacher(extra_train=...)`): their training
    # splits, never a clip or speaker of the fold's val/test split (refused). The students never see them.
    teacher_extra_train: list[str] = field(default_factory=list)
    # Another protocol folder whose folds' finished teachers (pretraining, teacher, soft labels) this one takes
    # instead of training its own: another seed of the students against the very same teachers. Its data, rates and
    # teacher settings must be this protocol's (refused otherwise); a fold it has not finished is refused.
    teachers_from: str | Path | None = None


@dataclass
class ProtocolResult:
    out: Path
    summary: dict[str, Any]
    trained: list[str] = field(default_factory=list)  # units trained (or resumed) in this call
    skipped: list[str] = field(default_factory=list)  # units already complete


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:60] or "speaker"


def student_folder(student: str) -> str:
    """The folder (and display) name of a student in a fold: the preset name, or a preset file's stem."""
    return _safe(Path(student).stem if student.endswith(".json") else student)


def _training_settings(base: DistillConfig) -> dict[str, Any]:
    """The students' settings a resumed protocol must share (the grid axes and the student may change)."""
    d = to_dict(base)
    for k in ("student", "alpha", "temperature", "attention_weight"):
        d.pop(k, None)
    return d


def _teacher_settings(plan: FoldsPlan) -> dict[str, Any]:
    return {"teacher": to_dict(plan.teacher), "teacher_sample_rate": plan.teacher_sample_rate,
            "pretrain": None if plan.pretrain is None else to_dict(plan.pretrain),
            "teacher_extra_train": [str(Path(p).resolve()) for p in plan.teacher_extra_train]}


# Settings newer than some saved protocols, with the value every protocol had before them.
_ADDED_LATER: dict[str, Any] = {"teacher_extra_train": []}


def _check_same(saved: dict[str, Any], now: dict[str, Any], out: Path) -> None:
    saved = {**_ADDED_LATER, **saved}
    diff = sorted(k for k in now if k in saved and saved[k] != now[k])
    if diff:
        raise TinykdError(f"{out}: this protocol was started with other {', '.join(diff)} settings; continuing it would "
                          "mix two protocols: use the same settings, another --out, or --force to start over")


def run_protocol(
    data: str | Path,
    base: DistillConfig,
    plan: FoldsPlan,
    out: str | Path,
    *,
    clip_seconds: float | None = None,
    data_seed: int = 0,
    force: bool = False,
    show_progress: bool = True,
    log: Callable[[str], None] | None = None,
    on_unit_done: Callable[[str, Path], None] | None = None,
    baselines=None,
) -> ProtocolResult:
    """Run (or continue) the protocol into `out` and write its summary; see the module docstring.

    `baselines`: a baseline cache (tinykd.distill.baseline) the folds' alpha = 1 cells are copied from when it
    holds them (e.g. trained beforehand with `tinykd distill --split speaker:NAME --alpha 1`) and copied into.

    `on_unit_done(name, folder)` is called after every unit that was trained in this call (a hook for progress
    and for the tests, which interrupt a protocol from it)."""
    from tinykd.data import DataConfig, load_dataset
    from tinykd.students.config import load_student_config
    from tinykd.teacher.config import TeacherTrainConfig

    say = log or (lambda line: None)
    if plan.teacher is None:
        plan = dataclasses.replace(plan, teacher=TeacherTrainConfig())
    if not plan.students:
        raise TinykdError("--folds speakers needs at least one --student")
    base.validate()
    presets = [load_student_config(s) for s in plan.students]
    rates = {p.spec().sample_rate for p in presets}
    clips = {p.clip_seconds if clip_seconds is None else clip_seconds for p in presets}
    if len(rates) > 1 or len(clips) > 1:
        raise TinykdError(f"--student {','.join(plan.students)}: the students take different sample rates or clip "
                          "lengths; run one protocol per rate (they share the teacher's soft labels)")
    rate, clip = rates.pop(), clips.pop()
    teacher_rate = int(plan.teacher_sample_rate or rate)
    data = Path(data)

    out = Path(out)
    root = ProtocolDir(out)
    fixed = {"data": str(data.resolve()), "data_seed": data_seed, "clip_seconds": clip, "sample_rate": rate,
             "training": _training_settings(base), **_teacher_settings(plan)}
    if plan.teachers_from is not None:
        _check_teacher_source(Path(plan.teachers_from), fixed, out)
    prepare_output(root, resume=not force, force=force, inputs=[data])
    students_all = list(plan.students)
    if (out / ProtocolDir.META).is_file():
        saved = load_json(out / ProtocolDir.META)
        _check_same(saved, fixed, out)
        # Students of earlier calls stay in the summary (one call may train wav2tiny's grid, the next wav2small's).
        students_all = [s for s in saved.get("students", []) if s not in plan.students] + students_all

    everyone = load_dataset(data, DataConfig(sample_rate=rate, clip_seconds=clip, seed=data_seed), require_splits=())
    known = everyone.speakers
    speakers = list(plan.speakers) if plan.speakers else known
    unknown = [s for s in speakers if s not in known]
    if unknown:
        raise TinykdError(f"{data}: no speaker {', '.join(unknown)} here (speakers: {', '.join(known)})")
    if len(known) < 2:
        raise TinykdError(f"{data}: {len(known)} speaker(s) ({', '.join(known)}); leave-one-speaker-out needs 2 or more "
                          "(the data layout must name speakers, e.g. FSDD's digit_speaker_index.wav)")
    started = time.time()
    save_json(out / ProtocolDir.META, {**fixed, "folds": "speakers", "speakers": speakers, "students": students_all,
                                       "grid": {"temperatures": plan.temperatures, "alphas": plan.alphas,
                                                "attention_weights": plan.attention_weights},
                                       "started": started})
    result = ProtocolResult(out, {})
    for speaker in speakers:
        _run_fold(data, speaker, base, plan, out / f"fold-{_safe(speaker)}", rate, clip, teacher_rate, data_seed,
                  show_progress, say, on_unit_done, result, baselines)
    result.summary = summarize(out, students_all, speakers)
    result.summary["wall_seconds_this_call"] = time.time() - started
    save_json(out / "summary.json", result.summary)
    write_protocol_report(out, result.summary)
    return result


_SAME_TEACHERS = ("data", "data_seed", "clip_seconds", "sample_rate", "teacher", "teacher_sample_rate", "pretrain",
                  "teacher_extra_train")


def _check_teacher_source(source: Path, fixed: dict[str, Any], out: Path) -> None:
    """`teachers_from` must be another finished-or-running protocol with this one's data and teacher settings."""
    if source.resolve() == out.resolve():
        raise TinykdError(f"--teachers-from {source}: that is this protocol's own folder")
    if not ProtocolDir(source).is_own_kind() or not (source / ProtocolDir.META).is_file():
        raise TinykdError(f"--teachers-from {source}: not a tinykd protocol folder (no {ProtocolDir.META}); give the "
                          "--out of a tinykd sweep --folds speakers run")
    theirs = {**_ADDED_LATER, **load_json(source / ProtocolDir.META)}
    diff = [k for k in _SAME_TEACHERS if theirs.get(k) != fixed.get(k)]
    if diff:
        raise TinykdError(f"--teachers-from {source}: its {', '.join(diff)} settings differ from this run's; its teachers "
                          "are not the ones these options would train (pass the same teacher options)")


def _adopt_teachers(src: Path, fold: Path, plan: FoldsPlan, say, result: ProtocolResult) -> None:
    """Copy the fold's finished pretraining, teacher and soft labels from the `teachers_from` protocol (once; the
    fold folder and its fold.json exist)."""
    import shutil

    from tinykd.teacher.pretrain import PretrainDir

    if TeacherDir(fold / FoldDir.TEACHER).is_complete() and CacheDir(fold / FoldDir.CACHE).is_complete():
        return  # adopted (or trained) before
    units = ([(FoldDir.PRETRAINED, PretrainDir)] if plan.pretrain is not None else []) + [
        (FoldDir.TEACHER, TeacherDir), (FoldDir.CACHE, CacheDir)]
    for name, kind in units:
        theirs = src / name
        if not kind(theirs).is_complete():
            raise TinykdError(f"--teachers-from: {theirs} is not finished; finish that protocol's fold first (rerun its "
                              "tinykd sweep --folds command)")
        for path in theirs.rglob("*"):
            if path.is_symlink():
                raise TinykdError(f"--teachers-from: {path} is a symbolic link; tinykd made no links there, so it copies none")
        if (fold / name).exists():
            raise TinykdError(f"{fold / name}: an unfinished {name} of this protocol is in the way of --teachers-from; "
                              "remove it, or drop --teachers-from to train it here")
    for name, _ in units:
        tmp = fold / f".{name}.copying"
        if tmp.exists():
            shutil.rmtree(tmp)  # our own scratch copy of an interrupted adoption
        shutil.copytree(src / name, tmp)
        tmp.rename(fold / name)
        result.skipped.append(f"{fold.name}/{name} (from {src})")
    meta = load_json(fold / FoldDir.META)
    meta["teachers_from"] = str(src.resolve())
    save_json(fold / FoldDir.META, meta)
    say(f"{fold.name}: teacher and soft labels taken from {src}")


def _timed(fold: Path, unit: str, seconds: float) -> None:
    meta_path = fold / FoldDir.META
    meta = load_json(meta_path)
    meta.setdefault("seconds", {})[unit] = meta.get("seconds", {}).get(unit, 0.0) + seconds
    save_json(meta_path, meta)


def _run_fold(data: Path, speaker: str, base: DistillConfig, plan: FoldsPlan, fold: Path, rate: int, clip: float,
              teacher_rate: int, data_seed: int, show_progress: bool, say, on_unit_done, result: ProtocolResult,
              baselines=None) -> None:
    from tinykd.data import DataConfig, load_dataset
    from tinykd.distill.sweep import sweep
    from tinykd.teacher.export import ExportConfig, export_dataset
    from tinykd.teacher.pretrain import PretrainDir, pretrain
    from tinykd.teacher.train import train_teacher

    prepare_output(FoldDir(fold), resume=True)
    if not (fold / FoldDir.META).is_file():
        save_json(fold / FoldDir.META, {"speaker": speaker, "seconds": {}})
    if plan.teachers_from is not None:
        _adopt_teachers(Path(plan.teachers_from) / fold.name, fold, plan, say, result)
    split = f"speaker:{speaker}"
    teacher_data = DataConfig(split=split, sample_rate=teacher_rate, clip_seconds=clip, seed=data_seed)
    student_data = DataConfig(split=split, sample_rate=rate, clip_seconds=clip, seed=data_seed)

    def done(unit: str, folder: Path, t0: float) -> None:
        _timed(fold, unit, time.perf_counter() - t0)
        result.trained.append(f"{fold.name}/{unit}")
        if on_unit_done is not None:
            on_unit_done(f"{fold.name}/{unit}", folder)

    teacher_base = plan.teacher.base
    if plan.pretrain is not None:
        pdir = fold / FoldDir.PRETRAINED
        if PretrainDir(pdir).is_complete():
            result.skipped.append(f"{fold.name}/pretrained")
        else:
            say(f"{fold.name}: pretraining on every speaker but {speaker} (unlabeled)")
            t0 = time.perf_counter()
            pretrain(data, pdir, plan.pretrain, DataConfig(sample_rate=teacher_rate, clip_seconds=clip, seed=data_seed),
                     exclude_speakers=(speaker,), progress=show_progress, log=say, force=pdir.exists())
            done("pretrained", pdir, t0)
        teacher_base = str(pdir)
    tdir = fold / FoldDir.TEACHER
    if TeacherDir(tdir).is_complete():
        result.skipped.append(f"{fold.name}/teacher")
    else:
        say(f"{fold.name}: training the teacher without {speaker}")
        t0 = time.perf_counter()
        train_teacher(data, tdir, dataclasses.replace(plan.teacher, base=teacher_base, threads=plan.threads or plan.teacher.threads),
                      teacher_data, progress=show_progress, log=say, force=tdir.exists(),
                      extra_train=plan.teacher_extra_train)
        done("teacher", tdir, t0)
    cdir = fold / FoldDir.CACHE
    ds = load_dataset(data, student_data)
    if CacheDir(cdir).is_complete():
        result.skipped.append(f"{fold.name}/cache")
    else:
        t0 = time.perf_counter()
        export_dataset(ds, tdir, cdir, ExportConfig(batch_size=plan.export_batch_size, threads=plan.threads, resample=True),
                       progress=show_progress, log=say)
        done("cache", cdir, t0)
    _record_teacher(fold, cdir, ds)
    for student in plan.students:
        sdir = fold / student_folder(student)
        t0 = time.perf_counter()
        res = sweep(data, dataclasses.replace(base, student=student), plan.temperatures, plan.alphas, sdir, cache=cdir,
                    data_config=student_data, show_progress=show_progress, log=say,
                    attention_weights=plan.attention_weights, baselines=baselines)
        result.skipped += [f"{fold.name}/{sdir.name}/{c}" for c in res.skipped]
        if res.trained:
            done(sdir.name, sdir, t0)


def _record_teacher(fold: Path, cache_dir: Path, ds) -> None:
    """The teacher's own accuracy on the fold's held-out speaker and on validation, from its soft labels (the
    outputs the students learn from), into fold.json."""
    from tinykd.distill.baseline import teacher_accuracy
    from tinykd.teacher.cache import SoftLabelCache

    cache = SoftLabelCache.open(cache_dir)
    scores = {}
    for name in ("test", "val"):
        arrays = ds.load_split(name)
        if len(arrays):
            scores[name] = {"accuracy": teacher_accuracy(cache.logits(arrays.hashes), arrays.y), "n": len(arrays)}
    meta = load_json(fold / FoldDir.META)
    meta["teacher"] = scores
    save_json(fold / FoldDir.META, meta)


# -- summary -----------------------------------------------------------------------------------------------


def fold_stats(values: list[float]) -> tuple[float, float | None]:
    """(mean, standard error over folds: sample SD / sqrt(k); None for a single fold)."""
    v = np.asarray(values, dtype=np.float64)
    if len(v) == 0:
        return math.nan, None
    return float(v.mean()), (float(v.std(ddof=1) / math.sqrt(len(v))) if len(v) > 1 else None)


def _cells_of(sweep_dir: Path) -> dict[str, dict[str, Any]]:
    cells = {}
    if not sweep_dir.is_dir():
        return cells
    for cell in sorted(sweep_dir.iterdir()):
        if cell.is_dir() and RunDir(cell).is_complete():
            m = load_json(cell / RunDir.METRICS)
            cfg = load_json(cell / RunDir.CONFIG)["distill"]
            cells[cell.name] = {"accuracy": m["accuracy"], "n": m["n"], "macro_f1": m["macro_f1"],
                                "temperature": cfg["temperature"], "alpha": cfg["alpha"],
                                "attention_weight": cfg["attention_weight"],
                                "epochs_run": m.get("training", {}).get("epochs_run"),
                                "seconds_per_epoch": m.get("training", {}).get("seconds_per_epoch")}
    return cells


def summarize(out: Path, students: list[str], speakers: list[str]) -> dict[str, Any]:
    """Per student and cell: per-fold accuracy, mean +- SE over folds, difference from alpha = 1 +- SE, verdict."""
    folds = [out / f"fold-{_safe(s)}" for s in speakers]
    teacher = {}
    for s, fold in zip(speakers, folds):
        meta = load_json(fold / FoldDir.META) if (fold / FoldDir.META).is_file() else {}
        if "teacher" in meta and "test" in meta["teacher"]:
            teacher[s] = meta["teacher"]
    t_mean, t_se = fold_stats([teacher[s]["test"]["accuracy"] for s in teacher])
    summary: dict[str, Any] = {
        "speakers": speakers,
        "teacher": {"per_fold": {s: teacher[s]["test"]["accuracy"] for s in teacher},
                    "val_per_fold": {s: teacher[s].get("val", {}).get("accuracy") for s in teacher},
                    "n_per_fold": {s: teacher[s]["test"]["n"] for s in teacher}, "mean": t_mean, "se": t_se,
                    "folds": len(teacher)},
        "students": {},
        "seconds": {},
    }
    total = 0.0
    sources = set()
    for s, fold in zip(speakers, folds):
        meta = load_json(fold / FoldDir.META) if (fold / FoldDir.META).is_file() else {}
        secs = meta.get("seconds", {})
        summary["seconds"][s] = secs
        total += sum(v for v in secs.values() if isinstance(v, (int, float)))
        if meta.get("teachers_from"):
            sources.add(str(Path(meta["teachers_from"]).parent))
    summary["seconds_total"] = total
    if sources:
        summary["teachers_from"] = ", ".join(sorted(sources))
    for student in students:
        name = student_folder(student)
        per_fold = {s: _cells_of(fold / name) for s, fold in zip(speakers, folds)}
        names = sorted({c for cells in per_fold.values() for c in cells}, key=_cell_order)
        rows = []
        for cell in names:
            have = [s for s in speakers if cell in per_fold[s]]
            accs = [per_fold[s][cell]["accuracy"] for s in have]
            mean, se = fold_stats(accs)
            row: dict[str, Any] = {"cell": cell, "folds": len(have), "complete": len(have) == len(speakers),
                                   "per_fold": {s: per_fold[s][cell]["accuracy"] for s in have},
                                   "n_per_fold": {s: per_fold[s][cell]["n"] for s in have}, "mean": mean, "se": se}
            any_fold = per_fold[have[0]][cell]
            row.update(temperature=any_fold["temperature"], alpha=any_fold["alpha"],
                       attention_weight=any_fold["attention_weight"])
            paired = [s for s in have if BASELINE_CELL in per_fold[s]]
            if cell != BASELINE_CELL and paired:
                diffs = [per_fold[s][cell]["accuracy"] - per_fold[s][BASELINE_CELL]["accuracy"] for s in paired]
                d_mean, d_se = fold_stats(diffs)
                row.update(difference=d_mean, difference_se=d_se, difference_per_fold=dict(zip(paired, diffs)),
                           verdict=verdict(d_mean, d_se) if d_se is not None else "one fold: no standard error")
            rows.append(row)
        taught = [r for r in rows if r["cell"] != BASELINE_CELL and r["complete"] and "difference" in r]
        best = max(taught, key=lambda r: r["mean"]) if taught else None
        base_row = next((r for r in rows if r["cell"] == BASELINE_CELL), None)
        summary["students"][name] = {"preset": student, "cells": rows, "best_with_teacher": None if best is None else best["cell"],
                                        "baseline": base_row}
    return summary


def _cell_order(name: str) -> tuple:
    return (0, name) if name == BASELINE_CELL else (1, name)


def _pct(v: float | None, sign: bool = False) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return f"{100 * v:+.1f}" if sign else f"{100 * v:.1f}"


def write_protocol_report(out: Path, summary: dict[str, Any]) -> None:
    """protocol.md (the whole table, every cell) and protocol.png."""
    from tinykd.distill.plots import protocol_bars

    speakers = summary["speakers"]
    t = summary["teacher"]
    lines = [
        "# Leave-one-speaker-out: does the teacher help on an unseen voice?",
        "",
        f"Each of {len(speakers)} speakers is held out in turn: teacher and students are trained on the others and "
        "scored on every clip of the held-out speaker. Accuracy in %, per fold, then the mean over folds ± its "
        "standard error (SD / sqrt(folds)); Δ is the per-fold difference from the same student without the teacher "
        f"(alpha = 1), averaged, ± its standard error over folds; the verdict uses {SE_BAND:g} standard errors.",
        "",
        "| student | cell | " + " | ".join(speakers) + " | mean ± SE | Δ vs α = 1 ± SE | verdict |",
        "|---|---|" + "---:|" * len(speakers) + "---:|---:|---|",
        "| teacher | held-out speaker | " + " | ".join(_pct(t["per_fold"].get(s)) for s in speakers)
        + f" | {_pct(t['mean'])} ± {_pct(t['se'])} | | |",
    ]
    for student, info in summary["students"].items():
        for r in info["cells"]:
            extra = "" if r["complete"] else f" ({r['folds']} of {len(speakers)} folds)"
            lines.append(
                f"| {student} | {r['cell']}{extra} | " + " | ".join(_pct(r["per_fold"].get(s)) for s in speakers)
                + f" | {_pct(r['mean'])} ± {_pct(r['se'])} | "
                + (f"{_pct(r['difference'], True)} ± {_pct(r['difference_se'])} | {r['verdict']} |" if "difference" in r
                   else "| |"))
    lines += ["", "## Answers", ""]
    for student, info in summary["students"].items():
        base = info["baseline"]
        best = next((r for r in info["cells"] if r["cell"] == info["best_with_teacher"]), None)
        if base is None or best is None:
            lines.append(f"- {student}: not every fold has both the alpha = 1 run and a cell with the teacher yet.")
            continue
        lines.append(
            f"- {student}: without the teacher {_pct(base['mean'])} ± {_pct(base['se'])} %; the best cell with it, "
            f"{best['cell']}, {_pct(best['mean'])} ± {_pct(best['se'])} %, a difference of "
            f"{_pct(best['difference'], True)} ± {_pct(best['difference_se'])} points over folds: **{best['verdict']}**."
            + (" The teacher scores " + f"{_pct(t['mean'])} % on the held-out speakers, "
               + ("at or above" if t["mean"] >= base["mean"] else "below") + " this student without it." if t["folds"] else ""))
    hours = summary.get("seconds_total", 0.0) / 3600
    adopted = summary.get("teachers_from")
    lines += ["", f"Compute recorded in the folds: {hours:.2f} h (sum of every unit's time; see summary.json)."
              + (f" The teachers and soft labels were taken from {adopted} (--teachers-from): their time is not in it."
                 if adopted else ""), "",
              f"![protocol]({ProtocolDir.PLOT})", ""]
    atomic_write_text(out / ProtocolDir.REPORT, "\n".join(lines))
    protocol_bars(summary, out / ProtocolDir.PLOT)


def grid_cells(plan: FoldsPlan) -> list[str]:
    """The cell names the plan trains per student (the baseline first)."""
    names = [BASELINE_CELL]
    alphas = list(plan.alphas) + ([1.0] if 1.0 not in plan.alphas else [])
    for b in plan.attention_weights:
        for t in plan.temperatures:
            for a in alphas:
                n = cell_name(t, a, b)
                if n not in names:
                    names.append(n)
    return names


def pool_seeds(protocols: list[str | Path]) -> dict[str, Any]:
    """Pool protocols that differ only in the students' seed: per fold, the mean over seeds of each cell's
    accuracy and of its difference from alpha = 1 (each seed against its own baseline), then mean +- SE over
    folds and the verdict, as `summarize` does for one seed.

    Each folder needs a finished `summary.json`. Refused, naming the folder, when the protocols hold other
    speakers, another teacher (per-fold teacher accuracy differs: seeds of the students pool, teachers do not), or
    the same student seed twice. Only cells finished on every fold of every protocol are pooled."""
    dirs = [Path(p) for p in protocols]
    if len(dirs) < 2:
        raise TinykdError("pool_seeds: give two or more protocol folders (one per student seed)")
    sums, seeds = [], []
    for d in dirs:
        path = d / "summary.json"
        if not path.is_file():
            raise TinykdError(f"{d}: no summary.json; finish the protocol first (rerun its tinykd sweep --folds command)")
        sums.append(load_json(path))
        meta = load_json(d / ProtocolDir.META) if (d / ProtocolDir.META).is_file() else {}
        seeds.append(meta.get("training", {}).get("seed"))
    first = sums[0]
    for d, s in zip(dirs[1:], sums[1:]):
        if s["speakers"] != first["speakers"]:
            raise TinykdError(f"{d}: speakers {', '.join(s['speakers'])} are not {dirs[0]}'s ({', '.join(first['speakers'])})")
        if s["teacher"]["per_fold"] != first["teacher"]["per_fold"]:
            raise TinykdError(f"{d}: its teachers score unlike {dirs[0]}'s on the held-out speakers; only protocols "
                              "sharing the teachers (differing in the students' seed) pool")
    if None not in seeds and len(set(seeds)) < len(seeds):
        raise TinykdError(f"pool_seeds: the student seed {seeds} repeats; each protocol must be another seed")
    speakers = first["speakers"]
    out: dict[str, Any] = {"protocols": [str(d) for d in dirs], "seeds": seeds, "speakers": speakers,
                           "teacher": first["teacher"], "students": {}}
    for name in first["students"]:
        if not all(name in s["students"] for s in sums):
            continue
        by_cell = [{c["cell"]: c for c in s["students"][name]["cells"] if c["complete"]} for s in sums]
        rows = []
        for cell in [c for c in by_cell[0] if all(c in b for b in by_cell[1:])]:
            accs = {sp: float(np.mean([b[cell]["per_fold"][sp] for b in by_cell])) for sp in speakers}
            mean, se = fold_stats(list(accs.values()))
            row: dict[str, Any] = {"cell": cell, "per_fold": accs, "mean": mean, "se": se,
                                   "per_seed_mean": [b[cell]["mean"] for b in by_cell]}
            if all("difference_per_fold" in b[cell] for b in by_cell):
                diffs = {sp: float(np.mean([b[cell]["difference_per_fold"][sp] for b in by_cell])) for sp in speakers}
                d_mean, d_se = fold_stats(list(diffs.values()))
                row.update(difference=d_mean, difference_se=d_se, difference_per_fold=diffs,
                           per_seed_difference=[b[cell]["difference"] for b in by_cell],
                           verdict=verdict(d_mean, d_se) if d_se is not None else "one fold: no standard error")
            rows.append(row)
        out["students"][name] = rows
    return out


def pooled_report(pooled: dict[str, Any]) -> str:
    """`pool_seeds`' result as a markdown table (accuracy in %, as protocol.md)."""
    speakers = pooled["speakers"]
    t = pooled["teacher"]
    lines = [f"Students' seeds {', '.join(str(s) for s in pooled['seeds'])} pooled: per fold the mean over seeds, then "
             f"mean ± SE over {len(speakers)} folds; Δ is each seed's difference from its own α = 1, averaged over seeds, "
             f"± its SE over folds; the verdict uses {SE_BAND:g} standard errors.", "",
             "| student | cell | " + " | ".join(speakers) + " | mean ± SE | Δ vs α = 1 ± SE | Δ per seed | verdict |",
             "|---|---|" + "---:|" * len(speakers) + "---:|---:|---:|---|",
             "| teacher | held-out speaker | " + " | ".join(_pct(t["per_fold"][s]) for s in speakers)
             + f" | {_pct(t['mean'])} ± {_pct(t['se'])} | | | |"]
    for name, rows in pooled["students"].items():
        for r in rows:
            diff = (f"{_pct(r['difference'], True)} ± {_pct(r['difference_se'])} | "
                    + " / ".join(_pct(d, True) for d in r["per_seed_difference"]) + f" | {r['verdict']} |"
                    if "difference" in r else "| | |")
            lines.append(f"| {name} | {r['cell']} | " + " | ".join(_pct(r["per_fold"][s]) for s in speakers)
                         + f" | {_pct(r['mean'])} ± {_pct(r['se'])} | " + diff)
    return "\n".join(lines) + "\n"
