"""Training progress in a log file: one whole line per epoch, nothing cut to fit 80 columns."""

from __future__ import annotations

import io

from rich.console import Console

from tinykd.distill.progress import EpochProgress


def test_epoch_lines_are_whole_in_a_log_file():
    buf = io.StringIO()
    console = Console(file=buf, width=80, force_terminal=False)
    label = "wav2tiny T=2 a=0.5"
    with EpochProgress(enabled=True, label=label, console=console) as p:
        for epoch in (1, 2):
            p.start_epoch(epoch, 10, steps=3)
            for _ in range(3):
                p.advance(loss=1.25, acc=0.5)
            p.end_epoch({"epoch": epoch, "train_loss": 1.2345678, "train_acc": 0.5123, "val_loss": 2.1478,
                         "val_acc": 0.2625, "seconds": 12.06})
    lines = buf.getvalue().splitlines()
    assert lines == [f"{label} epoch {e}/10: loss 1.2346 acc 0.512, val loss 2.1478 acc 0.263 (12.1 s)" for e in (1, 2)]
    assert "…" not in buf.getvalue()


def test_disabled_progress_prints_nothing():
    buf = io.StringIO()
    with EpochProgress(enabled=False, console=Console(file=buf)) as p:
        p.start_epoch(1, 1, steps=1)
        p.end_epoch({"epoch": 1, "train_loss": 1.0, "train_acc": 0.5, "seconds": 1.0})
    assert buf.getvalue() == ""
