"""`tinykd monitor`: follow a board's result lines; survive boot noise, bad lines and resets.

The library function yields events; the CLI draws them live. Nothing here blocks without a timeout.
A session that ends without a single valid line (a silent board, the wrong baud rate, garbage only) is a
failure (`MonitorState.failure()`, exit status 1 from the CLI), never a quiet "0 results".
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from tinykd.configio import os_reason
from tinykd.device.link import BoardGone, LineReader, open_port
from tinykd.device.protocol import DEFAULT_BAUD, BoardError, Hello, Result
from tinykd.errors import TinykdError

HELLO_GRACE_S = 2.0  # how long results are held back waiting for the board's hello


class MonitorFailed(TinykdError):
    """The port opened but the board gave no result: exit status 1 (errors are 2), like `VerifyFailed`."""

    exit_code = 1


def confidence(scores: tuple[float, ...]) -> float:
    """Softmax probability of the top score (students output logits)."""
    if not scores or any(math.isnan(s) for s in scores):
        return float("nan")
    top = max(scores)
    total = sum(math.exp(s - top) for s in scores)
    return 1.0 / total


@dataclass
class MonitorState:
    port: str
    hello: Hello | None = None
    last: Result | None = None
    results: int = 0
    bad_lines: int = 0
    dropped: int = 0
    resets: int = 0  # hellos after the first
    reconnects: int = 0
    board_errors: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    last_line_at: float = field(default_factory=time.monotonic)
    label_counts: dict[str, int] = field(default_factory=dict)
    stale: int = 0  # results read before the board's hello: computed before this session listened, not shown

    @property
    def silent_for(self) -> float:
        return time.monotonic() - self.last_line_at

    def failure(self) -> str | None:
        """Why this session failed, in one line: not one valid line (no result, no hello: a silent board, the
        wrong baud rate, garbage only). None when the board was heard (a board in verify mode says hello and
        then waits for clips: alive, not failing)."""
        if self.results or self.hello is not None or self.board_errors:
            return None
        seconds = time.monotonic() - self.started
        heard = f"{self.bad_lines} unreadable line(s)" if self.bad_lines else "nothing"
        return (f"{self.port}: no result and no valid line in {seconds:.0f} s ({heard}); check the port, --baud and "
                "that the board runs tinykd firmware (press reset)")


def monitor(port: str, baud: int = DEFAULT_BAUD, *, log: str | Path | None = None, duration: float | None = None,
            max_results: int | None = None, reconnect_timeout: float = 10.0,
            on_update: Callable[[MonitorState, str], None] | None = None) -> MonitorState:
    """Read result lines from `port` until `duration` seconds or `max_results` results (or Ctrl-C).

    on_update(state, event) is called after every event: "hello", "reset", "result", "error",
    "reconnected", "tick" (at least every 0.25 s). A port that disappears is reopened for up to
    reconnect_timeout seconds before giving up with a TinykdError (the state so far is in `.state`).
    """
    state = MonitorState(port)
    try:
        log_fh = open(log, "a", encoding="utf-8") if log else None
    except (OSError, ValueError) as exc:
        raise TinykdError(f"--log {log}: cannot write it ({os_reason(exc)}); choose another file") from None

    def on_raw(raw: bytes, parsed) -> None:
        if log_fh:
            text = raw.decode("ascii", "backslashreplace").rstrip("\r\n")
            log_fh.write(f"{time.time():.3f}\t{'ok' if parsed else 'bad'}\t{text}\n")
            log_fh.flush()

    def emit(event: str) -> None:
        if on_update:
            on_update(state, event)

    end = None if duration is None else time.monotonic() + duration
    ser = open_port(port, baud)
    reader = LineReader(ser, on_raw)
    # Lines already on their way when the port opened were computed for an earlier listener: results are shown
    # from the board's hello on (boards that reset when the port opens, as ESP32 dev boards and the virtual
    # board do, send one at once), or after HELLO_GRACE_S from a board that does not reset.
    fresh_after = time.monotonic() + HELLO_GRACE_S
    base_bad = base_dropped = 0  # counts from readers before a reconnect
    try:
        while (end is None or time.monotonic() < end) and (max_results is None or state.results < max_results):
            try:
                line = reader.read_line(0.25)
            except BoardGone:
                ser.close()
                base_bad, base_dropped = state.bad_lines, state.dropped
                ser = _reopen(port, baud, reconnect_timeout, state)
                reader = LineReader(ser, on_raw)
                state.reconnects += 1
                emit("reconnected")
                continue
            state.bad_lines = base_bad + reader.stats.bad_lines
            state.dropped = base_dropped + reader.stats.dropped
            if line is None:
                emit("tick")
                continue
            state.last_line_at = time.monotonic()
            if isinstance(line, Hello):
                if state.hello is not None:
                    state.resets += 1
                state.hello = line
                emit("reset" if state.resets else "hello")
            elif isinstance(line, Result):
                if state.hello is None and time.monotonic() < fresh_after:
                    state.stale += 1
                    continue
                state.results += 1
                state.last = line
                state.label_counts[line.label] = state.label_counts.get(line.label, 0) + 1
                emit("result")
            elif isinstance(line, BoardError):
                state.board_errors.append(f"{line.code}: {line.detail}")
                emit("error")
    except KeyboardInterrupt:  # Ctrl-C ends a session like --duration does: the counts so far are the answer
        pass
    finally:
        ser.close()
        if log_fh:
            log_fh.close()
    return state


def _reopen(port: str, baud: int, timeout: float, state: MonitorState):
    deadline = time.monotonic() + timeout
    while True:
        try:
            return open_port(port, baud)
        except TinykdError:
            if time.monotonic() >= deadline:
                err = TinykdError(
                    f"port {port} disappeared and did not come back within {timeout:g} s "
                    f"(board unplugged?); {state.results} results were received before"
                )
                err.state = state  # type: ignore[attr-defined]
                raise err from None
            time.sleep(0.25)
