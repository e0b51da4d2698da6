"""Is the built-in spoken-word set learnable on voices a model has never heard? Generate it, describe it,
train a small log-mel CNN on the training voices and print accuracy on the held-out test voices.

    OMP_NUM_THREADS=2 .venv/bin/python bench/bench_speech_difficulty.py [--words commands|digits|a,b,c]
        [--accents en-us,en,...] [--clips-per-voice 1] [--seed 0] [--epochs 30] [--workers 2] [--sample-rate 16000]
        [--out DIR] [--fsdd ../shared/data/fsdd] [--json OUT]

Steps: `synthesize_speech` into a temporary folder (or --out), timed (clips/s); `load_dataset(DIR,
DataConfig(split="auto"))`, which must report the data set's own speaker-held-out split; class balance,
word durations, peak/RMS levels and SNRs; a softmax regression on log-mel statistics (seconds) and a
~15 K-parameter CNN on the default front end's log-mel (3 conv blocks, global average pooling, Adam, no
augmentation), the epoch chosen on the validation voices, accuracy reported on the test voices. With
`--words digits --fsdd DIR` the CNN is also scored on the real FSDD recordings (resampled to 16 kHz):
how far synthetic words carry to recorded ones. Minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from tinykd.configio import save_json  # noqa: E402
from tinykd.data import DataConfig, load_dataset  # noqa: E402
from tinykd.data.speech import ENGLISH_ACCENTS, MANIFEST, SpeechSynthConfig, synthesize_speech  # noqa: E402
from tinykd.frontend.numpy_ref import logmel  # noqa: E402


def small_cnn(input_shape, n_classes: int):
    """The same network as bench/bench_synth_difficulty.py, so the two data sets can be compared."""
    import keras

    L = keras.layers
    return keras.Sequential([
        keras.Input(input_shape),
        L.Conv2D(16, 3, padding="same", use_bias=False), L.BatchNormalization(), L.ReLU(), L.MaxPooling2D((4, 2)),
        L.Conv2D(32, 3, padding="same", use_bias=False), L.BatchNormalization(), L.ReLU(), L.MaxPooling2D((4, 2)),
        L.Conv2D(32, 3, padding="same", use_bias=False), L.BatchNormalization(), L.ReLU(),
        L.GlobalAveragePooling2D(), L.Dropout(0.2), L.Dense(n_classes),
    ])


def logmel_batched(x: np.ndarray, batch: int = 256) -> np.ndarray:
    """The reference log-mel in batches (its float64 intermediates for thousands of clips would not fit)."""
    return np.concatenate([logmel(x[i : i + batch]) for i in range(0, len(x), batch)])


def features_stats(lm: np.ndarray) -> np.ndarray:
    """Log-mel statistics for the linear baseline: band means over 4 time chunks and band std."""
    parts = [c.mean(axis=1) for c in np.array_split(lm, 4, axis=1)] + [lm.std(axis=1)]
    return np.concatenate(parts, axis=1)


def softmax_regression_accuracy(f_tr, y_tr, f_te, y_te, n_classes: int, l2: float = 1e-2) -> float:
    from scipy.optimize import minimize

    mu, sd = f_tr.mean(axis=0), f_tr.std(axis=0) + 1e-6
    x, xt = (f_tr - mu) / sd, (f_te - mu) / sd
    n, d = x.shape

    def loss(w):
        W = w.reshape(d + 1, n_classes)
        z = x @ W[:-1] + W[-1]
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        value = -np.log(p[np.arange(n), y_tr] + 1e-12).mean() + l2 * (W[:-1] ** 2).sum()
        p[np.arange(n), y_tr] -= 1
        grad = np.vstack([x.T @ p / n + 2 * l2 * W[:-1], p.mean(axis=0)])
        return value, grad.ravel()

    W = minimize(loss, np.zeros((d + 1) * n_classes), jac=True, method="L-BFGS-B", options={"maxiter": 300}).x
    W = W.reshape(d + 1, n_classes)
    return float(((xt @ W[:-1] + W[-1]).argmax(axis=1) == y_te).mean())


def pct(values, qs=(0, 5, 50, 95, 100)) -> str:
    return " / ".join(f"{v:.2f}" for v in np.percentile(np.asarray(values, dtype=np.float64), qs))


def describe(ds, root: Path) -> dict:
    """Class balance per split, word durations, levels and SNRs (measured on the decoded clips and the manifest)."""
    rows = {r["path"]: r for r in csv.DictReader((root / MANIFEST).open(encoding="utf-8"))}
    splits = ("train", "val", "test")
    balance = {label: {s: sum(c.label == label and c.split == s for c in ds.clips) for s in splits} for label in ds.labels}
    clips = [ds.clip_audio(i).astype(np.float64) for i in range(len(ds.clips))]
    peak = np.array([20 * np.log10(np.abs(x).max()) for x in clips])
    rms = np.array([10 * np.log10(np.mean(x**2)) for x in clips])
    man = [rows[Path(c.path).relative_to(root.resolve()).as_posix()] for c in ds.clips]
    word_s = [float(r["word_s"]) for r in man]
    by_word = {label: pct([float(r["word_s"]) for r, c in zip(man, ds.clips) if c.label == label], (5, 50, 95))
               for label in ds.labels}
    voices = {s: len({c.speaker for c in ds.clips if c.split == s}) for s in splits}
    variants = {s: len({r["variant"] for r, c in zip(man, ds.clips) if c.split == s}) for s in splits}
    print(f"\nclass balance (clips per split): {len(ds.labels)} classes")
    print("  " + "  ".join(f"{label}: {b['train']}/{b['val']}/{b['test']}" for label, b in balance.items()))
    print(f"voices per split (train/val/test): {voices['train']}/{voices['val']}/{voices['test']} "
          f"({variants['train']}/{variants['val']}/{variants['test']} variants)")
    print(f"word duration s (min/5%/median/95%/max): {pct(word_s)}; re-spoken faster to fit: "
          f"{sum(r['compressed'] == 'True' for r in man)}")
    print("  per word (5%/median/95%): " + "; ".join(f"{k} {v}" for k, v in by_word.items()))
    print(f"onset s: {pct([float(r['onset_s']) for r in man])}")
    print(f"peak dBFS (decoded): {pct(peak)}; RMS dBFS: {pct(rms)}")
    print(f"SNR dB: {pct([float(r['snr_db']) for r in man])}; babble {sum(r['noise'] == 'babble' for r in man)}, "
          f"reverberant {sum(float(r['rt60_s']) > 0 for r in man)} of {len(man)}")
    print(f"sentence tunes: {dict(Counter(r['tune'] for r in man))}")
    return {"balance": balance, "voices": voices, "variants": variants,
            "word_s": {"min": min(word_s), "median": float(np.median(word_s)), "max": max(word_s)},
            "peak_dbfs": {"min": float(peak.min()), "max": float(peak.max())},
            "rms_dbfs": {"min": float(rms.min()), "median": float(np.median(rms)), "max": float(rms.max())}}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--words", default="commands")
    ap.add_argument("--accents", default=",".join(ENGLISH_ACCENTS))
    ap.add_argument("--clips-per-voice", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--sample-rate", type=int, default=16000,
                    help="generate at this rate (8000: band-limited like FSDD); the loader resamples to 16 kHz")
    ap.add_argument("--out", type=Path, default=None, help="keep the generated set here (default: a temporary folder)")
    ap.add_argument("--fsdd", type=Path, default=None, help="with --words digits: also score on these FSDD recordings")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    cfg = SpeechSynthConfig(words=args.words, accents=tuple(a for a in args.accents.split(",") if a),
                            clips_per_voice=args.clips_per_voice, seed=args.seed, sample_rate=args.sample_rate)
    res: dict = {"config": {"words": args.words, "accents": list(cfg.accents), "clips_per_voice": args.clips_per_voice,
                            "seed": args.seed, "epochs": args.epochs,
                            "sample_rate": args.sample_rate}}
    with tempfile.TemporaryDirectory() as tmp:
        root = args.out or Path(tmp) / "speech"
        t0 = time.perf_counter()
        meta = synthesize_speech(root, cfg, workers=args.workers)
        gen_s = time.perf_counter() - t0
        res["generate"] = {"clips": meta["n_files"], "seconds": round(gen_s, 1), "clips_per_s": round(meta["n_files"] / gen_s, 1),
                           "workers": args.workers}
        print(f"generated {meta['n_files']} clips ({len(meta['voices'])} voices, {len(meta['classes'])} words) in "
              f"{gen_s:.1f} s = {meta['n_files'] / gen_s:.0f} clips/s ({args.workers} workers); espeak {meta['espeak']['version']}")
        t0 = time.perf_counter()
        ds = load_dataset(root, DataConfig(split="auto"))
        print(f"loaded as {ds.format} ({ds.format_reason}) in {time.perf_counter() - t0:.1f} s: split = {ds.split_how}; "
              f"{len(ds.problems)} problems")
        assert ds.split_how == "the dataset's own split" and not ds.problems, (ds.split_how, ds.problems[:3])
        res["describe"] = describe(ds, Path(root))
        tr, va, te = ds.load_split("train"), ds.load_split("val"), ds.load_split("test")

    lm_tr, lm_va, lm_te = logmel_batched(tr.x), logmel_batched(va.x), logmel_batched(te.x)
    n_classes = len(ds.labels)
    t0 = time.perf_counter()
    lin = softmax_regression_accuracy(features_stats(lm_tr), tr.y, features_stats(lm_te), te.y, n_classes)
    print(f"\nlinear log-mel statistics, held-out test voices: {lin:.3f} (chance {1 / n_classes:.3f}) "
          f"[{time.perf_counter() - t0:.0f} s]")
    res["linear_test_acc"] = round(lin, 3)

    import keras

    mu, sd = lm_tr.mean(), lm_tr.std()
    x_tr, x_va, x_te = ((v - mu) / sd for v in (lm_tr[..., None], lm_va[..., None], lm_te[..., None]))
    keras.utils.set_random_seed(args.seed)
    model = small_cnn(x_tr.shape[1:], n_classes)
    model.compile(keras.optimizers.Adam(2e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    best = keras.callbacks.ModelCheckpoint(str(Path(tempfile.gettempdir()) / f"speech_bench_{os.getpid()}.weights.h5"),
                                           monitor="val_accuracy", save_best_only=True, save_weights_only=True)
    t0 = time.perf_counter()
    hist = model.fit(x_tr, tr.y, validation_data=(x_va, va.y), epochs=args.epochs, batch_size=32, verbose=0,
                     callbacks=[best])
    train_s = time.perf_counter() - t0
    model.load_weights(best.filepath)
    os.unlink(best.filepath)
    best_epoch = int(np.argmax(hist.history["val_accuracy"])) + 1
    pred = model.predict(x_te, verbose=0).argmax(axis=1)
    test_acc = float((pred == te.y).mean())
    by_accent = {}
    for spk, p, y in zip(te.speakers, pred, te.y):
        by_accent.setdefault(spk.split("+")[0], []).append(p == y)
    by_variant = {}
    for spk, p, y in zip(te.speakers, pred, te.y):
        by_variant.setdefault(spk.split("+", 1)[1], []).append(p == y)
    conf = Counter((ds.labels[y], ds.labels[p]) for p, y in zip(pred, te.y) if p != y)
    res["cnn"] = {"params": int(model.count_params()), "epochs": args.epochs, "best_epoch": best_epoch,
                  "train_acc": round(float(hist.history["accuracy"][best_epoch - 1]), 3),
                  "val_acc": round(float(hist.history["val_accuracy"][best_epoch - 1]), 3),
                  "test_acc": round(test_acc, 3), "chance": round(1 / n_classes, 3), "train_seconds": round(train_s, 1),
                  "test_acc_by_accent": {k: round(float(np.mean(v)), 3) for k, v in sorted(by_accent.items())},
                  "test_acc_by_variant": {k: round(float(np.mean(v)), 3) for k, v in sorted(by_variant.items())},
                  "top_confusions": [f"{a}->{b}: {n}" for (a, b), n in conf.most_common(6)]}
    c = res["cnn"]
    print(f"small CNN ({c['params']} params, best of {args.epochs} epochs on the val voices: epoch {best_epoch}, "
          f"{len(tr)} train clips): train {c['train_acc']:.3f}, val voices {c['val_acc']:.3f}, "
          f"held-out test voices {c['test_acc']:.3f} (chance {c['chance']:.3f}) in {train_s:.0f} s")
    print("  test accuracy by accent: " + ", ".join(f"{k} {v:.2f}" for k, v in c["test_acc_by_accent"].items()))
    print("  test accuracy by variant: " + ", ".join(f"{k} {v:.2f}" for k, v in c["test_acc_by_variant"].items()))
    print("  top confusions (true->predicted): " + ", ".join(c["top_confusions"]))

    if args.fsdd is not None:
        if ds.labels != [str(i) for i in range(10)]:
            print("--fsdd needs --words digits; skipped")
        else:
            real = load_dataset(args.fsdd, DataConfig(format="fsdd", split="auto", val_fraction=0, labels=tuple(ds.labels)))
            xs = [real.load_split(s) for s in ("train", "test")]
            x_real = np.concatenate([s.x for s in xs])
            y_real = np.concatenate([s.y for s in xs])
            p_real = model.predict((logmel_batched(x_real)[..., None] - mu) / sd, verbose=0).argmax(axis=1)
            acc_real = float((p_real == y_real).mean())
            by_spk = {}
            for spk, p, y in zip([s for part in xs for s in part.speakers], p_real, y_real):
                by_spk.setdefault(spk, []).append(p == y)
            res["fsdd"] = {"clips": int(len(y_real)), "acc": round(acc_real, 3),
                           "acc_by_speaker": {k: round(float(np.mean(v)), 3) for k, v in sorted(by_spk.items())}}
            print(f"the same CNN on real FSDD recordings ({len(y_real)} clips, 8 kHz resampled to 16 kHz): {acc_real:.3f} "
                  f"(by speaker: " + ", ".join(f"{k} {v:.2f}" for k, v in res["fsdd"]["acc_by_speaker"].items()) + ")")
    if args.json:
        save_json(args.json, res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
