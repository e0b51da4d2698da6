"""The `tinykd` command line: parses arguments, calls the library, prints results.

No logic lives here: every command is a library function a notebook can call. Commands are registered in
pipeline order (tinykd.cli.app.PIPELINE_ORDER), one module per stage. Errors the user can fix are
`TinykdError`s and print as one line (`error: ...`, exit status 2).
"""

from __future__ import annotations

import typer
from rich.markup import escape

from tinykd.cli import data, demo, device, quantize, students, teacher  # noqa: F401  (register the commands)
from tinykd.cli.app import app, console, err_console  # noqa: F401
from tinykd.errors import TinykdError


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app, turning user errors into one line on stderr."""
    try:
        # Without standalone mode click hands back typer.Exit's code instead of exiting.
        code = app(args=argv, standalone_mode=False)
    except TinykdError as exc:
        # The message names files and labels: data, never rich markup ("[/]" in a name must print as is).
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        return exc.exit_code
    except KeyboardInterrupt:
        err_console.print("interrupted; finished outputs are kept, partial ones were not written as complete")
        return 130
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        err_console.print("aborted")
        return 1
    except Exception as exc:
        # Usage errors (bad option, missing argument, no arguments => help). Typer may vendor its own
        # click, so recognise them by what they are rather than by one click module's class.
        if hasattr(exc, "show") and hasattr(exc, "exit_code") and type(exc).__module__.endswith("exceptions"):
            exc.show()
            return int(exc.exit_code)
        raise
    return code if isinstance(code, int) else 0

