"""The host's answers for what a board computes, with the TFLM Python interpreter (`tflite_micro`).

For a signal deployment: the front end once per frame, in order, its state reset where the board resets
it (the start of a verify clip, the start of a stream), then the body on F frames (tinykd.tflite.stream, the
one definition of that order). For a waveform model: the model on each window. Inputs and scores follow the
firmware's rule (tinykd.tflite.io), and `fixed6` writes scores as the board's result lines do, so board and host can be compared as text: for an
int8 output, equal text means equal int8 outputs (the scale is far above 1e-6).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinykd.errors import TinykdError
from tinykd.tflite.io import TensorQuant, dequantize, pcm_to_input

def fixed6(value: float) -> str:
    """A score as the board writes it (tkd_line_fixed6: round half away from zero of v * 1e6)."""
    v = float(np.float32(value))
    if v != v:
        return "nan"
    if v > 9.0e12 or v < -9.0e12:
        return "inf" if v > 0 else "-inf"
    scaled = v * 1e6
    q = int(scaled - 0.5) if scaled < 0 else int(scaled + 0.5)
    sign, mag = ("-", -q) if q < 0 else ("", q)
    return f"{sign}{mag // 1_000_000}.{mag % 1_000_000:06d}"


@dataclass(frozen=True)
class Answer:
    """One inference on the host: the raw output tensor, the scores, and the window's end (stream)."""

    raw: np.ndarray
    scores: np.ndarray
    end: int = 0

    @property
    def text(self) -> tuple[str, ...]:
        return tuple(fixed6(s) for s in self.scores)


class SignalReference:
    """Front end + body on the host, framed as the firmware frames them (tinykd.tflite.stream)."""

    def __init__(self, frontend: bytes, body: bytes, hop: int):
        from tinykd.tflite.run import tflm_interpreter
        from tinykd.tflite.stream import StreamPipeline

        window = int(np.prod(tflm_interpreter(frontend, where="front end").get_input_details(0)["shape"]))
        self.pipe = StreamPipeline(frontend, body, window, hop)
        self.hop, self.window, self.frames, self.bins = self.pipe.hop, window, self.pipe.frames, self.pipe.bins
        self.q_out = TensorQuant.of(self.pipe.body.get_output_details(0))

    def n_frames(self, n_samples: int) -> int:
        return 0 if n_samples < self.window else 1 + (n_samples - self.window) // self.hop

    def features(self, pcm: np.ndarray, n_frames: int | None = None) -> np.ndarray:
        """int8 [frames, bins]: frame k from samples [k*hop, k*hop + window), front-end state reset first."""
        pcm = np.asarray(pcm, dtype=np.int16)
        n = self.n_frames(len(pcm)) if n_frames is None else n_frames
        return self.pipe.features(pcm[: (n - 1) * self.hop + self.window])

    def run_body(self, frames: np.ndarray, end: int = 0) -> Answer:
        """The body on F frames (oldest first), fed bit for bit as the firmware does."""
        raw = self.pipe.classify(frames).copy()
        return Answer(raw, dequantize(raw, self.q_out), end)

    def clip(self, pcm: np.ndarray) -> Answer:
        """A verify clip: front end over the clip's first F frames (state reset at its start), then the body."""
        if self.n_frames(len(pcm)) < self.frames:
            raise TinykdError(f"clip of {len(pcm)} samples has fewer than the {self.frames} frames the body takes")
        return self.run_body(self.features(pcm, self.frames))

    def stream(self, pcm: np.ndarray, every: int = 1) -> list[Answer]:
        """A stream from sample 0: the body after frame F-1 and then every `every` frames, on the newest F."""
        return [Answer(raw, dequantize(raw, self.q_out), k * self.hop + self.window)
                for k, raw in self.pipe.stream_windows(np.asarray(pcm, dtype=np.int16), max(1, every))]


class WaveformReference:
    """One waveform model on the host, on exactly the input the firmware builds from int16 PCM."""

    def __init__(self, flatbuffer: bytes):
        from tinykd.tflite.run import tflm_interpreter

        self.interp = tflm_interpreter(flatbuffer)
        self.inp = self.interp.get_input_details(0)
        self.out = self.interp.get_output_details(0)
        self.window = int(np.prod(self.inp["shape"]))

    def clip(self, pcm: np.ndarray, end: int = 0) -> Answer:
        x = pcm_to_input(np.asarray(pcm, dtype=np.int16), TensorQuant.of(self.inp))
        self.interp.set_input(x.reshape(self.inp["shape"]), 0)
        self.interp.invoke()
        raw = np.asarray(self.interp.get_output(0)).reshape(-1).copy()
        return Answer(raw, dequantize(raw, TensorQuant.of(self.out)), end)

    def stream(self, pcm: np.ndarray, hop: int) -> list[Answer]:
        return [self.clip(pcm[s : s + self.window], s + self.window)
                for s in range(0, len(pcm) - self.window + 1, hop)]
