"""`sweep`: a temperature x alpha grid of distillation runs, with the ablation table and plots.

Every cell is an ordinary run folder under `OUT/`; a finished cell (metrics.json written) is skipped and an
unfinished one resumes from its checkpoint, so an interrupted sweep continues where it stopped. alpha = 1
(without attention distillation) ignores the teacher and therefore T: it is trained once and shown in every
row. Outputs: `ablation.csv`, `ablation.md`, `ablation_heatmap.png`, `confusion/<cell>.png`, `sweep.json`.
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
from tinykd.artifacts import RunDir
from tinykd.distill.config import DistillConfig
from tinykd.errors import TinykdError

CSV_FIELDS = ("temperature", "alpha", "attention_weight", "accuracy", "macro_f1", "weighted_f1", "n", "split",
              "epochs_run", "best_epoch", "seconds_per_epoch", "run")


@dataclass
class SweepResult:
    out: Path
    rows: list[dict[str, Any]] = field(default_factory=list)
    trained: list[str] = field(default_factory=list)  # cells trained (or resumed) in this call
    skipped: list[str] = field(default_factory=list)  # cells already complete


def cell_name(temperature: float, alpha: float, attention_weight: float) -> str:
    if alpha >= 1.0 and attention_weight <= 0:
        return "a1_no_teacher"
    return f"T{temperature:g}_a{alpha:g}"


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
) -> SweepResult:
    """Run (or resume) every cell of the grid into `out/<cell>/`, then write the ablation outputs."""
    from tinykd.distill.run import distill

    temperatures = [float(t) for t in temperatures]
    alphas = [float(a) for a in alphas]
    _check_grid(temperatures, alphas)
    base.validate()
    if any(a < 1 for a in alphas) and cache is None and teacher_student is None:
        raise TinykdError("alphas below 1 need a teacher: give --cache CACHE or --teacher-student RUN")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    save_json(out / "sweep.json", {"temperatures": temperatures, "alphas": alphas, "base": to_dict(base),
                                   "cache": None if cache is None else str(cache),
                                   "teacher_student": None if teacher_student is None else str(teacher_student),
                                   "data": str(data), "data_config": None if data_config is None else to_dict(data_config)})
    result = SweepResult(out)
    done: dict[str, dict[str, Any]] = {}
    for t in temperatures:
        for a in alphas:
            name = cell_name(t, a, base.attention_weight)
            if name not in done:
                cell_dir = out / name
                if RunDir(cell_dir).is_complete():
                    result.skipped.append(name)
                    metrics = load_json(cell_dir / RunDir.METRICS)
                else:
                    cfg = dataclasses.replace(base, temperature=t if name != "a1_no_teacher" else base.temperature, alpha=a)
                    res = distill(data, cfg, cell_dir, cache=cache, teacher_student=teacher_student,
                                  data_config=data_config, resume=cell_dir.exists() and any(cell_dir.iterdir()),
                                  show_progress=show_progress)
                    result.trained.append(name)
                    metrics = res.metrics
                done[name] = metrics
                _copy_confusion(cell_dir, out / "confusion" / f"{name}.png")
            m = done[name]
            tr = m.get("training", {})
            result.rows.append({
                "temperature": t, "alpha": a, "attention_weight": base.attention_weight,
                "accuracy": m["accuracy"], "macro_f1": m["macro_f1"], "weighted_f1": m.get("weighted_f1"),
                "n": m["n"], "split": m.get("split"), "epochs_run": tr.get("epochs_run"),
                "best_epoch": tr.get("best_epoch"), "seconds_per_epoch": tr.get("seconds_per_epoch"), "run": name,
            })
    write_ablation(out, result.rows, temperatures, alphas, base)
    return result


def _copy_confusion(cell_dir: Path, dest: Path) -> None:
    src = cell_dir / RunDir.CONFUSION
    if src.is_file():
        atomic_write_bytes(dest, src.read_bytes())


def write_ablation(out: Path, rows: list[dict[str, Any]], temperatures: list[float], alphas: list[float],
                   base: DistillConfig) -> None:
    from tinykd.distill.plots import heatmap

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(CSV_FIELDS), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: row.get(k) for k in CSV_FIELDS})
    atomic_write_text(out / "ablation.csv", buf.getvalue())

    grid = np.full((len(temperatures), len(alphas)), np.nan)
    for row in rows:
        grid[temperatures.index(row["temperature"]), alphas.index(row["alpha"])] = row["accuracy"]
    split = rows[0]["split"] if rows else "test"
    heatmap(grid, [f"T={t:g}" for t in temperatures], [f"α={a:g}" for a in alphas], out / "ablation_heatmap.png",
            f"{base.student}: {split} accuracy", "temperature", "alpha (CE weight)")

    best = max(rows, key=lambda r: (r["accuracy"], r["macro_f1"]))
    lines = [
        f"# Ablation: {base.student}, temperature x alpha",
        "",
        f"{split} accuracy (macro F1). alpha is the weight of the hard-label CE; alpha = 1 trains without the "
        "teacher, so T has no effect there and that run is shared by every row."
        + (f" Attention weight beta = {base.attention_weight:g}." if base.attention_weight else ""),
        "",
        "| T \\ alpha | " + " | ".join(f"{a:g}" for a in alphas) + " |",
        "|---|" + "---:|" * len(alphas),
    ]
    by_cell = {(r["temperature"], r["alpha"]): r for r in rows}
    for t in temperatures:
        cells = []
        for a in alphas:
            r = by_cell[(t, a)]
            mark = "**" if r is best else ""
            cells.append(f"{mark}{r['accuracy']:.4f}{mark} ({r['macro_f1']:.3f})")
        lines.append(f"| {t:g} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"Best: T = {best['temperature']:g}, alpha = {best['alpha']:g}: accuracy {best['accuracy']:.4f}, "
        f"macro F1 {best['macro_f1']:.4f} (n = {best['n']}).",
        "",
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
