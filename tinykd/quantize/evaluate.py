"""Running the float Keras model and the int8 model in LiteRT on the same waveforms, and comparing."""

from __future__ import annotations

import numpy as np

from tinykd.quantize.graph import Tensor
from tinykd.quantize.quiet import quiet_c_output

PCM_SCALE = 1.0 / 32768.0  # firmware: float sample = int16 PCM * PCM_SCALE


def as_pcm16(x: np.ndarray) -> np.ndarray:
    """Round waveforms to what the firmware sees (int16 PCM scaled by 1/32768), as float32."""
    q = np.clip(np.round(np.asarray(x, dtype=np.float64) * 32768.0), -32768, 32767)
    return (q * PCM_SCALE).astype(np.float32)


def to_input_dtype(x: np.ndarray, tensor: Tensor) -> np.ndarray:
    """Float waveforms -> the model input tensor's dtype (int8: q = round(x / scale) + zero_point)."""
    if tensor.dtype == "float32":
        return np.asarray(x, dtype=np.float32)
    info = np.iinfo(np.dtype(tensor.dtype))
    q = np.round(np.asarray(x, dtype=np.float64) / tensor.scale[0]) + tensor.zero_point[0]
    return np.clip(q, info.min, info.max).astype(tensor.dtype)


def to_float_scores(y: np.ndarray, tensor: Tensor) -> np.ndarray:
    if tensor.dtype == "float32":
        return np.asarray(y, dtype=np.float32)
    return ((np.asarray(y, dtype=np.float64) - tensor.zero_point[0]) * tensor.scale[0]).astype(np.float32)


def run_litert(flatbuffer: bytes, inputs: np.ndarray) -> np.ndarray:
    """Every row of `inputs` (in the input dtype) through the desktop LiteRT interpreter -> raw outputs."""
    from ai_edge_litert.interpreter import Interpreter

    with quiet_c_output():  # LiteRT announces its XNNPACK delegate on the C-level stderr
        interp = Interpreter(model_content=flatbuffer, num_threads=1)
        interp.allocate_tensors()
    inp = interp.get_input_details()[0]["index"]
    out = interp.get_output_details()[0]["index"]
    rows = []
    for row in inputs:
        interp.set_tensor(inp, row[None, ...])
        interp.invoke()
        rows.append(np.array(interp.get_tensor(out))[0])
    return np.stack(rows)


def compare(labels: list[str], y: np.ndarray, float_scores: np.ndarray, tflm_scores: np.ndarray,
            litert_scores: np.ndarray) -> dict:
    """Accuracies, agreements and per-class deltas (accuracies in percent)."""
    f_pred = float_scores.argmax(axis=1)
    t_pred = tflm_scores.argmax(axis=1)
    l_pred = litert_scores.argmax(axis=1)
    per_class = []
    for c, label in enumerate(labels):
        mask = y == c
        n = int(mask.sum())
        fa = float(100.0 * (f_pred[mask] == c).mean()) if n else None
        ta = float(100.0 * (t_pred[mask] == c).mean()) if n else None
        per_class.append({"label": label, "n": n, "float_accuracy": fa, "int8_accuracy": ta,
                          "delta_points": None if n == 0 else ta - fa})
    float_acc = float(100.0 * (f_pred == y).mean())
    int8_acc = float(100.0 * (t_pred == y).mean())
    return {
        "n_test": int(len(y)),
        "float_accuracy": float_acc,
        "int8_tflm_accuracy": int8_acc,
        "int8_litert_accuracy": float(100.0 * (l_pred == y).mean()),
        "drop_points": float_acc - int8_acc,
        "agreement_float_tflm": float(100.0 * (f_pred == t_pred).mean()),
        "agreement_litert_tflm": float(100.0 * (l_pred == t_pred).mean()),
        "max_abs_diff_litert_tflm": float(np.max(np.abs(litert_scores - tflm_scores))) if len(y) else 0.0,
        "max_abs_diff_float_tflm": float(np.max(np.abs(float_scores - tflm_scores))) if len(y) else 0.0,
        "per_class": per_class,
    }
