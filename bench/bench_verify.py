"""Benchmark: `tinykd verify` against the virtual board on the FSDD test split.

Figures: agreement of the board's answers with the host TFLM interpreter (target 100 %), score parity,
throughput in clips/s, and the limit the baud rate sets (bytes to send per clip x 10 bits per byte).
Run twice: over a bare pseudo-terminal (as fast as the host goes) and with the virtual board charging
10 bit times per byte at the chosen baud rate, as a real UART would.

    .venv/bin/python bench/bench_verify.py [--run RUN] [--data ../shared/data/fsdd] [--baud 921600] [--limit N]

Without --run a stand-in model is built (a small untrained Conv1D, int8 body, 1 s at 8 kHz, FSDD's ten
digits): agreement and throughput do not depend on training; its accuracy is chance level and is
printed only for completeness. Results also go to bench/results/bench_verify.json.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
os.environ.update({"OMP_NUM_THREADS": "1", "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1",
                   "TF_CPP_MIN_LOG_LEVEL": "3"})


def start_sim(run: Path, *args: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "tinykd.cli", "sim", "--run", str(run), "--mode", "verify", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        m = re.search(r"(/dev/pts/\d+)", line or "")
        if m:
            return proc, m.group(1)
        if not line:
            break
    proc.kill()
    raise SystemExit(f"sim did not start: {proc.stderr.read()[-2000:]}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, help="run folder with int8/model_int8.tflite (default: a stand-in model)")
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "fsdd")
    ap.add_argument("--split", default="test")
    ap.add_argument("--baud", type=int, default=921_600)
    ap.add_argument("--limit", type=int, default=None, help="only the first N clips")
    args = ap.parse_args()

    from rich.console import Console
    from rich.table import Table

    from tinykd.configio import save_json
    from tinykd.device.model import load_device_model
    from tinykd.device.verify import VerifyOptions, load_clips, verify_clips

    console = Console()
    tmp = None
    run = args.run
    if run is None:
        sys.path.insert(0, str(REPO / "tests"))
        from device_support import DIGITS, make_int8_run

        tmp = tempfile.TemporaryDirectory(prefix="bench_verify_")
        run = make_int8_run(Path(tmp.name) / "run", list(DIGITS), sample_rate=8000, seconds=1.0)
        console.print("stand-in model: untrained Conv1D (accuracy is chance level; agreement and speed are the figures)")
    model = load_device_model(run)
    clips = load_clips(model, args.data, args.split, args.limit, progress=True)
    console.print(f"model {model.hash}: {model.input_samples} samples at {model.sample_rate} Hz, "
                  f"{len(model.labels)} labels; {len(clips.pcm)} {args.split} clips from {args.data}")

    rows = []
    for name, sim_args in (("pty (no UART limit)", []), (f"UART {args.baud} baud", ["--emulate-baud", str(args.baud)])):
        proc, port = start_sim(run, *sim_args)
        try:
            rep = verify_clips(port, model, clips, VerifyOptions(baud=args.baud, answer_timeout=10.0), progress=True)
        finally:
            proc.terminate()
            proc.wait(10)
        rows.append({"setting": name, "clips": rep.answered, "of": rep.n_clips, "agreement": rep.agreement,
                     "score_parity": rep.score_parity, "max_score_diff": rep.max_score_diff,
                     "board_accuracy": rep.board_accuracy, "host_accuracy": rep.host_accuracy,
                     "clips_per_s": rep.throughput["clips_per_s"], "bytes_per_clip": rep.throughput["bytes_per_clip"],
                     "baud_limit_clips_per_s": rep.throughput["baud_limit_clips_per_s"],
                     "round_trip_ms_p50": rep.latency["round_trip_ms"].get("p50"),
                     "inf_us_mean": rep.latency["inf_us"].get("mean"), "error": rep.error})

    table = Table(title=f"verify against the virtual board ({args.split} split)")
    table.add_column("figure")
    for r in rows:
        table.add_column(r["setting"], justify="right")
    figures = [
        ("clips answered", lambda r: f"{r['clips']}/{r['of']}"),
        ("label agreement with host TFLM", lambda r: f"{r['agreement']:.2%}"),
        ("scores within 1e-6 rounding", lambda r: f"{r['score_parity']:.2%}"),
        ("max |score diff|", lambda r: f"{r['max_score_diff']:.1e}"),
        ("accuracy board / host", lambda r: f"{r['board_accuracy']:.1%} / {r['host_accuracy']:.1%}"),
        ("clips/s", lambda r: f"{r['clips_per_s']:.2f}"),
        (f"baud limit clips/s @ {args.baud}", lambda r: f"{r['baud_limit_clips_per_s']:.2f}"),
        ("bytes per clip frame", lambda r: str(r["bytes_per_clip"])),
        ("round trip p50 ms", lambda r: f"{r['round_trip_ms_p50']:.1f}"),
        ("TFLM invoke mean us (this host)", lambda r: f"{r['inf_us_mean']:.0f}"),
    ]
    for label, fmt in figures:
        table.add_row(label, *[fmt(r) for r in rows])
    console.print(table)
    console.print("limit = baud / 10 bits per byte / bytes per clip frame (upload only; answers travel the other way)")
    out = REPO / "bench" / "results" / "bench_verify.json"
    save_json(out, {"model": str(model.path), "model_hash": model.hash, "data": str(args.data), "split": args.split,
                    "rows": rows})
    console.print(f"results: {out}")
    if tmp:
        tmp.cleanup()
    return 0 if all(r["error"] is None and r["agreement"] == 1.0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
