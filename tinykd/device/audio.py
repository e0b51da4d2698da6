"""What the virtual board's microphone hears: a WAV/FLAC file or a folder of them (decoded, mixed to mono
and resampled to the model's rate exactly as tinykd.data does), or, by default, a few seconds of tone bursts in
quiet noise so consecutive windows differ."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from tinykd.errors import TinykdError
from tinykd.tflite.io import float_to_pcm


def default_audio(sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """Four seconds of tone bursts stepping up in pitch every second, in quiet noise (int16)."""
    t = np.arange(4 * sample_rate) / sample_rate
    tone = np.sin(2 * np.pi * (300 + 200 * np.floor(t)) * t) * (np.sin(np.pi * t) ** 2)
    x = 0.3 * tone + 0.02 * rng.standard_normal(len(t))
    return np.clip(np.rint(x * 32767), -32768, 32767).astype(np.int16)


def load_audio(path: str | os.PathLike, sample_rate: int) -> np.ndarray:
    """A WAV/FLAC file, or every one in a folder (sorted, concatenated), as int16 PCM at `sample_rate`."""
    from tinykd.data.audio import AUDIO_SUFFIXES, decode, resample

    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())
    else:
        files = [path]
    if not files:
        raise TinykdError(f"{path}: no WAV or FLAC files to play as the microphone")
    parts = []
    for f in files:
        decoded = decode(f)  # one-line AudioError for missing, empty, corrupt, zero-length or NaN audio
        parts.append(float_to_pcm(resample(decoded.samples, decoded.rate, sample_rate)))
    audio = np.concatenate(parts)
    if len(audio) == 0:
        raise TinykdError(f"{path}: no audio samples at {sample_rate} Hz")
    return audio


class AudioSource:
    """Plays `pcm` in a loop; restarts from the beginning at every boot (the microphone hears it afresh)."""

    def __init__(self, pcm: np.ndarray):
        self.pcm = np.ascontiguousarray(pcm, dtype=np.int16)
        self.pos = 0

    def restart(self) -> None:
        self.pos = 0

    def take(self, n: int) -> np.ndarray:
        idx = (self.pos + np.arange(n)) % len(self.pcm)
        self.pos = int((self.pos + n) % len(self.pcm))
        return np.ascontiguousarray(self.pcm[idx], dtype=np.int16)
