"""The int8 model a board should run, as the host sees it: flatbuffer(s), hash, labels, sample rate, arena, and
the host reference answers from the TFLM interpreter on exactly the board's input.

A signal model is a front end (the Signal-op graph, one hop per invoke) and a body: the reference runs them in
the firmware's order (tinykd.tflite.stream). A waveform model is one flatbuffer on the clip's PCM.

A model is found from a run folder (RUN/int8/), the int8 folder itself (quantize.json is the record of its
labels, sample rate and arena; a model whose hash differs from the record is refused), or a loose `.tflite`
file with labels.json beside it or one folder up (its sample rate from the run's config.json or given).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tinykd.artifacts import Int8Dir, RunDir, deployment_hash, model_labels
from tinykd.errors import TinykdError
from tinykd.tflite.arena import measure_arena_bytes
from tinykd.tflite.io import TensorQuant, dequantize, pcm_to_input
from tinykd.tflite.run import read_tflite, tflm_interpreter


@dataclass
class DeviceModel:
    """Everything the host needs to talk about a model with a board."""

    path: Path  # the .tflite file (the body of a signal model)
    flatbuffer: bytes
    labels: list[str]
    sample_rate: int
    arena_bytes: int
    frontend: bytes | None = None  # a signal model's front end
    stream: dict | None = None  # a signal model's framing: window_samples, hop_samples, frames, bins, clip_samples
    _io: tuple = field(default=(), repr=False)

    @property
    def kind(self) -> str:
        return "waveform" if self.frontend is None else "signal"

    @property
    def hash(self) -> str:
        """What the board reports as its model (tinykd.artifacts.deployment_hash)."""
        return deployment_hash(self.frontend, self.flatbuffer)

    @property
    def input_samples(self) -> int:
        """Samples of one clip the board takes (a verify upload)."""
        if self.stream is not None:
            return int(self.stream["clip_samples"])
        return int(self.io()[2][-1])

    def pipeline(self):
        """A signal model's front end and body in TFLM, run in the firmware's order."""
        from tinykd.tflite.stream import StreamPipeline

        return StreamPipeline(self.frontend, self.flatbuffer, int(self.stream["window_samples"]),
                              int(self.stream["hop_samples"]))

    def io(self) -> tuple[TensorQuant, TensorQuant, tuple[int, ...]]:
        """(input quantization, output quantization, input shape)."""
        if not self._io:
            interp = self.interpreter()
            d_in, d_out = interp.get_input_details(0), interp.get_output_details(0)
            self._io = (TensorQuant.of(d_in), TensorQuant.of(d_out), tuple(int(v) for v in d_in["shape"]))
        return self._io

    def interpreter(self):
        return tflm_interpreter(self.flatbuffer, where=str(self.path))

    def data_config(self):
        """The data settings the model was made with (quantize.json, else the run's config.json, else the
        defaults), at the model's own sample rate and clip length."""
        from tinykd.data import DataConfig

        fixed = {"sample_rate": self.sample_rate, "clip_seconds": self.input_samples / self.sample_rate}
        if (self.path.parent / Int8Dir.REPORT_JSON).is_file():
            return Int8Dir(self.path.parent).data_config(**fixed)
        run = RunDir.of_model(self.path)
        return run.data_config(**fixed) if run is not None else DataConfig(**fixed)


def _loose_model(path: Path, sample_rate: int | None) -> DeviceModel:
    tflite = path if path.is_file() else next(
        (c for c in (path / RunDir.INT8 / Int8Dir.TFLITE, path / Int8Dir.TFLITE) if c.is_file()), None)
    if tflite is None:
        if not path.exists():
            raise TinykdError(f"{path}: no such run folder or .tflite file")
        raise TinykdError(f"{path}: no int8 model ({RunDir.INT8}/{Int8Dir.TFLITE}); run `tinykd quantize` on the run first")
    flat = read_tflite(tflite)
    labels = model_labels(tflite)
    if sample_rate is None:
        run = RunDir.of_model(tflite)
        if run is None:
            raise TinykdError(f"{tflite}: no quantize.json or run config.json says its sample rate; pass --sample-rate")
        sample_rate = int(run.data_config().sample_rate)
    return DeviceModel(tflite, flat, labels, int(sample_rate), measure_arena_bytes(flat))


def load_device_model(path: str | os.PathLike, sample_rate: int | None = None) -> DeviceModel:
    """Find and load the int8 model of a run folder, an int8 folder or a .tflite file, with its labels."""
    path = Path(path)
    try:
        folder = Int8Dir.find(path)
    except TinykdError:
        model = _loose_model(path, sample_rate)
    else:
        rate = folder.sample_rate()
        if sample_rate is not None and sample_rate != rate:
            raise TinykdError(f"--sample-rate {sample_rate} differs from the {rate} Hz in {folder / Int8Dir.REPORT_JSON}")
        frontend = folder.frontend_flatbuffer()
        stream = folder.report().get("stream") if frontend is not None else None
        if frontend is not None and not (isinstance(stream, dict) and {"window_samples", "hop_samples", "clip_samples"} <= set(stream)):
            raise TinykdError(f"{folder / Int8Dir.REPORT_JSON}: a signal model without its stream framing; run "
                              "`tinykd quantize` again")
        model = DeviceModel(folder / Int8Dir.TFLITE, folder.flatbuffer(), folder.labels(), rate, folder.arena_bytes(),
                            frontend, stream)
    q_in, q_out, shape = model.io()
    if model.kind == "waveform" and (len(shape) != 2 or shape[0] != 1):
        raise TinykdError(f"{model.path}: input shape {list(shape)} is not [1, samples] (a waveform model)")
    n_out = int(np.prod(model.interpreter().get_output_details(0)["shape"]))
    if n_out != len(model.labels):
        raise TinykdError(f"{model.path}: {n_out} outputs but {len(model.labels)} labels")
    return model


class HostReference:
    """The host's own answers: the TFLM interpreter on the same int16 clip the board receives."""

    def __init__(self, model: DeviceModel):
        self.model = model
        self.q_in, self.q_out, self.shape = model.io()
        if model.kind == "signal":
            self.pipe = model.pipeline()
        else:
            self.interp = model.interpreter()

    def scores(self, pcm: np.ndarray) -> np.ndarray:
        if self.model.kind == "signal":  # the front end per hop (reset at the clip's start), then the body
            return dequantize(self.pipe.run(np.asarray(pcm, dtype=np.int16))[1], self.q_out)
        self.interp.set_input(pcm_to_input(pcm, self.q_in).reshape(self.shape), 0)
        self.interp.invoke()
        return dequantize(np.asarray(self.interp.get_output(0)).reshape(-1), self.q_out)
