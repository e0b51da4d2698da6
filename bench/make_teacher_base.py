"""Make the teacher base tinykd ships (models/teacher-base), the way it was made (tinykd.teacher.base).

    .venv/bin/python bench/make_teacher_base.py [--corpus /tmp/base-corpus] [--out models/teacher-base] \
        [--epochs 12] [--threads 0] [--force]

Synthesizes the corpus (70 words other than the demo's commands, every espeak-ng voice in 8 accents, seed 0:
47 040 one-second clips, about 1.5 GB of WAV; kept and reused when complete), trains the tiny Wav2Vec2 on its
training voice families and writes the model files and base.json to --out. The corpus is not in the repository
(make it again with this script). Prints the record's figures.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tinykd.errors import TinykdError
from tinykd.teacher.base import BaseConfig, build_base


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpus", type=Path, default=Path("/tmp/tinykd-base-corpus"), help="corpus folder (made when absent)")
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "models" / "teacher-base")
    defaults = BaseConfig()
    p.add_argument("--epochs", type=int, default=defaults.epochs)
    p.add_argument("--batch-size", type=int, default=defaults.batch_size)
    p.add_argument("--lr", type=float, default=defaults.lr)
    p.add_argument("--threads", type=int, default=defaults.threads)
    p.add_argument("--force", action="store_true", help="replace a teacher base at --out")
    args = p.parse_args(argv)
    cfg = BaseConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, threads=args.threads)
    try:
        record = build_base(args.corpus, args.out, cfg, force=args.force)
    except TinykdError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    counts = record["corpus"]["counts"]
    print(f"base: {args.out}")
    print(f"corpus: {record['corpus']['n_files']} clips ({counts}), {len(record['words'])} words, "
          f"synthesis {record['seconds']['synthesis']:.0f} s")
    print(f"training: {record['seconds']['training'] / 60:.1f} min, best epoch {record['best_epoch']}, "
          f"val {100 * record['val_accuracy']:.1f} %, test (held-out voice families) {100 * record['test_accuracy']:.1f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
