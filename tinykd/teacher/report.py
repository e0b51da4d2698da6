"""The short `report.md` (and curves) of a teacher folder and of a soft-label cache folder, as every artifact
folder has one: what it is, what it was made from, what it measured."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tinykd.artifacts import CacheDir, TeacherDir
from tinykd.configio import atomic_write_text, load_json

CURVES = "training_curves.png"


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100.0 * x:.1f} %"


def write_teacher_report(out_dir: str | Path) -> Path:
    """`report.md` and `training_curves.png` from the folder's tinykd_teacher.json and train_metrics.json."""
    out = Path(out_dir)
    meta = load_json(out / TeacherDir.META)
    metrics = load_json(out / TeacherDir.METRICS)
    epochs = metrics.get("epochs") or []
    cfg = meta.get("train_config", {})
    ds = meta.get("dataset", {}) if isinstance(meta.get("dataset"), dict) else {}
    _curves(epochs, out / CURVES)
    lines = [
        f"# Teacher `{out.name}`",
        "",
        f"Wav2Vec2 classifier, base `{meta.get('base')}`, {meta.get('n_params', 0):,} parameters, "
        f"{len(meta.get('labels', []))} classes at {meta.get('sample_rate')} Hz; trained on `{meta.get('data_root')}` "
        f"(fingerprint {meta.get('dataset_fingerprint')}, split `{meta.get('data_config', {}).get('split')}`).",
        "",
        "| figure | value |",
        "|---|---|",
        f"| best epoch (on validation) | {metrics.get('best_epoch')} of {len(epochs)} |",
        f"| validation accuracy, best epoch | {_pct(metrics.get('best_val_accuracy'))} |",
        f"| test accuracy, best checkpoint | {_pct(metrics.get('test_accuracy'))} |",
        f"| epochs x lr x batch | {cfg.get('epochs')} x {cfg.get('lr')} x {cfg.get('batch_size')} |",
        f"| augmentation | {'on' if cfg.get('augment') else 'off'} |",
    ]
    base = meta.get("pretrained") if isinstance(meta.get("pretrained"), dict) else None
    if base and base.get("kind") == "teacher-base":
        lines[3:3] = ["", f"Fine-tuned from the teacher base `{base.get('dir')}`: a tiny Wav2Vec2 that tinykd trained on "
                      f"{len(base.get('words') or [])} other words ({base.get('n_train')} clips of its training voice "
                      f"families, {base.get('epochs')} epochs; {_pct(base.get('test_accuracy'))} on its own held-out "
                      "voices); its head was replaced for these classes."]
    if epochs:
        lines.append(f"| seconds per epoch (median) | {np.median([e['seconds'] for e in epochs]):.1f} |")
    lines += [
        "",
        f"![training curves]({CURVES})",
        "",
        "| epoch | train loss | train acc | val loss | val acc | s |",
        "|---|---|---|---|---|---|",
    ]
    for e in epochs:
        lines.append(f"| {e['epoch']} | {e['train_loss']:.4f} | {_pct(e.get('train_accuracy'))} | "
                     f"{e.get('val_loss', float('nan')):.4f} | {_pct(e.get('val_accuracy'))} | {e['seconds']:.1f} |")
    if ds.get("counts"):
        lines += ["", f"Data: {ds['counts']}"]
    lines += ["", "Files: `model.safetensors` + `config.json` (Hugging Face `save_pretrained`), `labels.json`, "
              "`tinykd_teacher.json` (settings, data, status), `train_metrics.json` (every epoch)."]
    path = out / TeacherDir.REPORT
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path


def _curves(epochs: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(8, 3.2))
    x = [e["epoch"] for e in epochs]
    ax1.plot(x, [e["train_loss"] for e in epochs], label="train")
    if epochs and "val_loss" in epochs[0]:
        ax1.plot(x, [e["val_loss"] for e in epochs], label="val")
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("cross-entropy")
    ax1.legend(fontsize=8)
    ax2.plot(x, [100 * e["train_accuracy"] for e in epochs], label="train")
    if epochs and "val_accuracy" in epochs[0]:
        ax2.plot(x, [100 * e["val_accuracy"] for e in epochs], label="val")
    ax2.set_ylim(0, 100)
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("accuracy (%)")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)


def write_cache_report(out_dir: str | Path, accuracy: dict[str, dict[str, float]], seconds: float | None,
                       clips_per_second: float | None) -> Path:
    """`report.md` of a complete cache: teacher, data, shards, what each row holds, and the teacher's accuracy
    on each split as cached (`accuracy`: split -> {"accuracy", "n"})."""
    out = Path(out_dir)
    meta = load_json(out / CacheDir.META)
    teacher = meta.get("teacher", {})
    lines = [
        f"# Soft-label cache `{out.name}`",
        "",
        f"Teacher `{teacher.get('name')}` (config {teacher.get('config_hash')}, weights {teacher.get('weights_hash')}) "
        f"from `{meta.get('teacher_dir')}`; data fingerprint {meta.get('dataset_fingerprint')} at "
        f"{meta.get('sample_rate')} Hz (teacher fed {meta.get('teacher_sample_rate')} Hz).",
        "",
        f"{meta.get('n_clips')} distinct clips in {len(meta.get('shards', []))} safetensors shards of up to "
        f"{meta.get('shard_size')}: logits [n, {len(meta.get('labels', []))}]"
        + (f" and temporal attention [n, {meta.get('teacher_frames')}] (rollout over the teacher's frames)"
           if meta.get("has_attention") else " (no attention)") + ". Each shard's sha256 is in meta.json.",
        "",
        "| split | clips | teacher accuracy (cached logits) |",
        "|---|---|---|",
    ]
    for split in ("train", "val", "test"):
        if split in accuracy:
            lines.append(f"| {split} | {accuracy[split]['n']} | {_pct(accuracy[split]['accuracy'])} |")
    if clips_per_second:
        lines += ["", f"Export: {seconds:.1f} s of teacher compute this run, {clips_per_second:.1f} clips/s."]
    path = out / CacheDir.REPORT
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path
