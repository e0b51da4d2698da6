"""Which MicroMutableOpResolver method registers each op in TFLite Micro: one table for the emitted op
resolver (tinykd.emit.op_resolver), the Signal front end and the quantizer's check that every op can run.
The names come from tensorflow/lite/micro/micro_mutable_op_resolver.h (tests check the Signal ones against
the vendored header). `TFLM_TARGET_ADD_METHODS` and `missing_ops` say which of those methods each board's TFLM
library has (esp-tflite-micro, the Arduino mbed library, upstream)."""

from __future__ import annotations

import re
from collections.abc import Iterable

from tinykd.errors import TinykdError

# TFLite builtin op name -> MicroMutableOpResolver method (TFLM's spelling is not a mechanical CamelCase:
# BATCH_MATMUL -> AddBatchMatMul, CUMSUM -> AddCumSum, PADV2 -> AddPadV2).
TFLM_ADD_METHODS: dict[str, str] = {
    "ABS": "AddAbs",
    "ADD": "AddAdd",
    "ADD_N": "AddAddN",
    "ARG_MAX": "AddArgMax",
    "ARG_MIN": "AddArgMin",
    "AVERAGE_POOL_2D": "AddAveragePool2D",
    "BATCH_MATMUL": "AddBatchMatMul",
    "BATCH_TO_SPACE_ND": "AddBatchToSpaceNd",
    "BROADCAST_ARGS": "AddBroadcastArgs",
    "BROADCAST_TO": "AddBroadcastTo",
    "CAST": "AddCast",
    "CEIL": "AddCeil",
    "CONCATENATION": "AddConcatenation",
    "CONV_2D": "AddConv2D",
    "COS": "AddCos",
    "CUMSUM": "AddCumSum",
    "DEPTH_TO_SPACE": "AddDepthToSpace",
    "DEPTHWISE_CONV_2D": "AddDepthwiseConv2D",
    "DEQUANTIZE": "AddDequantize",
    "DIV": "AddDiv",
    "ELU": "AddElu",
    "EQUAL": "AddEqual",
    "EXP": "AddExp",
    "EXPAND_DIMS": "AddExpandDims",
    "FILL": "AddFill",
    "FLOOR": "AddFloor",
    "FLOOR_DIV": "AddFloorDiv",
    "FLOOR_MOD": "AddFloorMod",
    "FULLY_CONNECTED": "AddFullyConnected",
    "GATHER": "AddGather",
    "GATHER_ND": "AddGatherNd",
    "GREATER": "AddGreater",
    "GREATER_EQUAL": "AddGreaterEqual",
    "HARD_SWISH": "AddHardSwish",
    "L2_NORMALIZATION": "AddL2Normalization",
    "L2_POOL_2D": "AddL2Pool2D",
    "LEAKY_RELU": "AddLeakyRelu",
    "LESS": "AddLess",
    "LESS_EQUAL": "AddLessEqual",
    "LOG": "AddLog",
    "LOG_SOFTMAX": "AddLogSoftmax",
    "LOGICAL_AND": "AddLogicalAnd",
    "LOGICAL_NOT": "AddLogicalNot",
    "LOGICAL_OR": "AddLogicalOr",
    "LOGISTIC": "AddLogistic",
    "MAX_POOL_2D": "AddMaxPool2D",
    "MAXIMUM": "AddMaximum",
    "MEAN": "AddMean",
    "MINIMUM": "AddMinimum",
    "MIRROR_PAD": "AddMirrorPad",
    "MUL": "AddMul",
    "NEG": "AddNeg",
    "NOT_EQUAL": "AddNotEqual",
    "PACK": "AddPack",
    "PAD": "AddPad",
    "PADV2": "AddPadV2",
    "PRELU": "AddPrelu",
    "QUANTIZE": "AddQuantize",
    "REDUCE_MAX": "AddReduceMax",
    "REDUCE_MIN": "AddReduceMin",
    "RELU": "AddRelu",
    "RELU6": "AddRelu6",
    "RESHAPE": "AddReshape",
    "RESIZE_BILINEAR": "AddResizeBilinear",
    "RESIZE_NEAREST_NEIGHBOR": "AddResizeNearestNeighbor",
    "REVERSE_V2": "AddReverseV2",
    "ROUND": "AddRound",
    "RSQRT": "AddRsqrt",
    "SELECT_V2": "AddSelectV2",
    "SHAPE": "AddShape",
    "SIN": "AddSin",
    "SLICE": "AddSlice",
    "SOFTMAX": "AddSoftmax",
    "SPACE_TO_BATCH_ND": "AddSpaceToBatchNd",
    "SPACE_TO_DEPTH": "AddSpaceToDepth",
    "SPLIT": "AddSplit",
    "SPLIT_V": "AddSplitV",
    "SQRT": "AddSqrt",
    "SQUARE": "AddSquare",
    "SQUARED_DIFFERENCE": "AddSquaredDifference",
    "SQUEEZE": "AddSqueeze",
    "STRIDED_SLICE": "AddStridedSlice",
    "SUB": "AddSub",
    "SUM": "AddSum",
    "SVDF": "AddSvdf",
    "TANH": "AddTanh",
    "TRANSPOSE": "AddTranspose",
    "TRANSPOSE_CONV": "AddTransposeConv",
    "UNPACK": "AddUnpack",
    "ZEROS_LIKE": "AddZerosLike",
}


