"""Helpers for the device tests: small real int8 models in the run-folder layout, and a virtual board.

The models are genuine Keras -> TFLite (int8 body, float waveform in, float logits out) conversions; the
virtual board is the real `tinykd sim` process on a pseudo-terminal.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
QUIET_TF = {"OMP_NUM_THREADS": "1", "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1",
            "TF_CPP_MIN_LOG_LEVEL": "3"}


def make_int8_run(run_dir: Path, labels: list[str], sample_rate: int = 8000, seconds: float = 0.5,
                  seed: int = 0, int8_io: bool = False) -> Path:
    """Write RUN/labels.json and RUN/int8/model_int8.tflite for a small untrained Conv1D classifier
    (float waveform in and float scores out, or with int8_io an int8 input and output tensor)."""
    os.environ.update(QUIET_TF)
    import keras
    import tensorflow as tf

    n = int(sample_rate * seconds)
    keras.utils.set_random_seed(seed)
    inp = keras.Input(shape=(n,), name="waveform")
    x = keras.layers.Reshape((n, 1))(inp)
    x = keras.layers.Conv1D(8, 64, strides=32, activation="relu")(x)
    x = keras.layers.Conv1D(8, 3, strides=2, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling1D()(x)
    out = keras.layers.Dense(len(labels), name="logits")(x)
    model = keras.Model(inp, out)
    rng = np.random.default_rng(seed)

    def rep():
        for _ in range(8):
            yield [(rng.standard_normal((1, n)) * 0.3).astype(np.float32)]

    export = run_dir / "_export"
    model.export(str(export), format="tf_saved_model", verbose=False)
    conv = tf.lite.TFLiteConverter.from_saved_model(str(export))
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = rep
    if int8_io:
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8
    tflite = conv.convert()
    (run_dir / "int8").mkdir(parents=True, exist_ok=True)
    (run_dir / "int8" / "model_int8.tflite").write_bytes(tflite)
    (run_dir / "labels.json").write_text(json.dumps(labels))
    (run_dir / "config.json").write_text(json.dumps({"data": {"sample_rate": sample_rate, "clip_seconds": seconds}}))
    import shutil

    shutil.rmtree(export)
    return run_dir


class VirtualBoard:
    """`tinykd sim` in a subprocess; `.port` is its pseudo-terminal."""

    def __init__(self, run: Path, *args: str, timeout: float = 60.0):
        env = dict(os.environ, **QUIET_TF)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tinykd.cli", "sim", "--run", str(run), *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO,
        )
        deadline = time.monotonic() + timeout
        self.port = ""
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            m = re.search(r"(/dev/pts/\d+)", line)
            if m:
                self.port = m.group(1)
                return
        self.stop()
        raise RuntimeError(f"sim did not start: {self.proc.stderr.read()[-2000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def kill(self) -> None:
        """Pull the plug: the pty disappears at once."""
        self.proc.kill()
        self.proc.wait(5)

    def __enter__(self) -> "VirtualBoard":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def emit_c_files(run_dir: Path, arena_margin: float = 1.25) -> Path:
    """Make RUN/int8/ a complete int8 folder for RUN/int8/model_int8.tflite: the quantize.json record
    `tinykd quantize` writes (labels, sample rate, tensors, measured arena times `arena_margin`, ops) and the C
    sources from tinykd's own emitter."""
    from tinykd.artifacts import model_hash
    from tinykd.configio import save_json
    from tinykd.emit.write import model_source_from_report, write_c_sources
    from tinykd.tflite.arena import measure_arena_bytes
    from tinykd.tflite.graph import read_graph

    int8 = run_dir / "int8"
    flat = (int8 / "model_int8.tflite").read_bytes()
    graph = read_graph(flat)
    config = json.loads((run_dir / "config.json").read_text())

    def tensor(t) -> dict:
        return {"dtype": t.dtype, "shape": list(t.shape), "scale": t.scale[0] if t.scale else 0.0,
                "zero_point": t.zero_point[0] if t.zero_point else 0}

    measured = measure_arena_bytes(flat)
    report = {
        "version": 2,
        "labels": json.loads((run_dir / "labels.json").read_text()),
        "sample_rate": config["data"]["sample_rate"],
        "data_config": config["data"],
        "input": tensor(graph.io(graph.inputs[0])),
        "output": tensor(graph.io(graph.outputs[0])),
        "model": {"file": "model_int8.tflite", "bytes": len(flat), "hash16": model_hash(flat)},
        "arena": {"measured_bytes": measured, "margin": arena_margin - 1.0, "bytes": int(measured * arena_margin)},
        "ops": [{"op": name} for name in graph.op_names()],
    }
    save_json(int8 / "quantize.json", report)
    write_c_sources(model_source_from_report(report, flat), graph.op_names(), int8)
    return int8


