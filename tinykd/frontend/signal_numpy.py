"""Numpy twin of the Signal front end: the integer pipeline of `signal_graph`, step by step, bit-exact.

It takes a float waveform in [-1, 1) (int16 PCM / 32768), rounds it to int16 as the firmware sees it and frames
it with no padding (frame k = samples [k * hop, k * hop + win_length)), then replicates every op of the
graph in int64 numpy, vectorised over frames: the window's `>> window_bits` and int16 saturation, the
auto-scale shift from each frame's peak (SignalFftAutoScale), kissfft's FIXED_POINT=16 real FFT with its
Q15 twiddles and per-stage rounding (the code every generic TFLM build runs), the energy, the filter bank's
integer sums, Sqrt64's rounding and `>> shift`, noise reduction and PCAN (integer state run across the frames
of each clip from zero, as a TFLM interpreter reset() per clip), Log32's table-based log, the int8 offset and
clamp. A float FFT (np.fft.rfft / n_fft) was tried first: measured against TFLM it left 27% of the
features different (up to 137 LSB in bands far below a frame's peak, where kissfft's rounding noise is the
signal), so the FFT is ported exactly instead and the twin matches TFLM on every feature
(tests/test_frontend_signal.py). It does not model the Xtensa HiFi / Hexagon RFFT kernels, which round
differently.
"""

from __future__ import annotations

import numpy as np

from tinykd.errors import TinykdError
from tinykd.frontend.signal_tables import (
    LOG_COEFF,
    LOG_LUT,
    LOG_SCALE_BITS,
    LOG_SEGMENT_BITS,
    PCAN_OUTPUT_BITS,
    PCAN_SNR_BITS,
    KissFftPlan,
    SignalTables,
    kiss_fft_plan,
    signal_tables,
)
from tinykd.frontend.spec import FrontEndSpec, SIGNAL_SPEC

INT16_MAX = 32767
_U32 = (1 << 32) - 1


