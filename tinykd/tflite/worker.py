"""Runs a model in the TFLite Micro Python interpreter in its own process (used by tinykd.tflite.proof).

A separate process because TFLM writes its arena report and its kernel errors to the C-level stderr, and
a failing kernel must not take the caller down. Imports only numpy and tflite-micro (no TensorFlow).

    python -m tinykd.tflite.worker MODEL.tflite INPUTS.npy OUTPUTS.npy ARENA_BYTES
    python -m tinykd.tflite.worker --stream FRONTEND.tflite BODY.tflite PCM.npy OUTPUTS.npy FEATURES.npy WINDOW HOP

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
        interp.set_input(x[:1].reshape(interp.get_input_details(0)["shape"]), 0)
        interp.invoke()
    except Exception as exc:
        _emit({"stage": "exact", "ok": False, "error": str(exc)})
        return 5
    _emit({"stage": "exact", "ok": True, "output": np.array(interp.get_output(0)).tolist()})
    return 0


def stream(argv: list[str]) -> int:
    """Every clip of PCM [n, samples] through the signal pipeline in the firmware's order
    (tinykd.tflite.stream); stderr gets both allocation reports, front end first."""
    from tinykd.errors import TinykdError
    from tinykd.tflite.stream import StreamPipeline

    frontend, body = open(argv[0], "rb").read(), open(argv[1], "rb").read()
    pcm = np.load(argv[2], allow_pickle=False)
    try:
        pipe = StreamPipeline(frontend, body, int(argv[5]), int(argv[6]))
    except TinykdError as exc:
        _emit({"stage": "allocate", "error": str(exc)})
        return 3
    outputs, features = [], []
    for i, clip in enumerate(pcm):
        try:
            feats, raw = pipe.run(clip)
        except Exception as exc:
            _emit({"stage": "invoke", "error": str(exc), "example": i})
            return 4
        features.append(feats[: pipe.frames])
        outputs.append(raw)
        if (i + 1) % 10 == 0 or i + 1 == len(pcm):
            print(f"progress {i + 1} {len(pcm)}", flush=True)
    sys.stderr.flush()
    print("---allocations---", file=sys.stderr, flush=True)
    pipe.fe.print_allocations()
    sys.stderr.flush()
    print("---body allocations---", file=sys.stderr, flush=True)
    pipe.body.print_allocations()
    np.save(argv[3], np.stack(outputs), allow_pickle=False)
    np.save(argv[4], np.stack(features), allow_pickle=False)
    _emit({"stage": "done", "invoke_seconds": pipe.window_seconds, "hop_seconds": pipe.hop_seconds})
    return 0


if __name__ == "__main__":
    if sys.argv[1] == "--exact":
        sys.exit(check_exact_arena(sys.argv[2:]))
    if sys.argv[1] == "--stream":
        sys.exit(stream(sys.argv[2:]))
    sys.exit(main(sys.argv[1:]))
