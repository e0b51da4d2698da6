"""Front-end throughput: numpy reference vs Keras layer vs the TFLM-converted layer, side by side.

    .venv/bin/python bench/bench_frontend.py [--clips N] [--fsdd DIR] [--json OUT]

Uses real FSDD speech when ../shared/data/fsdd exists (resampled to 16 kHz, 1 s clips), else generated audio.
Prints clips/s for each path on this machine and the max parity error against the numpy reference.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tinykd.frontend.numpy_ref import logmel  # noqa: E402
from tinykd.frontend.spec import DEFAULT_SPEC  # noqa: E402
from tinykd.tflite.run import HOST_ARENA_BYTES  # noqa: E402


def load_clips(n: int, fsdd: Path) -> tuple[np.ndarray, str]:
    files = sorted(glob.glob(str(fsdd / "recordings" / "*.wav")))[:n]
    if files:
        import scipy.signal
        import soundfile as sf

        out = np.zeros((len(files), DEFAULT_SPEC.sample_rate), np.float32)
        for i, f in enumerate(files):
            audio, sr = sf.read(f, dtype="float32")
            audio = scipy.signal.resample_poly(audio, DEFAULT_SPEC.sample_rate, sr)[: out.shape[1]]
            start = (out.shape[1] - len(audio)) // 2
            out[i, start : start + len(audio)] = audio
        return out, f"FSDD ({len(files)} real clips)"
    rng = np.random.default_rng(0)
    return rng.standard_normal((n, DEFAULT_SPEC.sample_rate)).astype(np.float32), f"generated noise ({n} clips)"


def timed(fn, repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", type=int, default=256)
    ap.add_argument("--fsdd", type=Path, default=REPO.parent / "shared" / "data" / "fsdd")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    import keras
    import tensorflow as tf
    from tflite_micro.python.tflite_micro import runtime

    from tinykd.frontend.keras_layer import LogMelFrontEnd

    x, source = load_clips(args.clips, args.fsdd)
    n = len(x)
    ref = logmel(x)
    rows = []

    t = timed(lambda: logmel(x))
    rows.append(("numpy reference (float64, batch)", n / t, 0.0))

    inp = keras.Input((x.shape[1],))
    model = keras.Model(inp, LogMelFrontEnd(DEFAULT_SPEC)(inp))
    model.predict(x[:64], batch_size=64, verbose=0)  # trace once
    out = model.predict(x, batch_size=64, verbose=0)
    t = timed(lambda: model.predict(x, batch_size=64, verbose=0))
    rows.append(("Keras layer (TF graph, batch 64)", n / t, float(np.abs(out - ref).max())))

    with tempfile.TemporaryDirectory() as tmp:
        model.export(tmp, "tf_saved_model", verbose=False,
                     input_signature=[tf.TensorSpec([1, x.shape[1]], tf.float32)])
        flatbuffer = tf.lite.TFLiteConverter.from_saved_model(tmp).convert()
    tflm = runtime.Interpreter.from_bytes(flatbuffer, arena_size=HOST_ARENA_BYTES)
    m = min(n, 64)
    errs = []

    def run_tflm():
        for clip, r in zip(x[:m], ref[:m]):
            tflm.set_input(clip[None, :], 0)
            tflm.invoke()
            errs.append(float(np.abs(tflm.get_output(0)[0] - r).max()))

    t = timed(run_tflm, repeats=1)
    rows.append(("TFLM interpreter (float32, batch 1)", m / t, max(errs)))

    print(f"front end {DEFAULT_SPEC.to_dict()}")
    print(f"data: {source}; machine: {platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}")
    print(f"{'path':40s} {'clips/s':>10s} {'max |dB - numpy|':>18s}")
    for name, rate, err in rows:
        print(f"{name:40s} {rate:10.1f} {err:18.5f}")
    if args.json:
        args.json.write_text(json.dumps([{"path": r[0], "clips_per_s": r[1], "max_db_err": r[2]} for r in rows], indent=2))


if __name__ == "__main__":
    main()
