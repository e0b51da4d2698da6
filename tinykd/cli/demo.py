"""`tinykd demo` (tinykd.demo)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from tinykd.cli.app import app, console


@app.command("demo")
def demo_cmd(
    out: Path = typer.Option(Path("demo-out"), "--out", help="Folder for every stage's output (data, teacher, cache, runs, report)."),
    quick: bool = typer.Option(False, "--quick", help="Smaller data, fewer epochs, Wav2Tiny only: a few minutes on 2 cores."),
    force: bool = typer.Option(False, "--force", help="Delete OUT and start over (default: keep finished stages, continue the rest)."),
    teacher_epochs: Optional[int] = typer.Option(None, "--teacher-epochs", help="Teacher epochs (default 10; --quick 6)."),
    student_epochs: Optional[int] = typer.Option(None, "--student-epochs", help="Epochs per student (default 20; --quick 15)."),
    board: Optional[str] = typer.Option(None, "--board", help="Board the firmware folder is generated for (default esp32s3; see `tinykd boards`)."),
) -> None:
    """Run the whole pipeline on the built-in data: data -> tiny teacher -> cache -> students -> int8 -> C -> virtual board.

    Writes OUT/report.md (summary table and plots), OUT/summary.json and OUT/summary.png. Finished stages are
    kept, so an interrupted demo continues when run again.
    """
    from rich.table import Table

    from tinykd.demo import SUMMARY_HEADER, DemoConfig, run_demo, summary_rows

    cfg = DemoConfig.for_mode(quick, teacher_epochs=teacher_epochs, student_epochs=student_epochs, board=board)
    result = run_demo(out, cfg, force=force, log=lambda s: console.print(s, highlight=False))
    table = Table(title=f"tinykd demo ({'quick' if cfg.quick else 'full'}, {result.summary['seconds'] / 60:.1f} min)")
    for i, head in enumerate(SUMMARY_HEADER):
        table.add_column(head, justify="left" if i == 0 else "right")
    for row in summary_rows(result.summary):
        table.add_row(*row)
    console.print(table)
    console.print(f"report: {result.out / 'report.md'}", highlight=False)