# TFLM Signal library custom ops (custom_code in the flatbuffer) -> their MicroMutableOpResolver methods
# (micro_mutable_op_resolver.h: AddWindow registers "SignalWindow", and so on).
TFLM_CUSTOM_ADD_METHODS: dict[str, str] = {
    "SignalDelay": "AddDelay",
    "SignalEnergy": "AddEnergy",
    "SignalFftAutoScale": "AddFftAutoScale",
    "SignalFilterBank": "AddFilterBank",
    "SignalFilterBankLog": "AddFilterBankLog",
    "SignalFilterBankSpectralSubtraction": "AddFilterBankSpectralSubtraction",
    "SignalFilterBankSquareRoot": "AddFilterBankSquareRoot",
    "SignalFramer": "AddFramer",
    "SignalIrfft": "AddIrfft",
    "SignalOverlapAdd": "AddOverlapAdd",
    "SignalPCAN": "AddPCAN",
    "SignalRfft": "AddRfft",
    "SignalStacker": "AddStacker",
    "SignalWindow": "AddWindow",
}


# -- Which resolver methods each target's TFLM library provides ----------------------------------------------
# A board does not run upstream TFLM: the ESP32 boards get the esp-tflite-micro that their arduino-esp32 core
# bundles, the Nano 33 BLE the Chirale_TensorFlowLite Arduino library. Each has its own
# micro_mutable_op_resolver.h, and an emitted model_ops.h that calls a method the target lacks does not compile
# there ("has no member named 'AddReduceMin'"). The sets below are DERIVED from those headers by
# `header_add_methods` (tests/test_tflite_ops.py re-derives them from the vendored archives and compares), not
# written by hand from documentation.


def header_add_methods(text: str) -> frozenset[str]:
    """The public `TfLiteStatus AddXxx(` methods of a micro_mutable_op_resolver.h (the class's private helpers,
    such as AddBuiltin, left out)."""
    start = text.find("class MicroMutableOpResolver")
    body = text[start:] if start >= 0 else text
    private = re.search(r"^\s*private:", body, re.MULTILINE)
    if private:
        body = body[: private.start()]
    return frozenset(re.findall(r"\bTfLiteStatus\s+(Add[A-Za-z0-9]+)\s*\(", body))


# upstream tensorflow/tflite-micro @ 90b983c2 (2026-08-20): the vendored tflm-90b983c2-* trees.
_UPSTREAM_90B983C2 = frozenset({
    "AddAbs", "AddAdd", "AddAddN", "AddArgMax", "AddArgMin", "AddAssignVariable", "AddAveragePool2D", "AddBatchMatMul",
    "AddBatchToSpaceNd", "AddBroadcastArgs", "AddBroadcastTo", "AddCallOnce", "AddCast", "AddCeil", "AddCircularBuffer",
    "AddConcatenation", "AddConv2D", "AddCos", "AddCumSum", "AddCustom", "AddDecode", "AddDelay", "AddDepthToSpace",
    "AddDepthwiseConv2D", "AddDequantize", "AddDetectionPostprocess", "AddDiv", "AddDynamicUpdateSlice", "AddElu",
    "AddEmbeddingLookup", "AddEnergy", "AddEqual", "AddEthosU", "AddExp", "AddExpandDims", "AddFftAutoScale", "AddFill",
    "AddFilterBank", "AddFilterBankLog", "AddFilterBankSpectralSubtraction", "AddFilterBankSquareRoot", "AddFloor",
    "AddFloorDiv", "AddFloorMod", "AddFramer", "AddFullyConnected", "AddGather", "AddGatherNd", "AddGreater",
    "AddGreaterEqual", "AddHardSwish", "AddIf", "AddIrfft", "AddL2Normalization", "AddL2Pool2D", "AddLeakyRelu",
    "AddLess", "AddLessEqual", "AddLog", "AddLogSoftmax", "AddLogicalAnd", "AddLogicalNot", "AddLogicalOr",
    "AddLogistic", "AddMaxPool2D", "AddMaximum", "AddMean", "AddMinimum", "AddMirrorPad", "AddMul", "AddNeg",
    "AddNotEqual", "AddOverlapAdd", "AddPCAN", "AddPack", "AddPad", "AddPadV2", "AddPrelu", "AddQuantize",
    "AddReadVariable", "AddReduceAll", "AddReduceMax", "AddReduceMin", "AddRelu", "AddRelu6", "AddReshape",
    "AddResizeBilinear", "AddResizeNearestNeighbor", "AddReverseV2", "AddRfft", "AddRound", "AddRsqrt", "AddSelectV2",
    "AddShape", "AddSin", "AddSlice", "AddSoftmax", "AddSpaceToBatchNd", "AddSpaceToDepth", "AddSplit", "AddSplitV",
    "AddSqrt", "AddSquare", "AddSquaredDifference", "AddSqueeze", "AddStacker", "AddStridedSlice", "AddSub", "AddSum",
    "AddSvdf", "AddTanh", "AddTranspose", "AddTransposeConv", "AddUnidirectionalSequenceLSTM", "AddUnpack",
    "AddVarHandle", "AddWhile", "AddWindow", "AddZerosLike",
})
# Chirale_TensorFlowLite 2.0.0 (2024-07) is an older TFLM without the Signal library and without these builtins.
_CHIRALE_2_0_0_LACKS = frozenset({
    "AddBatchMatMul", "AddDecode", "AddDelay", "AddDynamicUpdateSlice", "AddEmbeddingLookup", "AddEnergy",
    "AddFftAutoScale", "AddFilterBank", "AddFilterBankLog", "AddFilterBankSpectralSubtraction",
    "AddFilterBankSquareRoot", "AddFramer", "AddIrfft", "AddOverlapAdd", "AddPCAN", "AddReduceAll", "AddReduceMin",
    "AddReverseV2", "AddRfft", "AddStacker", "AddWindow",
})
# esp-tflite-micro before 1.3.4 lacks AddReverseV2 and AddReduceMin (checked in the 1.2.0 sources by the study
# recorded in ../shared/vendor/README.md; no 1.2.0 archive is vendored). Upstream added AddReverseV2 first
# (41a9c8a6, 2025-07-10), then AddReduceMin (3d4cdc19, 2025-08-05), AddDecode (d96fe663, 2025-10-17),
# AddDynamicUpdateSlice (62cbc8e3, 2025-11-10) and AddReduceAll (ef382bda, 2026-01-08); no other method was added
# since 2023-11. A release synced before AddReverseV2 has none of the later ones either.
_ESP_BEFORE_1_3_4_LACKS = frozenset({"AddReverseV2", "AddReduceMin", "AddDecode", "AddDynamicUpdateSlice",
                                     "AddReduceAll"})

