"""The signal pipeline's order of operations, defined once, in the real TFLM interpreter.

This is what the firmware does (firmware/tinykd_fw/src/core/tkd_features.*) and what the quantizer's proof,
the device reference and the virtual board repeat on the host:

- frame k of a clip covers int16 PCM samples [k*hop, k*hop + window); a clip of n samples has
  F = 1 + (n - window) // hop frames;
- the front end (the Signal-op graph) runs once per frame, in order, its state reset at the clip's start, and
  its int8 output is copied into the feature ring;
- the body runs on the newest F frames, oldest first.

In stream mode the front end never resets: frames follow each other over the whole audio, and the body runs
on the newest F frames every `every` hops once F frames exist (`stream_windows`).
"""

from __future__ import annotations

import time

import numpy as np

from tinykd.errors import TinykdError
from tinykd.tflite.run import HOST_ARENA_BYTES, tflm_interpreter


def clip_frames(pcm: np.ndarray, window: int, hop: int) -> np.ndarray:
    """int16 PCM [n] -> the frames the front end sees, int16 [F, window] (no padding)."""
    pcm = np.asarray(pcm)
    if pcm.dtype != np.int16 or pcm.ndim != 1:
        raise TinykdError(f"the signal pipeline takes 1-D int16 PCM, got {pcm.dtype} {pcm.shape}")
    if len(pcm) < window:
        raise TinykdError(f"{len(pcm)} samples are shorter than one {window}-sample window")
    n = 1 + (len(pcm) - window) // hop
    idx = np.arange(n)[:, None] * hop + np.arange(window)[None, :]
    return pcm[idx]


class StreamPipeline:
    """The front end and the body in two TFLM interpreters, run in the firmware's order."""

    def __init__(self, frontend: bytes, body: bytes, window: int, hop: int, arena_size: int = HOST_ARENA_BYTES):
        self.window, self.hop = int(window), int(hop)
        self.fe = tflm_interpreter(frontend, arena_size, where="Signal front end")
        self.body = tflm_interpreter(body, arena_size, where="int8 body")
        fe_in = self.fe.get_input_details(0)
        if np.dtype(fe_in["dtype"]) != np.int16 or int(np.prod(fe_in["shape"])) != self.window:
            raise TinykdError(f"the front end takes {np.dtype(fe_in['dtype']).name} {list(fe_in['shape'])}, not "
                              f"{self.window} int16 samples")
        self.fe_shape = tuple(int(d) for d in fe_in["shape"])
        body_in = self.body.get_input_details(0)
        self.body_shape = tuple(int(d) for d in body_in["shape"])
        self.body_dtype = np.dtype(body_in["dtype"])
        self.bins = int(np.prod(self.fe.get_output_details(0)["shape"]))
        self.frames = int(np.prod(self.body_shape)) // self.bins
        if self.frames * self.bins != int(np.prod(self.body_shape)):
            raise TinykdError(f"the body takes {list(self.body_shape)}, not a whole number of {self.bins}-bin frames")
        self.hop_seconds: list[float] = []
        self.window_seconds: list[float] = []

    @property
    def clip_samples(self) -> int:
        """The shortest clip that gives the body its frames."""
        return (self.frames - 1) * self.hop + self.window

    def reset(self) -> None:
        """Restart the front end's state (noise estimate, gain control), as at a clip's start."""
        self.fe.reset()

    def hop_features(self, frame: np.ndarray) -> np.ndarray:
        """One front-end invoke: int16 [window] -> int8 [bins]."""
        self.fe.set_input(np.ascontiguousarray(frame, dtype=np.int16).reshape(self.fe_shape), 0)
        t0 = time.perf_counter()
        self.fe.invoke()
        self.hop_seconds.append(time.perf_counter() - t0)
        return np.array(self.fe.get_output(0)).reshape(-1)

    def features(self, pcm: np.ndarray) -> np.ndarray:
        """A clip's features, int8 [F, bins]: front end reset, then one invoke per frame in order."""
        frames = clip_frames(pcm, self.window, self.hop)
        self.reset()
        return np.stack([self.hop_features(f) for f in frames])

    def classify(self, features: np.ndarray) -> np.ndarray:
        """One body invoke on F frames of features (oldest first) -> the raw output."""
        features = np.asarray(features)
        if features.shape[0] != self.frames:
            raise TinykdError(f"the body takes {self.frames} frames, got {features.shape[0]}")
        self.body.set_input(features.astype(self.body_dtype).reshape(self.body_shape), 0)
        t0 = time.perf_counter()
        self.body.invoke()
        self.window_seconds.append(time.perf_counter() - t0)
        return np.array(self.body.get_output(0)).reshape(-1)

    def run(self, pcm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(features, raw body output) of one clip; a clip longer than the body's frames uses its first F."""
        feats = self.features(pcm)
        if feats.shape[0] < self.frames:
            raise TinykdError(f"a clip of {len(pcm)} samples gives {feats.shape[0]} frames; the body needs "
                              f"{self.frames} ({self.clip_samples} samples)")
        return feats, self.classify(feats[: self.frames])

    def stream_windows(self, pcm: np.ndarray, every: int) -> list[tuple[int, np.ndarray]]:
        """Stream mode over continuous audio: [(index of the window's last frame, raw output), ...] for every
        `every`-th hop once F frames exist; the front end is reset once, before the first frame."""
        if every < 1:
            raise TinykdError(f"the body runs every N >= 1 hops, got {every}")
        frames = clip_frames(pcm, self.window, self.hop)
        self.reset()
        ring: list[np.ndarray] = []
        out = []
        for k, frame in enumerate(frames):
            ring.append(self.hop_features(frame))
            ring = ring[-self.frames:]
            if len(ring) == self.frames and (k + 1 - self.frames) % every == 0:
                out.append((k, self.classify(np.stack(ring))))
        return out
