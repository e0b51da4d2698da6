"""Constant matrices of the front end, built once from a `FrontEndSpec` (float64, numpy only).

Both implementations use these: the numpy reference (window and mel matrix; it computes the spectrum with
`np.fft.rfft`, an independent route) and the Keras layer (window-times-DFT kernels as a frozen convolution,
then the mel matrix), so the two can only agree if the DFT kernels are right.
"""

from __future__ import annotations

import numpy as np

from tinykd.frontend.spec import FrontEndSpec


def window(spec: FrontEndSpec) -> np.ndarray:
    """Analysis window of `win_length` samples (periodic, as torch.hann_window and scipy's get_window)."""
    n = np.arange(spec.win_length, dtype=np.float64)
    if spec.window == "hann":
        return 0.5 - 0.5 * np.cos(2.0 * np.pi * n / spec.win_length)
    if spec.window == "hamming":
        return 0.54 - 0.46 * np.cos(2.0 * np.pi * n / spec.win_length)
    return np.ones(spec.win_length, dtype=np.float64)


def frame_offset(spec: FrontEndSpec) -> int:
    """Where a `win_length` frame sits inside the `n_fft` DFT buffer (centred zero padding, as librosa)."""
    return (spec.n_fft - spec.win_length) // 2


def dft_kernels(spec: FrontEndSpec) -> np.ndarray:
    """Windowed one-sided DFT as convolution kernels, shape [win_length, 2 * n_bins].

    Column k < n_bins gives the real part of bin k, column n_bins + k its imaginary part, for a frame of
    `win_length` samples placed at `frame_offset` in an `n_fft` buffer.
    """
    n = np.arange(spec.win_length, dtype=np.float64)[:, None] + frame_offset(spec)
    k = np.arange(spec.n_bins, dtype=np.float64)[None, :]
    phase = 2.0 * np.pi * n * k / spec.n_fft
    w = window(spec)[:, None]
    return np.concatenate([w * np.cos(phase), -w * np.sin(phase)], axis=1)


def hz_to_mel(freq: np.ndarray | float, scale: str) -> np.ndarray:
    freq = np.asarray(freq, dtype=np.float64)
    if scale == "htk":
        return 2595.0 * np.log10(1.0 + freq / 700.0)
    # Slaney's Auditory Toolbox scale (librosa's default): linear below 1 kHz, logarithmic above.
    f_sp, min_log_hz, min_log_mel, logstep = 200.0 / 3, 1000.0, 15.0, np.log(6.4) / 27.0
    mel = freq / f_sp
    log_part = min_log_mel + np.log(np.maximum(freq, min_log_hz) / min_log_hz) / logstep
    return np.where(freq >= min_log_hz, log_part, mel)


def mel_to_hz(mel: np.ndarray | float, scale: str) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    if scale == "htk":
        return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)
    f_sp, min_log_hz, min_log_mel, logstep = 200.0 / 3, 1000.0, 15.0, np.log(6.4) / 27.0
    hz = f_sp * mel
    log_part = min_log_hz * np.exp(logstep * (np.maximum(mel, min_log_mel) - min_log_mel))
    return np.where(mel >= min_log_mel, log_part, hz)


def mel_matrix(spec: FrontEndSpec) -> np.ndarray:
    """Triangular mel filter bank, shape [n_bins, n_mels].

    `mel_scale="slaney"` matches librosa.filters.mel defaults (Slaney scale, area normalisation), which
    Wav2Small uses; "htk" uses the HTK scale with unit-peak triangles (torchaudio's default).
    With a 64-point DFT (250 Hz bins at 16 kHz) the lowest Slaney bands are narrower than a bin and some
    come out empty (all zero): their output is the log floor. That is faithful to the released model.
    """
    fft_freqs = np.linspace(0.0, spec.sample_rate / 2.0, spec.n_bins)
    mels = np.linspace(hz_to_mel(spec.fmin, spec.mel_scale), hz_to_mel(spec.f_max, spec.mel_scale), spec.n_mels + 2)
    edges = mel_to_hz(mels, spec.mel_scale)
    widths = np.diff(edges)
    ramps = edges[:, None] - fft_freqs[None, :]
    weights = np.zeros((spec.n_mels, spec.n_bins), dtype=np.float64)
    for i in range(spec.n_mels):
        lower = -ramps[i] / widths[i]
        upper = ramps[i + 2] / widths[i + 1]
        weights[i] = np.maximum(0.0, np.minimum(lower, upper))
    if spec.mel_scale == "slaney":
        weights *= (2.0 / (edges[2 : spec.n_mels + 2] - edges[: spec.n_mels]))[:, None]
    return weights.T


def empty_mel_bands(spec: FrontEndSpec) -> list[int]:
    """Indices of mel bands that no DFT bin reaches (constant log-floor output)."""
    m = mel_matrix(spec)
    return [int(i) for i in np.flatnonzero(m.sum(axis=0) == 0.0)]
