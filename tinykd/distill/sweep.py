"""`sweep`: a temperature x alpha (x attention weight) grid of distillation runs, with the ablation table and plots.

Every cell is an ordinary run folder under `OUT/`; a finished cell (metrics.json written) is skipped and an
unfinished one resumes from its checkpoint, so an interrupted sweep continues where it stopped. alpha = 1
(without attention distillation) ignores the teacher and therefore T: it is trained once and shown in every
row. It is always part of the grid (added when `alphas` lacks it): every cell is reported with its difference
from it in test accuracy, the binomial standard error of that difference, and the verdict of
`tinykd.distill.baseline.compare`. With a baseline cache (`baselines`), the alpha = 1 cell is copied from it when
it holds that run, and a newly trained one is copied into it.

Outputs: `ablation.csv`, `ablation.md`, `ablation_heatmap.png`, `confusion/<cell>.png`, `sweep.json`.

`OUT` follows `tinykd.artifacts.prepare_output`: a new, empty or earlier sweep folder is continued, `force`
replaces an earlier sweep folder (never a folder of another kind, nor one holding an input), anything else is
refused.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tinykd.configio import atomic_write_bytes, atomic_write_text, load_json, save_json, to_dict
from tinykd.artifacts import RunDir, SweepDir, prepare_output
from tinykd.distill.config import DistillConfig
from tinykd.errors import TinykdError

CSV_FIELDS = ("temperature", "alpha", "attention_weight", "accuracy", "macro_f1", "weighted_f1", "n", "split",
              "difference", "se", "verdict", "epochs_run", "best_epoch", "seconds_per_epoch", "run")
BASELINE_CELL = "a1_no_teacher"


@dataclass
class SweepResult:
    out: Path
    rows: list[dict[str, Any]] = field(default_factory=list)
    trained: list[str] = field(default_factory=list)  # cells trained (or resumed) in this call
    skipped: list[str] = field(default_factory=list)  # cells already complete
    replaced: str | None = None  # what --force replaced, in words


def cell_name(temperature: float, alpha: float, attention_weight: float) -> str:
    if alpha >= 1.0 and attention_weight <= 0:
        return BASELINE_CELL
    return f"T{temperature:g}_a{alpha:g}" + (f"_b{attention_weight:g}" if attention_weight > 0 else "")


def _check_grid(temperatures: list[float], alphas: list[float]) -> None:
    if not temperatures or not alphas:
        raise TinykdError("sweep needs at least one temperature and one alpha")
    for t in temperatures:
        if not (math.isfinite(t) and t > 0):
            raise TinykdError(f"--temperatures: every T must be > 0, got {t}")
    for a in alphas:
        if not 0.0 <= a <= 1.0:
            raise TinykdError(f"--alphas: every alpha must be in [0, 1], got {a}")
    if len(set(temperatures)) != len(temperatures) or len(set(alphas)) != len(alphas):
        raise TinykdError("--temperatures and --alphas must not repeat values")


def sweep(
    data: str | Path,
    base: DistillConfig,
    temperatures: list[float],
    alphas: list[float],
    out: str | Path,
    *,
    cache: str | Path | None = None,
    teacher_student: str | Path | None = None,
    data_config=None,
    show_progress: bool = True,
    force: bool = False,
    allow_outside: bool = False,
    log=None,
    attention_weights: list[float] | None = None,
    baselines=None,
) -> SweepResult:
    """Run (or resume) every cell of the grid into `out/<cell>/`, then write the ablation outputs.

    `attention_weights` (default: `[base.attention_weight]`) adds a third axis; `baselines`: a baseline cache
    (folder or `BaselineCache`) the alpha = 1 cell is taken from or copied into."""
    from tinykd.distill.baseline import compare
    from tinykd.distill.run import distill

    temperatures = [float(t) for t in temperatures]
    alphas = [float(a) for a in alphas]
    betas = [float(b) for b in (attention_weights if attention_weights is not None else [base.attention_weight])]
    _check_grid(temperatures, alphas)
    _check_betas(betas)
    added_baseline = 1.0 not in alphas
    if added_baseline:
        alphas = alphas + [1.0]  # the grid always holds the run without the teacher: every cell is read against it
    base.validate()
    if (any(a < 1 for a in alphas) or any(b > 0 for b in betas)) and cache is None and teacher_student is None:
        raise TinykdError("alphas below 1 need a teacher: give --cache CACHE or --teacher-student RUN")
    if any(b > 0 for b in betas) and cache is None:
        raise TinykdError("--attention-weight > 0 needs --cache with the teacher's attention rollouts")
    out = Path(out)
    inputs = [p for p in (data, cache, teacher_student) if p is not None]
    _, replaced = prepare_output(SweepDir(out), resume=not force, force=force, inputs=inputs)
    if replaced and log is not None:
        log(replaced)
    save_json(out / SweepDir.META, {"temperatures": temperatures, "alphas": alphas, "attention_weights": betas,
                                   "baseline_added": added_baseline, "base": to_dict(base),
                                   "cache": None if cache is None else str(cache),
                                   "teacher_student": None if teacher_student is None else str(teacher_student),
                                   "data": str(data), "data_config": None if data_config is None else to_dict(data_config)})
    result = SweepResult(out, replaced=replaced)
    done: dict[str, dict[str, Any]] = {}

    def run_cell(name: str, cfg: DistillConfig) -> dict[str, Any]:
        cell_dir = out / name
        if name == BASELINE_CELL and baselines is not None and not RunDir(cell_dir).is_complete():
            _baseline_from_cache(cell_dir, data, cfg, data_config, baselines, allow_outside)
        if RunDir(cell_dir).is_complete():
            result.skipped.append(name)
            metrics = load_json(cell_dir / RunDir.METRICS)
        else:
            res = distill(data, cfg, cell_dir, cache=cache, teacher_student=teacher_student,
                          data_config=data_config, resume=cell_dir.exists() and any(cell_dir.iterdir()),
                          show_progress=show_progress, allow_outside=allow_outside, log=log,
                          baselines=baselines if name == BASELINE_CELL else None)
            result.trained.append(name)
            metrics = res.metrics
        _copy_confusion(cell_dir, out / "confusion" / f"{name}.png")
        return metrics

    baseline = run_cell(BASELINE_CELL, dataclasses.replace(base, alpha=1.0, attention_weight=0.0))
    done[BASELINE_CELL] = baseline
    for b in betas:
        for t in temperatures:
            for a in alphas:
                name = cell_name(t, a, b)
                if name not in done:
                    done[name] = run_cell(name, dataclasses.replace(base, temperature=t, alpha=a, attention_weight=b))
                m = done[name]
                tr = m.get("training", {})
                row = {
                    "temperature": t, "alpha": a, "attention_weight": b if name != BASELINE_CELL else 0.0,
                    "accuracy": m["accuracy"], "macro_f1": m["macro_f1"], "weighted_f1": m.get("weighted_f1"),
                    "n": m["n"], "split": m.get("split"), "epochs_run": tr.get("epochs_run"),
                    "best_epoch": tr.get("best_epoch"), "seconds_per_epoch": tr.get("seconds_per_epoch"), "run": name,
                }
                if name != BASELINE_CELL:
                    c = compare(m["accuracy"], m["n"], baseline["accuracy"], baseline["n"])
                    row.update(difference=c["difference"], se=c["se"], verdict=c["verdict"])
                else:
                    row.update(difference=0.0, se=None, verdict="baseline")
                result.rows.append(row)
    if not any(r["run"] == BASELINE_CELL for r in result.rows):  # every beta > 0: the baseline still gets its row
        tr = baseline.get("training", {})
        result.rows.append({"temperature": base.temperature, "alpha": 1.0, "attention_weight": 0.0,
                            "accuracy": baseline["accuracy"], "macro_f1": baseline["macro_f1"],
                            "weighted_f1": baseline.get("weighted_f1"), "n": baseline["n"], "split": baseline.get("split"),
                            "epochs_run": tr.get("epochs_run"), "best_epoch": tr.get("best_epoch"),
                            "seconds_per_epoch": tr.get("seconds_per_epoch"), "run": BASELINE_CELL,
                            "difference": 0.0, "se": None, "verdict": "baseline"})
    write_ablation(out, result.rows, temperatures, alphas, base, betas)
    return result


def _check_betas(betas: list[float]) -> None:
    if not betas:
        raise TinykdError("--attention-weight: give at least one value")
    for b in betas:
        if not (math.isfinite(b) and b >= 0):
            raise TinykdError(f"--attention-weight: every beta must be >= 0, got {b}")
    if len(set(betas)) != len(betas):
        raise TinykdError("--attention-weight must not repeat values")


def _baseline_from_cache(cell_dir: Path, data, cfg: DistillConfig, data_config, baselines, allow_outside: bool) -> None:
    """Copy the alpha = 1 run from the baseline cache into the sweep's cell folder when the cache holds it."""
    import shutil

    from tinykd.data import load_dataset
    from tinykd.distill.baseline import BaselineCache, baseline_key
    from tinykd.distill.run import default_data_config
    from tinykd.students.config import load_student_config

    bc = baselines if isinstance(baselines, BaselineCache) else BaselineCache(baselines)
    dc = data_config if data_config is not None else default_data_config(cfg)
    if allow_outside and not dc.allow_outside:
        dc = dataclasses.replace(dc, allow_outside=True)
    key = baseline_key(cfg, load_student_config(cfg.student).to_dict(), load_dataset(data, dc))
    found = bc.lookup(key)
    if found is None:
        return
    if cell_dir.exists():
        shutil.rmtree(cell_dir)
    shutil.copytree(found, cell_dir)


