"""Reading a .tflite flatbuffer: ops with their dtypes and shapes, MACs, activation and weight bytes.

Parsed with the flatbuffer schema that ships with tflite-micro, so the figures describe exactly the file the
firmware gets (no interpreter, nothing allocated).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_DTYPE_BYTES = {
    "float32": 4, "float16": 2, "int32": 4, "uint8": 1, "int64": 8, "bool": 1, "int16": 2, "int8": 1,
    "float64": 8, "uint32": 4, "uint16": 2, "uint64": 8, "int4": 1,
}
_QUANT_CONVERSIONS = frozenset({"QUANTIZE", "DEQUANTIZE"})


def _schema():
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

    return schema


def _enum_names(enum_cls) -> dict[int, str]:
    return {v: k for k, v in vars(enum_cls).items() if not k.startswith("_") and isinstance(v, int)}


@dataclass(frozen=True)
class Tensor:
    index: int
    name: str
    dtype: str  # lower case numpy-style name: float32, int8, int32, ...
    shape: tuple[int, ...]
    constant: bool  # holds data in the flatbuffer (weights, biases, shape operands)
    scale: tuple[float, ...]
    zero_point: tuple[int, ...]

    @property
    def elements(self) -> int:
        return int(np.prod(self.shape)) if self.shape else 1

    @property
    def nbytes(self) -> int:
        return self.elements * _DTYPE_BYTES.get(self.dtype, 4)


@dataclass(frozen=True)
class Op:
    index: int
    name: str  # builtin op name, e.g. CONV_2D
    inputs: tuple[int, ...]  # tensor indices (-1 = optional input left out)
    outputs: tuple[int, ...]
    options: object | None  # the parsed builtin options (for BATCH_MATMUL adjoint flags)


@dataclass(frozen=True)
class Graph:
    tensors: tuple[Tensor, ...]
    ops: tuple[Op, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    size_bytes: int

    # -- per-op facts --------------------------------------------------------------------------------
    def op_kind(self, op: Op) -> str:
        """'float', 'int8', 'int16', 'convert' (QUANTIZE/DEQUANTIZE) or 'int32' (shape arithmetic)."""
        if op.name in _QUANT_CONVERSIONS:
            return "convert"
        dtypes = {self.tensors[i].dtype for i in (*op.inputs, *op.outputs) if i >= 0 and not self.tensors[i].constant}
        for kind in ("float32", "int16", "int8"):
            if kind in dtypes:
                return "float" if kind == "float32" else kind
        return "int32"

    def macs(self, op: Op) -> int:
        """Multiply-accumulates of one invoke of `op` (conv, depthwise, fully connected, batch matmul; 0 else)."""
        t = self.tensors
        out = t[op.outputs[0]]
        if op.name == "CONV_2D":
            filt = t[op.inputs[1]].shape  # [out_ch, kh, kw, in_ch / groups]
            return out.elements * filt[1] * filt[2] * filt[3]
        if op.name == "DEPTHWISE_CONV_2D":
            filt = t[op.inputs[1]].shape  # [1, kh, kw, out_ch]
            return out.elements * filt[1] * filt[2]
        if op.name == "FULLY_CONNECTED":
            return out.elements * t[op.inputs[1]].shape[-1]
        if op.name == "BATCH_MATMUL":
            a = t[op.inputs[0]].shape
            adj_x = bool(getattr(op.options, "adjX", False))
            return out.elements * (a[-2] if adj_x else a[-1])
        if op.name == "TRANSPOSE_CONV":
            filt = t[op.inputs[1]].shape  # [out_ch, kh, kw, in_ch]
            return t[op.inputs[2]].elements * filt[0] * filt[1] * filt[2]
        return 0

    def activation_bytes(self, op: Op) -> int:
        return sum(self.tensors[i].nbytes for i in op.outputs if i >= 0)

    def op_names(self) -> list[str]:
        return [op.name for op in self.ops]

    def weight_bytes(self) -> dict[str, int]:
        """Bytes of constant tensors by dtype (weights, biases, DFT/mel matrices, shape operands)."""
        out: dict[str, int] = {}
        for tensor in self.tensors:
            if tensor.constant:
                out[tensor.dtype] = out.get(tensor.dtype, 0) + tensor.nbytes
        return out

    def io(self, index: int) -> Tensor:
        return self.tensors[index]


def read_graph(flatbuffer: bytes) -> Graph:
    """Parse the main subgraph of a .tflite flatbuffer."""
    schema = _schema()
    model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(bytearray(flatbuffer), 0))
    if not model.subgraphs:
        raise ValueError("model has no subgraph")
    op_names = _enum_names(schema.BuiltinOperator)
    type_names = _enum_names(schema.TensorType)
    codes = []
    for code in model.operatorCodes:
        builtin = max(int(code.builtinCode), int(code.deprecatedBuiltinCode))
        name = op_names.get(builtin, f"BUILTIN_{builtin}")
        if name == "CUSTOM":
            name = "CUSTOM:" + (code.customCode.decode() if isinstance(code.customCode, bytes) else str(code.customCode))
        codes.append(name)
    sub = model.subgraphs[0]
    tensors = []
    for i, t in enumerate(sub.tensors):
        buf = model.buffers[t.buffer] if t.buffer < len(model.buffers) else None
        constant = bool(buf is not None and ((buf.data is not None and len(buf.data) > 0) or (buf.size or 0) > 0))
        q = t.quantization
        scale = tuple(float(s) for s in (q.scale if q is not None and q.scale is not None else ()))
        zero = tuple(int(z) for z in (q.zeroPoint if q is not None and q.zeroPoint is not None else ()))
        name = t.name.decode("utf-8", "replace") if isinstance(t.name, bytes) else str(t.name)
        shape = tuple(int(d) for d in (t.shape if t.shape is not None else ()))
        tensors.append(Tensor(i, name, type_names.get(int(t.type), f"type{t.type}").lower(), shape, constant, scale, zero))
    ops = [
        Op(i, codes[o.opcodeIndex], tuple(int(x) for x in o.inputs), tuple(int(x) for x in o.outputs), o.builtinOptions)
        for i, o in enumerate(sub.operators)
    ]
    return Graph(tuple(tensors), tuple(ops), tuple(int(x) for x in sub.inputs), tuple(int(x) for x in sub.outputs), len(flatbuffer))
