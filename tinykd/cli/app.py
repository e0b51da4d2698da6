"""The `tinykd` Typer app, its consoles and the pipeline order `tinykd --help` lists commands in.

Commands register themselves on `app` from the stage modules beside this one (tinykd.cli.data, .teacher,
.students, .quantize, .device, .demo); each only parses arguments, calls one library function and prints.
"""

from __future__ import annotations

import typer
import typer.core
from rich.console import Console

from tinykd import __version__

console = Console()
err_console = Console(stderr=True)

# The pipeline's order, which `tinykd --help` follows (Typer would list sub-groups after plain commands).
PIPELINE_ORDER = ["data", "teacher", "models", "distill", "sweep", "evaluate", "quantize", "export",
                  "boards", "flash", "monitor", "verify", "sim", "demo"]


class _PipelineOrderGroup(typer.core.TyperGroup):
    def list_commands(self, ctx):
        names = list(self.commands)
        rank = {name: i for i, name in enumerate(PIPELINE_ORDER)}
        return sorted(names, key=lambda n: (rank.get(n, len(rank)), names.index(n)))


app = typer.Typer(
    name="tinykd",
    cls=_PipelineOrderGroup,
    help=(
        "Distil a large PyTorch audio model into a tiny Keras student and run it int8 on a "
        "microcontroller.\n\nPipeline, in order: data -> teacher -> distill/sweep/evaluate -> "
        "quantize -> export -> flash/monitor/verify (sim: a virtual board)."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # help texts are plain: "[default: 2]" must print, not vanish as a markup tag
)


def _version_callback(value: bool) -> None:
    if value:
        console.print(f"tinykd {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version_callback, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """tinykd: teacher -> student -> int8 -> microcontroller."""
