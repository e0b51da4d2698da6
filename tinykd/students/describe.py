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
# (float scale + int64 zero point = 12 B per channel), front-end constants (the logmel front end's float
# matrices stored int8; the Signal front end's int16 tables), plus a fixed cost per layer for tensor and
# operator tables and a fixed file header. The overheads were fitted to models converted by
# tinykd.tflite.convert (see docs/students.md).
_QPARAM_BYTES_PER_CHANNEL = 12
_BYTES_PER_LAYER = 420
_BYTES_HEADER = 2400
_SIGNAL_GRAPH_OVERHEAD = 1800  # the Signal graph's tensors, ops and options besides its int16 tables


def signal_graph_bytes_estimate(spec) -> int:
    """The Signal front end's flatbuffer: window weights, filter-bank tables (int16) and a fixed overhead."""
    from tinykd.frontend.signal_tables import signal_tables

    fb = signal_tables(spec).filter_bank
    tables = 2 * (spec.win_length + 2 * len(fb.weights) + 3 * (spec.n_mels + 1))
    return _SIGNAL_GRAPH_OVERHEAD + tables


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
    signal = spec.kind == "signal"

    def front_bytes(layer) -> int:  # the signal layer counts its live bytes; the logmel front end is float32
        return 1 if signal else 4

    per_second = 1.0 / clip_seconds
    body_bytes = sum(
        layer.weights + 4 * layer.biases_int32 + _QPARAM_BYTES_PER_CHANNEL * layer.biases_int32 for layer in body
    )
    if signal:  # two flatbuffers: the Signal graph and the int8 body
        flatbuffer = signal_graph_bytes_estimate(spec) + _BYTES_HEADER + _BYTES_PER_LAYER * len(body) + body_bytes
    else:  # one: the float front end's matrices stored int8 (tinykd.tflite.compress) and the int8 body
        front_consts = sum(layer.weights for layer in front)
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
        "kind": spec.kind,
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
        "frontend_peak_bytes": max(layer.live * front_bytes(layer) for layer in front),
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


def _channels_text(channels: list[int]) -> str:
    """[12, 24, 32, 32, 32] -> '12,24,32x3'."""
    parts: list[str] = []
    i = 0
    while i < len(channels):
        j = i
        while j + 1 < len(channels) and channels[j + 1] == channels[i]:
            j += 1
        run = j - i + 1
        parts.append(f"{channels[i]}x{run}" if run > 1 else str(channels[i]))
        i = j + 1
    return ",".join(parts)


def _si(value: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:.1f} {unit}"
    return f"{value:.0f}"


def presets_table(rows: list[dict]):
    """A rich table of `describe` results (one row per preset); `arena_bytes` is shown when measured."""
    from rich.table import Table

    measured = any("arena_bytes" in row for row in rows)
    n_classes = sorted({row["n_classes"] for row in rows})
    seconds = sorted({row["clip_seconds"] for row in rows})
    table = Table(
        title="Student presets",
        caption=(
            f"{'/'.join(map(str, n_classes))} classes, {'/'.join(map(str, seconds))} s clips. MACs are per second of "
            "audio. Peak = largest input+output of one layer of the int8 body; front end peak in its own precision "
            "(float32 logmel, or the Signal graph's integers per hop). Flatbuffer: estimate for int8 weights "
            "(the Signal front end's graph included)."
            + (" Arena: measured in the TFLM interpreter." if measured else " Arena: run with --measure.")
        ),
    )
    for col, justify in (
        ("preset", "left"), ("head", "left"), ("channels", "left"), ("front end", "left"), ("params", "right"),
        ("MAC/s front end", "right"), ("MAC/s body", "right"), ("peak act. (body)", "right"),
        ("peak act. (front end)", "right"), ("flatbuffer est.", "right"),
    ):
        table.add_column(col, justify=justify)
    if measured:
        table.add_column("arena (TFLM)", justify="right")
    for row in rows:
        fe = row["frontend"]
        front = (
            f"{'Signal int8' if row['kind'] == 'signal' else 'logmel float'} {fe['win_length']}/{fe['hop_length']} "
            f"@ {fe['sample_rate'] // 1000} kHz, {fe['n_mels']} mels"
        )
        cells = [
            row["name"], row["head"], _channels_text(row["channels"]), front, f"{row['params']:,}",
            _si(row["macs_per_second"]["frontend"]), _si(row["macs_per_second"]["body"]),
            f"{row['peak_activation_bytes']:,} B", f"{row['frontend_peak_bytes']:,} B",
            f"{row['flatbuffer_bytes_estimate']:,} B",
        ]
        if measured:
            cells.append(f"{row['arena_bytes']:,} B" if "arena_bytes" in row else "-")
        table.add_row(*cells)
    return table


def layers_table(row: dict):
    """A rich table of one preset's layers (shape, parameters, MACs, live activation elements)."""
    from rich.table import Table

    table = Table(title=f"{row['name']}: layers ({row['clip_seconds']} s clip, {row['n_classes']} classes)")
    for col, justify in (("layer", "left"), ("stage", "left"), ("output", "left"), ("params", "right"),
                         ("MACs", "right"), ("live elements", "right")):
        table.add_column(col, justify=justify)
    for layer in row["layers"]:
        table.add_row(
            layer["name"], layer["stage"], "x".join(map(str, layer["out_shape"])), f"{layer['params']:,}",
            f"{layer['macs']:,}", f"{layer['live_elements']:,}",
        )
    return table
