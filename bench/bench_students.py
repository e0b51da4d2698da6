"""Student presets in the real TFLM interpreter: measured arena, flatbuffer size and invoke time, next to
the analytic figures `tinykd models` prints (parameters, MACs, estimated flatbuffer).

    .venv/bin/python bench/bench_students.py [PRESET ...] [--classes N] [--invokes N] [--json OUT]

Weights are untrained (arena and size depend only on shapes; time barely on values). Each preset is converted
by tinykd.tflite.convert.convert_student, as `tinykd quantize` converts it. For a deployable (Signal front end)
preset the arena is front end + body in one shared arena, and the time is one body invoke plus one front-end
hop. Times are the TFLM reference kernels on this desktop CPU, a relative figure only: a microcontroller is
1-2 orders of magnitude slower (bench/bench_emulated_board.py counts Cortex-M4F instructions).

A second table splits a deployable preset's cost as the firmware pays it: the front end per hop (integer
operations counted from the Signal kernels' loops, TFLM time here) and the body per window (MACs, TFLM time
here), with board estimates from tinykd.boards (cycles per MAC from Espressif's published person-detection
figures, see that file: estimates, not measurements).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tinykd.students import build_student, describe, load_student_config, preset_names  # noqa: E402
from tinykd.students.tflm_arena import example_clips, invoke_float, measure_conversion  # noqa: E402
from tinykd.tflite.convert import convert_student  # noqa: E402
from tinykd.tflite.run import tflm_interpreter  # noqa: E402


def _invoke_ms(flatbuffer: bytes, invokes: int, prepare) -> float:
    interp = tflm_interpreter(flatbuffer)
    prepare(interp)  # sets the input; warm-up
    t0 = time.perf_counter()
    for _ in range(invokes):
        interp.invoke()
    return (time.perf_counter() - t0) / invokes * 1e3


def bench(name: str, n_classes: int, invokes: int) -> dict:
    import numpy as np

    cfg = load_student_config(name)
    samples = cfg.clip_samples()
    clips = example_clips(8, samples, cfg.spec().sample_rate)
    t0 = time.perf_counter()
    conv = convert_student(build_student(cfg, n_classes, samples), clips)
    convert_s = time.perf_counter() - t0
    report = measure_conversion(conv, clips[0])
    if conv.kind == "signal":
        def zeros(interp):
            d = interp.get_input_details(0)
            interp.set_input(np.zeros(d["shape"], d["dtype"]), 0)
            interp.invoke()

        body_ms, hop_ms = _invoke_ms(conv.model, invokes, zeros), _invoke_ms(conv.frontend, invokes, zeros)
        invoke_ms = body_ms + hop_ms
    else:
        invoke_ms = _invoke_ms(conv.model, invokes, lambda interp: invoke_float(interp, clips[0]))
        body_ms, hop_ms = invoke_ms, 0.0
    info = describe(name, n_classes=n_classes)
    spec = cfg.spec()
    if conv.kind == "signal":
        from tinykd.frontend.signal_tables import hop_operation_counts

        hop_ops = hop_operation_counts(spec)["total muls"]
    else:
        hop_ops = 0
    seconds = samples / spec.sample_rate
    return {
        "preset": name,
        "params": info["params"],
        "macs_per_second": info["macs_per_second"]["total"],
        "arena_bytes": report.arena_bytes,
        "flatbuffer_bytes": report.flatbuffer_bytes,
        "flatbuffer_bytes_estimate": info["flatbuffer_bytes_estimate"],
        "peak_activation_bytes_estimate": max(info["peak_activation_bytes"], info["frontend_peak_bytes"]),
        "kind": conv.kind,
        "frontend_arena_bytes": report.frontend_arena_bytes,
        "body_arena_bytes": report.body_arena_bytes,
        "tflm_invoke_ms": round(invoke_ms, 2),
        "frontend_ops_per_hop": hop_ops,
        "hops_per_second": spec.sample_rate / spec.hop_length if conv.kind == "signal" else 0.0,
        "body_macs_per_window": round(info["macs_per_second"]["body"] * seconds) if conv.kind == "signal"
        else round(info["macs_per_second"]["total"] * seconds),
        "tflm_hop_ms": round(hop_ms, 4),
        "tflm_body_ms": round(body_ms, 3),
        "convert_s": round(convert_s, 1),
        "ops": list(report.ops),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("presets", nargs="*", help="presets (default: all in models/)")
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--invokes", type=int, default=20)
    parser.add_argument("--json", type=Path, help="write the rows as JSON here")
    args = parser.parse_args()
    names = args.presets or preset_names()
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, {args.classes} classes, 1 s clips")
    header = ("preset", "params", "MAC/s", "arena B", "flatbuffer B", "(estimate)", "TFLM ms")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    rows = []
    for name in names:
        row = bench(name, args.classes, args.invokes)
        rows.append(row)
        print(f"| {name} | {row['params']:,} | {row['macs_per_second'] / 1e6:.1f} M | {row['arena_bytes']:,} | "
              f"{row['flatbuffer_bytes']:,} | {row['flatbuffer_bytes_estimate']:,} | {row['tflm_invoke_ms']} |", flush=True)
    print(per_hop_table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


def per_hop_table(rows: list[dict]) -> str:
    from tinykd.boards import BOARDS

    boards = [b for b in BOARDS.values() if b.cycles_per_mac and not b.emulated and not b.psram_bytes]
    head = ["preset", "front end ops / hop", "TFLM us / hop", "body MACs / window", "TFLM ms / window"]
    head += [f"{b.name} est. ms (hop / window)" for b in boards]
    out = ["", "Per hop (front end) and per window (body); board times are estimates (tinykd/boards.py):",
           "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["preset"], f"{r['frontend_ops_per_hop']:,}" if r["frontend_ops_per_hop"] else "(in the model)",
                 f"{1000 * r['tflm_hop_ms']:.1f}" if r["frontend_ops_per_hop"] else "-",
                 f"{r['body_macs_per_window']:,}", f"{r['tflm_body_ms']:.2f}"]
        for b in boards:
            hop = b.estimate_ms(r["frontend_ops_per_hop"]) if r["frontend_ops_per_hop"] else None
            win = b.estimate_ms(r["body_macs_per_window"])
            cells.append(f"{hop:.2f} / {win:.0f}" if hop is not None else f"- / {win:.0f}")
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


if __name__ == "__main__":
    main()
