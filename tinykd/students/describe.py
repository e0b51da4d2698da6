"""What a student costs: parameters, MACs per second of audio, activation memory, flatbuffer size.

All figures come from the analytic layer plan (tinykd.students.plan), so `tinykd models` is instant and
needs no TensorFlow. The arena a real TFLM interpreter allocates is measured by tinykd.students.tflm_arena
(`tinykd models --measure`).
"""

from __future__ import annotations

import os

from tinykd.students.config import StudentConfig, load_student_config, models_dir, preset_names
from tinykd.students.plan import feature_shape, layer_plan

DEFAULT_N_CLASSES = 10  # the figures depend on the class count only through the last Dense layer

# Flatbuffer estimate: int8 kernels (1 B), int32 biases (4 B), per-output-channel quantization parameters
# (float scale + int64 zero point = 12 B per channel), front-end constants (float32 unless the front end
# is quantized), plus a fixed cost per layer for tensor and operator tables and a fixed file header.
# The two overheads were fitted to models converted by tinykd.students.tflm_arena (see docs/students.md).
_QPARAM_BYTES_PER_CHANNEL = 12
_BYTES_PER_LAYER = 420
_BYTES_HEADER = 2400


def describe(
    preset: "str | os.PathLike | StudentConfig", clip_seconds: float = 1.0, n_classes: int = DEFAULT_N_CLASSES
) -> dict:
    """Figures for one preset on a clip of `clip_seconds` (MACs are given per second of audio)."""
    config = load_student_config(preset)
    spec = config.spec()
    clip_samples = config.clip_samples(clip_seconds)
    plan = layer_plan(config, n_classes, clip_samples, spec)
    front = [layer for layer in plan if layer.stage == "frontend"]
    body = [layer for layer in plan if layer.stage == "body"]
    frontend_bytes_per_elem = 1 if config.frontend_int8 else 4
    per_second = 1.0 / clip_seconds
    front_consts = sum(layer.weights_int8 for layer in front) * frontend_bytes_per_elem
    body_bytes = sum(
        layer.weights_int8 + 4 * layer.biases_int32 + _QPARAM_BYTES_PER_CHANNEL * layer.biases_int32 for layer in body
    )
    flatbuffer = _BYTES_HEADER + _BYTES_PER_LAYER * len(plan) + front_consts + body_bytes
    return {
        "name": config.name,
        "description": config.description,
        "head": config.head,
        "depth": config.depth,
        "channels": list(config.block_channels),
        "pool_after": list(config.pool_blocks),
        "dropout": config.dropout,
        "frontend": spec.to_dict(),
        "frontend_int8": config.frontend_int8,
        "clip_seconds": clip_seconds,
        "clip_samples": clip_samples,
        "n_classes": n_classes,
        "frames": spec.n_frames(clip_samples),
        "feature_shape": list(feature_shape(config, clip_samples, spec)),
        "params": sum(layer.params for layer in plan),
        "params_total": sum(layer.params + layer.params_frozen for layer in plan),
        "macs_per_second": {
            "frontend": round(sum(layer.macs for layer in front) * per_second),
            "body": round(sum(layer.macs for layer in body) * per_second),
            "total": round(sum(layer.macs for layer in plan) * per_second),
        },
        "peak_activation_bytes": max(layer.live for layer in body),  # int8 body: one byte per element
        "frontend_peak_bytes": max(layer.live for layer in front) * frontend_bytes_per_elem,
        "flatbuffer_bytes_estimate": flatbuffer,
        "layers": [
            {
                "name": layer.name,
                "stage": layer.stage,
                "out_shape": list(layer.out_shape),
                "params": layer.params,
                "macs": layer.macs,
                "live_elements": layer.live,
            }
            for layer in plan
        ],
    }


def describe_all(
    directory: str | os.PathLike | None = None, clip_seconds: float = 1.0, n_classes: int = DEFAULT_N_CLASSES
) -> list[dict]:
    """`describe` for every preset in the preset folder, sorted by name."""
    folder = directory if directory is not None else models_dir()
    return [
        describe(os.path.join(folder, f"{name}.json"), clip_seconds, n_classes) for name in preset_names(folder)
    ]
