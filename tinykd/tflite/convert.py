"""Keras student -> int8 TFLite flatbuffer whose front end stays where TFLM can run it.

Path (Keras 3): `model.export(dir, "tf_saved_model")` with a fixed batch of 1 (a dynamic batch leaves
-1 reshapes that TFLM mis-sizes, and shape-computing ops), `TFLiteConverter.from_saved_model`, calibration
only (`_experimental_calibrate_only`), then the converter's MLIR quantizer with a deny list (the same
mechanism as `tf.lite.experimental.QuantizationDebugger`'s selective quantization):

- frontend "float": every op of the LogMelFrontEnd layer stays float32 (input float32 waveform); the first
  body op is preceded by QUANTIZE. TFLM has no int8 LOG, and the power spectrum spans ~14 decades, far more
  than int8 can hold, so this is the accurate default.
- frontend "int8": the whole model is int8 (input int8 waveform) except the front end's MAXIMUM and LOG
  (float only in TFLM; the 1e-10 log floor would round to 0 in int8). Smaller arena, lower accuracy; the
  students' 64 KB presets set it (`frontend_int8` in models/*.json).

Weights are int8 per channel for convolutions. The model's input and output types follow the front end
(the MLIR quantizer makes both float32 or both int8; it ignores separate input/output types): "float" gives
a float32 waveform in and float32 class scores (logits) out; "int8" gives an int8 waveform in (saves 3/4 of
the input tensor in the arena) and int8 logits out, each with its scale and zero point.
"""

from __future__ import annotations

import re
import tempfile
from typing import Iterable, Sequence

import numpy as np

from tinykd.errors import TinykdError
from tinykd.tflite.graph import read_graph
from tinykd.tflite.quiet import quiet_c_output

FRONTEND_MODES = ("float", "int8")
FLOAT_ONLY_FRONTEND_OPS = ("MAXIMUM", "LOG")


def frontend_layer_name(model) -> str:
    """Name of the LogMelFrontEnd layer of a waveform-in student."""
    from tinykd.frontend.keras_layer import LogMelFrontEnd

    names = [layer.name for layer in model.layers if isinstance(layer, LogMelFrontEnd)]
    if len(names) != 1:
        raise TinykdError(
            f"model {model.name!r} has {len(names)} LogMelFrontEnd layers; tinykd quantizes waveform-in students "
            "with exactly one front end"
        )
    return names[0]


def _belongs_to(tensor_name: str, layer: str) -> bool:
    # Converted names look like "<model>_1/<layer>_1/Log"; fused ops join several names with ';'.
    pattern = re.compile(rf"(^|/){re.escape(layer)}(_\d+)?/")
    return any(pattern.search(part) for part in tensor_name.split(";"))


def calibrate(model, representative: np.ndarray) -> bytes:
    """Export `model` with batch 1 and return the calibrated float flatbuffer (min/max recorded)."""
    import keras
    import tensorflow as tf

    rep = np.asarray(representative, dtype=np.float32)
    n_samples = int(model.inputs[0].shape[-1])
    if rep.ndim != 2 or rep.shape[1] != n_samples:
        raise TinykdError(f"representative set must be [clips, {n_samples}] samples, got shape {rep.shape}")
    if rep.shape[0] == 0:
        raise TinykdError("representative set is empty; give --data with training clips")

    def samples() -> Iterable[list[np.ndarray]]:
        for row in rep:
            yield [row[None, :]]

    with tempfile.TemporaryDirectory(prefix="tinykd_export_") as tmp:
        model.export(tmp, "tf_saved_model", verbose=False,
                     input_signature=[keras.InputSpec(shape=(1, n_samples), dtype="float32")])
        converter = tf.lite.TFLiteConverter.from_saved_model(tmp)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = samples
        converter.experimental_mlir_quantizer = True
        converter._experimental_calibrate_only = True  # quantized below, with the chosen ops left float
        try:
            with quiet_c_output():
                return converter.convert()
        except Exception as exc:  # the converter raises ConverterError and others with long messages
            raise TinykdError(f"TFLite converter failed on model {model.name!r}: {_converter_reason(exc)}") from None


def _converter_reason(exc: Exception) -> str:
    """The useful part of a converter error: which TensorFlow ops have no TFLite builtin, else its first line."""
    text = str(exc)
    m = re.search(r"TF Select ops: ([^\n]+)", text)
    if m:
        return f"op(s) {m.group(1).strip()} have no TFLite builtin kernel (so none in TFLite Micro either); replace that layer"
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[0][:300] if lines else type(exc).__name__


# Pooling layers of the students' heads (tinykd.students.layers), kept float with `float_head`.
HEAD_POOL_LAYERS = ("SoftmaxTimePool", "GramConcat", "TimeMean")


def head_layer_names(model) -> list[str]:
    """Names of the pooling-head layers of a student (attention pool and Gram matrix, or mean over time)."""
    return [layer.name for layer in model.layers if type(layer).__name__ in HEAD_POOL_LAYERS]


def float_nodes(calibrated: bytes, frontend_layer: str, frontend: str, head_layers: Sequence[str] = ()) -> list[str]:
    """Output tensor names of the ops to keep float (the quantizer's `denylisted_nodes`): the front end's (all
    of them, or MAXIMUM and LOG), and with `head_layers` those layers' ops plus the op that makes the model's
    output (the classifier; its tensor carries the signature's name, not the layer's)."""
    graph = read_graph(calibrated)
    nodes = []
    for op in graph.ops:
        name = graph.tensors[op.outputs[0]].name
        if head_layers and (any(_belongs_to(name, layer) for layer in head_layers) or op.outputs[0] in graph.outputs):
            nodes.extend(graph.tensors[i].name for i in op.outputs)
            continue
        if not _belongs_to(name, frontend_layer):
            continue
        if frontend == "float" or op.name in FLOAT_ONLY_FRONTEND_OPS:
            nodes.extend(graph.tensors[i].name for i in op.outputs)
    if not nodes:
        raise TinykdError(f"found no ops of the front-end layer {frontend_layer!r} in the converted model")
    return sorted(set(nodes))


def strip_names(flatbuffer: bytes) -> bytes:
    """The same model without tensor names, signature definitions or description (TensorFlow's own
    `flatbuffer_utils.strip_strings`): TFLM never reads them, and on a ~15 K-parameter student they are a
    few KB of flash. Tensor and op indices are unchanged, so a graph read from the named model describes it."""
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(flatbuffer))
    flatbuffer_utils.strip_strings(model)
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def quantize_int8(model, representative: np.ndarray, frontend: str = "float", float_head: bool = False) -> bytes:
    """The int8 flatbuffer (see the module docstring for what stays float). `float_head` also keeps the
    pooling head and the classifier float: int8 softmax weights over ~100 frames are a few LSBs each, which
    cost Wav2Small's attention pooling 1-2 points on FSDD."""
    from tensorflow.lite.python import convert as tfl_convert

    if frontend not in FRONTEND_MODES:
        raise TinykdError(f"--frontend must be one of {', '.join(FRONTEND_MODES)}, got {frontend!r}")
    layer = frontend_layer_name(model)
    calibrated = calibrate(model, representative)
    deny = float_nodes(calibrated, layer, frontend, head_layer_names(model) if float_head else ())
    try:
        with quiet_c_output():
            return tfl_convert.mlir_quantize(
                calibrated,
                fully_quantize=frontend == "int8",
                denylisted_nodes=deny,
            )
    except Exception as exc:
        raise TinykdError(f"int8 quantization failed on model {model.name!r}: {_converter_reason(exc)}") from None