def checked_batch(x, spec: FrontEndSpec, where: str = "signal_features") -> np.ndarray:
    """x as float64 [batch, n] for a signal spec; a one-line TinykdError for a bad spec, shape, NaN or length."""
    if not isinstance(spec, FrontEndSpec) or spec.kind != "signal":
        raise TinykdError(f"{where}: needs a FrontEndSpec with kind='signal', got {getattr(spec, 'kind', spec)!r}")
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2:
        raise TinykdError(f"{where}: expects a waveform [samples] or [batch, samples], got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise TinykdError(f"{where}: the waveform holds NaN or inf samples")
    if spec.n_frames(x.shape[1]) < 1:
        raise TinykdError(f"{where}: {x.shape[1]} samples is shorter than one window ({spec.win_length} samples)")
    return x


def pcm16(x: np.ndarray) -> np.ndarray:
    """Float waveform in [-1, 1) -> the int16 PCM the firmware sees: clip(rint(x * 32768), -32768, 32767)."""
    return np.clip(np.rint(np.asarray(x, dtype=np.float64) * 32768.0), -32768, 32767).astype(np.int16)


def pcm_frames(q: np.ndarray, spec: FrontEndSpec) -> np.ndarray:
    """int16 PCM [batch, n] -> [batch, frames, win_length] (no padding)."""
    n = spec.n_frames(q.shape[-1])
    idx = np.arange(n)[:, None] * spec.hop_length + np.arange(spec.win_length)[None, :]
    return q[..., idx]


def auto_scale_bits(windowed: np.ndarray) -> np.ndarray:
    """SignalFftAutoScale's shift per frame: 15 - bit length of the frame's peak |x|, at least 0 (0 for silence)."""
    peak = np.abs(windowed.astype(np.int64)).max(axis=-1)
    bits = np.zeros(peak.shape, dtype=np.int64)
    nz = peak > 0
    # bit length of an integer < 2**16, exactly (frexp returns the exponent e with peak = m * 2**e, m in [0.5, 1))
    bits[nz] = np.maximum(0, 15 - np.frexp(peak[nz].astype(np.float64))[1])
    return bits


# -- kissfft FIXED_POINT=16, vectorised over frames (third_party/kissfft/kiss_fft.c, tools/kiss_fftr.c) -------
def _wrap16(v: np.ndarray) -> np.ndarray:
    """Store into an int16_t (kiss_fft_scalar): two's-complement wrap."""
    return ((v + 32768) & 0xFFFF) - 32768


def _sround(v: np.ndarray) -> np.ndarray:
    """sround: (int16)((x + (1 << 14)) >> 15)."""
    return _wrap16((v + (1 << 14)) >> 15)


def _cmul(ar, ai, br, bi):
    """C_MUL in Q15."""
    return _sround(ar * br - ai * bi), _sround(ar * bi + ai * br)


def _fixdiv(r, i, k: int):
    """C_FIXDIV: multiply by SAMP_MAX / k (integer division: 8191 for 4, 16383 for 2) in Q15."""
    q = 32767 // k
    return _sround(r * q), _sround(i * q)


def _bfly(re, im, p: int, m: int, fstride: int, tw: np.ndarray):
    """kf_bfly2 / kf_bfly4 on [..., groups, p * m] (every group at once); returns the new (re, im)."""
    k = np.arange(m)
    parts = [_fixdiv(re[..., q * m:(q + 1) * m], im[..., q * m:(q + 1) * m], p) for q in range(p)]
    twr, twi = tw[:, 0].astype(np.int64), tw[:, 1].astype(np.int64)
    if p == 2:
        (f0r, f0i), (f1r, f1i) = parts
        tr, ti = _cmul(f1r, f1i, twr[k * fstride], twi[k * fstride])
        out = [(_wrap16(f0r + tr), _wrap16(f0i + ti)), (_wrap16(f0r - tr), _wrap16(f0i - ti))]
    elif p == 4:
        (f0r, f0i), (f1r, f1i), (f2r, f2i), (f3r, f3i) = parts
        s0r, s0i = _cmul(f1r, f1i, twr[k * fstride], twi[k * fstride])
        s1r, s1i = _cmul(f2r, f2i, twr[2 * k * fstride], twi[2 * k * fstride])
        s2r, s2i = _cmul(f3r, f3i, twr[3 * k * fstride], twi[3 * k * fstride])
        s5r, s5i = _wrap16(f0r - s1r), _wrap16(f0i - s1i)
        f0r, f0i = _wrap16(f0r + s1r), _wrap16(f0i + s1i)
        s3r, s3i = _wrap16(s0r + s2r), _wrap16(s0i + s2i)
        s4r, s4i = _wrap16(s0r - s2r), _wrap16(s0i - s2i)
        out = [(_wrap16(f0r + s3r), _wrap16(f0i + s3i)),
               (_wrap16(s5r + s4i), _wrap16(s5i - s4r)),
               (_wrap16(f0r - s3r), _wrap16(f0i - s3i)),
               (_wrap16(s5r - s4i), _wrap16(s5i + s4r))]
    else:  # kf_factor gives only 4s and 2s for the power-of-two lengths a signal spec allows
        raise ValueError(f"kissfft radix {p} is not ported")
    return np.concatenate([o[0] for o in out], axis=-1), np.concatenate([o[1] for o in out], axis=-1)


def kiss_rfft_q15(frames: np.ndarray, plan: KissFftPlan) -> tuple[np.ndarray, np.ndarray]:
    """kiss_fftr with FIXED_POINT=16, bit-exact: int16 frames [..., <= n_fft] (zero-padded to n_fft) ->
    (re, im) int64 [..., n_fft / 2 + 1], the DFT divided by n_fft with kissfft's per-stage rounding."""
    n = plan.n_fft
    x = np.zeros(frames.shape[:-1] + (n,), dtype=np.int64)
    x[..., : frames.shape[-1]] = frames
    ncfft = n // 2
    zr, zi = x[..., 0::2], x[..., 1::2]  # the real input read as ncfft complex samples
    lead = zr.shape[:-1]
    factors = plan.factors
    strides = [1]
    for p, _ in factors[:-1]:
        strides.append(strides[-1] * p)
    # Deepest level (m = 1): group o holds z[o + q * s] for q < p (kf_work's copy loop).
    p_last, s_last = factors[-1][0], strides[-1]
    re = np.swapaxes(zr.reshape(lead + (p_last, s_last)), -1, -2)
    im = np.swapaxes(zi.reshape(lead + (p_last, s_last)), -1, -2)
    re, im = _bfly(re, im, p_last, 1, s_last, plan.twiddles)
    for level in range(len(factors) - 2, -1, -1):
        p, m = factors[level]
        s = strides[level]
        # groups o' + q * s of the level below become the q-th sub-DFT of group o'
        re = np.swapaxes(re.reshape(lead + (p, s, m)), -2, -3).reshape(lead + (s, p * m))
        im = np.swapaxes(im.reshape(lead + (p, s, m)), -2, -3).reshape(lead + (s, p * m))
        re, im = _bfly(re, im, p, m, s, plan.twiddles)
    zr, zi = re[..., 0, :], im[..., 0, :]
    # Real-signal split (kiss_fftr).
    out_r = np.zeros(lead + (ncfft + 1,), dtype=np.int64)
    out_i = np.zeros_like(out_r)
    dcr, dci = _fixdiv(zr[..., 0], zi[..., 0], 2)
    out_r[..., 0] = _wrap16(dcr + dci)
    out_r[..., ncfft] = _wrap16(dcr - dci)
    k = np.arange(1, ncfft // 2 + 1)
    fpkr, fpki = _fixdiv(zr[..., k], zi[..., k], 2)
    fpnkr, fpnki = _fixdiv(zr[..., ncfft - k], _wrap16(-zi[..., ncfft - k]), 2)
    f1r, f1i = _wrap16(fpkr + fpnkr), _wrap16(fpki + fpnki)
    f2r, f2i = _wrap16(fpkr - fpnkr), _wrap16(fpki - fpnki)
    sup = plan.super_twiddles.astype(np.int64)
    twr, twi = _cmul(f2r, f2i, sup[k - 1, 0], sup[k - 1, 1])
    out_r[..., k] = _wrap16((f1r + twr) >> 1)
    out_i[..., k] = _wrap16((f1i + twi) >> 1)
    out_r[..., ncfft - k] = _wrap16((f1r - twr) >> 1)  # k = ncfft / 2 writes the same bin twice: this one wins
    out_i[..., ncfft - k] = _wrap16((twi - f1i) >> 1)
    return out_r, out_i


def isqrt_rounded(n: np.ndarray) -> np.ndarray:
    """Sqrt64 (signal/src/square_root_64.cc): the square root rounded to nearest (remainder > root rounds up),
    with Sqrt32's cap at 0xFFFF for inputs below 2**32. Exact for n < 2**53 (the filter bank stays far below)."""
    n = n.astype(np.int64)
    r = np.floor(np.sqrt(n.astype(np.float64))).astype(np.int64)
    r = np.where(r * r > n, r - 1, r)
    r = np.where((r + 1) * (r + 1) <= n, r + 1, r)
    up = (n - r * r) > r
    capped = (n < (1 << 32)) & (r == 0xFFFF)
    return np.where(up & ~capped, r + 1, r)


def frame_amplitudes(frames: np.ndarray, spec: FrontEndSpec, tables: SignalTables | None = None) -> np.ndarray:
    """int16 frames [..., win_length] -> SignalFilterBankSquareRoot's output [..., n_mels] (int64), exactly."""
    t = tables or signal_tables(spec)
    # SignalWindow: (x * w) >> bits, saturated to int16
    windowed = np.clip((frames.astype(np.int64) * t.window.astype(np.int64)) >> t.window_bits, -32768, 32767)
    # SignalFftAutoScale
    shift = auto_scale_bits(windowed)
    scaled = windowed << shift[..., None]
    # SignalRfft (int16) and SignalEnergy
    re, im = kiss_rfft_q15(scaled, kiss_fft_plan(t.fft_length))
    energy = re * re + im * im
    # SignalFilterBank: integer weights times integer energies; float64 sums are exact below 2**53
    bank = np.rint(energy.astype(np.float64) @ t.mel_matrix).astype(np.int64)
    # SignalFilterBankSquareRoot: rounded root >> shift
    return isqrt_rounded(bank) >> shift[..., None]


def spectral_subtraction(amplitude: np.ndarray, options: dict) -> tuple[np.ndarray, np.ndarray]:
    """SignalFilterBankSpectralSubtraction over frames (axis -2) from a zero noise estimate, in exact integers.

    amplitude: [batch, frames, channels]; returns (output, noise estimate) of the same shape
    (signal/src/filter_bank_spectral_subtraction.cc).
    """
    a = amplitude.astype(np.uint64)
    channels = a.shape[-1]
    odd = (np.arange(channels) & 1).astype(bool)
    smoothing = np.where(odd, options["alternate_smoothing"], options["smoothing"]).astype(np.uint64)
    one_minus = np.where(odd, options["alternate_one_minus_smoothing"], options["one_minus_smoothing"]).astype(np.uint64)
    bits = np.uint64(options["spectral_subtraction_bits"])
    sbits = np.uint64(options["smoothing_bits"])
    floor_gain = np.uint64(options["min_signal_remaining"])
    noise = np.zeros(a.shape[:-2] + (channels,), dtype=np.uint64)
    out = np.zeros_like(a)
    est_out = np.zeros_like(a)
    u32 = np.uint64(_U32)
    for k in range(a.shape[-2]):
        signal = a[..., k, :]
        up = (signal << sbits) & u32
        noise = ((up * smoothing + noise * one_minus) >> bits) & u32
        estimate = np.minimum(noise, up)
        if options["clamping"]:
            noise = estimate
        floor = ((signal * floor_gain) >> bits) & u32
        out[..., k, :] = np.maximum((up - estimate) >> sbits, floor)
        est_out[..., k, :] = noise
    return out.astype(np.int64), est_out.astype(np.int64)


def wide_dynamic_function(x: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """PCAN's gain lookup WideDynamicFunction (signal/src/pcan_argc_fixed.cc), vectorised, exact."""
    x = x.astype(np.int64)
    lut = lut.astype(np.int64)
    interval = np.zeros_like(x)
    big = x > 2
    interval[big] = np.frexp(x[big].astype(np.float64))[1]  # MostSignificantBit32 (x < 2**32: exact)
    base = np.where(big, 4 * interval - 6, 0)
    shifted = np.where(interval < 11, x << np.maximum(11 - interval, 0), x >> np.maximum(interval - 11, 0))
    frac = shifted & 0x3FF
    result = (lut[np.minimum(base + 2, len(lut) - 1)] * frac) >> 5
    result = result + lut[np.minimum(base + 1, len(lut) - 1)] * 32
    result = result * frac
    result = ((result + (1 << 14)) >> 15) + lut[np.minimum(base, len(lut) - 1)]
    result = ((result + 32768) % 65536) - 32768  # (int16_t)
    return np.where(big, result, lut[np.minimum(x, 2)])


def pcan(amplitude: np.ndarray, noise: np.ndarray, lut: np.ndarray, snr_shift: int) -> np.ndarray:
    """SignalPCAN: snr = amplitude * gain(noise) >> snr_shift, then the shrink curve (exact integers)."""
    gain = (wide_dynamic_function(noise, lut) & _U32).astype(np.uint64)  # int16 -> uint32 as C converts it
    snr = ((amplitude.astype(np.uint64) * gain) >> np.uint64(snr_shift)) & np.uint64(_U32)
    low = snr < np.uint64(2 << PCAN_SNR_BITS)
    quad = ((snr * snr) & np.uint64(_U32)) >> np.uint64(2 + 2 * PCAN_SNR_BITS - PCAN_OUTPUT_BITS)
    lin = (snr >> np.uint64(PCAN_SNR_BITS - PCAN_OUTPUT_BITS)) - np.uint64(1 << PCAN_OUTPUT_BITS)
    return np.where(low, quad, lin).astype(np.int64)


def log32(x: np.ndarray, out_scale: int) -> np.ndarray:
    """Log32 (signal/src/log.cc), exact: round(out_scale * ln(x)) through a Q16 log2 with a 128-segment table.
    x: int64 >= 2."""
    x = x.astype(np.int64)
    integer = np.frexp(x.astype(np.float64))[1].astype(np.int64) - 1  # MostSignificantBit32(x) - 1 (x < 2**32)
    frac = x - (np.int64(1) << integer)
    frac = np.where(integer < LOG_SCALE_BITS, frac << np.maximum(LOG_SCALE_BITS - integer, 0),
                    frac >> np.maximum(integer - LOG_SCALE_BITS, 0))
    base_seg = frac >> (LOG_SCALE_BITS - LOG_SEGMENT_BITS)
    seg_unit = (1 << LOG_SCALE_BITS) >> LOG_SEGMENT_BITS
    c0, c1 = LOG_LUT[base_seg], LOG_LUT[base_seg + 1]
    rel_pos = ((c1 - c0) * (frac - seg_unit * base_seg)) >> LOG_SCALE_BITS
    log2 = (integer << LOG_SCALE_BITS) + frac + c0 + rel_pos
    half = 1 << (LOG_SCALE_BITS - 1)
    loge = (LOG_COEFF * log2 + half) >> LOG_SCALE_BITS
    return ((int(out_scale) * loge + half) & _U32) >> LOG_SCALE_BITS


def log16(amplitude: np.ndarray, tables: SignalTables) -> np.ndarray:
    """SignalFilterBankLog (signal/src/filter_bank_log.cc): Log32(x << bits) for x << bits > 1, else 0,
    at most 32767. int64 in and out."""
    scaled = (amplitude.astype(np.int64) << tables.correction_bits) & _U32
    value = np.minimum(log32(np.maximum(scaled, 2), tables.log_scale), INT16_MAX)
    return np.where(scaled > 1, value, 0)


def signal_log(x: np.ndarray, spec: FrontEndSpec = SIGNAL_SPEC, tables: SignalTables | None = None) -> np.ndarray:
    """Waveform [n] or [batch, n] in [-1, 1) -> SignalFilterBankLog's int16 output [batch, frames, n_mels]
    (int64), before the int8 offset and clamp. `tables` replaces `signal_tables(spec)` (for checks)."""
    x = checked_batch(x, spec, "signal_log")
    t = tables or signal_tables(spec)
    amplitude = frame_amplitudes(pcm_frames(pcm16(x), spec), spec, t)
    if spec.noise_reduction:
        amplitude, noise = spectral_subtraction(amplitude, t.spectral_subtraction)
        if spec.pcan:
            amplitude = pcan(amplitude, noise, t.pcan_lut, t.pcan_snr_shift)
    return log16(amplitude, t)


def features_from_log(log: np.ndarray, spec: FrontEndSpec) -> np.ndarray:
    """int16 log values -> the int8 feature codes as float32: clamp(log + feature_offset, -128, 127)."""
    return np.clip(log + spec.feature_offset, -128, 127).astype(np.float32)


def signal_features(x: np.ndarray, spec: FrontEndSpec = SIGNAL_SPEC) -> np.ndarray:
    """Waveform [n] or [batch, n] in [-1, 1) -> int8 feature codes [batch, frames, n_mels] as float32.

    The values are integers in [-128, 127]: what the TFLM graph outputs, up to the FFT's rounding.
    """
    return features_from_log(signal_log(x, spec), spec)


__all__ = ["checked_batch", "frame_amplitudes", "pcm16", "pcm_frames", "signal_features", "signal_log"]
