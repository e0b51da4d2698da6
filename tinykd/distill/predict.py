"""Batch inference for scoring: Keras models and `.tflite` models (desktop LiteRT interpreter)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tinykd.errors import TinykdError


def keras_logits(model, x: np.ndarray, batch_size: int = 64) -> np.ndarray:
    out = [np.asarray(model(x[i : i + batch_size], training=False)) for i in range(0, len(x), batch_size)]
    return np.concatenate(out, axis=0).astype(np.float32)


def _quantize(x: np.ndarray, detail: dict) -> np.ndarray:
    dtype = detail["dtype"]
    if np.issubdtype(dtype, np.floating):
        return x.astype(dtype)
    scale, zero = detail["quantization"]
    if not scale:
        raise TinykdError(f"tflite input of type {np.dtype(dtype).name} has no quantization scale")
    info = np.iinfo(dtype)
    return np.clip(np.round(x / scale + zero), info.min, info.max).astype(dtype)


def _dequantize(y: np.ndarray, detail: dict) -> np.ndarray:
    if np.issubdtype(detail["dtype"], np.floating):
        return y.astype(np.float32)
    scale, zero = detail["quantization"]
    return ((y.astype(np.float32) - zero) * scale).astype(np.float32)


def tflite_input_samples(path: Path) -> int:
    """Samples per clip the .tflite model takes (its input's last dimension)."""
    interp = _interpreter(path)
    return int(interp.get_input_details()[0]["shape"][-1])


def _interpreter(path: Path):
    from ai_edge_litert.interpreter import Interpreter

    try:
        interp = Interpreter(model_path=str(path), num_threads=1)
        interp.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        raise TinykdError(f"{path}: not a usable .tflite model ({str(exc).splitlines()[0][:200]})") from None
    return interp


def tflite_logits(path: Path, x: np.ndarray) -> np.ndarray:
    """Run clips one at a time (models for microcontrollers take batch 1); (de)quantize int inputs/outputs."""
    interp = _interpreter(path)
    inp = interp.get_input_details()[0]
    out = interp.get_output_details()[0]
    if int(inp["shape"][-1]) != x.shape[1]:
        raise TinykdError(f"{path}: model takes {int(inp['shape'][-1])} samples per clip, the data gives {x.shape[1]}")
    rows = []
    for clip in x:
        interp.set_tensor(inp["index"], _quantize(clip.reshape(inp["shape"]), inp))
        interp.invoke()
        rows.append(_dequantize(interp.get_tensor(out["index"]), out).reshape(-1))
    return np.stack(rows) if rows else np.zeros((0, int(out["shape"][-1])), np.float32)
