"""Runs a model in the TFLite Micro Python interpreter in its own process (used by tinykd.tflite.proof).

A separate process because TFLM writes its arena report and its kernel errors to the C-level stderr, and
a failing kernel must not take the caller down. Imports only numpy and tflite-micro (no TensorFlow).

    python -m tinykd.tflite.worker MODEL.tflite INPUTS.npy OUTPUTS.npy ARENA_BYTES

stdout: `progress k n` lines, then one JSON line {"stage": ..., ...}. stderr: whatever TFLM prints.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np


def _emit(obj: dict) -> None:
    print(json.dumps(obj), flush=True)


def main(argv: list[str]) -> int:
    from tflite_micro import runtime

    model_path, inputs_path, outputs_path, arena = argv[0], argv[1], argv[2], int(argv[3])
    model = open(model_path, "rb").read()
    x = np.load(inputs_path, allow_pickle=False)
    try:
        interp = runtime.Interpreter.from_bytes(model, arena_size=arena)
    except Exception as exc:  # TFLM raises RuntimeError after printing the cause on stderr
        _emit({"stage": "allocate", "error": str(exc)})
        return 3
    outputs, times = [], []
    for i, row in enumerate(x):
        interp.set_input(row[None, ...], 0)
        t0 = time.perf_counter()
        try:
            interp.invoke()
        except Exception as exc:
            _emit({"stage": "invoke", "error": str(exc), "example": i})
            return 4
        times.append(time.perf_counter() - t0)
        outputs.append(np.array(interp.get_output(0))[0])
        if (i + 1) % 10 == 0 or i + 1 == len(x):
            print(f"progress {i + 1} {len(x)}", flush=True)
    sys.stderr.flush()
    print("---allocations---", file=sys.stderr, flush=True)
    interp.print_allocations()
    np.save(outputs_path, np.stack(outputs) if outputs else np.zeros((0,)), allow_pickle=False)
    _emit({"stage": "done", "invoke_seconds": times})
    return 0


def check_exact_arena(argv: list[str]) -> int:
    """Allocate with exactly ARENA bytes and invoke once: proves the measured figure is enough."""
    from tflite_micro import runtime

    model = open(argv[0], "rb").read()
    x = np.load(argv[1], allow_pickle=False)
    arena = int(argv[2])
    try:
        interp = runtime.Interpreter.from_bytes(model, arena_size=arena)
        interp.set_input(x[:1], 0)
        interp.invoke()
    except Exception as exc:
        _emit({"stage": "exact", "ok": False, "error": str(exc)})
        return 5
    _emit({"stage": "exact", "ok": True, "output": np.array(interp.get_output(0)).tolist()})
    return 0


if __name__ == "__main__":
    if sys.argv[1] == "--exact":
        sys.exit(check_exact_arena(sys.argv[2:]))
    sys.exit(main(sys.argv[1:]))