def make_signal_int8_run(run_dir: Path, labels: list[str], noise_reduction: bool = True, seed: int = 0,
                         arena_bytes: int | None = None, preset: str | None = None) -> Path:
    """RUN/int8/ holding a genuine signal deployment: tinykd's Signal-op front end (with noise reduction and PCAN
    by default, so state carried across hops and reset per clip is exercised) and a small untrained body
    converted by tinykd.tflite.convert.convert_student, with the quantize.json record and the C sources.
    `arena_bytes` replaces the arena the record asks for (a deployment too large for a board); `preset` takes a
    shipped preset's topology and front end (untrained: sizes and arena depend only on shapes) instead."""
    os.environ.update(QUIET_TF)
    import keras

    from tinykd.artifacts import deployment_hash, model_hash
    from tinykd.configio import save_json
    from tinykd.emit.write import model_source_from_report, report_op_names, write_c_sources
    from tinykd.frontend.signal_graph import signal_op_names
    from tinykd.frontend.spec import SIGNAL_SPEC, FrontEndSpec
    from tinykd.students import build_student
    from tinykd.students.config import StudentConfig
    from tinykd.students.tflm_arena import example_clips, measure_conversion
    from tinykd.tflite.convert import convert_student
    from tinykd.tflite.graph import read_graph

    if preset:
        from tinykd.students.config import load_student_config

        student = load_student_config(preset)
        spec = student.spec()
    else:
        spec = FrontEndSpec.from_dict({**SIGNAL_SPEC.to_dict(), "noise_reduction": noise_reduction,
                                       "pcan": noise_reduction})
        student = StudentConfig(name="signal-pair", depth=2, channels=[4, 8], pool_after=[1], head="mean",
                                frontend=spec.to_dict())
    keras.utils.set_random_seed(seed)
    model = build_student(student, len(labels), 16000)
    clips = example_clips(6, 16000, 16000, seed=seed)
    conv = convert_student(model, clips)
    arena = measure_conversion(conv, clips[0])
    graph = read_graph(conv.model)

    def tensor(t) -> dict:
        return {"dtype": t.dtype, "shape": list(t.shape), "scale": t.scale[0] if t.scale else 0.0,
                "zero_point": t.zero_point[0] if t.zero_point else 0}

    int8 = run_dir / "int8"
    int8.mkdir(parents=True, exist_ok=True)
    (int8 / "model_int8.tflite").write_bytes(conv.model)
    (int8 / "frontend.tflite").write_bytes(conv.frontend)
    data = {"sample_rate": 16000, "clip_seconds": 1.0}
    report = {
        "version": 2, "kind": "signal", "labels": list(labels), "sample_rate": 16000, "clip_samples": 16000,
        "data_config": data,
        "input": tensor(graph.io(graph.inputs[0])), "output": tensor(graph.io(graph.outputs[0])),
        "model": {"file": "model_int8.tflite", "bytes": len(conv.model), "hash16": model_hash(conv.model)},
        "deployment": {"hash16": deployment_hash(conv.frontend, conv.model),
                       "flatbuffer_bytes": len(conv.model) + len(conv.frontend)},
        "frontend": {"kind": "signal", "spec": spec.to_dict(), "file": "frontend.tflite", "bytes": len(conv.frontend),
                     "hash16": model_hash(conv.frontend), "ops": signal_op_names(spec),
                     "input": {"dtype": "int16", "shape": [spec.win_length], "scale": 0.0, "zero_point": 0},
                     "output": {"dtype": "int8", "shape": [spec.n_mels], "scale": 1.0, "zero_point": 0}},
        "stream": {"window_samples": spec.win_length, "hop_samples": spec.hop_length, "frames": spec.n_frames(16000),
                   "bins": spec.n_mels, "clip_samples": 16000},
        "arena": {"measured_bytes": arena.arena_bytes, "frontend_measured_bytes": arena.frontend_arena_bytes,
                  "body_measured_bytes": arena.body_arena_bytes, "margin": 0.25,
                  "bytes": arena_bytes or int(arena.arena_bytes * 1.25) // 1024 * 1024 + 1024},
        "ops": [{"op": name} for name in graph.op_names()],
    }
    save_json(int8 / "quantize.json", report)
    (run_dir / "labels.json").write_text(json.dumps(list(labels)))
    (run_dir / "config.json").write_text(json.dumps({"data": data}))
    write_c_sources(model_source_from_report(report, conv.model, frontend=conv.frontend), report_op_names(report), int8)
    return run_dir


_RUNS: dict[tuple, Path] = {}


def cached_run(base: Path, labels: tuple[str, ...], sample_rate: int = 8000, seconds: float = 0.5, seed: int = 0,
               emit: bool = True, int8_io: bool = False) -> Path:
    """A model run made once per test session (keyed by its arguments) under `base`."""
    key = (labels, sample_rate, seconds, seed, emit, int8_io)
    if key not in _RUNS:
        run = base / f"run_{len(_RUNS)}"
        make_int8_run(run, list(labels), sample_rate, seconds, seed, int8_io)
        if emit:
            emit_c_files(run)
        _RUNS[key] = run
    return _RUNS[key]


DIGITS = tuple(str(i) for i in range(10))


_CORE_TEST_BINARY: list[Path] = []


def core_test_binary_path(base: Path) -> Path:
    """firmware/tests/test_core.cpp + the core, built once per session with -Werror and ASan/UBSan."""
    if not _CORE_TEST_BINARY:
        core = REPO / "firmware" / "tinykd_fw" / "src" / "core"
        exe = base / "test_core"
        cmd = ["g++", "-std=c++17", "-Wall", "-Wextra", "-Werror", "-fsanitize=address,undefined",
               "-fno-sanitize-recover=all", "-g", "-O1", f"-I{core}", str(REPO / "firmware" / "tests" / "test_core.cpp"),
               *map(str, sorted(core.glob("*.cpp"))), "-o", str(exe)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise AssertionError(f"firmware core does not compile:\n{proc.stderr[-4000:]}")
        _CORE_TEST_BINARY.append(exe)
    return _CORE_TEST_BINARY[0]
