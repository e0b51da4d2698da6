"""The `tinykd` command line: parses arguments, calls the library, prints results.

No logic lives here: every command is a library function a notebook can call. Commands are
registered in pipeline order, which is the order `tinykd --help` lists them in.
Errors the user can fix are `TinykdError`s and print as one line (`error: ...`, exit status 2).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from tinykd import __version__
from tinykd.errors import TinykdError

console = Console()
err_console = Console(stderr=True)

app = typer.Typer(
    name="tinykd",
    help=(
        "Distil a large PyTorch audio model into a tiny Keras student and run it int8 on a "
        "microcontroller.\n\nPipeline, in order: data -> teacher -> distill/sweep/evaluate -> "
        "quantize -> export -> flash/monitor/verify (sim: a virtual board)."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


def _version_callback(value: bool) -> None:
    if value:
        console.print(f"tinykd {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Optional[bool] = typer.Option(
        None, "--version", callback=_version_callback, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """tinykd: teacher -> student -> int8 -> microcontroller."""


# ---------------------------------------------------------------------------------------------
# data  (tinykd.data)
# ---------------------------------------------------------------------------------------------
data_app = typer.Typer(help="Datasets: inspect a folder of audio, generate the built-in data.", no_args_is_help=True)
app.add_typer(data_app, name="data")

# [data commands]

# ---------------------------------------------------------------------------------------------
# teacher  (tinykd.teacher)
# ---------------------------------------------------------------------------------------------
teacher_app = typer.Typer(
    help="Teacher (PyTorch, needs the `teacher` extra): fine-tune a Wav2Vec2 classifier, export soft labels.",
    no_args_is_help=True,
)
app.add_typer(teacher_app, name="teacher")

# [teacher commands]

# ---------------------------------------------------------------------------------------------
# students and distillation  (tinykd.students, tinykd.distill)
# ---------------------------------------------------------------------------------------------

# [distill commands]

# ---------------------------------------------------------------------------------------------
# quantize and C export  (tinykd.quantize, tinykd.emit)
# ---------------------------------------------------------------------------------------------
export_app = typer.Typer(help="Export a quantized model as source for firmware.", no_args_is_help=True)

# [quantize commands]

app.add_typer(export_app, name="export")

# ---------------------------------------------------------------------------------------------
# device: boards, flash, monitor, verify, sim  (tinykd.device)
# ---------------------------------------------------------------------------------------------

# [device commands]

# ---------------------------------------------------------------------------------------------
# demo  (tinykd.demo)
# ---------------------------------------------------------------------------------------------

# [demo commands]


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app, turning user errors into one line on stderr."""
    try:
        app(args=argv, standalone_mode=False)
    except TinykdError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        return exc.exit_code
    except KeyboardInterrupt:
        err_console.print("interrupted; finished outputs are kept, partial ones were not written as complete")
        return 130
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        err_console.print("aborted")
        return 1
    except Exception as exc:  # click usage errors
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            return exc.exit_code
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
