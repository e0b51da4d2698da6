"""How much accuracy a trained student keeps in the TFLM interpreter under each front-end precision split.

    .venv/bin/python bench/bench_students_int8.py RUN [RUN ...] [--data ../shared/data/fsdd] [--calibration 100]

RUN is a run folder from `tinykd distill` (model.keras). On the data set's test split it prints accuracy for:
the Keras float model; TFLM with the front end float and the body int8 (tinykd.students.tflm_arena,
frontend_int8=False); TFLM with int8 input/normalisation/DFT and a float power spectrum onwards (the split the
64k presets budget for, frontend_int8=True); and TFLM with everything int8 but MAXIMUM and LOG. Calibration
uses `--calibration` random training clips. Each line also gives the measured TFLM arena.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import tinykd.students  # noqa: E402,F401  (registers the custom layers for load_model)
from tinykd.data import DataConfig, load_dataset  # noqa: E402
from tinykd.students.tflm_arena import convert_int8, invoke_float, measure_arena  # noqa: E402


def int8_but_max_log(model, rep: np.ndarray) -> bytes:
    """Everything int8 except MAXIMUM and LOG (the split that squares the spectrum in int8)."""
    import tensorflow as tf
    from tensorflow.lite.python import convert as tfl_convert

    with tempfile.TemporaryDirectory() as tmp:
        model.export(tmp, "tf_saved_model", verbose=False,
                     input_signature=[tf.TensorSpec((1, rep.shape[1]), tf.float32)])
        converter = tf.lite.TFLiteConverter.from_saved_model(tmp)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([row[None]] for row in rep)
        converter._experimental_calibrate_only = True
        calibrated = converter.convert()
    return tfl_convert.mlir_quantize(calibrated, fully_quantize=True, input_data_type=tf.int8,
                                     output_data_type=tf.float32, denylisted_ops=["MAXIMUM", "LOG"])


def tflm_accuracy(flatbuffer: bytes, x: np.ndarray, y: np.ndarray) -> float:
    from tflite_micro import runtime

    interp = runtime.Interpreter.from_bytes(flatbuffer, arena_size=1 << 22)
    return float(np.mean([invoke_float(interp, clip).argmax() == label for clip, label in zip(x, y)]))


def main() -> None:
    import keras

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "fsdd")
    parser.add_argument("--calibration", type=int, default=100)
    args = parser.parse_args()
    print("| run | Keras float | TFLM: float front end | TFLM: int8 to DFT | TFLM: int8 but MAXIMUM/LOG |")
    print("|---|---|---|---|---|")
    for run in args.runs:
        model = keras.models.load_model(run / "model.keras")
        samples = int(model.inputs[0].shape[-1])
        rate = model.get_layer("frontend").spec.sample_rate
        ds = load_dataset(args.data, DataConfig(sample_rate=rate, clip_seconds=samples / rate))
        train, test = ds.load_split("train"), ds.load_split("test")
        rng = np.random.default_rng(0)
        rep = train.x[rng.choice(len(train.x), min(args.calibration, len(train.x)), replace=False)]
        cells = [f"{np.mean(model.predict(test.x, verbose=0).argmax(1) == test.y):.3f}"]
        for flatbuffer in (convert_int8(model, rep, False), convert_int8(model, rep, True), int8_but_max_log(model, rep)):
            arena = measure_arena(flatbuffer, rep[0]).arena_bytes
            cells.append(f"{tflm_accuracy(flatbuffer, test.x, test.y):.3f} ({arena:,} B)")
        print(f"| {run.name} (n = {len(test.y)}) | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
