"""Numpy reference of the log-mel front end (float64 throughout).

It takes the spectrum with `np.fft.rfft` rather than the DFT kernels the Keras layer uses, so agreement
between the two is a real check of the layer, not a comparison of a computation with itself.
"""

from __future__ import annotations

import numpy as np

from tinykd.errors import TinykdError
from tinykd.frontend.matrices import frame_offset, mel_matrix, window
from tinykd.frontend.spec import FrontEndSpec, DEFAULT_SPEC


def normalise(x: np.ndarray, spec: FrontEndSpec = DEFAULT_SPEC) -> np.ndarray:
    """Per-utterance normalisation: zero mean, divide by sqrt(var + eps) (last axis)."""
    x = np.asarray(x, dtype=np.float64)
    if spec.normalize == "none":
        return x
    centred = x - x.mean(axis=-1, keepdims=True)
    return centred / np.sqrt((centred**2).mean(axis=-1, keepdims=True) + spec.norm_eps)


def frames(x: np.ndarray, spec: FrontEndSpec = DEFAULT_SPEC) -> np.ndarray:
    """[batch, n_samples] -> [batch, n_frames, win_length] (no padding)."""
    n = spec.n_frames(x.shape[-1])
    if n <= 0:
        raise TinykdError(
            f"audio of {x.shape[-1]} samples is shorter than one window ({spec.win_length} samples)"
        )
    starts = np.arange(n) * spec.hop_length
    idx = starts[:, None] + np.arange(spec.win_length)[None, :]
    return x[..., idx]


def power_spectrum(x: np.ndarray, spec: FrontEndSpec = DEFAULT_SPEC) -> np.ndarray:
    """[batch, n_samples] -> [batch, n_frames, n_bins] power spectrum of windowed frames."""
    fr = frames(x, spec) * window(spec)
    buf = np.zeros(fr.shape[:-1] + (spec.n_fft,), dtype=np.float64)
    off = frame_offset(spec)
    buf[..., off : off + spec.win_length] = fr
    spectrum = np.fft.rfft(buf, n=spec.n_fft, axis=-1)
    return spectrum.real**2 + spectrum.imag**2


def logmel(x: np.ndarray, spec: FrontEndSpec = DEFAULT_SPEC) -> np.ndarray:
    """Waveform [n_samples] or [batch, n_samples] -> log-mel [batch, n_frames, n_mels] (float32, dB)."""
    if spec.kind != "logmel":
        raise TinykdError(f"logmel takes a kind='logmel' spec, got kind={spec.kind!r} "
                          "(the Signal front end's reference is tinykd.frontend.signal_numpy.signal_features)")
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2:
        raise TinykdError(f"logmel expects [samples] or [batch, samples], got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise TinykdError("logmel input holds NaN or inf samples")
    mel = power_spectrum(normalise(x, spec), spec) @ mel_matrix(spec)
    return (10.0 * np.log10(np.maximum(mel, spec.log_floor))).astype(np.float32)
