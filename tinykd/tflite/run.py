"""The two interpreters tinykd runs .tflite models in, wrapped once.

- TFLM (`tflite_micro`, the real TFLite Micro interpreter; every on-device claim is checked in it): in process
  here (`tflm_interpreter`, `run_tflm`), or in a child process for the quantizer's proof
  (`tinykd.tflite.proof`, which also measures the arena).
- LiteRT (`ai_edge_litert`, the desktop interpreter): `litert_interpreter`, `run_litert`.

On the host TFLM gets one generous arena, `HOST_ARENA_BYTES`; its recording allocator reports what a model
really uses (tinykd.tflite.arena), which is the figure the firmware allocates.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tinykd.errors import TinykdError
from tinykd.tflite.io import TensorQuant, dequantize, waveform_to_input
from tinykd.tflite.quiet import quiet_c_output

# Arena given to TFLM on the host. The binding's default (10x the flatbuffer) is too small for models whose
# activations dwarf their weights; a model that needs more than this is not a microcontroller model.
HOST_ARENA_BYTES = 16 * 1024 * 1024


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]


def tflm_interpreter(flatbuffer: bytes, arena_size: int = HOST_ARENA_BYTES, where: str = "model"):
    """A TFLM interpreter with the model allocated; a one-line TinykdError when TFLM refuses it."""
    from tflite_micro import runtime

    try:
        return runtime.Interpreter.from_bytes(flatbuffer, arena_size=arena_size)
    except Exception as exc:  # the binding raises RuntimeError after printing the cause on stderr
        raise TinykdError(f"{where}: TFLite Micro cannot load this model ({_first_line(exc)})") from None


def litert_interpreter(flatbuffer: bytes, where: str = "model"):
    """A LiteRT interpreter (one thread) with tensors allocated; a one-line TinykdError for a bad model."""
    from ai_edge_litert.interpreter import Interpreter

    try:
        with quiet_c_output():  # LiteRT announces its XNNPACK delegate on the C-level stderr
            interp = Interpreter(model_content=flatbuffer, num_threads=1)
            interp.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        raise TinykdError(f"{where}: not a usable .tflite model ({_first_line(exc)})") from None
    return interp


def read_tflite(path: str | Path) -> bytes:
    path = Path(path)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise TinykdError(f"{path}: no such .tflite file") from None
    except PermissionError:
        raise TinykdError(f"{path}: permission denied") from None
    except IsADirectoryError:
        raise TinykdError(f"{path}: is a folder, not a .tflite file") from None


def run_litert(flatbuffer: bytes, inputs: np.ndarray) -> np.ndarray:
    """Every row of `inputs` (already in the input tensor's dtype) through LiteRT -> raw outputs [n, ...]."""
    interp = litert_interpreter(flatbuffer)
    inp = interp.get_input_details()[0]
    out = interp.get_output_details()[0]
    rows = []
    for row in inputs:
        interp.set_tensor(inp["index"], np.asarray(row).reshape(inp["shape"]))
        interp.invoke()
        rows.append(np.array(interp.get_tensor(out["index"])).reshape(-1))
    return np.stack(rows) if rows else np.zeros((0, int(np.prod(out["shape"]))), dtype=out["dtype"])


def run_tflm(flatbuffer: bytes, inputs: np.ndarray, where: str = "model") -> np.ndarray:
    """Every row of `inputs` (in the input tensor's dtype) through TFLM in this process -> raw outputs [n, ...]."""
    interp = tflm_interpreter(flatbuffer, where=where)
    shape = interp.get_input_details(0)["shape"]
    rows = []
    for row in inputs:
        interp.set_input(np.asarray(row).reshape(shape), 0)
        interp.invoke()
        rows.append(np.array(interp.get_output(0)).reshape(-1))
    return np.stack(rows) if rows else np.zeros((0,), dtype=np.float32)


def io_quant(flatbuffer: bytes) -> tuple[TensorQuant, TensorQuant, tuple[int, ...]]:
    """(input quantization, output quantization, input shape) of a model, read from the flatbuffer."""
    from tinykd.tflite.graph import read_graph

    try:
        graph = read_graph(flatbuffer)
    except Exception as exc:  # a corrupt flatbuffer raises struct/index errors from the generated reader
        raise TinykdError(f"not a readable .tflite flatbuffer ({type(exc).__name__})") from None
    t_in, t_out = graph.io(graph.inputs[0]), graph.io(graph.outputs[0])
    return TensorQuant.of(t_in), TensorQuant.of(t_out), tuple(t_in.shape)


def waveform_scores(flatbuffer: bytes, x: np.ndarray, engine: str = "litert", where: str = "model") -> np.ndarray:
    """Float waveforms [n, samples] -> float32 class scores [n, classes] of a waveform-in model, with the
    input prepared exactly as on a board (int16 PCM, then the firmware's quantization rule)."""
    q_in, q_out, shape = io_quant(flatbuffer)
    if int(shape[-1]) != x.shape[1]:
        raise TinykdError(f"{where}: model takes {int(shape[-1])} samples per clip, the data gives {x.shape[1]}")
    inputs = waveform_to_input(x, q_in)
    raw = run_litert(flatbuffer, inputs) if engine == "litert" else run_tflm(flatbuffer, inputs, where)
    return dequantize(raw, q_out)
