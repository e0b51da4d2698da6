"""Writing the three C sources for a quantized model, and `tinykd export c` from a quantize output folder."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from tinykd.artifacts import Int8Dir
from tinykd.configio import atomic_write_text
from tinykd.emit.c_model import ModelSource, SignalModelSource, TensorSpec, render_header, render_source
from tinykd.emit.identifiers import c_identifier
from tinykd.emit.op_resolver import render_model_ops_h
from tinykd.emit.project import check_labels_fit_firmware
from tinykd.errors import TinykdError

HEADER, SOURCE, OPS_HEADER = Int8Dir.C_HEADER, Int8Dir.C_SOURCE, Int8Dir.OPS_HEADER


def write_c_sources(src: ModelSource | SignalModelSource, op_names: list[str], out_dir: str | os.PathLike) -> list[Path]:
    """Render all three files first (so a bad name or op fails before anything is written), then write each
    atomically."""
    prefix = c_identifier(src.prefix, what="--name")
    if prefix != src.prefix:
        src = dataclasses.replace(src, prefix=prefix)
    texts = {
        HEADER: render_header(src),
        SOURCE: render_source(src),
        OPS_HEADER: render_model_ops_h(op_names, prefix),
    }
    out = Path(out_dir)
    paths = []
    for name, text in texts.items():
        atomic_write_text(out / name, text)
        paths.append(out / name)
    return paths


def tensor_spec(info: dict) -> TensorSpec:
    return TensorSpec(
        dtype=str(info["dtype"]),
        shape=tuple(int(d) for d in info["shape"]),
        scale=float(info["scale"]),
        zero_point=int(info["zero_point"]),
    )


def model_source_from_report(report: dict, flatbuffer: bytes, prefix: str = "tinykd",
                             frontend: bytes | None = None) -> ModelSource | SignalModelSource:
    """The ModelSource (waveform model) or SignalModelSource (front end + body) a quantize.json describes
    (the report is the one place these facts are recorded)."""
    arena = report["arena"]
    if report.get("kind") == "signal":
        if frontend is None:
            raise TinykdError("a signal model's C sources need its front end (frontend.tflite)")
        fe = report["frontend"]
        return SignalModelSource(
            frontend=frontend, body=flatbuffer, labels=tuple(report["labels"]), sample_rate=int(report["sample_rate"]),
            clip_samples=int(report["stream"]["clip_samples"]), hop_samples=int(report["stream"]["hop_samples"]),
            frontend_input=tensor_spec(fe["input"]), frontend_output=tensor_spec(fe["output"]),
            input=tensor_spec(report["input"]), output=tensor_spec(report["output"]),
            frontend_arena_measured_bytes=int(arena["frontend_measured_bytes"]),
            body_arena_measured_bytes=int(arena["body_measured_bytes"]),
            arena_measured_bytes=int(arena["measured_bytes"]), arena_bytes=int(arena["bytes"]), prefix=prefix,
        )
    return ModelSource(
        flatbuffer=flatbuffer,
        labels=tuple(report["labels"]),
        sample_rate=int(report["sample_rate"]),
        input=tensor_spec(report["input"]),
        output=tensor_spec(report["output"]),
        arena_measured_bytes=int(arena["measured_bytes"]),
        arena_bytes=int(arena["bytes"]),
        prefix=prefix,
    )


def report_op_names(report: dict) -> list[str]:
    """Every op the firmware's resolver must register: the body's (or waveform model's) and the front end's."""
    return [row["op"] for row in report["ops"]] + list(report.get("frontend", {}).get("ops") or [])


def export_c(path: str | os.PathLike, out_dir: str | os.PathLike | None = None, name: str = "tinykd") -> list[Path]:
    """(Re)write model_data.h/.cc and model_ops.h for a quantized model (RUN or its int8 folder); returns the
    written paths. A .tflite that is not the one quantize.json describes is refused."""
    folder = Int8Dir.find(path)
    flatbuffer = folder.flatbuffer()
    report = folder.report()
    check_labels_fit_firmware(folder.labels(), str(folder.path))  # validates the record's label list too
    src = model_source_from_report(report, flatbuffer, prefix=name, frontend=folder.frontend_flatbuffer())
    return write_c_sources(src, report_op_names(report), out_dir if out_dir is not None else folder.path)
