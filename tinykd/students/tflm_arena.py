"""What a student costs in the real TFLM interpreter: converted exactly as the quantizer converts it
(tinykd.tflite.convert.convert_student), then allocated and invoked in TFLM.

This is the students' own check behind `tinykd models --measure` and the benches (does a preset fit its arena
budget, do all layers become TFLM ops, does batch norm fold); the quantizer with its proof and reports is
tinykd.quantize. For a signal student the firmware holds both graphs in one arena (TFLM's multi-tenant
allocator: the scratch head is shared, the persistent tails add up), which is the figure reported; the two
graphs' own arenas are reported beside it. Arenas are read by tinykd.tflite.arena.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinykd.tflite.arena import allocations_report, arena_bytes, shared_arena_bytes
from tinykd.tflite.graph import read_graph
from tinykd.tflite.io import TensorQuant, dequantize, quantize
from tinykd.tflite.run import tflm_interpreter

# Ops the TFLM interpreter registers in its AllOpsResolver that a student may use.
TFLM_OPS = frozenset(
    {
        "ADD", "BATCH_MATMUL", "CONCATENATION", "CONV_2D", "DEPTHWISE_CONV_2D", "DEQUANTIZE", "EXPAND_DIMS",
        "FULLY_CONNECTED", "LOG", "MAXIMUM", "MAX_POOL_2D", "MEAN", "MUL", "QUANTIZE", "RELU", "RESHAPE",
        "RSQRT", "SHAPE", "SOFTMAX", "SQUARED_DIFFERENCE", "STRIDED_SLICE", "SUB", "SUM", "TRANSPOSE",
        "PACK", "SQUEEZE", "GATHER",
    }
)


@dataclass(frozen=True)
class ArenaReport:
    arena_bytes: int  # what the firmware allocates: the one model's arena, or the shared arena of both graphs
    flatbuffer_bytes: int  # every flatbuffer the firmware holds
    ops: tuple[str, ...]  # distinct op names of the body (or waveform model), sorted
    allocations: str  # the body's (or waveform model's) print_allocations() text
    kind: str = "waveform"  # "signal": Signal-op front end + int8 body
    body_arena_bytes: int = 0
    frontend_arena_bytes: int = 0
    frontend_bytes: int = 0


def op_names(flatbuffer: bytes) -> tuple[str, ...]:
    """Distinct op names in a flatbuffer."""
    return tuple(sorted(set(read_graph(flatbuffer).op_names())))


def measure_arena(flatbuffer: bytes, example: np.ndarray | None = None) -> ArenaReport:
    """Load `flatbuffer` in the TFLM interpreter, invoke it once on `example`, and read back its arena."""
    interp = tflm_interpreter(flatbuffer)
    if example is not None:
        invoke_float(interp, example)
    text = allocations_report(interp)
    measured = arena_bytes(text)
    return ArenaReport(measured, len(flatbuffer), op_names(flatbuffer), text, body_arena_bytes=measured)


def measure_conversion(conversion, example_waveform: np.ndarray) -> ArenaReport:
    """The arena(s) of a tinykd.tflite.convert.Conversion, invoked once on `example_waveform`."""
    if conversion.kind != "signal":
        return measure_arena(conversion.model, example_waveform)
    spec = conversion.spec
    fe = tflm_interpreter(conversion.frontend, where="Signal front end")
    pcm = np.clip(np.rint(np.asarray(example_waveform, np.float64) * 32768), -32768, 32767).astype(np.int16)
    fe.set_input(pcm[: spec.win_length], 0)
    fe.invoke()
    body = tflm_interpreter(conversion.model, where="int8 body")
    shape = body.get_input_details(0)["shape"]
    body.set_input(np.zeros(shape, np.int8), 0)
    body.invoke()
    fe_text, body_text = allocations_report(fe), allocations_report(body)
    return ArenaReport(shared_arena_bytes([fe_text, body_text]), len(conversion.frontend) + len(conversion.model),
                       op_names(conversion.model), body_text, "signal", arena_bytes(body_text), arena_bytes(fe_text),
                       len(conversion.frontend))


def invoke_float(interp, x: np.ndarray) -> np.ndarray:
    """Run a TFLM interpreter on float input `x` (one example) with the firmware's int8 input/output rule."""
    detail = interp.get_input_details(0)
    interp.set_input(quantize(np.asarray(x, dtype=np.float32).reshape(detail["shape"]), TensorQuant.of(detail)), 0)
    interp.invoke()
    return dequantize(interp.get_output(0), TensorQuant.of(interp.get_output_details(0)))


def example_clips(n: int, samples: int, sample_rate: int, seed: int = 0) -> np.ndarray:
    """Speech-like calibration clips (harmonic tones under a syllable envelope, plus noise), float32 [n, samples].

    The arena depends only on tensor shapes, so these serve any arena measurement; a real quantization
    calibrates on real clips (tinykd.quantize).
    """
    rng = np.random.default_rng(seed)
    t = np.arange(samples) / sample_rate
    clips = np.empty((n, samples), dtype=np.float32)
    for i in range(n):
        f0 = rng.uniform(90, 250)
        tone = sum(np.sin(2 * np.pi * f0 * h * t + rng.uniform(0, 2 * np.pi)) / h for h in range(1, 8))
        envelope = np.clip(np.sin(2 * np.pi * rng.uniform(2, 5) * t + rng.uniform(0, np.pi)), 0, None)
        clips[i] = (rng.uniform(0.05, 0.5) * envelope * tone + 0.01 * rng.standard_normal(samples)).astype(np.float32)
    return clips


def measure_preset(preset, n_classes: int = 10, clip_seconds: float | None = None, n_calibration: int = 8) -> ArenaReport:
    """Build a preset (untrained weights: the arena depends only on shapes), convert it as the quantizer
    does, and measure it in TFLM."""
    from tinykd.students.build import build_student
    from tinykd.students.config import load_student_config
    from tinykd.tflite.convert import convert_student

    config = load_student_config(preset)
    samples = config.clip_samples(clip_seconds)
    model = build_student(config, n_classes, samples)
    clips = example_clips(n_calibration, samples, config.spec().sample_rate)
    return measure_conversion(convert_student(model, clips), clips[0])
