"""Terminal rendering of a `tinykd verify` report."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tinykd.device.verify import VerifyReport


def print_verify_report(console: Console, rep: VerifyReport) -> None:
    t = Table(title=escape(f"verify {rep.port}  model {rep.model_hash}"), show_header=False)
    t.add_column(style="bold")
    t.add_column()
    t.add_row("clips answered", f"{rep.answered} / {rep.n_clips}")
    t.add_row("label agreement with host TFLM", f"{rep.agreement:.2%} (threshold {rep.min_agreement:.0%})")
    t.add_row("scores within 1e-6 rounding", f"{rep.score_parity:.2%}  (max diff {rep.max_score_diff:.2g})")
    if rep.board_accuracy is not None:
        t.add_row("accuracy board / host", f"{rep.board_accuracy:.2%} / {rep.host_accuracy:.2%}")
    for key, label in (("inf_us", "inference us"), ("fe_us", "input prep us"), ("round_trip_ms", "round trip ms")):
        s = rep.latency.get(key) or {}
        if s:
            t.add_row(label, f"mean {s['mean']:.1f}  p50 {s['p50']:.1f}  p90 {s['p90']:.1f}  max {s['max']:.1f}")
    th = rep.throughput
    if th:
        t.add_row("throughput", f"{th['clips_per_s']:.1f} clips/s (baud limit {th['baud_limit_clips_per_s']:.1f} at "
                                f"{th['baud']} baud, {th['bytes_per_clip']} B/clip; {th.get('link', 'link unknown')})")
    ln = rep.link
    if ln:
        t.add_row("link", f"{ln['resends']} resends, {ln['naks']} NAKs, {ln['bad_lines']} bad lines, "
                          f"{ln['dropped_lines']} dropped, {ln['resets']} resets")
    console.print(t)
    for m in rep.mismatches[:20]:
        console.print(f"  mismatch clip {m['clip']} {m['file']}: board {m['board']} host {m['host']} "
                      f"(max score diff {m['max_score_diff']:.2g})", highlight=False, markup=False)
    for f in rep.failures[:20]:
        console.print(f"  failed clip {f['clip']} {f['file']}: {f['why']}", highlight=False, markup=False)
    if rep.report_file:
        console.print(f"report: {rep.report_file}", highlight=False, markup=False)
    console.print("[green]PASS[/]" if rep.passed else "[red]FAIL[/]")
