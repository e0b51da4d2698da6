"""Convert a student to int8 TFLite and measure the arena the real TFLM interpreter allocates.

This is the students' own check (does a preset fit its arena budget, do all layers become TFLM ops, does
batch norm fold); the production quantizer with its reports is tinykd.quantize. The conversion follows the
path Keras 3 needs: `model.export(dir, "tf_saved_model")` then `TFLiteConverter.from_saved_model`, calibrated
on a representative set, then quantized with some ops kept float:

- `frontend_int8=False`: every op of the front end stays float (input float32), the body is int8;
- `frontend_int8=True`: the input (int8), the per-utterance normalisation and the DFT convolution are int8;
  from the power spectrum on (MUL, mel matmul, MAXIMUM, LOG, dB scale) the front end stays float, and the
  body is int8. An int8 power spectrum is useless: squaring maps everything but the loudest bins to zero
  (measured: log-mel errors of ~90 dB on FSDD speech), and TFLM has no int8 LOG.

The arena is read from TFLM's `print_allocations()` report by `tinykd.tflite.arena`.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass

import numpy as np

from tinykd.errors import TinykdError
from tinykd.tflite.arena import allocations_report, arena_bytes
from tinykd.tflite.graph import read_graph
from tinykd.tflite.io import TensorQuant, dequantize, quantize
from tinykd.tflite.run import tflm_interpreter

# Ops the TFLM interpreter registers in its AllOpsResolver that a student may use.
TFLM_OPS = frozenset(
    {
        "ADD", "BATCH_MATMUL", "CONCATENATION", "CONV_2D", "DEPTHWISE_CONV_2D", "DEQUANTIZE", "EXPAND_DIMS",
        "FULLY_CONNECTED", "LOG", "MAXIMUM", "MAX_POOL_2D", "MEAN", "MUL", "QUANTIZE", "RELU", "RESHAPE",
        "RSQRT", "SHAPE", "SOFTMAX", "SQUARED_DIFFERENCE", "STRIDED_SLICE", "SUB", "SUM", "TRANSPOSE",
        "PACK", "SQUEEZE", "GATHER",
    }
)


@dataclass(frozen=True)
class ArenaReport:
    arena_bytes: int  # "Arena allocation total" from TFLM's RecordingMicroAllocator
    flatbuffer_bytes: int
    ops: tuple[str, ...]  # distinct builtin op names in the converted model, sorted
    allocations: str  # the full print_allocations() text


def convert_int8(model, representative: np.ndarray, frontend_int8: bool, keep_names: bool = False) -> bytes:
    """Keras student -> int8 TFLite flatbuffer (see the module docstring for what stays float); without tensor
    names, as the quantizer ships it, unless `keep_names` (to inspect which layers became which ops)."""
    import tensorflow as tf
    from tensorflow.lite.python import convert as tfl_convert

    from tinykd.tflite.compress import store_float_weights
    from tinykd.tflite.convert import strip_names

    rep = np.asarray(representative, dtype=np.float32)
    if rep.ndim != 2 or rep.shape[0] < 1:
        raise TinykdError(f"representative set must be [n_clips, samples], got shape {rep.shape}")

    def samples():
        for row in rep:
            yield [row[None, :]]

    with tempfile.TemporaryDirectory(prefix="tinykd_export_") as tmp:
        # A fixed batch of one: TFLM needs static shapes (a dynamic batch leaves RESHAPEs it cannot prepare).
        signature = [tf.TensorSpec((1, rep.shape[1]), tf.float32, name="waveform")]
        model.export(tmp, "tf_saved_model", verbose=False, input_signature=signature)
        converter = tf.lite.TFLiteConverter.from_saved_model(tmp)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = samples
        converter._experimental_calibrate_only = True  # quantize below, with the float ops chosen here
        calibrated = converter.convert()
    quantized = tfl_convert.mlir_quantize(
        calibrated,
        fully_quantize=True,
        input_data_type=tf.int8 if frontend_int8 else tf.float32,
        output_data_type=tf.float32,
        denylisted_nodes=_float_frontend_nodes(calibrated, after_dft=frontend_int8),
    )
    # Measure what the quantizer ships: front-end matrices stored as --frontend-weights auto decides, no names.
    quantized, _, _ = store_float_weights(quantized, "auto")
    return quantized if keep_names else strip_names(quantized)


def _float_frontend_nodes(flatbuffer: bytes, after_dft: bool) -> list[str]:
    """Output tensor names of the front-end ops (layer `frontend`) that stay float: all of them, or only
    those after the DFT convolution (power spectrum, mel bank, floor, log, dB scale)."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_content=flatbuffer)
    names = {d["index"]: d["name"] for d in interp.get_tensor_details()}
    chosen, seen_dft = [], not after_dft
    for op in interp._get_ops_details():  # in execution order
        outputs = [names[i] for i in op["outputs"]]
        if not any("frontend" in name.split(";")[0] for name in outputs):
            continue
        if seen_dft:
            chosen.extend(outputs)
        seen_dft = seen_dft or op["op_name"] == "CONV_2D"
    return chosen


