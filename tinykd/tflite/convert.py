"""THE converter: a Keras student -> what TFLite Micro runs, by one rule per front end.

`convert_student(model, waveforms)` looks at the student's front-end layer:

- `SignalFrontEnd` (kind "signal", the deployable students): the front end becomes the Signal-op graph
  (tinykd.frontend.signal_graph: one hop, int16 PCM in, int8 features out), and the body after it (features ->
  logits) is converted fully int8: int8 input with scale 1 and zero point 0 (the feature codes as they are;
  checked), int8 logits out. Calibration runs the body on the features the Keras twin computes from the
  training clips, which are bit-identical to the Signal graph's.
- `LogMelFrontEnd` (kind "waveform", the papers' research presets): one flatbuffer, waveform in. Every op of
  the float front end stays float32 (TFLM has no int8 LOG, and the power spectrum spans ~14 decades, far more
  than int8 holds); the body is int8 (QUANTIZE before its first op); float32 logits out. The front end's
  float matrices may be stored int8 (tinykd.tflite.compress, `frontend_weights`).

`float_head` keeps the pooling head and the classifier float in either case. Keras 3's path is
`model.export(dir, "tf_saved_model")` with a fixed batch of 1 (a dynamic batch leaves -1 reshapes TFLM
mis-sizes), `TFLiteConverter.from_saved_model`, calibration only, then the converter's MLIR quantizer with a
deny list (the mechanism of `tf.lite.experimental.QuantizationDebugger`'s selective quantization). Shipped
flatbuffers carry no tensor names (`strip_names`); the named copy describes them in reports.

Used by `tinykd quantize`, `tinykd models --measure` and every bench.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np

from tinykd.errors import TinykdError
from tinykd.tflite.graph import read_graph
from tinykd.tflite.quiet import quiet_c_output

# Pooling layers of the students' heads (tinykd.students.layers), kept float with `float_head`.
HEAD_POOL_LAYERS = ("SoftmaxTimePool", "GramConcat", "TimeMean")
FEATURE_RANGE = (-128.0, 127.0)  # the Signal front end's int8 codes, as float


@dataclass
class Conversion:
    """A converted student: what the device runs and what the reports describe."""

    kind: str  # "signal" (Signal-op front end + int8 body) or "waveform" (one waveform-in flatbuffer)
    model: bytes  # the flatbuffer the board runs: the body (signal) or the whole model (waveform)
    named: bytes  # the same with tensor names
    spec: object  # the FrontEndSpec of the student's front end
    frontend: bytes | None = None  # signal: the Signal-op graph, one hop per invoke
    compressed: list = field(default_factory=list)  # float matrices stored int8 (tinykd.tflite.compress)
    weights_note: str = ""  # why they are (not) stored int8
    float_head: bool = False


def frontend_layer(model):
    """The student's one front-end layer (LogMelFrontEnd or SignalFrontEnd)."""
    from tinykd.frontend.layers import front_end_layers

    layers = front_end_layers(model)
    if len(layers) != 1:
        raise TinykdError(f"model {model.name!r} has {len(layers)} front-end layers; tinykd converts waveform-in "
                          "students with exactly one (LogMelFrontEnd or SignalFrontEnd)")
    return layers[0]


def _belongs_to(tensor_name: str, layer: str) -> bool:
    # Converted names look like "<model>_1/<layer>_1/Log"; fused ops join several names with ';'.
    pattern = re.compile(rf"(^|/){re.escape(layer)}(_\d+)?/")
    return any(pattern.search(part) for part in tensor_name.split(";"))


def _converter_reason(exc: Exception) -> str:
    """The useful part of a converter error: which TensorFlow ops have no TFLite builtin, else its first line."""
    text = str(exc)
    m = re.search(r"TF Select ops: ([^\n]+)", text)
    if m:
        return f"op(s) {m.group(1).strip()} have no TFLite builtin kernel (so none in TFLite Micro either); replace that layer"
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[0][:300] if lines else type(exc).__name__


def calibrate(model, representative: np.ndarray) -> bytes:
    """Export `model` with batch 1 and return the calibrated float flatbuffer (min/max recorded)."""
    import keras
    import tensorflow as tf

    shape = tuple(int(d) for d in model.inputs[0].shape[1:])
    rep = np.asarray(representative, dtype=np.float32)
    if rep.ndim != 1 + len(shape) or tuple(rep.shape[1:]) != shape:
        raise TinykdError(f"representative set must be [n, {', '.join(map(str, shape))}], got shape {rep.shape}")
    if rep.shape[0] == 0:
        raise TinykdError("representative set is empty; give --data with training clips")

    def samples() -> Iterable[list[np.ndarray]]:
        for row in rep:
            yield [row[None, ...]]

    with tempfile.TemporaryDirectory(prefix="tinykd_export_") as tmp:
        model.export(tmp, "tf_saved_model", verbose=False,
                     input_signature=[keras.InputSpec(shape=(1, *shape), dtype="float32")])
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


