"""Student presets in the real TFLM interpreter: measured arena, flatbuffer size and invoke time, next to
the analytic figures `tinykd models` prints (parameters, MACs, estimated flatbuffer).

    .venv/bin/python bench/bench_students.py [PRESET ...] [--classes N] [--invokes N] [--json OUT]

Weights are untrained (arena and size depend only on shapes; time barely on values). Each preset is
converted as its `frontend_int8` hint says (see docs/students.md). Invoke time is the TFLM reference kernels
on this desktop CPU, a relative figure only: a microcontroller is 1-2 orders of magnitude slower.
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
from tinykd.students.tflm_arena import convert_int8, example_clips, invoke_float, measure_arena  # noqa: E402


def bench(name: str, n_classes: int, invokes: int) -> dict:
    from tflite_micro import runtime

    cfg = load_student_config(name)
    samples = cfg.clip_samples()
    clips = example_clips(8, samples, cfg.spec().sample_rate)
    t0 = time.perf_counter()
    flatbuffer = convert_int8(build_student(cfg, n_classes, samples), clips, cfg.frontend_int8)
    convert_s = time.perf_counter() - t0
    report = measure_arena(flatbuffer, clips[0])
    interp = runtime.Interpreter.from_bytes(flatbuffer, arena_size=report.arena_bytes + 1024)
    invoke_float(interp, clips[0])  # sets the input; warm-up
    t0 = time.perf_counter()
    for _ in range(invokes):
        interp.invoke()
    invoke_ms = (time.perf_counter() - t0) / invokes * 1e3
    info = describe(name, n_classes=n_classes)
    return {
        "preset": name,
        "params": info["params"],
        "macs_per_second": info["macs_per_second"]["total"],
        "arena_bytes": report.arena_bytes,
        "flatbuffer_bytes": report.flatbuffer_bytes,
        "flatbuffer_bytes_estimate": info["flatbuffer_bytes_estimate"],
        "peak_activation_bytes_estimate": max(info["peak_activation_bytes"], info["frontend_peak_bytes"]),
        "frontend_int8": cfg.frontend_int8,
        "tflm_invoke_ms": round(invoke_ms, 2),
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
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
