"""PNG plots for run folders and sweeps (matplotlib, Agg backend, written atomically).

Labels, preset names and titles are data: they are drawn as plain text (`parse_math=False`, no TeX), so a class
named `$x^$` is shown as written instead of crashing matplotlib's math parser.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from tinykd.configio import atomic_write_bytes


def _figure():
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams["text.usetex"] = False  # a user's matplotlibrc must not turn names into TeX
    import matplotlib.pyplot as plt

    return plt


PLAIN = {"parse_math": False}  # every Text made from data


def _save(fig, path: Path) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    _figure().close(fig)
    atomic_write_bytes(path, buf.getvalue())


def training_curves(history: list[dict[str, Any]], path: Path, title: str = "") -> None:
    """Loss (train/val) and accuracy (train/val) per epoch, side by side."""
    plt = _figure()
    epochs = [h["epoch"] for h in history]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(9, 3.4))
    ax_loss.plot(epochs, [h["train_loss"] for h in history], marker="o", ms=3, label="train (total loss)")
    if any("val_loss" in h for h in history):
        ax_loss.plot(epochs, [h.get("val_loss", np.nan) for h in history], marker="o", ms=3, label="val (CE)")
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("loss")
    ax_loss.legend()
    ax_loss.grid(alpha=0.3)
    ax_acc.plot(epochs, [h["train_acc"] for h in history], marker="o", ms=3, label="train (augmented)")
    if any("val_acc" in h for h in history):
        ax_acc.plot(epochs, [h.get("val_acc", np.nan) for h in history], marker="o", ms=3, label="val")
    ax_acc.set_xlabel("epoch")
    ax_acc.set_ylabel("accuracy")
    ax_acc.set_ylim(0, 1.02)
    ax_acc.legend()
    ax_acc.grid(alpha=0.3)
    if title:
        fig.suptitle(title, **PLAIN)
    _save(fig, path)


def confusion_matrix_png(cm: Sequence[Sequence[int]], labels: Sequence[str], path: Path, title: str = "") -> None:
    """Counts with row-normalised shading (rows: true class, columns: predicted)."""
    plt = _figure()
    cm = np.asarray(cm, dtype=np.int64)
    rows = cm.sum(axis=1, keepdims=True)
    frac = np.divide(cm, rows, out=np.zeros(cm.shape, dtype=np.float64), where=rows > 0)
    size = max(3.5, 0.45 * len(labels) + 1.5)
    fig, ax = plt.subplots(figsize=(size + 0.8, size))
    im = ax.imshow(frac, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), [str(v) for v in labels], rotation=45, ha="right", **PLAIN)
    ax.set_yticks(range(len(labels)), [str(v) for v in labels], **PLAIN)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            if cm[i, j]:
                ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=8,
                        color="white" if frac[i, j] > 0.5 else "black")
    fig.colorbar(im, ax=ax, fraction=0.046, label="fraction of true class")
    if title:
        ax.set_title(title, **PLAIN)
    _save(fig, path)


def heatmap(values: np.ndarray, row_labels: Sequence[str], col_labels: Sequence[str], path: Path,
            title: str, row_name: str, col_name: str) -> None:
    """A grid of scores (e.g. test accuracy over temperature x alpha); NaN cells are left blank."""
    plt = _figure()
    values = np.asarray(values, dtype=np.float64)
    fig, ax = plt.subplots(figsize=(1.3 * len(col_labels) + 2, 1.0 * len(row_labels) + 1.5))
    finite = values[np.isfinite(values)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    im = ax.imshow(np.ma.masked_invalid(values), cmap="viridis", vmin=lo, vmax=max(hi, lo + 1e-6))
    ax.set_xticks(range(len(col_labels)), col_labels, **PLAIN)
    ax.set_yticks(range(len(row_labels)), row_labels, **PLAIN)
    ax.set_xlabel(col_name)
    ax.set_ylabel(row_name)
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            if np.isfinite(values[i, j]):
                ax.text(j, i, f"{values[i, j]:.3f}", ha="center", va="center", color="white" if values[i, j] < (lo + hi) / 2 else "black")
    fig.colorbar(im, ax=ax)
    ax.set_title(title, **PLAIN)
    _save(fig, path)


def protocol_bars(summary: dict[str, Any], path: Path) -> None:
    """Leave-one-speaker-out results: per student, the mean held-out accuracy of every cell with its standard
    error over folds (error bars), the alpha = 1 bar hatched, the teacher's mean as a dashed line."""
    plt = _figure()
    students = list(summary["students"].items())
    widths = [max(2, len(info["cells"])) for _, info in students] or [2]
    fig, axes = plt.subplots(1, max(1, len(students)), figsize=(sum(0.7 * w + 1.2 for w in widths), 3.8), squeeze=False,
                             gridspec_kw={"width_ratios": widths})
    teacher = summary["teacher"]
    for ax, (student, info) in zip(axes[0], students):
        cells = info["cells"]
        means = [100 * (r["mean"] if np.isfinite(r["mean"]) else 0.0) for r in cells]
        errs = [100 * (r["se"] or 0.0) for r in cells]
        bars = ax.bar(range(len(cells)), means, yerr=errs, capsize=3, color="tab:blue")
        for bar, r in zip(bars, cells):
            if r["cell"] == "a1_no_teacher":
                bar.set_color("tab:gray")
                bar.set_hatch("//")
        if teacher.get("folds"):
            ax.axhline(100 * teacher["mean"], ls="--", color="tab:red", label=f"teacher {100 * teacher['mean']:.1f} %")
            ax.legend(loc="lower right", fontsize=8)
        ax.set_xticks(range(len(cells)), [r["cell"] for r in cells], rotation=45, ha="right", fontsize=8, **PLAIN)
        ax.set_ylabel("held-out speaker accuracy (%)")
        lo = min([m - e for m, e in zip(means, errs)] + [100 * teacher["mean"] if teacher.get("folds") else 100])
        ax.set_ylim(max(0, lo - 10), 100)
        ax.set_title(f"{student} ({len(summary['speakers'])} folds, mean ± SE)", fontsize=10, **PLAIN)
        ax.grid(axis="y", alpha=0.3)
    _save(fig, path)
