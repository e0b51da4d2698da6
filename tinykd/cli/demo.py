"""`tinykd demo` (tinykd.demo)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from tinykd.cli.app import app, console
from tinykd.demo import DemoConfig as _DemoConfig  # light: no TensorFlow or torch at import

_FULL, _QUICK = _DemoConfig.for_mode(False), _DemoConfig.for_mode(True)
_TINY, _TINY_QUICK = _DemoConfig.for_mode(False, teacher_base="tiny"), _DemoConfig.for_mode(True, teacher_base="tiny")


@app.command("demo")
def demo_cmd(
    out: Path = typer.Option(Path("demo-out"), "--out", help="Folder for every stage's output (data, teacher, cache, runs, report)."),
    quick: bool = typer.Option(False, "--quick", help="One accent (840 clips), fewer epochs, Wav2Tiny only, 40 clips verified: about 3 minutes on 2 cores."),
    force: bool = typer.Option(False, "--force", help="Delete OUT and start over, when it is an earlier demo folder (never another folder; default: keep finished stages, continue the rest)."),
    teacher_base: Optional[str] = typer.Option(None, "--teacher-base", help=f"What the teacher is fine-tuned from: shipped (the tiny Wav2Vec2 tinykd pretrained on 70 other words, models/teacher-base), tiny (from scratch, the earlier recipe: 84.4 % in 18 epochs), or a save_pretrained folder (default {_FULL.teacher_base})."),
    teacher_epochs: Optional[int] = typer.Option(None, "--teacher-epochs", help=f"Teacher epochs (default {_FULL.teacher_epochs}, --quick {_QUICK.teacher_epochs}; with --teacher-base tiny {_TINY.teacher_epochs}, --quick {_TINY_QUICK.teacher_epochs})."),
    student_epochs: Optional[int] = typer.Option(None, "--student-epochs", help=f"Epochs per student, distilled and alone (default {_FULL.student_epochs}; --quick {_QUICK.student_epochs})."),
    board: Optional[str] = typer.Option(None, "--board", help="Board the firmware folder is generated for (default esp32; see `tinykd boards`)."),
) -> None:
    """Run the whole pipeline on built-in speech: data -> teacher (fine-tuned from the shipped base) -> cache -> students (distilled and alone) -> int8 -> C -> virtual board.

    The data are spoken command words by espeak-ng voices, with the test voices held out; the teacher starts
    from a base that learned 70 other words, and also hears the training voices in more accents
    (OUT/teacher-data), the students only their own
    clips. Each student is trained distilled (T=2, alpha=0.5) and alone (alpha=1), so the report says whether the teacher helped.
    Writes OUT/report.md (targets met or missed, summary table, plots), OUT/summary.json and OUT/summary.png.
    Finished stages are kept, so an interrupted demo continues when run again.
    """
    from rich.table import Table

    from tinykd.demo import COMPACT_HEADER, DemoConfig, compact_rows, run_demo, target_lines, teacher_helped_lines

    cfg = DemoConfig.for_mode(quick, teacher_base=teacher_base, teacher_epochs=teacher_epochs, student_epochs=student_epochs, board=board)
    result = run_demo(out, cfg, force=force, log=lambda s: console.print(s, highlight=False, markup=False))
    table = Table(title=f"tinykd demo ({'quick' if cfg.quick else 'full'}, {result.summary['seconds'] / 60:.1f} min)")
    for i, head in enumerate(COMPACT_HEADER):
        table.add_column(head, justify="left" if i == 0 else "right", no_wrap=True)
    for row in compact_rows(result.summary):
        table.add_row(*row)
    console.print(table)
    console.print("test accuracy on held-out voices; alone = alpha 1, KD = distilled; f=int8 and board: agreement "
                  "of int8 with float and of the board with the host", highlight=False, markup=False)
    for s in result.summary["students"]:
        console.print(f"{s['name']} fits and builds for: {', '.join(s['fits_boards']) or 'none'}",
                      highlight=False, markup=False)
    for line in teacher_helped_lines(result.summary) + target_lines(result.summary):
        console.print(line.replace("**", ""), highlight=False, markup=False)
    console.print(f"report: {result.out / 'report.md'}", highlight=False, markup=False)
