"""A rich progress bar for training: one bar per epoch with running loss and accuracy."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


class EpochProgress:
    def __init__(self, enabled: bool = True, label: str = "distill", console: Console | None = None):
        self.enabled = enabled
        self.label = label
        self.console = console or Console(stderr=True)
        self._progress: Progress | None = None
        self._task = None

    def __enter__(self) -> "EpochProgress":
        if self.enabled:
            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("loss {task.fields[loss]:.4f}  acc {task.fields[acc]:.3f}"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=self.console,
                transient=False,
            )
            self._progress.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)

    def start_epoch(self, epoch: int, epochs: int, steps: int) -> None:
        if self._progress is not None:
            self._task = self._progress.add_task(f"{self.label} epoch {epoch}/{epochs}", total=steps, loss=0.0, acc=0.0)

    def advance(self, loss: float, acc: float) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, advance=1, loss=loss, acc=acc)

    def end_epoch(self, row: dict[str, Any]) -> None:
        if self._progress is not None and self._task is not None:
            val = f"  val loss {row['val_loss']:.4f}  val acc {row['val_acc']:.3f}" if "val_acc" in row else ""
            self._progress.update(self._task, description=f"{self.label} epoch {row['epoch']}{val}")
