"""How hard is the built-in synthetic set? Train a small log-mel CNN on it and print test accuracy.

    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_synth_difficulty.py [--classes 8] [--clips-per-class 60]
        [--epochs 40] [--seed 0] [--json OUT]

Generates the set (default size), splits it 75/25 stratified, computes the numpy reference log-mel, and
trains a ~15 K-parameter CNN (3 conv blocks, global average pooling; no augmentation or other tricks) with
Adam. The point: clearly above chance, well below 100 % (docs/data.md quotes the figure). Minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tinykd.configio import save_json  # noqa: E402
from tinykd.data import DataConfig, load_dataset  # noqa: E402
from tinykd.data.synth import SynthConfig, synthesize  # noqa: E402
from tinykd.frontend.numpy_ref import logmel  # noqa: E402


def small_cnn(input_shape, n_classes: int):
    import keras

    L = keras.layers
    return keras.Sequential([
        keras.Input(input_shape),
        L.Conv2D(16, 3, padding="same", use_bias=False), L.BatchNormalization(), L.ReLU(), L.MaxPooling2D((4, 2)),
        L.Conv2D(32, 3, padding="same", use_bias=False), L.BatchNormalization(), L.ReLU(), L.MaxPooling2D((4, 2)),
        L.Conv2D(32, 3, padding="same", use_bias=False), L.BatchNormalization(), L.ReLU(),
        L.GlobalAveragePooling2D(), L.Dropout(0.2), L.Dense(n_classes),
    ])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--classes", type=int, default=8)
    ap.add_argument("--clips-per-class", type=int, default=60)
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    import keras

    with tempfile.TemporaryDirectory() as tmp:
        synthesize(Path(tmp), SynthConfig(n_classes=args.classes, clips_per_class=args.clips_per_class, seed=args.seed))
        ds = load_dataset(tmp, DataConfig(split="random", val_fraction=0, test_fraction=0.25, seed=args.seed))
        tr, te = ds.load_split("train"), ds.load_split("test")
    x_tr, x_te = logmel(tr.x)[..., None], logmel(te.x)[..., None]
    mu, sd = x_tr.mean(), x_tr.std()
    x_tr, x_te = (x_tr - mu) / sd, (x_te - mu) / sd
    keras.utils.set_random_seed(args.seed)
    model = small_cnn(x_tr.shape[1:], len(ds.labels))
    model.compile(keras.optimizers.Adam(2e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    t0 = time.perf_counter()
    hist = model.fit(x_tr, tr.y, validation_data=(x_te, te.y), epochs=args.epochs, batch_size=32, verbose=0)
    res = {
        "classes": len(ds.labels), "train_clips": len(tr), "test_clips": len(te), "params": int(model.count_params()),
        "epochs": args.epochs, "train_acc": round(float(hist.history["accuracy"][-1]), 3),
        "test_acc": round(float(hist.history["val_accuracy"][-1]), 3), "chance": round(1 / len(ds.labels), 3),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    print(f"small CNN ({res['params']} params, {args.epochs} epochs, {res['train_clips']} train clips): "
          f"train {res['train_acc']:.3f}, test {res['test_acc']:.3f} (chance {res['chance']:.3f}) in {res['seconds']} s")
    if args.json:
        save_json(args.json, res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
