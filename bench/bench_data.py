"""Data throughput: scanning/decoding/resampling a real data set, and generating the built-in synthetic set.

    .venv/bin/python bench/bench_data.py [--fsdd DIR] [--classes 8] [--clips-per-class 60] [--json OUT]

Prints, for this machine: FSDD scan (decode + validate + hash, no audio kept), full load (plus resampling
8 -> 16 kHz and padding, kept in memory), and `load_split` time; then `tinykd data synth` generation time for
the default size and the load time of the result. FSDD parts are skipped when the folder is absent.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tinykd.configio import save_json  # noqa: E402
from tinykd.data import DataConfig, load_dataset  # noqa: E402
from tinykd.data.synth import SynthConfig, synthesize  # noqa: E402


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fsdd", type=Path, default=Path(os.environ.get("TINYKD_FSDD", REPO.parent / "shared" / "data" / "fsdd")))
    ap.add_argument("--classes", type=int, default=8)
    ap.add_argument("--clips-per-class", type=int, default=60)
    ap.add_argument("--json", type=Path, default=None, help="also write the figures as JSON here")
    args = ap.parse_args()
    res: dict = {"machine": platform.processor() or platform.machine(), "cpus": os.cpu_count()}

    if (args.fsdd / "recordings").is_dir():
        ds, t_scan = timed(lambda: load_dataset(args.fsdd, DataConfig(), keep_audio=False))
        n = len(ds.clips)
        ds, t_load = timed(lambda: load_dataset(args.fsdd, DataConfig()))
        _, t_split = timed(lambda: [ds.load_split(s) for s in ("train", "val", "test")])
        res["fsdd"] = {"clips": n, "scan_s": round(t_scan, 2), "load_s": round(t_load, 2), "load_split_all_s": round(t_split, 3),
                       "scan_clips_per_s": round(n / t_scan), "load_clips_per_s": round(n / t_load)}
        print(f"FSDD {n} clips: scan (decode+check+hash) {t_scan:.2f} s ({n / t_scan:.0f} clips/s); "
              f"load with 8->16 kHz resampling {t_load:.2f} s ({n / t_load:.0f} clips/s); all splits as arrays {t_split:.3f} s")
    else:
        print(f"FSDD not found at {args.fsdd}: skipped")

    with tempfile.TemporaryDirectory() as tmp:
        cfg = SynthConfig(n_classes=args.classes, clips_per_class=args.clips_per_class)
        meta, t_synth = timed(lambda: synthesize(Path(tmp) / "synth", cfg))
        ds, t_load = timed(lambda: load_dataset(Path(tmp) / "synth", DataConfig()))
        n = meta["n_files"]
        res["synth"] = {"clips": n, "generate_s": round(t_synth, 2), "clips_per_s": round(n / t_synth), "load_s": round(t_load, 2)}
        print(f"synth {n} clips ({args.classes} classes x {args.clips_per_class}): generate {t_synth:.2f} s "
              f"({n / t_synth:.0f} clips/s), load {t_load:.2f} s")
    if args.json:
        save_json(args.json, res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