# target -> the MicroMutableOpResolver methods its TFLM library has.
TFLM_TARGET_ADD_METHODS: dict[str, frozenset[str]] = {
    "tflm": _UPSTREAM_90B983C2,  # upstream TFLM @ 90b983c2: the emulated board, a user's own tree
    "esp-tflite-micro-1.4.0": _UPSTREAM_90B983C2,  # 99f49e14 (2026-08-14): the same 119 methods as upstream
    # DERIVED, not read from a header: the 1.4.0 header minus what esp-tflite-micro < 1.3.4 lacks (above).
    # arduino-esp32 3.x resolves esp-tflite-micro >= 1.2.0 per core release: the oldest is the safe assumption.
    "esp-tflite-micro-1.2.0": _UPSTREAM_90B983C2 - _ESP_BEFORE_1_3_4_LACKS,
    "chirale-2.0.0": _UPSTREAM_90B983C2 - _CHIRALE_2_0_0_LACKS,  # the Arduino mbed library (Nano 33 BLE)
}
# Where each set comes from: (vendored archive in ../shared/vendor, its micro_mutable_op_resolver.h); the 1.2.0
# set is the 1.4.0 header's minus _ESP_BEFORE_1_3_4_LACKS.
TFLM_TARGET_HEADERS: dict[str, tuple[str, str]] = {
    "tflm": ("tflm-90b983c2-reference.tar.gz",
             "tflm-90b983c2-reference/tensorflow/lite/micro/micro_mutable_op_resolver.h"),
    "esp-tflite-micro-1.4.0": ("esp-tflite-micro-1.4.0-99f49e14.tar.gz",
                               "esp-tflite-micro-1.4.0/tensorflow/lite/micro/micro_mutable_op_resolver.h"),
    "esp-tflite-micro-1.2.0": ("esp-tflite-micro-1.4.0-99f49e14.tar.gz",
                               "esp-tflite-micro-1.4.0/tensorflow/lite/micro/micro_mutable_op_resolver.h"),
    "chirale-2.0.0": ("Chirale_TensorFlowLite-2.0.0-46da2f98.tar.gz",
                      "Chirale_TensorFlowLite-2.0.0/src/tensorflow/lite/micro/micro_mutable_op_resolver.h"),
}


def missing_ops(add_methods: Iterable[str], target: str) -> list[str]:
    """The resolver methods of `add_methods` (e.g. tinykd.emit.op_resolver.resolver_methods of a model's ops)
    that `target`'s TFLM library does not have, in their order, without repeats: [] when the model's
    model_ops.h compiles there."""
    have = TFLM_TARGET_ADD_METHODS.get(target)
    if have is None:
        raise TinykdError(f"unknown TFLM target {target!r}; known: {', '.join(TFLM_TARGET_ADD_METHODS)}")
    return [m for m in dict.fromkeys(add_methods) if m not in have]
