"""`report.md` of a run folder: what was trained, how it scored, where the plots are. Short by design."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tinykd.configio import atomic_write_text, load_json
from tinykd.artifacts import RunDir
from tinykd.distill.metrics import per_class_markdown


def _teacher_line(cfg: dict[str, Any], teacher: dict[str, Any]) -> str:
    if cfg["alpha"] >= 1.0 and cfg["attention_weight"] <= 0:
        return "none (alpha = 1: hard labels only)"
    parts = []
    if teacher.get("teacher_student"):
        parts.append(f"distilled student `{teacher['teacher_student']}` (teacher-assistant chain)")
    if teacher.get("cache"):
        parts.append(f"soft-label cache `{teacher['cache']}`")
    return ", ".join(parts)


def _teacher_effect(metrics: dict[str, Any], cfg: dict[str, Any]) -> list[str]:
    """The plain answer to "did the teacher help?", first in the report (nothing for an alpha = 1 run)."""
    if cfg["alpha"] >= 1.0 and cfg["attention_weight"] <= 0:
        return []
    from tinykd.distill.baseline import verdict_line

    lines = []
    if "baseline" in metrics:
        b = metrics["baseline"]
        lines.append(f"**{verdict_line(b, metrics['split'])}** Baseline run: `{b['run']}`.")
    else:
        lines.append("Not compared with an alpha = 1 baseline (run without one), so this report cannot say whether "
                     "the teacher helped.")
    tv = metrics.get("teacher_val")
    if tv:
        base_val = (metrics.get("baseline") or {}).get("baseline_val_accuracy")
        extra = f", the baseline {100 * base_val:.1f} %" if isinstance(base_val, (int, float)) else ""
        lines.append(f"The teacher itself scores {100 * tv['accuracy']:.1f} % on the {tv['n']} validation clips{extra}.")
    return [" ".join(lines), ""]


def write_run_report(run_dir: Path, metrics: dict[str, Any], history: list[dict[str, Any]]) -> None:
    config = load_json(run_dir / RunDir.CONFIG)
    cfg = config["distill"]
    tr = metrics["training"]
    ds = config["dataset"]
    aug = cfg["augment"]
    lines = [
        f"# {cfg['student']} run: {metrics['split']} accuracy {metrics['accuracy']:.2%}",
        "",
        *_teacher_effect(metrics, cfg),
        f"- Student: `{cfg['student']}`, {config['params']:,} trainable parameters; front end {config['frontend']['sample_rate']} Hz, "
        f"window {config['frontend']['win_length']}, hop {config['frontend']['hop_length']}, {config['frontend']['n_mels']} mels.",
        f"- Teacher: {_teacher_line(cfg, config.get('teacher', {}))}.",
        f"- Loss: alpha = {cfg['alpha']:g} (CE weight), T = {cfg['temperature']:g}, attention weight beta = {cfg['attention_weight']:g}.",
        f"- Data: `{ds['root']}` ({ds['n_train']} train / {ds['n_val']} val / {ds['n_test']} test clips, split `{config['data']['split']}`).",
        f"- Training: {tr['epochs_run']} epochs (best {tr['best_epoch']}{', stopped early' if tr['stopped_early'] else ''}), "
        f"batch {cfg['batch_size']}, lr {cfg['lr']:g} ({cfg['schedule']}, {cfg['warmup_epochs']:g} warm-up epochs), "
        f"augmentation {'on' if aug['enabled'] else 'off'}, seed {cfg['seed']}; "
        f"{tr['seconds_per_epoch']:.1f} s per epoch (median), peak memory {tr['peak_rss_mb']:.0f} MB.",
        "",
        "| metric | value |",
        "|---|---:|",
        f"| accuracy ({metrics['split']}, n = {metrics['n']}) | {metrics['accuracy']:.4f} |",
        f"| macro F1 | {metrics['macro_f1']:.4f} |",
        f"| weighted F1 | {metrics['weighted_f1']:.4f} |",
        f"| macro precision / recall | {metrics['macro_precision']:.4f} / {metrics['macro_recall']:.4f} |",
    ]
    if "val" in metrics:
        lines.append(f"| val accuracy (n = {metrics['val']['n']}) | {metrics['val']['accuracy']:.4f} |")
    lines += [
        "",
        "## Per class",
        "",
        per_class_markdown(metrics),
        "",
        f"![training curves]({RunDir.CURVES})",
        "",
        f"![confusion matrix]({RunDir.CONFUSION})",
        "",
        f"Files: `{RunDir.MODEL}` (inference model only: no augmentation or attention head), `{RunDir.LABELS}`, "
        f"`{RunDir.CONFIG}`, `{RunDir.METRICS}`, `{RunDir.HISTORY}`.",
        "",
    ]
    atomic_write_text(run_dir / RunDir.REPORT, "\n".join(lines))
