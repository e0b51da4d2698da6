"""The int8 model a board should run, as the host sees it: flatbuffer, hash, labels, shapes, and the
host reference answers from the TFLM interpreter (`tflite_micro`) on exactly the board's input.

A model is found from a run folder (`RUN/int8/model_int8.tflite`, labels in `RUN/labels.json`), the
int8 folder itself, or a `.tflite` file with `labels.json` beside it or one folder up.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tinykd.configio import load_json
from tinykd.device.protocol import model_hash
from tinykd.errors import TinykdError
from tinykd.quantize.arena import measure_arena_bytes

INT8_DIR = "int8"
TFLITE_NAME = "model_int8.tflite"
PCM_SCALE = np.float32(1.0 / 32768.0)


def find_tflite(path: str | os.PathLike) -> Path:
    path = Path(path)
    for cand in (path, path / INT8_DIR / TFLITE_NAME, path / TFLITE_NAME):
        if cand.is_file():
            return cand
    if not path.exists():
        raise TinykdError(f"{path}: no such run folder or .tflite file")
    raise TinykdError(f"{path}: no int8 model ({INT8_DIR}/{TFLITE_NAME}); run `tinykd quantize` on the run first")


def _header_define(header: Path, name: str) -> int | None:
    if not header.is_file():
        return None
    m = re.search(rf"#define\s+{name}\s+(\d+)", header.read_text(errors="replace"))
    return int(m.group(1)) if m else None


def _run_sample_rate(tflite: Path) -> int | None:
    for folder in (tflite.parent, tflite.parent.parent):
        cfg = folder / "config.json"
        if cfg.is_file():
            doc = load_json(cfg)
            for key in ("data", "frontend"):
                sr = doc.get(key, {}).get("sample_rate") if isinstance(doc, dict) else None
                if isinstance(sr, int) and sr > 0:
                    return sr
    return None


@dataclass
class DeviceModel:
    """Everything the host needs to talk about a model with a board."""

    path: Path
    flatbuffer: bytes
    labels: list[str]
    sample_rate: int
    arena_bytes: int

    @property
    def hash(self) -> str:
        return model_hash(self.flatbuffer)

    @property
    def input_samples(self) -> int:
        return int(self._details()[0]["shape"][-1])

    def _details(self):
        if not hasattr(self, "_cached_details"):
            interp = self.interpreter()
            self._cached_details = (interp.get_input_details(0), interp.get_output_details(0))
        return self._cached_details

    def interpreter(self):
        from tflite_micro import runtime

        from tinykd.quantize.arena import HOST_ARENA_BYTES

        try:
            return runtime.Interpreter.from_bytes(self.flatbuffer, arena_size=HOST_ARENA_BYTES)
        except Exception as exc:  # the TFLM binding raises RuntimeError with a long C message
            raise TinykdError(f"{self.path}: TFLM cannot load this model ({str(exc).splitlines()[0][:160]})") from None


def load_device_model(path: str | os.PathLike, sample_rate: int | None = None) -> DeviceModel:
    """Find and load the int8 model of a run folder (or a .tflite file) with its labels."""
    from tinykd.distill.runfolder import model_labels

    tflite = find_tflite(path)
    flat = tflite.read_bytes()
    labels = model_labels(tflite)
    header = tflite.parent / "model_data.h"
    sr = sample_rate or _header_define(header, "TINYKD_SAMPLE_RATE") or _run_sample_rate(tflite) or 16000
    arena = _header_define(header, "TINYKD_ARENA_BYTES") or measure_arena_bytes(flat)
    model = DeviceModel(tflite, flat, labels, sr, arena)
    inp, out = model._details()
    if len(inp["shape"]) != 2 or int(inp["shape"][0]) != 1:
        raise TinykdError(f"{tflite}: input shape {list(inp['shape'])} is not [1, samples] (a waveform model)")
    if int(np.prod(out["shape"])) != len(labels):
        raise TinykdError(f"{tflite}: {int(np.prod(out['shape']))} outputs but {len(labels)} labels in labels.json")
    return model


def _quant(details) -> tuple[float, int]:
    q = details["quantization_parameters"]
    scales, zps = q["scales"], q["zero_points"]
    return (float(scales[0]), int(zps[0])) if len(scales) else (1.0, 0)


def pcm_to_input(pcm: np.ndarray, details) -> np.ndarray:
    """int16 PCM -> the input tensor, with the same float32 arithmetic as tkd_pcm.cpp."""
    x = pcm.astype(np.float32) * PCM_SCALE
    dtype = details["dtype"]
    if dtype == np.float32:
        return x.reshape(1, -1)
    scale, zp = _quant(details)
    v = x * np.float32(np.float32(1.0) / np.float32(scale))
    q = np.trunc(np.where(v < 0, v - np.float32(0.5), v + np.float32(0.5))).astype(np.int64) + zp
    info = np.iinfo(dtype)
    return np.clip(q, info.min, info.max).astype(dtype).reshape(1, -1)


def output_to_scores(raw: np.ndarray, details) -> np.ndarray:
    raw = np.asarray(raw).reshape(-1)
    if details["dtype"] == np.float32:
        return raw.astype(np.float32)
    scale, zp = _quant(details)
    return ((raw.astype(np.int32) - zp).astype(np.float32) * np.float32(scale)).astype(np.float32)


class HostReference:
    """The host's own answers: the TFLM interpreter on the same int16 clip the board receives."""

    def __init__(self, model: DeviceModel):
        self.model = model
        self.interp = model.interpreter()
        self.inp = self.interp.get_input_details(0)
        self.out = self.interp.get_output_details(0)

    def scores(self, pcm: np.ndarray) -> np.ndarray:
        self.interp.set_input(pcm_to_input(pcm, self.inp), 0)
        self.interp.invoke()
        return output_to_scores(self.interp.get_output(0), self.out)


def float_to_pcm(x: np.ndarray) -> np.ndarray:
    """Float waveform in [-1, 1) -> int16 (round to nearest, saturate): what a host sends to a board."""
    return np.clip(np.rint(np.asarray(x, dtype=np.float64) * 32768.0), -32768, 32767).astype(np.int16)
