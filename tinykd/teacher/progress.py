"""One rich progress bar for teacher training and export (or nothing, when disabled)."""

from __future__ import annotations

from collections.abc import Callable


class ProgressBar:
    """Context manager yielding `advance(n=1, text="")`: moves the bar by n and shows `text` after the title."""

    def __init__(self, enabled: bool, title: str, total: int):
        self.enabled, self.title, self.total = enabled, title, total

    def __enter__(self) -> Callable[..., None]:
        if not self.enabled:
            return lambda n=1, text="": None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), transient=True)
        self._bar.start()
        task = self._bar.add_task(self.title, total=self.total)
        return lambda n=1, text="": self._bar.update(task, advance=n, description=f"{self.title} {text}".rstrip())

    def __exit__(self, *exc) -> None:
        if self.enabled:
            self._bar.stop()