def op_names(flatbuffer: bytes) -> tuple[str, ...]:
    """Distinct op names in a flatbuffer."""
    return tuple(sorted(set(read_graph(flatbuffer).op_names())))


def measure_arena(flatbuffer: bytes, example: np.ndarray | None = None) -> ArenaReport:
    """Load `flatbuffer` in the TFLM interpreter, invoke it once, and read back its arena allocation."""
    interp = tflm_interpreter(flatbuffer)
    if example is not None:
        invoke_float(interp, example)
    text = allocations_report(interp)
    return ArenaReport(arena_bytes(text), len(flatbuffer), op_names(flatbuffer), text)


def invoke_float(interp, x: np.ndarray) -> np.ndarray:
    """Run a TFLM interpreter on float input `x` (one example) with the firmware's int8 input/output rule."""
    detail = interp.get_input_details(0)
    interp.set_input(quantize(np.asarray(x, dtype=np.float32).reshape(detail["shape"]), TensorQuant.of(detail)), 0)
    interp.invoke()
    return dequantize(interp.get_output(0), TensorQuant.of(interp.get_output_details(0)))


def example_clips(n: int, samples: int, sample_rate: int, seed: int = 0) -> np.ndarray:
    """Speech-like calibration clips (harmonic tones under a syllable envelope, plus noise), float32 [n, samples].

    The arena depends only on tensor shapes, so these serve any arena measurement; a real quantization
    calibrates on real clips (tinykd.quantize).
    """
    rng = np.random.default_rng(seed)
    t = np.arange(samples) / sample_rate
    clips = np.empty((n, samples), dtype=np.float32)
    for i in range(n):
        f0 = rng.uniform(90, 250)
        tone = sum(np.sin(2 * np.pi * f0 * h * t + rng.uniform(0, 2 * np.pi)) / h for h in range(1, 8))
        envelope = np.clip(np.sin(2 * np.pi * rng.uniform(2, 5) * t + rng.uniform(0, np.pi)), 0, None)
        clips[i] = (rng.uniform(0.05, 0.5) * envelope * tone + 0.01 * rng.standard_normal(samples)).astype(np.float32)
    return clips


def measure_preset(preset, n_classes: int = 10, clip_seconds: float | None = None, n_calibration: int = 8) -> ArenaReport:
    """Build a preset (untrained weights: the arena depends only on shapes), convert it as its
    `frontend_int8` hint says, and measure it in TFLM."""
    from tinykd.students.build import build_student
    from tinykd.students.config import load_student_config

    config = load_student_config(preset)
    samples = config.clip_samples(clip_seconds)
    model = build_student(config, n_classes, samples)
    clips = example_clips(n_calibration, samples, config.spec().sample_rate)
    return measure_arena(convert_int8(model, clips, config.frontend_int8), clips[0])