def _copy_confusion(cell_dir: Path, dest: Path) -> None:
    src = cell_dir / RunDir.CONFUSION
    if src.is_file():
        atomic_write_bytes(dest, src.read_bytes())


def _cell_text(r: dict[str, Any], best: dict[str, Any]) -> str:
    mark = "**" if r is best else ""
    text = f"{mark}{r['accuracy']:.4f}{mark} ({r['macro_f1']:.3f})"
    if r.get("se") is not None:
        text += f" {100 * r['difference']:+.1f} ± {100 * r['se']:.1f}"
    return text


def write_ablation(out: Path, rows: list[dict[str, Any]], temperatures: list[float], alphas: list[float],
                   base: DistillConfig, betas: list[float] | None = None) -> None:
    from tinykd.distill.baseline import SE_BAND
    from tinykd.distill.plots import heatmap

    betas = betas if betas is not None else [base.attention_weight]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(CSV_FIELDS), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: row.get(k) for k in CSV_FIELDS})
    atomic_write_text(out / "ablation.csv", buf.getvalue())

    row_keys = [(b, t) for b in betas for t in temperatures]
    grid = np.full((len(row_keys), len(alphas)), np.nan)
    for row in rows:
        key = (row["attention_weight"] if row["run"] != BASELINE_CELL else None, row["temperature"])
        for i, (b, t) in enumerate(row_keys):
            if t == row["temperature"] and (key[0] is None or b == key[0]):
                grid[i, alphas.index(row["alpha"])] = row["accuracy"]
    split = rows[0]["split"] if rows else "test"

    def row_label(b: float, t: float) -> str:
        return f"T={t:g}" + (f", β={b:g}" if len(betas) > 1 or b > 0 else "")

    heatmap(grid, [row_label(b, t) for b, t in row_keys], [f"α={a:g}" for a in alphas], out / "ablation_heatmap.png",
            f"{base.student}: {split} accuracy", "temperature" + (" (attention weight)" if any(betas) else ""),
            "alpha (CE weight)")

    best = max(rows, key=lambda r: (r["accuracy"], r["macro_f1"]))
    baseline = next(r for r in rows if r["run"] == BASELINE_CELL)
    lines = [
        f"# Ablation: {base.student}, temperature x alpha" + (" x attention weight" if any(betas) else ""),
        "",
        f"{split} accuracy (macro F1), then the difference from alpha = 1 (no teacher) in points ± its binomial "
        "standard error. alpha is the weight of the hard-label CE; alpha = 1 trains without the teacher, so T has no "
        "effect there and that run is shared by every row.",
        "",
        "| T \\ alpha | " + " | ".join(f"{a:g}" for a in alphas) + " |",
        "|---|" + "---:|" * len(alphas),
    ]
    by_cell = {(r["attention_weight"], r["temperature"], r["alpha"]): r for r in rows}
    for b, t in row_keys:
        cells = []
        for a in alphas:
            r = by_cell.get((b, t, a)) or by_cell.get((0.0, t, a))
            cells.append(_cell_text(r, best))
        lines.append(f"| {row_label(b, t)} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"Best: {best['run']}: accuracy {best['accuracy']:.4f}, macro F1 {best['macro_f1']:.4f} (n = {best['n']}).",
        "",
    ]
    taught = [r for r in rows if r["run"] != BASELINE_CELL]
    seen_cells: set[str] = set()
    unique = [r for r in taught if not (r["run"] in seen_cells or seen_cells.add(r["run"]))]
    if unique:
        top = max(unique, key=lambda r: (r["accuracy"], r["macro_f1"]))
        helped = [r["run"] for r in unique if r["verdict"] == "helped"]
        hurt = [r["run"] for r in unique if r["verdict"] == "did not help"]
        lines += [
            f"**Did the teacher help?** Without it (alpha = 1) the student scores {baseline['accuracy']:.4f}. The best "
            f"cell with the teacher, {top['run']}, is {100 * top['difference']:+.1f} points from it (SE "
            f"{100 * top['se']:.1f}): {top['verdict']}. Beyond {SE_BAND:g} standard errors, the teacher helped in "
            f"{len(helped)} of {len(unique)} cells" + (f" ({', '.join(helped)})" if helped else "")
            + f" and made the student worse in {len(hurt)}" + (f" ({', '.join(hurt)})" if hurt else "") + ".",
            "",
        ]
    lines += [
        "![heat map](ablation_heatmap.png)",
        "",
        "| cell | run folder | confusion matrix | epochs (best) | s/epoch |",
        "|---|---|---|---:|---:|",
    ]
    seen = set()
    for r in rows:
        if r["run"] in seen:
            continue
        seen.add(r["run"])
        spe = f"{r['seconds_per_epoch']:.1f}" if r.get("seconds_per_epoch") is not None else "-"
        lines.append(f"| {r['run']} | [{r['run']}/]({r['run']}/report.md) | [png](confusion/{r['run']}.png) | "
                     f"{r['epochs_run']} ({r['best_epoch']}) | {spe} |")
    lines.append("")
    atomic_write_text(out / "ablation.md", "\n".join(lines))
