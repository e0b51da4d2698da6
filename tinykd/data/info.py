"""What `tinykd data info` reports: counts per class/speaker/split, rates, durations, problem files.

It is the diagnostic command, so it reports whatever it finds: every problem file, folders it may not list,
splits that would be empty, even a data set with no usable clip (the data set is loaded with `diagnose=True`).
Names in the tables are data, printed as they are (never read as rich markup).
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from tinykd.configio import to_dict
from tinykd.data.config import SPLIT_NAMES
from tinykd.data.dataset import Dataset
from tinykd.data.layouts import PERMISSION, SPLIT
from tinykd.errors import printable


def _split_counts(ds: Dataset, key: str) -> dict[str, dict[str, int]]:
    table: dict[str, dict[str, int]] = {}
    for c in ds.clips:
        row = table.setdefault(getattr(c, key), {s: 0 for s in SPLIT_NAMES} | {"total": 0})
        row[c.split] += 1
        row["total"] += 1
    return dict(sorted(table.items()))


def summarize(ds: Dataset) -> dict:
    """A JSON-ready summary of a loaded data set (the same facts the CLI prints as tables)."""
    durations = np.array([c.duration for c in ds.clips]) if ds.clips else np.zeros(1)
    clip_s = ds.clip_samples / ds.sample_rate
    per_class = _split_counts(ds, "label")
    per_class = {label: per_class.get(label, {s: 0 for s in SPLIT_NAMES} | {"total": 0}) for label in ds.labels}
    return {
        "root": str(ds.root),
        "format": ds.format,
        "format_reason": ds.format_reason,
        "split": ds.split_how,
        "fingerprint": ds.fingerprint(),
        "config": to_dict(ds.config),
        "n_clips": len(ds.clips),
        "n_classes": len(ds.labels),
        "n_speakers": len(ds.speakers),
        "labels": list(ds.labels),
        "per_split": {s: sum(c.split == s for c in ds.clips) for s in SPLIT_NAMES},
        "per_class": per_class,
        "per_speaker": _split_counts(ds, "speaker"),
        "source_rates": {str(r): n for r, n in sorted(Counter(c.source_rate for c in ds.clips).items())},
        "channels": {str(r): n for r, n in sorted(Counter(c.channels for c in ds.clips).items())},
        "subtypes": dict(sorted(Counter(c.subtype for c in ds.clips).items())),
        "duration_s": {
            "min": float(durations.min()),
            "mean": float(durations.mean()),
            "median": float(np.median(durations)),
            "max": float(durations.max()),
            "total": float(durations.sum()),
            "clip": clip_s,
            "n_padded": int((durations < clip_s).sum()) if ds.clips else 0,
            "n_cropped": int((durations > clip_s).sum()) if ds.clips else 0,
        },
        "n_problems": len(ds.problems),
        "problems": [{"path": p.path, "message": p.message, "kind": p.kind} for p in ds.problems],
    }


def summary_tables(summary: dict) -> list:
    """Rich tables for a `summarize` result (head, per class, per speaker), in the order the CLI prints them."""
    from rich.markup import escape
    from rich.table import Table

    def cell(text) -> str:  # data (paths, labels, speakers): shown as is, never as markup or escape codes
        return escape(printable(str(text)))

    out: list = []
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    rates = ", ".join(f"{int(r) / 1000:g} kHz x {n}" for r, n in summary["source_rates"].items())
    d = summary["duration_s"]
    cfg = summary["config"]
    for k, v in (
        ("data", summary["root"]),
        ("format", f"{summary['format']} ({summary['format_reason']})"),
        ("clips", f"{summary['n_clips']} in {summary['n_classes']} classes, {summary['n_speakers']} speakers"),
        ("split", summary["split"]),
        ("source rate", rates),
        ("channels", ", ".join(f"{c} ch x {n}" for c, n in summary["channels"].items())),
        ("sample format", ", ".join(f"{s} x {n}" for s, n in summary["subtypes"].items())),
        ("duration", f"min {d['min']:.3f} s, median {d['median']:.3f} s, mean {d['mean']:.3f} s, max {d['max']:.3f} s, "
                     f"total {d['total'] / 60:.1f} min"),
        ("clips out", f"{cfg['clip_seconds']:g} s at {cfg['sample_rate']} Hz, pad {cfg['pad']}: "
                      f"{d['n_padded']} padded, {d['n_cropped']} cropped"),
        ("fingerprint", summary["fingerprint"]),
        ("problems", str(summary["n_problems"])),
    ):
        head.add_row(k, cell(v))
    out.append(head)
    for title, key, first in (("per class", "per_class", "class"), ("per speaker", "per_speaker", "speaker")):
        t = Table(title=title, title_justify="left")
        t.add_column(first)
        for col in ("train", "val", "test", "total"):
            t.add_column(col, justify="right")
        for name, row in summary[key].items():
            t.add_row(cell(name), *(str(row[c]) for c in ("train", "val", "test", "total")))
        t.add_row("[bold]all[/]", *(f"[bold]{summary['per_split'][s]}[/]" for s in ("train", "val", "test")),
                  f"[bold]{summary['n_clips']}[/]")
        out.append(t)
    return out


def problem_lines(summary: dict) -> list[str]:
    """One line per problem, `path: problem` (printed unwrapped, so each can be grepped or copied): the
    skipped files first, then folders and files that may not be read, then the data set's own problems
    (empty splits, nothing usable)."""
    lines: list[str] = []
    groups = (("file", "problem files ({n}, skipped):"), (PERMISSION, "permission problems ({n}: every other command stops on these):"),
              (SPLIT, "data set problems ({n}):"))
    for kind, title in groups:
        rows = [p for p in summary["problems"] if p.get("kind", "file") == kind]
        if rows:
            lines.append(title.format(n=len(rows)))
            lines += [f"  {printable(p['path'])}: {printable(p['message'])}" for p in rows]
    return lines
