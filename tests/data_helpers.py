"""Helpers for the data tests: write small, real audio files with soundfile (no mocks)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import soundfile as sf


def noise_clip(name: str, seconds: float = 0.25, rate: int = 16000) -> np.ndarray:
    """Distinct (seeded by `name`) band-limited noise, so no two files are duplicates unless meant to be."""
    seed = int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "little")
    x = np.random.default_rng(seed).uniform(-0.5, 0.5, int(seconds * rate))
    return x.astype(np.float32)


def write_wav(path: Path, x: np.ndarray | None = None, rate: int = 16000, subtype: str = "PCM_16",
              fmt: str | None = None) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if x is None:
        x = noise_clip(path.as_posix(), rate=rate)
    sf.write(str(path), x, rate, subtype=subtype, format=fmt)
    return path


def make_tree(root: Path, rel_paths: list[str], rate: int = 16000) -> Path:
    for rel in rel_paths:
        write_wav(root / rel, noise_clip(rel, rate=rate), rate=rate)
    return root
