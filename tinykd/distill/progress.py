"""A rich progress bar for training: one bar per epoch with running loss and accuracy."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


class EpochProgress:
    """A live bar for the epoch in progress (on a terminal only), and one plain line per finished epoch, so a
    log file gets whole numbers, never a bar squeezed to 80 columns ("val acc 0.5…")."""

    def __init__(self, enabled: bool = True, label: str = "distill", console: Console | None = None):
        self.enabled = enabled
        self.label = label
        self.console = console or Console(stderr=True)
        self._progress: Progress | None = None
        self._task = None
        self._epochs = 0

    def __enter__(self) -> EpochProgress:
        if self.enabled and self.console.is_terminal:
            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("loss {task.fields[loss]:.4f}  acc {task.fields[acc]:.3f}"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=self.console,
                transient=True,
            )
            self._progress.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)

    def start_epoch(self, epoch: int, epochs: int, steps: int) -> None:
        self._epochs = epochs
        if self._progress is not None:
            self._task = self._progress.add_task(f"{self.label} epoch {epoch}/{epochs}", total=steps, loss=0.0, acc=0.0)

    def advance(self, loss: float, acc: float) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, advance=1, loss=loss, acc=acc)

    def end_epoch(self, row: dict[str, Any]) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.remove_task(self._task)
            self._task = None
        if self.enabled:
            self.console.print(epoch_line(self.label, row, self._epochs), highlight=False, markup=False,
                               soft_wrap=True)


def epoch_line(label: str, row: dict[str, Any], epochs: int = 0) -> str:
    """`wav2tiny T=2 a=0.5 epoch 3/10: loss 1.0536 acc 0.312, val loss 2.1478 acc 0.263 (12.1 s)`."""
    of = f"/{epochs}" if epochs else ""
    val = f", val loss {row['val_loss']:.4f} acc {row['val_acc']:.3f}" if "val_acc" in row else ""
    secs = f" ({row['seconds']:.1f} s)" if "seconds" in row else ""
    return f"{label} epoch {row['epoch']}{of}: loss {row['train_loss']:.4f} acc {row['train_acc']:.3f}{val}{secs}"
