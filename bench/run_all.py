"""Run every benchmark and write one results file with the machine it ran on.

    .venv/bin/python bench/run_all.py [--profile quick|full] [--only NAME,...] [--out bench/results/ALL.md]

Each benchmark runs in its own process (as a user would run it), its printed table is kept verbatim, and
`ALL.md` gathers them under one summary table (benchmark, status, wall time, the exact command). `quick`
sizes every benchmark to finish in minutes on 2 cores; `full` uses the sizes the docs quote (an hour or more;
FSDD distillation included). Benchmarks that need ../shared/data/fsdd say so in their output when it is absent.
The file is rewritten after each benchmark, so an interrupted run keeps what finished.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FSDD = Path(os.environ.get("TINYKD_FSDD", REPO.parent / "shared" / "data" / "fsdd"))

# name -> (what it measures, quick args, full args)
BENCHES: dict[str, tuple[str, list[str], list[str]]] = {
    "frontend": ("front end: numpy vs Keras vs TFLM, clips/s and parity",
                 ["--clips", "64"], ["--clips", "256"]),
    "frontend_signal": ("Signal front end: TFLM bytes/arena/us per hop, op counts, twin throughput, FSDD parity",
                        ["--clips", "64"], ["--clips", "250"]),
    "data": ("data: FSDD scan/load, synthetic set generation", [], []),
    "teacher": ("teacher: export throughput, cached vs online distillation epoch",
                ["--max-batches", "4", "--repeats", "1", "--clips-per-class", "20"], ["--data", str(FSDD)]),
    "students": ("students: TFLM arena, flatbuffer, invoke time per preset",
                 ["wav2tiny", "wav2small", "--invokes", "5"], ["--invokes", "20"]),
    "quantize": ("quantize: int8 vs float agreement, sizes, arena, C array vs xxd",
                 ["--presets", "wav2tiny,wav2tiny-paper", "--epochs", "1", "--train-clips", "300", "--max-test-clips", "100"],
                 ["--presets", "wav2tiny,wav2small,wav2tiny-paper,wav2small-paper"]),
    "verify": ("serial verify against the virtual board: agreement, clips/s vs baud limit",
               ["--limit", "40"], []),
    "emulated_board": ("the real firmware on an emulated Cortex-M4F (QEMU): ELF sizes, arena, instructions, verify",
                       ["--presets", "wav2tiny", "--skip-reference", "--stream-seconds", "2"], []),
    "tour": ("the README's tour on FSDD, step by step, wall time per step",
             None, ["--epochs", "3"]),
    "distill": ("distillation on FSDD: accuracy, s/epoch, peak memory",
                None,  # hours: not part of the quick profile
                ["--fsdd", str(FSDD), "--students", "wav2tiny,wav2small", "--alphas", "1"]),
}


def machine() -> str:
    mem = ""
    try:
        with open("/proc/meminfo") as fh:
            kb = int(fh.readline().split()[1])
        mem = f", {kb / 2**20:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    load = ""
    if hasattr(os, "getloadavg"):
        load = f", load average {os.getloadavg()[0]:.1f} at start"
    return (f"{platform.machine()}, {os.cpu_count()} cores{mem}, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}{load}")


def write(out: Path, header: list[str], rows: list[list[str]], sections: list[str]) -> None:
    lines = header + ["| benchmark | measures | status | wall s | command |", "|---|---|---|---|---|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text("\n".join(lines + [""] + sections) + "\n")
    tmp.replace(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", choices=("quick", "full"), default="quick")
    ap.add_argument("--only", default="", help="comma-separated subset of: " + ", ".join(BENCHES))
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "ALL.md")
    args = ap.parse_args()
    only = [n for n in args.only.split(",") if n]
    unknown = sorted(set(only) - set(BENCHES))
    if unknown:
        ap.error(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(BENCHES)}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    header = [f"# tinykd benchmarks ({args.profile} profile)", "",
              f"Run {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M UTC} on {machine()}.",
              f"FSDD: {'present' if (FSDD / 'recordings').is_dir() else 'absent'} ({FSDD}).", ""]
    rows: list[list[str]] = []
    sections: list[str] = []
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONUNBUFFERED="1", COLUMNS="120")
    failed = 0
    for name, (what, quick, full) in BENCHES.items():
        if only and name not in only:
            continue
        extra = quick if args.profile == "quick" else full
        if extra is None:
            rows.append([name, what, "not in this profile", "-", "`--profile full`"])
            write(args.out, header, rows, sections)
            continue
        cmd = [sys.executable, str(REPO / "bench" / f"bench_{name}.py"), *extra]
        shown = " ".join(["python", f"bench/bench_{name}.py", *extra])
        print(f"== {name}: {shown}", flush=True)
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
        secs = time.perf_counter() - t0
        status = "ok" if proc.returncode == 0 else f"failed (exit {proc.returncode})"
        failed += proc.returncode != 0
        output = proc.stdout.strip() if proc.returncode == 0 else (proc.stdout + "\n" + proc.stderr).strip()
        print(output[-4000:], flush=True)
        rows.append([name, what, status, f"{secs:.0f}", f"`{shown}`"])
        sections += [f"## {name}", "", f"`{shown}` — {status}, {secs:.0f} s", "", "```", output[-12000:], "```", ""]
        write(args.out, header, rows, sections)
    print(f"results: {args.out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
