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


def renamed_tones_set(root: Path, speaker_prefix: str, n_classes: int = 3, seed: int = 7) -> Path:
    """A built-in tones set (tinykd.data.synth) in the plain folder layout, its speakers renamed `<prefix>0`,
    `<prefix>1`: other clips, by other (or, with prefix "spk", the same-named) speakers than `synth_root`'s."""
    from tinykd.data.synth import SynthConfig, synthesize

    synthesize(root, SynthConfig(n_classes=n_classes, clips_per_class=6, n_speakers=2, seed=seed))
    for marker in ("synth.json", "README.md"):
        (root / marker).unlink()
    for wav in sorted(root.rglob("*.wav")):
        wav.rename(wav.with_name(wav.name.replace("spk", speaker_prefix, 1)))
    return root


# -- permissions ---------------------------------------------------------------------------------------------
# A file mode of 000 stops a normal user, not root: as root (CI containers) the checks run with the effective
# user id switched to `nobody` for their duration, so the kernel really refuses the read. Their files must live
# under a folder nobody may traverse (pytest's tmp folders are private to their owner): `shared_tmp`.

import contextlib  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402

NOBODY = 65534


@contextlib.contextmanager
def shared_tmp():
    """A fresh folder anyone may read and traverse (removed afterwards)."""
    path = Path(tempfile.mkdtemp(prefix="tinykd-perm-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        for folder, dirs, _ in os.walk(path):
            for d in dirs:
                os.chmod(os.path.join(folder, d), 0o755)
        shutil.rmtree(path, ignore_errors=True)


def open_tree(root: Path) -> None:
    """Make every folder under `root` traversable and every file readable by anyone (before chmod 000 one)."""
    for folder, dirs, files in os.walk(root):
        os.chmod(folder, 0o755)
        for name in files:
            os.chmod(os.path.join(folder, name), 0o644)


@contextlib.contextmanager
def unprivileged():
    """Run the block as a user the file modes apply to (`nobody` when the tests run as root)."""
    if os.geteuid() != 0:
        yield
        return
    os.setegid(NOBODY)
    os.seteuid(NOBODY)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)
