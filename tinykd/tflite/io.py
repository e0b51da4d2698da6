"""THE rule for getting audio into a model's input tensor and class scores out of its output tensor.

One definition, exactly the firmware's arithmetic (firmware/tinykd_fw/src/core/tkd_pcm.cpp), used by every
host-side run of a .tflite model (the quantizer's proof, evaluate, the device reference, the virtual board's
checks, the benches), so the host and a board compute bit-identical inputs:

- audio travels as int16 PCM; a float waveform in [-1, 1) becomes PCM by `float_to_pcm` (round half to even
  on x * 32768, saturate): what a host sends to a board;
- PCM -> float32 sample: `pcm * (1/32768)` in float32 (`tkd_pcm_to_float`);
- float32 -> int8/int16 tensor: `v = x * (1/scale)` in float32, round half away from zero, `+ zero_point`,
  saturate to the type (`tkd_pcm_to_int8`, `tkd_pcm_to_int16`);
- int8 tensor -> score: `(q - zero_point) * scale` in float32 (`tkd_dequantize_int8`).

A tensor's type and quantization come from any of the places tinykd meets them (TFLM or LiteRT details,
tinykd.tflite.graph tensors, quantize.json entries) through `TensorQuant`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

PCM_SCALE = np.float32(1.0 / 32768.0)  # firmware: float sample = int16 PCM * PCM_SCALE


@dataclass(frozen=True)
class TensorQuant:
    """A tensor's element type and (per-tensor) affine quantization; scale 0 for a float tensor."""

    dtype: np.dtype
    scale: float = 0.0
    zero_point: int = 0

    @property
    def is_float(self) -> bool:
        return np.issubdtype(self.dtype, np.floating)

    @classmethod
    def of(cls, tensor: Any) -> "TensorQuant":
        """From TFLM/LiteRT details, a tinykd.tflite.graph.Tensor, a quantize.json tensor entry or a TensorQuant."""
        if isinstance(tensor, TensorQuant):
            return tensor
        if isinstance(tensor, dict):
            dtype = np.dtype(tensor["dtype"])
            if "quantization_parameters" in tensor:  # interpreter details
                q = tensor["quantization_parameters"]
                scales, zps = list(q.get("scales", [])), list(q.get("zero_points", []))
            elif "quantization" in tensor and isinstance(tensor["quantization"], tuple):
                scale, zp = tensor["quantization"]
                scales, zps = ([scale], [zp]) if scale else ([], [])
            else:  # quantize.json: {"dtype", "scale", "zero_point"}
                scales = [tensor.get("scale", 0.0)] if tensor.get("scale") else []
                zps = [tensor.get("zero_point", 0)]
            return cls(dtype, float(scales[0]) if scales else 0.0, int(zps[0]) if zps else 0)
        scale = tensor.scale[0] if tensor.scale else 0.0  # graph Tensor
        zero = tensor.zero_point[0] if tensor.zero_point else 0
        return cls(np.dtype(tensor.dtype), float(scale), int(zero))


def float_to_pcm(x: np.ndarray) -> np.ndarray:
    """Float waveform in [-1, 1) -> int16 PCM (round half to even, saturate): what a host sends to a board."""
    return np.clip(np.rint(np.asarray(x, dtype=np.float64) * 32768.0), -32768, 32767).astype(np.int16)


def pcm_to_float(pcm: np.ndarray) -> np.ndarray:
    """int16 PCM -> float32 samples, as `tkd_pcm_to_float`."""
    return np.asarray(pcm).astype(np.float32) * PCM_SCALE


def as_pcm16(x: np.ndarray) -> np.ndarray:
    """A float waveform rounded to what the firmware sees (int16 PCM, scaled back by 1/32768), float32."""
    return pcm_to_float(float_to_pcm(x))


def quantize(x: np.ndarray, q: TensorQuant) -> np.ndarray:
    """Float32 values -> the tensor's integer type, with the firmware's float32 arithmetic."""
    q = TensorQuant.of(q)
    x = np.asarray(x, dtype=np.float32)
    if q.is_float:
        return x.astype(q.dtype)
    if not q.scale:
        raise ValueError(f"an {q.dtype.name} tensor without a quantization scale cannot take float input")
    v = x * np.float32(np.float32(1.0) / np.float32(q.scale))
    rounded = np.trunc(np.where(v < 0, v - np.float32(0.5), v + np.float32(0.5))).astype(np.int64) + q.zero_point
    info = np.iinfo(q.dtype)
    return np.clip(rounded, info.min, info.max).astype(q.dtype)


def dequantize(raw: np.ndarray, q: TensorQuant) -> np.ndarray:
    """An output tensor -> float32 scores, as `tkd_dequantize_int8`."""
    q = TensorQuant.of(q)
    raw = np.asarray(raw)
    if q.is_float:
        return raw.astype(np.float32)
    return ((raw.astype(np.int32) - q.zero_point).astype(np.float32) * np.float32(q.scale)).astype(np.float32)


def pcm_to_input(pcm: np.ndarray, q: TensorQuant) -> np.ndarray:
    """int16 PCM -> the input tensor's values (float32, int8 or int16), as the firmware prepares them."""
    return quantize(pcm_to_float(pcm), q)


def waveform_to_input(x: np.ndarray, q: TensorQuant) -> np.ndarray:
    """A float waveform -> the input tensor, through int16 PCM exactly as on a board."""
    return pcm_to_input(float_to_pcm(x), q)
