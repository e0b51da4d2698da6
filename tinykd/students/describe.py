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
    """Three rich tables of `describe` results (one row per preset), each readable at 80 columns: memory
    (params, flatbuffer, peak activations, the arena when measured), compute (front end, MACs per second of
    audio) and architecture (kind, head, channels)."""
    from rich import box
    from rich.console import Group
    from rich.table import Table

    measured = any("arena_bytes" in row for row in rows)
    n_classes = sorted({row["n_classes"] for row in rows})
    seconds = sorted({row["clip_seconds"] for row in rows})
    memory = Table(
        title=f"Student presets: memory ({'/'.join(map(str, n_classes))} classes, "
              f"{'/'.join(map(str, seconds))} s clips)",
        box=box.SIMPLE_HEAD,
        caption=(
            "peak act. = largest input+output of one layer (the int8 body; the front end in its own precision: "
            "float32 logmel, or the Signal graph's integers per hop). flatbuffer: estimate for int8 weights, the "
            "Signal front end's graph included."
            + (" arena: measured in the TFLM interpreter." if measured else " arena: run with --measure.")
        ),
    )
    for col, justify in (("preset", "left"), ("params", "right"), ("flatbuffer est.", "right"),
                         ("peak act. (body)", "right"), ("peak act. (front end)", "right")):
        memory.add_column(col, justify=justify, no_wrap=col == "preset")
    if measured:
        memory.add_column("arena (TFLM)", justify="right")
    compute = Table(title="Student presets: compute (MACs per second of audio)", box=box.SIMPLE_HEAD,
                    padding=(0, 1), caption="front end: window/hop; Signal = TFLM's integer Signal ops")
    for col, justify in (("preset", "left"), ("front end", "left"), ("mels", "right"), ("MAC/s front end", "right"),
                         ("MAC/s body", "right")):
        compute.add_column(col, justify=justify, no_wrap=col in ("preset", "front end"))
    shape = Table(title="Student presets: architecture", box=box.SIMPLE_HEAD)
    for col in ("preset", "kind", "head", "channels per block"):
        shape.add_column(col, no_wrap=True)
    for row in rows:
        fe = row["frontend"]
        ms = 1000.0 / fe["sample_rate"]
        front = (f"{'Signal' if row['kind'] == 'signal' else 'logmel'} {fe['win_length'] * ms:g}/"
                 f"{fe['hop_length'] * ms:g} ms @ {fe['sample_rate'] // 1000}k")
        cells = [row["name"], f"{row['params']:,}", f"{row['flatbuffer_bytes_estimate']:,} B",
                 f"{row['peak_activation_bytes']:,} B", f"{row['frontend_peak_bytes']:,} B"]
        if measured:
            cells.append(f"{row['arena_bytes']:,} B" if "arena_bytes" in row else "-")
        memory.add_row(*cells)
        compute.add_row(row["name"], front, str(fe["n_mels"]), _si(row["macs_per_second"]["frontend"]),
                        _si(row["macs_per_second"]["body"]))
        shape.add_row(row["name"], row["kind"], row["head"], _channels_text(row["channels"]))
    return Group(memory, compute, shape)


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
