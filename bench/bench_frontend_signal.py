"""The Signal front end (TFLM Signal ops, int8 features) next to the float log-mel front end.

    .venv/bin/python bench/bench_frontend_signal.py [--clips N] [--hops N] [--fsdd DIR] [--json OUT]

Per hop (one 30 ms window at a 20 ms hop): flatbuffer bytes, TFLM arena, TFLM invoke time here (the Python
binding's set_input + invoke + get_output), and an operation count (FFT butterflies and real multiplies,
filter-bank MACs, ...), for SIGNAL_SPEC, with noise reduction, with noise reduction and PCAN, and for
micro_speech's own front-end model when the vendored esp-tflite-micro tree is present. The float log-mel
front end runs per clip, so it gets per-clip figures (its converted TFLite model in TFLM) divided by its
frames: tinykd's default spec and the same log-mel at the Signal framing (480/320/512, 40 HTK bands).
Per clip: numpy and Keras throughput of both front ends (batch 32 of 1 s clips). Parity on FSDD (test split,
16 kHz, 1 s) at -12, 0 and +12 dB: TFLM vs numpy twin vs Keras twin, and the int8 level figures behind
SIGNAL_SPEC's log_scale / feature_offset. Uses generated audio when FSDD is absent (and says so).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import re
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tinykd.frontend import signal_numpy as sn  # noqa: E402
from tinykd.frontend.numpy_ref import logmel  # noqa: E402
from tinykd.frontend.signal_graph import build_signal_frontend, signal_op_names, tflm_signal_features  # noqa: E402
from tinykd.frontend.signal_tables import hop_operation_counts  # noqa: E402
from tinykd.frontend.spec import DEFAULT_SPEC, SIGNAL_SPEC, FrontEndSpec  # noqa: E402

VENDOR = Path(os.environ.get("TINYKD_VENDOR", REPO.parent / "shared" / "vendor"))
ARENA = 16 * 1024 * 1024
# The float log-mel at the Signal front end's framing, for a like-for-like comparison.
LOGMEL_AT_SIGNAL_FRAMING = FrontEndSpec(win_length=480, n_fft=512, hop_length=320, n_mels=40, fmin=125.0, fmax=7500.0,
                                        mel_scale="htk", normalize="none")


def micro_speech_model() -> bytes | None:
    path = VENDOR / "esp-tflite-micro-1.4.0-99f49e14.tar.gz"
    if not path.is_file():
        return None
    member = "esp-tflite-micro-1.4.0/examples/micro_speech/main/audio_preprocessor_int8_model_data.h"
    with tarfile.open(path) as tar:
        text = tar.extractfile(member).read().decode()
    body = text[text.index("{", text.index("g_audio_preprocessor_int8_tflite")) : text.index("};")]
    return bytes(int(h, 16) for h in re.findall(r"0x([0-9a-fA-F]{2})", body))


def arena_of(flatbuffer: bytes) -> int:
    from tflite_micro.python.tflite_micro import runtime

    from tinykd.tflite.arena import allocations_report, arena_bytes

    return arena_bytes(allocations_report(runtime.Interpreter.from_bytes(flatbuffer, arena_size=ARENA)))


def tflm_hop_time(flatbuffer: bytes, hops: np.ndarray) -> tuple[float, float]:
    """Seconds per hop in the TFLM interpreter, best of 3 passes over `hops`: (set_input + invoke + get_output,
    invoke alone)."""
    from tflite_micro.python.tflite_micro import runtime

    interp = runtime.Interpreter.from_bytes(flatbuffer, arena_size=ARENA)
    shape = tuple(interp.get_input_details(0)["shape"])
    hops = [h.reshape(shape) for h in hops]
    best = best_invoke = float("inf")
    for _ in range(3):
        invoke = 0.0
        t0 = time.perf_counter()
        for h in hops:
            interp.set_input(h, 0)
            t1 = time.perf_counter()
            interp.invoke()
            invoke += time.perf_counter() - t1
            interp.get_output(0)
        best = min(best, (time.perf_counter() - t0) / len(hops))
        best_invoke = min(best_invoke, invoke / len(hops))
    return best, best_invoke


def logmel_tflm(spec: FrontEndSpec, n_samples: int, clips: np.ndarray) -> dict:
    """The float log-mel front end converted to TFLite (as the students' converter does) and run in TFLM."""
    import keras
    import tensorflow as tf
    from tflite_micro.python.tflite_micro import runtime

    from tinykd.frontend.keras_layer import LogMelFrontEnd

    inp = keras.Input((n_samples,))
    model = keras.Model(inp, LogMelFrontEnd(spec)(inp))
    with tempfile.TemporaryDirectory() as tmp:
        model.export(tmp, "tf_saved_model", verbose=False, input_signature=[tf.TensorSpec([1, n_samples], tf.float32)])
        flatbuffer = tf.lite.TFLiteConverter.from_saved_model(tmp).convert()
    interp = runtime.Interpreter.from_bytes(flatbuffer, arena_size=ARENA)
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for c in clips:
            interp.set_input(c[None, :], 0)
            interp.invoke()
            interp.get_output(0)
        best = min(best, (time.perf_counter() - t0) / len(clips))
    frames = spec.n_frames(n_samples)
    macs = frames * (spec.win_length * 2 * spec.n_bins + 2 * spec.n_bins + spec.n_bins * spec.n_mels)
    return {"bytes": len(flatbuffer), "arena": arena_of(flatbuffer), "s_per_clip": best, "frames": frames,
            "macs_per_frame": macs // frames}


def load_clips(n: int, fsdd: Path) -> tuple[np.ndarray, str]:
    if (fsdd / "recordings").is_dir():
        from tinykd.data import DataConfig, load_dataset

        x = load_dataset(fsdd, DataConfig(sample_rate=16000, val_fraction=0)).load_split("test").x[:n]
        return x, f"FSDD test split ({len(x)} real clips, resampled to 16 kHz, 1 s)"
    rng = np.random.default_rng(0)
    t = np.arange(16000) / 16000
    x = np.stack([0.3 * np.sin(2 * np.pi * (200 + 50 * i) * t) * (np.sin(2 * np.pi * 2 * t) > 0)
                  + 0.01 * rng.standard_normal(16000) for i in range(n)]).astype(np.float32)
    return x, f"generated harmonic bursts ({n} clips; FSDD not found at {fsdd})"


def timed(fn, repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", type=int, default=250)
    ap.add_argument("--hops", type=int, default=500, help="hops timed in TFLM per graph")
    ap.add_argument("--fsdd", type=Path, default=Path(os.environ.get("TINYKD_FSDD", REPO.parent / "shared" / "data" / "fsdd")))
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    import keras
    import tensorflow as tf

    from tinykd.frontend.keras_layer import LogMelFrontEnd
    from tinykd.frontend.signal_keras import SignalFrontEnd

    x, source = load_clips(args.clips, args.fsdd)
    result: dict = {"data": source, "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"}
    print(f"data: {source}; machine: {result['machine']}")
    print(f"SIGNAL_SPEC {SIGNAL_SPEC.to_dict()}")

    # -- per hop -----------------------------------------------------------------------------------------
    hops = sn.pcm_frames(sn.pcm16(x[: max(1, args.hops // SIGNAL_SPEC.n_frames(x.shape[1]) + 1)]), SIGNAL_SPEC)
    hops = hops.reshape(-1, SIGNAL_SPEC.win_length)[: args.hops]
    graphs = {
        "signal (SIGNAL_SPEC)": SIGNAL_SPEC,
        "signal + noise reduction": dataclasses.replace(SIGNAL_SPEC, noise_reduction=True),
        "signal + noise reduction + PCAN": dataclasses.replace(SIGNAL_SPEC, noise_reduction=True, pcan=True),
    }
    rows = []
    for name, spec in graphs.items():
        fb = build_signal_frontend(spec)
        loop, invoke = tflm_hop_time(fb, hops)
        rows.append({"graph": name, "ops": len(signal_op_names(spec)), "bytes": len(fb), "arena": arena_of(fb),
                     "us_per_hop": 1e6 * loop, "us_per_invoke": 1e6 * invoke, "counts": hop_operation_counts(spec)})
    ms = micro_speech_model()
    if ms is not None:
        from tensorflow.lite.python import schema_py_generated as schema

        n_ops = schema.Model.GetRootAsModel(ms, 0).Subgraphs(0).OperatorsLength()
        loop, invoke = tflm_hop_time(ms, hops)
        rows.append({"graph": "micro_speech audio_preprocessor_int8", "ops": n_ops, "bytes": len(ms), "arena": arena_of(ms),
                     "us_per_hop": 1e6 * loop, "us_per_invoke": 1e6 * invoke, "counts": None})
    print(f"\nper hop ({SIGNAL_SPEC.win_length} samples in, {SIGNAL_SPEC.n_mels} int8 out; "
          f"{SIGNAL_SPEC.frame_rate():.0f} hops/s)")
    print(f"{'graph':40s} {'ops':>4s} {'bytes':>7s} {'arena B':>8s} {'us/hop':>7s} {'us/invoke':>10s} {'muls/hop':>9s}")
    for r in rows:
        muls = r["counts"]["total muls"] if r["counts"] else None
        print(f"{r['graph']:40s} {r['ops']:4d} {r['bytes']:7d} {r['arena']:8d} {r['us_per_hop']:7.1f} "
              f"{r['us_per_invoke']:10.1f} {muls if muls is not None else '-':>9}")
    print("(us/hop: set_input + invoke + get_output through the Python binding; us/invoke: invoke alone)")
    print("operation counts per hop (SIGNAL_SPEC): " + ", ".join(f"{k} {v}" for k, v in rows[0]["counts"].items()))
    result["per_hop"] = rows

    m = min(len(x), 32)
    logmel_rows = []
    for name, spec in (("logmel DEFAULT_SPEC (64/32/64, 26 mels)", DEFAULT_SPEC),
                       ("logmel at Signal framing (480/320/512, 40)", LOGMEL_AT_SIGNAL_FRAMING)):
        r = logmel_tflm(spec, x.shape[1], x[:m])
        r["graph"] = name
        logmel_rows.append(r)
    print("\nfloat log-mel front end, converted to TFLite, per 1 s clip in TFLM (float32; runs per clip, not per hop)")
    print(f"{'graph':44s} {'bytes':>7s} {'arena B':>8s} {'ms/clip':>8s} {'frames':>7s} {'us/frame':>9s} {'MACs/frame':>11s}")
    for r in logmel_rows:
        print(f"{r['graph']:44s} {r['bytes']:7d} {r['arena']:8d} {1e3 * r['s_per_clip']:8.2f} {r['frames']:7d} "
              f"{1e6 * r['s_per_clip'] / r['frames']:9.1f} {r['macs_per_frame']:11d}")
    result["logmel_tflm"] = logmel_rows

    # -- per clip: twins ------------------------------------------------------------------------------------
    batch = x[:32] if len(x) >= 32 else np.resize(x, (32, x.shape[1]))
    clip_rows = []
    t = timed(lambda: sn.signal_features(batch, SIGNAL_SPEC))
    clip_rows.append(("signal numpy twin (int64, batch 32)", 1e3 * t, 32 / t))
    t = timed(lambda: logmel(batch))
    clip_rows.append(("logmel numpy reference (float64, batch 32)", 1e3 * t, 32 / t))
    for name, layer in (("signal Keras twin SignalFrontEnd (XLA core)", SignalFrontEnd(SIGNAL_SPEC)),
                        ("logmel Keras LogMelFrontEnd (DEFAULT_SPEC)", LogMelFrontEnd(DEFAULT_SPEC)),
                        ("logmel Keras LogMelFrontEnd (Signal framing)", LogMelFrontEnd(LOGMEL_AT_SIGNAL_FRAMING))):
        fn = tf.function(lambda a, layer=layer: layer(a))
        fn(batch)
        t = timed(lambda fn=fn: fn(batch).numpy(), repeats=10)
        clip_rows.append((name + ", batch 32", 1e3 * t, 32 / t))
    print("\nper clip (1 s), this machine")
    print(f"{'path':52s} {'ms/batch':>9s} {'clips/s':>9s}")
    for name, ms_, rate in clip_rows:
        print(f"{name:52s} {ms_:9.1f} {rate:9.1f}")
    result["per_clip"] = [{"path": r[0], "ms_per_batch32": r[1], "clips_per_s": r[2]} for r in clip_rows]

    # -- parity and levels on FSDD ------------------------------------------------------------------------
    graph = build_signal_frontend(SIGNAL_SPEC)
    layer = SignalFrontEnd(SIGNAL_SPEC)
    print(f"\nparity and int8 levels (SIGNAL_SPEC: log_scale {SIGNAL_SPEC.log_scale}, feature_offset "
          f"{SIGNAL_SPEC.feature_offset}), {len(x)} clips")
    print(f"{'gain':>5s} {'TFLM=numpy':>11s} {'max|d|':>7s} {'Keras=numpy':>12s} {'max code':>9s} {'at -128':>8s} "
          f"{'at 127':>7s} {'clip max p10/p50/p90':>22s}")
    parity_rows = []
    for gain_db in (-12, 0, 12):
        xx = np.clip(x * np.float32(10 ** (gain_db / 20)), -1.0, 1.0)
        twin = sn.signal_features(xx, SIGNAL_SPEC)
        ref = tflm_signal_features(xx, SIGNAL_SPEC, graph)  # hop by hop, reset per clip
        d = np.abs(twin - ref)
        keras_out = np.concatenate([keras.ops.convert_to_numpy(layer(xx[i : i + 32])) for i in range(0, len(xx), 32)])
        kd = np.abs(keras_out - twin)
        clip_max = twin.reshape(len(xx), -1).max(axis=1)
        row = {"gain_db": gain_db, "tflm_equal_share": float((d == 0).mean()), "tflm_max_diff": float(d.max()),
               "keras_equal_share": float((kd == 0).mean()), "max_code": float(twin.max()),
               "share_at_floor": float((twin == -128).mean()), "share_at_top": float((twin == 127).mean()),
               "clip_max_p10_p50_p90": np.percentile(clip_max, [10, 50, 90]).tolist()}
        parity_rows.append(row)
        p = row["clip_max_p10_p50_p90"]
        print(f"{gain_db:+5d} {row['tflm_equal_share']:11.4f} {row['tflm_max_diff']:7.0f} {row['keras_equal_share']:12.4f} "
              f"{row['max_code']:9.0f} {row['share_at_floor']:8.3f} {row['share_at_top']:7.4f} "
              f"{p[0]:8.0f}/{p[1]:.0f}/{p[2]:.0f}")
    result["parity"] = parity_rows
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=float))


if __name__ == "__main__":
    main()
