"""Distillation benchmark on FSDD (the dataset's own split, plus a held-out speaker).

Runs `tinykd.distill.distill` for each (student, alpha) and split, then prints one table: test accuracy,
macro F1, seconds per epoch (median) and peak memory (resource.getrusage, whole process). Runs are resumable:
rerunning the same command skips finished run folders and resumes unfinished ones from their checkpoints.

    OMP_NUM_THREADS=1 TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1 \
    .venv/bin/python bench/bench_distill.py --fsdd ../shared/data/fsdd --out /tmp/bench_distill \
        --students wav2tiny --alphas 1 [--cache CACHE --alphas 0,0.5,1] [--heldout-speaker theo]

alpha < 1 needs a teacher cache built on the same data set and split (`--cache`, or `--heldout-cache` for the
held-out-speaker split, whose training set differs).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path


def _floats(text: str) -> list[float]:
    return [float(v) for v in text.split(",") if v.strip()]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fsdd", type=Path, required=True, help="FSDD root (holds recordings/)")
    ap.add_argument("--out", type=Path, required=True, help="folder for the run folders")
    ap.add_argument("--students", default="wav2tiny", help="comma-separated presets (default wav2tiny)")
    ap.add_argument("--alphas", default="1", help="comma-separated alphas (default 1: no teacher)")
    ap.add_argument("--temperature", type=float, default=2.0)
    ap.add_argument("--cache", type=Path, default=None, help="teacher cache for the dataset's own split")
    ap.add_argument("--heldout-speaker", default=None, help="also train without this speaker and test on it")
    ap.add_argument("--heldout-cache", type=Path, default=None, help="teacher cache for the held-out split")
    ap.add_argument("--only-heldout", action="store_true", help="run only the held-out-speaker split")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--patience", type=int, default=8)
    ap.add_argument("--no-augment", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sample-rate", type=int, default=None,
                    help="run the preset's architecture with its front end at this rate (FSDD is recorded at 8000 Hz; "
                    "the presets' 16 kHz doubles the work for no extra signal); writes a preset variant into --out")
    ap.add_argument("--quiet", action="store_true", help="no progress bars")
    args = ap.parse_args(argv)

    from tinykd.data import DataConfig
    from tinykd.distill.config import AugmentConfig, DistillConfig
    from tinykd.distill.run import default_data_config, distill, peak_rss_mb
    from tinykd.errors import TinykdError
    from tinykd.students.config import load_student_config, save_student_config

    splits = [] if args.only_heldout else [("own", "auto", args.cache)]
    if args.heldout_speaker:
        splits.append((f"speaker {args.heldout_speaker}", f"speaker:{args.heldout_speaker}", args.heldout_cache))
    rows = []
    args.out.mkdir(parents=True, exist_ok=True)
    for student in args.students.split(","):
        if args.sample_rate is not None:
            # Same architecture, front end at the data's native rate (fmax follows: sample_rate / 2).
            preset = load_student_config(student)
            variant = dataclasses.replace(preset, name=f"{preset.name}-{args.sample_rate // 1000}k",
                                          frontend={**preset.spec().to_dict(), "sample_rate": args.sample_rate, "fmax": None})
            path = args.out / f"{variant.name}.json"
            save_student_config(path, variant)
            student = str(path)
        spec = load_student_config(student).spec()
        for split_name, split, cache in splits:
            for alpha in _floats(args.alphas):
                if alpha < 1 and cache is None:
                    print(f"skip {student} alpha={alpha:g} on {split_name}: no teacher cache given", file=sys.stderr)
                    continue
                cfg = DistillConfig(student=student, alpha=alpha, temperature=args.temperature, epochs=args.epochs,
                                    batch_size=args.batch_size, lr=args.lr, patience=args.patience, seed=args.seed,
                                    augment=AugmentConfig(enabled=not args.no_augment))
                # With a cache every alpha uses the cache's data settings, so all runs of a split see the same clips.
                data_cfg = default_data_config(cfg, cache) if cache is not None else DataConfig(
                    split=split, sample_rate=spec.sample_rate, seed=args.seed)
                if data_cfg.split != split:
                    print(f"skip {student} on {split_name}: the cache was made for split {data_cfg.split!r}", file=sys.stderr)
                    continue
                tag = split.replace(":", "-")
                run_dir = args.out / f"{Path(student).stem}_{tag}_T{args.temperature:g}_a{alpha:g}"
                t0 = time.perf_counter()
                try:
                    res = distill(args.fsdd, cfg, run_dir, cache=cache, data_config=data_cfg,
                                  resume=run_dir.exists(), show_progress=not args.quiet)
                except TinykdError as exc:
                    print(f"error: {student} alpha={alpha:g} {split_name}: {exc}", file=sys.stderr)
                    continue
                m = res.metrics
                rows.append({
                    "student": Path(student).stem, "split": split_name, "alpha": alpha, "T": args.temperature,
                    "accuracy": m["accuracy"], "macro_f1": m["macro_f1"], "n_test": m["n"],
                    "params": m["training"]["params"], "epochs": m["training"]["epochs_run"],
                    "s_per_epoch": m["training"]["seconds_per_epoch"],
                    "peak_rss_mb_in_run": m["training"]["peak_rss_mb"],
                    "wall_s_this_call": time.perf_counter() - t0, "run": str(run_dir),
                })
                print(json.dumps(rows[-1]), flush=True)

    print()
    print("| student | split | alpha | T | test acc | macro F1 | n | params | epochs | s/epoch | peak RSS MB |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['student']} | {r['split']} | {r['alpha']:g} | {r['T']:g} | {r['accuracy']:.4f} | {r['macro_f1']:.4f} | "
              f"{r['n_test']} | {r['params']:,} | {r['epochs']} | {r['s_per_epoch']:.1f} | {r['peak_rss_mb_in_run']:.0f} |")
    own = {(r["student"], r["split"], r["alpha"]): r["accuracy"] for r in rows}
    for (student, split, alpha), acc in sorted(own.items()):
        base = own.get((student, split, 1.0))
        if alpha < 1 and base is not None:
            verdict = "helped" if acc > base else ("no change" if acc == base else "hurt")
            print(f"teacher at alpha={alpha:g} ({student}, {split}): {acc:.4f} vs {base:.4f} without -> {verdict}")
    print(f"peak RSS of this process: {peak_rss_mb():.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
