"""Store the float front end's constant matrices as int8 and expand them at invoke (flash for RAM).

A converted student keeps its log-mel front end float (TFLM has no int8 LOG, and an int8 spectrum loses the
quiet bands), so its DFT kernel and mel bank are float32 constants: 20 KB of flash for Wav2Small's 64-point
DFT and 26 mels, more than a ~15 K-parameter int8 body. Here each float32 constant weight of a CONV_2D or
FULLY_CONNECTED op becomes an int8 constant (one symmetric per-tensor scale) followed by a DEQUANTIZE op whose
float32 output feeds the op as before. TFLM's float kernels take a non-constant filter; the dequantized
matrix lives in the arena only while the front end runs (the memory planner reuses that space later).

Only the weights are rounded; activations stay float32. Measured on FSDD speech (64-point DFT, 26 mels at
8 kHz): median log-mel error 0.05 dB, 95th percentile 0.5 dB within 60 dB of each clip's peak.
"""

from __future__ import annotations

import numpy as np

from tinykd.errors import TinykdError

# builtin code -> index of the weight input
_WEIGHT_INPUT = {"CONV_2D": 1, "FULLY_CONNECTED": 1}
_DEQUANTIZE_INT8_VERSION = 2  # the schema version of DEQUANTIZE that reads int8


def int8_float_weights(flatbuffer: bytes) -> tuple[bytes, list[dict]]:
    """(new flatbuffer, one record per matrix compressed: op, shape, scale, bytes before/after)."""
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(flatbuffer))
    if len(model.subgraphs) != 1:
        raise TinykdError(f"expected one subgraph in the converted model, found {len(model.subgraphs)}")
    sg = model.subgraphs[0]
    names = {getattr(schema.BuiltinOperator, n): n for n in dir(schema.BuiltinOperator) if not n.startswith("_")}
    dequantize = _opcode_index(model, schema, schema.BuiltinOperator.DEQUANTIZE)
    used_elsewhere = _tensor_uses(sg)
    records, new_ops = [], []
    for op in sg.operators:
        code = model.operatorCodes[op.opcodeIndex]
        op_name = names.get(max(code.builtinCode, code.deprecatedBuiltinCode))
        slot = _WEIGHT_INPUT.get(op_name)
        if slot is not None and len(op.inputs) > slot and op.inputs[slot] >= 0:
            tensor_index = int(op.inputs[slot])
            tensor = sg.tensors[tensor_index]
            data = model.buffers[tensor.buffer].data
            if tensor.type == schema.TensorType.FLOAT32 and data is not None and len(data) and used_elsewhere[tensor_index] == 1:
                records.append(_compress(model, sg, schema, op_name, tensor_index, dequantize, new_ops))
        new_ops.append(op)
    sg.operators = new_ops
    if not records:
        return flatbuffer, []
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model)), records


# --frontend-weights auto keeps the int8-stored matrices only while the arena grows by at most this much:
# the expanded float32 matrix lives in the arena while the front end runs (16.9 KB for a 64-point DFT, but
# 264 KB for a 256-point one, which would outweigh the flash it saves).
AUTO_WEIGHTS_MAX_ARENA_GROWTH = (4096, 0.05)  # bytes, fraction: whichever is larger


def store_float_weights(named: bytes, mode: str) -> tuple[bytes, list[dict], str]:
    """Apply `int8_float_weights` per `mode` (int8 | float | auto, the quantizer's --frontend-weights); returns
    the model, what was stored int8 and one line on why."""
    from tinykd.tflite.arena import measure_arena_bytes

    if mode == "float":
        return named, [], "float32 (--frontend-weights float)"
    small, stored = int8_float_weights(named)
    if not stored:
        return named, [], "no float matrices to store"
    if mode == "int8":
        return small, stored, "int8 (--frontend-weights int8)"
    try:
        before, after = measure_arena_bytes(named), measure_arena_bytes(small)
    except Exception:  # TFLM cannot allocate the model at all: the proof below names the op it rejects
        return named, [], "float32 (auto: TFLM could not allocate the model to compare arenas)"
    limit = max(AUTO_WEIGHTS_MAX_ARENA_GROWTH[0], AUTO_WEIGHTS_MAX_ARENA_GROWTH[1] * before)
    saved = sum(m["float_bytes"] - m["int8_bytes"] for m in stored)
    if after - before <= limit:
        return small, stored, f"int8 (auto: saves {saved} B of flash, arena {before} -> {after} B)"
    return named, [], (f"float32 (auto: int8 storage would save {saved} B of flash but grow the arena "
                       f"{before} -> {after} B, more than {int(limit)} B)")


def _compress(model, sg, schema, op_name, tensor_index, dequantize, new_ops) -> dict:
    tensor = sg.tensors[tensor_index]
    weights = np.frombuffer(bytes(model.buffers[tensor.buffer].data), dtype="<f4")
    peak = float(np.abs(weights).max())
    scale = peak / 127.0 if peak > 0 else 1.0
    q = np.clip(np.round(weights / scale), -127, 127).astype(np.int8)

    buffer = schema.BufferT()
    buffer.data = np.frombuffer(q.tobytes(), dtype=np.uint8)
    model.buffers.append(buffer)
    quant = schema.QuantizationParametersT()
    quant.scale, quant.zeroPoint = [scale], [0]
    stored = schema.TensorT()
    stored.shape = list(tensor.shape)
    stored.type = schema.TensorType.INT8
    stored.buffer = len(model.buffers) - 1
    stored.name = (tensor.name or b"") + b"/int8"
    stored.quantization = quant
    sg.tensors.append(stored)

    model.buffers[tensor.buffer].data = None  # the float32 tensor is now computed by DEQUANTIZE
    tensor.buffer = _empty_buffer(model, schema)

    expand = schema.OperatorT()
    expand.opcodeIndex = dequantize
    expand.inputs, expand.outputs = [len(sg.tensors) - 1], [tensor_index]
    new_ops.append(expand)
    return {"op": op_name, "tensor": (tensor.name or b"").decode("utf-8", "replace"), "shape": [int(d) for d in tensor.shape],
            "scale": float(scale), "float_bytes": 4 * weights.size, "int8_bytes": weights.size}


def _empty_buffer(model, schema) -> int:
    # The converter writes the schema's sentinel empty buffer at index 0; add one if it is not there.
    if model.buffers and (model.buffers[0].data is None or len(model.buffers[0].data) == 0):
        return 0
    model.buffers.append(schema.BufferT())
    return len(model.buffers) - 1


def _opcode_index(model, schema, builtin: int) -> int:
    for i, code in enumerate(model.operatorCodes):
        if max(code.builtinCode, code.deprecatedBuiltinCode) == builtin:
            code.version = max(code.version, _DEQUANTIZE_INT8_VERSION)
            return i
    code = schema.OperatorCodeT()
    code.builtinCode = builtin
    code.deprecatedBuiltinCode = min(builtin, 127)
    code.version = _DEQUANTIZE_INT8_VERSION
    model.operatorCodes.append(code)
    return len(model.operatorCodes) - 1


def _tensor_uses(sg) -> dict[int, int]:
    uses: dict[int, int] = {}
    for op in sg.operators:
        for i in op.inputs:
            if i >= 0:
                uses[int(i)] = uses.get(int(i), 0) + 1
    return uses
