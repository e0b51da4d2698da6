"""Writing the three C sources for a quantized model, and `tinykd export c` from a quantize output folder."""

from __future__ import annotations

import os
from pathlib import Path

from tinykd.configio import atomic_write_text, load_json
from tinykd.emit.c_model import ModelSource, TensorSpec, model_hash, render_header, render_source
from tinykd.emit.identifiers import c_identifier
from tinykd.emit.op_resolver import render_model_ops_h
from tinykd.errors import TinykdError

HEADER = "model_data.h"
SOURCE = "model_data.cc"
OPS_HEADER = "model_ops.h"
TFLITE = "model_int8.tflite"
REPORT_JSON = "quantize.json"


def write_c_sources(src: ModelSource, op_names: list[str], out_dir: str | os.PathLike) -> list[Path]:
    """Render all three files first (so a bad name or op fails before anything is written), then write each
    atomically."""
    prefix = c_identifier(src.prefix, what="--name")
    if prefix != src.prefix:
        src = ModelSource(**{**src.__dict__, "prefix": prefix})
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


def model_source_from_report(report: dict, flatbuffer: bytes, prefix: str = "tinykd") -> ModelSource:
    """The ModelSource a quantize.json describes (the report is the one place these facts are recorded)."""
    return ModelSource(
        flatbuffer=flatbuffer,
        labels=tuple(report["labels"]),
        sample_rate=int(report["sample_rate"]),
        input=tensor_spec(report["input"]),
        output=tensor_spec(report["output"]),
        arena_measured_bytes=int(report["arena"]["measured_bytes"]),
        arena_bytes=int(report["arena"]["bytes"]),
        prefix=prefix,
    )


def find_quantized(path: str | os.PathLike) -> Path:
    """RUN (with RUN/int8/) or the quantize output folder itself -> the folder holding model_int8.tflite."""
    path = Path(path)
    for cand in (path, path / "int8"):
        if (cand / TFLITE).is_file() and (cand / REPORT_JSON).is_file():
            return cand
    if not path.exists():
        raise TinykdError(f"{path}: no such folder")
    raise TinykdError(f"{path}: no {TFLITE} with {REPORT_JSON} here or in {path / 'int8'}; run `tinykd quantize` first")


def export_c(path: str | os.PathLike, out_dir: str | os.PathLike | None = None, name: str = "tinykd") -> list[Path]:
    """(Re)write model_data.h/.cc and model_ops.h for a quantized model; returns the written paths."""
    folder = find_quantized(path)
    report = load_json(folder / REPORT_JSON)
    flatbuffer = (folder / TFLITE).read_bytes()
    if report.get("model", {}).get("hash16") != model_hash(flatbuffer):
        raise TinykdError(f"{folder / TFLITE} does not match {folder / REPORT_JSON} (hash differs); run `tinykd quantize` again")
    src = model_source_from_report(report, flatbuffer, prefix=name)
    ops = [entry["op"] for entry in report["ops"]]
    return write_c_sources(src, ops, out_dir if out_dir is not None else folder)
