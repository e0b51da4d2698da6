"""Audio in: decode with soundfile, check, mix to mono, hash, resample (polyphase), pad or crop.

Every failure is an `AudioError` with one line naming the file and the problem.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from math import gcd
from pathlib import Path

import numpy as np
import soundfile as sf

from tinykd.errors import AudioError

AUDIO_SUFFIXES = (".wav", ".flac")
# Float files may hold any value; audio lives in [-1, 1]. A peak beyond this (6 dB over full scale) is not a
# recording but a broken export (e.g. samples at 1e30, whose squares overflow float32 and turn the training
# loss into NaN). Peaks between 1 and this are kept: the board's int16 input saturates them.
MAX_FLOAT_PEAK = 2.0


class UnreadableAudioError(AudioError):
    """A file tinykd may not read (permissions): the user's to fix, never a corrupt file to skip quietly."""


@dataclass
class DecodedAudio:
    """A file's audio as mono float32 at its own rate, with what the file header said."""

    samples: np.ndarray  # float32 [n], mono
    rate: int
    channels: int
    subtype: str  # soundfile subtype, e.g. PCM_16, FLOAT

    @property
    def duration(self) -> float:
        return len(self.samples) / float(self.rate)


def decode(path: str | Path) -> DecodedAudio:
    """Read WAV/FLAC (8/16/24/32-bit int or float) and mix to mono float32; reject unusable files."""
    path = Path(path)
    try:
        size = path.stat().st_size
        with path.open("rb"):  # a file we may not read is a permission problem, not a corrupt one
            pass
    except FileNotFoundError:
        raise AudioError(f"{path}: file not found") from None
    except PermissionError:
        raise UnreadableAudioError(f"{path}: permission denied (cannot read the file); fix its permissions") from None
    except IsADirectoryError:
        raise AudioError(f"{path}: is a folder, not an audio file") from None
    except ValueError:
        raise AudioError(f"{path}: not a valid path (it holds a NUL byte)") from None
    except OSError as exc:
        raise AudioError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if size == 0:
        raise AudioError(f"{path}: empty file (0 bytes)")
    try:
        with sf.SoundFile(str(path)) as fh:
            rate, channels, subtype = int(fh.samplerate), int(fh.channels), str(fh.subtype)
            data = fh.read(dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, ValueError, TypeError) as exc:
        reason = (getattr(exc, "error_string", None) or str(exc).split(":")[-1]).strip().rstrip(".") or "unreadable"
        raise AudioError(f"{path}: not a readable audio file ({reason}); is it corrupt, truncated or mis-named?") from None
    except OSError as exc:
        raise AudioError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if data.shape[0] == 0:
        raise AudioError(f"{path}: no audio samples (zero-length audio)")
    short = _wav_missing_bytes(path)
    if short:
        raise AudioError(f"{path}: truncated WAV: the header promises {short} more bytes of audio than the file holds; re-copy or re-export it")
    if not np.isfinite(data).all():
        bad = int((~np.isfinite(data)).sum())
        raise AudioError(f"{path}: {bad} NaN or infinite sample(s); re-export the file")
    peak = float(np.abs(data).max())
    if peak > MAX_FLOAT_PEAK:
        bad = int((np.abs(data) > MAX_FLOAT_PEAK).sum())
        raise AudioError(f"{path}: {bad} sample(s) out of range (peak {peak:.3g}; audio lies in [-1, 1]); "
                         "re-export the file normalised")
    mono = data[:, 0] if channels == 1 else data.mean(axis=1, dtype=np.float64)
    return DecodedAudio(np.ascontiguousarray(mono, dtype=np.float32), rate, channels, subtype)


def _wav_missing_bytes(path: Path) -> int:
    """For a RIFF/WAVE file, how many bytes the `data` chunk declares beyond the end of the file (0 if none).

    libsndfile quietly reads what is there, so a cut-off copy would otherwise pass as a shorter clip.
    Sizes 0 and 0xFFFFFFFF mean "unknown" (streaming writers, RF64) and are not flagged.
    """
    with path.open("rb") as fh:
        head = fh.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return 0
        size = path.stat().st_size
        while True:
            chunk = fh.read(8)
            if len(chunk) < 8:
                return 0
            cid, clen = chunk[:4], int.from_bytes(chunk[4:8], "little")
            if cid == b"data":
                if clen in (0, 0xFFFFFFFF):
                    return 0
                return max(0, fh.tell() + clen - size)
            fh.seek(clen + (clen & 1), 1)


def content_hash(samples: np.ndarray, rate: int) -> str:
    """sha256 (hex) of the mono float32 PCM (little-endian) at the source rate, followed by the rate.

    Keyed on decoded audio, not file bytes, so a re-encoded or re-tagged copy of the same sound hashes the
    same, and caches (teacher soft labels) stay valid across copies.
    """
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(samples, dtype="<f4").tobytes())
    h.update(f"|rate={int(rate)}".encode())
    return h.hexdigest()


def resample(x: np.ndarray, src_rate: int, dst_rate: int) -> np.ndarray:
    """Band-limited polyphase resampling (scipy `resample_poly`, Kaiser-windowed FIR, up/down by the gcd)."""
    src_rate, dst_rate = int(src_rate), int(dst_rate)
    if src_rate == dst_rate:
        return np.asarray(x, dtype=np.float32)
    from scipy.signal import resample_poly

    g = gcd(src_rate, dst_rate)
    up, down = dst_rate // g, src_rate // g
    y = resample_poly(np.asarray(x, dtype=np.float64), up, down, window=_polyphase_filter(up, down))
    return y.astype(np.float32)


@lru_cache(maxsize=16)
def _polyphase_filter(up: int, down: int) -> np.ndarray:
    """The FIR `resample_poly` designs by default (Kaiser beta 5, 10 taps per phase, cut-off at the lower
    Nyquist), designed once per rate pair: designing it per clip was half the time of loading FSDD."""
    from scipy.signal import firwin

    max_rate = max(up, down)
    h = firwin(2 * 10 * max_rate + 1, 1.0 / max_rate, window=("kaiser", 5.0))
    h.setflags(write=False)
    return h


def fit_length(x: np.ndarray, n: int, pad: str = "center") -> np.ndarray:
    """Pad with zeros or crop to exactly `n` samples.

    `pad` says where the clip sits in the window: "center" (zeros on both sides / keep the middle),
    "start" (clip first, zeros after / keep the beginning), "end" (zeros first / keep the end).
    """
    x = np.asarray(x, dtype=np.float32)
    if pad not in ("center", "start", "end"):
        raise AudioError(f"unknown pad {pad!r}; use center, start or end")
    m = len(x)
    if m >= n:  # crop: keep the part of the clip the placement points at
        start = {"start": 0, "end": m - n, "center": (m - n) // 2}[pad]
        return x[start : start + n].copy()
    offset = {"start": 0, "end": n - m, "center": (n - m) // 2}[pad]
    out = np.zeros(n, dtype=np.float32)
    out[offset : offset + m] = x
    return out


def prepare(decoded: DecodedAudio, sample_rate: int, clip_samples: int, pad: str) -> np.ndarray:
    """Decoded audio -> float32 [clip_samples] at `sample_rate`."""
    return fit_length(resample(decoded.samples, decoded.rate, sample_rate), clip_samples, pad)