def head_layer_names(model) -> list[str]:
    """Names of the pooling-head layers of a student (attention pool and Gram matrix, or mean over time)."""
    return [layer.name for layer in model.layers if type(layer).__name__ in HEAD_POOL_LAYERS]


def float_nodes(calibrated: bytes, float_layers: Sequence[str], head_layers: Sequence[str] = ()) -> list[str]:
    """Output tensor names of the ops to keep float (the quantizer's `denylisted_nodes`): every op of
    `float_layers` and, with `head_layers`, those layers' ops plus the op that makes the model's output (the
    classifier; its tensor carries the signature's name, not the layer's)."""
    graph = read_graph(calibrated)
    nodes = []
    for op in graph.ops:
        name = graph.tensors[op.outputs[0]].name
        keep = any(_belongs_to(name, layer) for layer in float_layers)
        if head_layers:
            keep = keep or any(_belongs_to(name, layer) for layer in head_layers) or op.outputs[0] in graph.outputs
        if keep:
            nodes.extend(graph.tensors[i].name for i in op.outputs)
    return sorted(set(nodes))


def strip_names(flatbuffer: bytes) -> bytes:
    """The same model without tensor names, signature definitions or description (TensorFlow's own
    `flatbuffer_utils.strip_strings`): TFLM never reads them, and on a ~15 K-parameter student they are a
    few KB of flash. Tensor and op indices are unchanged, so a graph read from the named model describes it."""
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(flatbuffer))
    flatbuffer_utils.strip_strings(model)
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def _mlir_quantize(calibrated: bytes, name: str, *, fully: bool, io_int8: bool, deny: list[str]) -> bytes:
    import tensorflow as tf
    from tensorflow.lite.python import convert as tfl_convert

    kwargs = dict(input_data_type=tf.int8, output_data_type=tf.int8) if io_int8 else {}
    try:
        with quiet_c_output():
            return tfl_convert.mlir_quantize(calibrated, fully_quantize=fully, denylisted_nodes=deny, **kwargs)
    except Exception as exc:
        raise TinykdError(f"int8 quantization failed on model {name!r}: {_converter_reason(exc)}") from None


def body_model(model):
    """The part of a signal student after its front end: features [batch, frames, n_mels] -> logits."""
    import keras

    return keras.Model(frontend_layer(model).output, model.outputs[0], name=f"{model.name}_body")


def body_features(model, waveforms: np.ndarray, batch: int = 32) -> np.ndarray:
    """The Keras twin's features of `waveforms` (bit-identical to the Signal graph's), float32 int8 codes."""
    layer = frontend_layer(model)
    x = np.asarray(waveforms, dtype=np.float32)
    return np.concatenate([np.asarray(layer(x[i : i + batch])) for i in range(0, len(x), batch)], axis=0)


def convert_student(model, waveforms: np.ndarray, *, float_head: bool = False,
                    frontend_weights: str = "auto") -> Conversion:
    """Convert a trained student (see the module docstring); `waveforms` float32 [n, samples] calibrate it."""
    from tinykd.frontend.keras_layer import LogMelFrontEnd
    from tinykd.tflite.compress import store_float_weights

    layer = frontend_layer(model)
    heads = head_layer_names(model) if float_head else []
    if isinstance(layer, LogMelFrontEnd):
        calibrated = calibrate(model, waveforms)
        deny = float_nodes(calibrated, [layer.name], heads)
        if not deny:
            raise TinykdError(f"found no ops of the front-end layer {layer.name!r} in the converted model")
        named = _mlir_quantize(calibrated, model.name, fully=False, io_int8=False, deny=deny)
        named, compressed, note = store_float_weights(named, frontend_weights)
        return Conversion("waveform", strip_names(named), named, layer.spec, None, compressed, note, float_head)

    from tinykd.frontend.signal_graph import build_signal_frontend

    body = body_model(model)
    features = body_features(model, waveforms)
    # One calibration row spanning the whole int8 range pins the body's input scale to exactly 1 and its zero
    # point to 0: the int8 feature codes go in as they are.
    span = np.full((1, *features.shape[1:]), FEATURE_RANGE[0], dtype=np.float32)
    span.reshape(-1)[1::2] = FEATURE_RANGE[1]
    calibrated = calibrate(body, np.concatenate([features, span]))
    deny = float_nodes(calibrated, [], head_layer_names(body) if float_head else [])
    named = _mlir_quantize(calibrated, model.name, fully=True, io_int8=True, deny=deny)
    graph = read_graph(named)
    t_in = graph.io(graph.inputs[0])
    if t_in.dtype != "int8" or t_in.scale != (1.0,) or t_in.zero_point != (0,):
        raise TinykdError(f"model {model.name!r}: the converted body takes {t_in.dtype} with scale {t_in.scale} "
                          f"and zero point {t_in.zero_point}, not the front end's int8 codes (scale 1, zero point 0)")
    note = "no float matrices: the Signal front end is integer, the body int8"
    return Conversion("signal", strip_names(named), named, layer.spec, build_signal_frontend(layer.spec), [], note,
                      float_head)
