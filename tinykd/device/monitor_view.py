"""Terminal rendering for `tinykd monitor` (rich live panel or plain lines)."""

from __future__ import annotations

import time

from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from tinykd.device.monitor import MonitorState, confidence, monitor
from tinykd.errors import TinykdError


def _panel(state: MonitorState) -> Table:
    t = Table(title=escape(f"tinykd monitor  {state.port}"), show_header=False, min_width=60)
    t.add_column(style="bold")
    t.add_column()
    h = state.hello
    t.add_row("board", escape(f"{h.board} fw {h.firmware}  model {h.model_hash}  {h.mode}  arena {h.arena_bytes} B")
              if h else "waiting for hello ...")
    r = state.last
    if r:
        t.add_row("label", f"[bold green]{escape(r.label)}[/]  confidence {confidence(r.scores):.2f}")
        t.add_row("timing", f"input {r.fe_us} us   inference {r.inf_us} us")
    t.add_row("results", str(state.results))
    t.add_row("bad lines / dropped", f"{state.bad_lines} / {state.dropped}")
    t.add_row("resets / reconnects", f"{state.resets} / {state.reconnects}")
    if state.silent_for > 2:
        t.add_row("[yellow]silent[/]", f"no valid line for {state.silent_for:.0f} s")
    if state.board_errors:
        t.add_row("[red]board errors[/]", escape(state.board_errors[-1]))
    return t


def run_monitor_view(console: Console, port: str, baud: int, *, log=None, duration=None, count=None,
                     reconnect_timeout: float = 10.0, plain: bool = False) -> MonitorState:
    last_draw = [0.0]
    if plain:
        def on_update(state: MonitorState, event: str) -> None:
            if event == "result" and state.last:
                r = state.last
                console.print(f"#{r.seq} {r.source}{r.ident} {r.label} conf={confidence(r.scores):.2f} "
                              f"fe_us={r.fe_us} inf_us={r.inf_us}", highlight=False, markup=False)
            elif event in ("hello", "reset") and state.hello:
                h = state.hello
                console.print(f"{'reset: ' if event == 'reset' else ''}hello: {h.board} fw {h.firmware} model "
                              f"{h.model_hash} labels {','.join(h.labels)}", highlight=False, markup=False)
                if event == "hello" and state.stale:
                    console.print(f"({state.stale} result(s) from before this session not shown)", highlight=False,
                                  markup=False)
            elif event == "reconnected":
                console.print(f"reconnected to {state.port}", highlight=False, markup=False)
        live = None
    else:
        live = Live(console=console, refresh_per_second=8, transient=False)

        def on_update(state: MonitorState, event: str) -> None:
            now = time.monotonic()
            if event != "tick" or now - last_draw[0] > 0.25:
                live.update(_panel(state))
                last_draw[0] = now

    state = None
    try:
        if live:
            live.start()
        state = monitor(port, baud, log=log, duration=duration, max_results=count,
                        reconnect_timeout=reconnect_timeout, on_update=on_update)
    except TinykdError as exc:
        state = getattr(exc, "state", None)
        raise
    except KeyboardInterrupt:
        pass
    finally:
        if live:
            live.stop()
            if not console.is_terminal:
                console.line()  # a redirected Live view does not end its last line
        if state is not None:
            console.print(f"{state.results} results, {state.bad_lines} bad lines, {state.dropped} dropped, "
                          f"{state.resets} resets, {state.reconnects} reconnects", highlight=False)
    return state
