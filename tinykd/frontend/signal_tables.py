"""The integer constants of the Signal front end, computed from a `FrontEndSpec` (pure numpy).

Each table is a port of the code tflite-micro uses to build micro_speech's audio preprocessor, with the same
float32 arithmetic and the same rounding, so that a graph built from these tables computes what upstream's
would (checked in tests/test_frontend_signal.py against the tables inside micro_speech's own model):

- Hann window weights: python/tflite_micro/signal/ops/window_op.py (`hann_window_weights`).
- FFT length bits: python/tflite_micro/signal/ops/fft_ops.py (`get_pow2_fft_length`).
- Mel filter bank (weights, unweights, channel starts and widths, start/end FFT indices):
  python/tflite_micro/signal/ops/filter_bank_ops.py (`_init_filter_bank_weights`, `calc_start_end_indices`),
  with `FreqToMel` from python/tflite_micro/signal/utils/freq_to_mel_wrapper.cc.
- Spectral-subtraction options: filter_bank_ops.py (`_filter_bank_spectral_subtraction_wrapper`).
- PCAN gain table: python/tflite_micro/signal/utils/wide_dynamic_func_lut_wrapper.cc (`WideDynamicFuncLut`)
  and python/tflite_micro/signal/ops/pcan_op.py.
- The int16 RFFT's plan (radix factors, Q15 twiddles): kissfft v130 as TFLM vendors it
  (third_party/kissfft/kiss_fft.c `kiss_fft_alloc`/`kf_factor`, tools/kiss_fftr.c `kiss_fftr_alloc`), compiled
  with FIXED_POINT=16 by signal/src/kiss_fft_wrappers/kiss_fft_int16.cc.
- The log table: signal/src/log.cc (`kLogLut`, Log32's constants).
- The remaining constants (noise-reduction and PCAN parameters, log correction bits) are micro_speech's:
  tensorflow/lite/micro/examples/micro_speech/audio_preprocessor.py (`FeatureParams`, `_GenerateFeature`).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from tinykd.frontend.spec import FrontEndSpec

# filter_bank_ops.FILTER_BANK_WEIGHT_SCALING_BITS: the filter-bank weights are Q12.
FILTER_BANK_WEIGHT_BITS = 12
# micro_speech's noise reduction (FeatureParams: filter_bank_* fields).
SPECTRAL_SUBTRACTION_BITS = 14
NOISE_SMOOTHING_BITS = 10
NOISE_EVEN_SMOOTHING = 0.025
NOISE_ODD_SMOOTHING = 0.06
NOISE_MIN_SIGNAL_REMAINING = 0.05
NOISE_CLAMPING = False
# micro_speech's PCAN (FeatureParams: pcan_* fields) and the kernel's fixed point (signal/src/pcan_argc_fixed.h).
PCAN_STRENGTH = 0.95
PCAN_OFFSET = 80.0
PCAN_GAIN_BITS = 21
PCAN_SMOOTHING_BITS = 10
PCAN_SNR_BITS = 12  # kPcanSnrBits
PCAN_OUTPUT_BITS = 6  # kPcanOutputBits
PCAN_LUT_SIZE = 4 * 32 - 3  # kWideDynamicFunctionLUTSize


# -- window and FFT ------------------------------------------------------------------------------------
def hann_window_weights(length: int, bits: int) -> np.ndarray:
    """int16 Hann weights round((0.5 - 0.5 cos(2 pi (i + 0.5) / N)) * 2**bits) (window_op.hann_window_weights).

    The half-sample offset makes the window symmetric with no zero end points (unlike numpy's periodic Hann).
    """
    index = np.arange(length)
    weights = 0.5 - 0.5 * np.cos(np.pi * 2 / length * (index + 0.5))
    return np.round(weights * (2**bits)).astype(np.int16)


def capped_window(weights: np.ndarray, bits: int) -> np.ndarray:
    """Hann weights capped at 2**bits - 1: the one deliberate change to upstream's table.

    Upstream's weights reach 2**bits (1.0) at the centre of most window lengths (480 at 12 bits: four of them),
    so a full-scale negative sample there windows to -32768. SignalFftAutoScale's MaxAbs16 then negates
    -32768 into an int16 (signal/src/max_abs.cc), which wraps: the peak it finds depends on what follows,
    the shift comes out too large and the scaled frame wraps around in int16, turning a clipped frame into
    garbage. With the cap the windowed frame stays within [-32767, 32767] and that cannot happen; the cost
    is one LSB on those few weights (tests/test_frontend_signal.py shows both).
    """
    return np.minimum(weights, (1 << bits) - 1).astype(np.int16)


def fft_bits(n_fft: int) -> int:
    """log2 of a power-of-two FFT length (fft_ops.get_pow2_fft_length for an exact power of two)."""
    return int(math.ceil(math.log2(n_fft)))


def log_correction_bits(n_fft: int) -> int:
    """SignalFilterBankLog input_correction_bits: fft bits - weight bits / 2 (audio_preprocessor.py).

    The int16 RFFT divides by n_fft and the Q12 filter-bank weights multiply the energy by 2**12 (2**6 after
    the square root); shifting left by this many bits brings the amplitude back to int16-sample units.
    """
    return fft_bits(n_fft) - FILTER_BANK_WEIGHT_BITS // 2


# -- the int16 RFFT's plan (kissfft FIXED_POINT=16) ---------------------------------------------------------
@dataclass(frozen=True)
class KissFftPlan:
    """What kiss_fftr_alloc(n_fft) precomputes: the n_fft/2-point complex FFT's radix factors
    ((p, m) pairs, kf_factor) and Q15 twiddles, and the real-split "super twiddles"; int16 [.., 2] = (r, i)."""

    n_fft: int
    factors: tuple[tuple[int, int], ...]
    twiddles: np.ndarray  # int16 [n_fft / 2, 2]
    super_twiddles: np.ndarray  # int16 [n_fft / 4, 2]


def _kiss_factors(n: int) -> tuple[tuple[int, int], ...]:
    """kf_factor: powers of 4 first, then 2, then odd primes."""
    out = []
    p = 4
    floor_sqrt = math.floor(math.sqrt(n))
    while True:
        while n % p:
            p = {4: 2, 2: 3}.get(p, p + 2)
            if p > floor_sqrt:
                p = n
        n //= p
        out.append((p, n))
        if n <= 1:
            return tuple(out)


def _q15_cexp(phase: float) -> tuple[int, int]:
    """kf_cexp with FIXED_POINT: floor(.5 + SAMP_MAX * cos/sin(phase)) in C double (math.cos is the C library's)."""
    return int(math.floor(0.5 + 32767 * math.cos(phase))), int(math.floor(0.5 + 32767 * math.sin(phase)))


@functools.lru_cache(maxsize=8)
def kiss_fft_plan(n_fft: int) -> KissFftPlan:
    """The plan of kissfft's real FFT of even length `n_fft` (forward)."""
    ncfft = n_fft // 2
    pi = 3.141592653589793238462643383279502884197169399375105820974944
    tw = np.array([_q15_cexp(-2 * pi * i / ncfft) for i in range(ncfft)], dtype=np.int16)
    sup = np.array([_q15_cexp(-3.14159265358979323846264338327 * ((i + 1) / ncfft + 0.5)) for i in range(ncfft // 2)],
                   dtype=np.int16)
    tw.setflags(write=False)
    sup.setflags(write=False)
    return KissFftPlan(n_fft=n_fft, factors=_kiss_factors(ncfft), twiddles=tw, super_twiddles=sup)


# signal/src/log.cc: Log32's table of log2(1 + x) - x corrections over 128 segments (plus padding), Q16.
LOG_LUT = np.array([
    0, 224, 442, 654, 861, 1063, 1259, 1450, 1636, 1817, 1992, 2163, 2329, 2490, 2646, 2797, 2944, 3087, 3224,
    3358, 3487, 3611, 3732, 3848, 3960, 4068, 4172, 4272, 4368, 4460, 4549, 4633, 4714, 4791, 4864, 4934, 5001,
    5063, 5123, 5178, 5231, 5280, 5326, 5368, 5408, 5444, 5477, 5507, 5533, 5557, 5578, 5595, 5610, 5622, 5631,
    5637, 5640, 5641, 5638, 5633, 5626, 5615, 5602, 5586, 5568, 5547, 5524, 5498, 5470, 5439, 5406, 5370, 5332,
    5291, 5249, 5203, 5156, 5106, 5054, 5000, 4944, 4885, 4825, 4762, 4697, 4630, 4561, 4490, 4416, 4341, 4264,
    4184, 4103, 4020, 3935, 3848, 3759, 3668, 3575, 3481, 3384, 3286, 3186, 3084, 2981, 2875, 2768, 2659, 2549,
    2437, 2323, 2207, 2090, 1971, 1851, 1729, 1605, 1480, 1353, 1224, 1094, 963, 830, 695, 559, 421, 282, 142, 0, 0,
], dtype=np.int64)
LOG_LUT.setflags(write=False)
LOG_COEFF = 45426  # kLogCoeff: ln(2) in Q16
LOG_SCALE_BITS = 16  # kLogScaleLog2
LOG_SEGMENT_BITS = 7  # kLogSegmentsLog2


# -- mel filter bank -------------------------------------------------------------------------------------
def freq_to_mel(freq: float) -> np.float32:
    """FreqToMel in C float: 1127.0f * log1pf(freq / 700.0f) (freq_to_mel_wrapper.cc).

    The argument is rounded to float32 first, as pybind11 does when Python passes a float to a C `float`.
    """
    return np.float32(1127.0) * np.log1p(np.float32(freq) / np.float32(700.0))


def _center_mel_freqs(channel_num: int, lower: float, upper: float) -> np.ndarray:
    """filter_bank_ops._calc_center_freq (float32 throughout)."""
    mel_lower = np.float32(freq_to_mel(lower))
    mel_upper = np.float32(freq_to_mel(upper))
    mel_spacing = (mel_upper - mel_lower) / np.float32(channel_num)
    channels = np.arange(1, channel_num + 1, dtype=np.float32)
    return mel_lower + (mel_spacing * channels)


@dataclass(frozen=True)
class FilterBankTables:
    """SignalFilterBank's five int16 inputs plus the FFT bin range it reads.

    `start_index`/`end_index` bound the bins with a non-zero weight (SignalEnergy computes only those);
    `actual_starts`/`actual_widths` (per channel 0..num_channels, channel 0 being the kernel's scratch
    channel) are the unpadded bin ranges the weights were computed for.
    """

    num_channels: int
    spectrum_size: int
    start_index: int
    end_index: int
    weights: np.ndarray
    unweights: np.ndarray
    channel_frequency_starts: np.ndarray
    channel_weight_starts: np.ndarray
    channel_widths: np.ndarray
    actual_starts: np.ndarray
    actual_widths: np.ndarray

    def matrix(self) -> np.ndarray:
        """The filter bank as a dense float64 [spectrum_size, num_channels] matrix of the integer weights.

        Output channel c (0-based) of FilterbankAccumulateChannels sums weights[ch c+1] * energy over
        channel c+1's bins plus unweights[ch c] * energy over channel c's bins (signal/src/filter_bank.cc);
        padded entries hold zero weights and add nothing.
        """
        m = np.zeros((self.spectrum_size, self.num_channels + 1), dtype=np.float64)
        for ch in range(self.num_channels + 1):
            f0 = int(self.channel_frequency_starts[ch])
            w0 = int(self.channel_weight_starts[ch])
            for j in range(int(self.channel_widths[ch])):
                m[f0 + j, ch] += float(self.weights[w0 + j])
                if ch + 1 <= self.num_channels:
                    m[f0 + j, ch + 1] += float(self.unweights[w0 + j])
        return m[:, 1:]

    def bins_read(self) -> np.ndarray:
        """FFT bins the kernel multiplies by a non-zero weight or unweight (sorted, unique)."""
        read = []
        for ch in range(self.num_channels + 1):
            f0 = int(self.channel_frequency_starts[ch])
            w0 = int(self.channel_weight_starts[ch])
            for j in range(int(self.channel_widths[ch])):
                if self.weights[w0 + j] != 0 or self.unweights[w0 + j] != 0:
                    read.append(f0 + j)
        return np.unique(np.array(read, dtype=np.int64))


def filter_bank_tables(spectrum_size: int, sample_rate: int, num_channels: int, lower_band_limit: float,
                       upper_band_limit: float, alignment: int = 1, channel_block_size: int = 1,
                       scale_bits: int = FILTER_BANK_WEIGHT_BITS) -> FilterBankTables:
    """filter_bank_ops._init_filter_bank_weights, line for line (float32 arithmetic, truncating int()).

    `alignment`/`channel_block_size` pad each channel's weights for vectorised kernels; they change the
    tables but not the sums (padding weights are zero). tinykd uses 1/1 (smallest tables, fewest MACs);
    micro_speech's model was built with 4/4. Raises ValueError where upstream does.
    """
    item_size = np.dtype("int16").itemsize
    index_alignment = 1 if alignment < item_size else int(alignment / item_size)

    channel_frequency_starts = np.zeros(num_channels + 1, dtype=np.int16)
    channel_weight_starts = np.zeros(num_channels + 1, dtype=np.int16)
    channel_widths = np.zeros(num_channels + 1, dtype=np.int16)
    actual_channel_starts = np.zeros(num_channels + 1, dtype=np.int16)
    actual_channel_widths = np.zeros(num_channels + 1, dtype=np.int16)

    center_mel_freqs = _center_mel_freqs(num_channels + 1, lower_band_limit, upper_band_limit)
    # (spectrum_size - 1) to exclude DC. Emulate HTK.
    hz_per_sbin = (sample_rate / 2) / (spectrum_size - 1)
    start_index = round(1 + (lower_band_limit / hz_per_sbin))

    chan_freq_index_start = start_index
    weight_index_start = 0
    needs_zeros = 0
    for chan in range(num_channels + 1):
        freq_index = chan_freq_index_start
        while freq_to_mel(freq_index * hz_per_sbin) <= center_mel_freqs[chan]:
            freq_index += 1
            if freq_index > 4 * spectrum_size:  # upstream loops until the mel passes; bound it
                raise ValueError("upper band limit is beyond the spectrum")
        width = freq_index - chan_freq_index_start
        actual_channel_starts[chan] = chan_freq_index_start
        actual_channel_widths[chan] = width
        if width == 0:
            # An empty channel is pointed at a block of zero weights placed at the start of the arrays.
            channel_frequency_starts[chan] = 0
            channel_weight_starts[chan] = 0
            channel_widths[chan] = channel_block_size
            if needs_zeros == 0:
                needs_zeros = 1
                for j in range(chan):
                    channel_weight_starts[j] += channel_block_size
                weight_index_start += channel_block_size
        else:
            aligned_start = int(chan_freq_index_start / index_alignment) * index_alignment
            aligned_width = chan_freq_index_start - aligned_start + width
            padded_width = (int((aligned_width - 1) / channel_block_size) + 1) * channel_block_size
            channel_frequency_starts[chan] = aligned_start
            channel_weight_starts[chan] = weight_index_start
            channel_widths[chan] = padded_width
            weight_index_start += padded_width
        chan_freq_index_start = freq_index

    weights = np.zeros(weight_index_start, dtype=np.int16)
    unweights = np.zeros(weight_index_start, dtype=np.int16)
    end_index = 0
    mel_low = freq_to_mel(lower_band_limit)
    for chan in range(num_channels + 1):
        frequency = np.int64(actual_channel_starts[chan])
        num_frequencies = int(actual_channel_widths[chan])
        frequency_offset = frequency - channel_frequency_starts[chan]
        weight_start = channel_weight_starts[chan]
        denom_val = mel_low if chan == 0 else center_mel_freqs[chan - 1]
        for j in range(num_frequencies):
            num = np.float32(center_mel_freqs[chan] - freq_to_mel(frequency * hz_per_sbin))
            den = np.float32(center_mel_freqs[chan] - denom_val)
            weight = np.float32(num / den)
            index = int(weight_start) + int(frequency_offset) + j
            # _quantize_filterbank_weight: truncation toward zero of the float32 products.
            weights[index] = int(weight * np.float32(1 << scale_bits))
            unweights[index] = int((np.float32(1) - weight) * np.float32(1 << scale_bits))
            frequency = frequency + 1
        if frequency > end_index:
            end_index = int(frequency)
    if end_index >= spectrum_size:
        raise ValueError("upper band limit is beyond the spectrum")
    return FilterBankTables(
        num_channels=num_channels, spectrum_size=int(spectrum_size), start_index=int(start_index),
        end_index=int(end_index), weights=weights, unweights=unweights,
        channel_frequency_starts=channel_frequency_starts, channel_weight_starts=channel_weight_starts,
        channel_widths=channel_widths, actual_starts=actual_channel_starts, actual_widths=actual_channel_widths,
    )


# -- noise reduction and PCAN ----------------------------------------------------------------------------
def spectral_subtraction_options(num_channels: int) -> dict:
    """SignalFilterBankSpectralSubtraction's options, converted as upstream's Python wrapper does."""
    one = 1 << SPECTRAL_SUBTRACTION_BITS
    alternate = NOISE_ODD_SMOOTHING if NOISE_ODD_SMOOTHING != 0 else NOISE_EVEN_SMOOTHING
    smoothing = int(NOISE_EVEN_SMOOTHING * one)
    alternate_smoothing = int(alternate * one)
    return {
        "alternate_one_minus_smoothing": int(one - alternate_smoothing),
        "alternate_smoothing": alternate_smoothing,
        "clamping": bool(NOISE_CLAMPING),
        "min_signal_remaining": int(NOISE_MIN_SIGNAL_REMAINING * one),
        "num_channels": int(num_channels),
        "one_minus_smoothing": int(one - smoothing),
        "smoothing": smoothing,
        "smoothing_bits": NOISE_SMOOTHING_BITS,
        "spectral_subtraction_bits": SPECTRAL_SUBTRACTION_BITS,
    }


def _pcan_gain(strength: float, offset: float, gain_bits: int, input_bits: int, x: int) -> int:
    """PcanGainLookupFunction in C float (wide_dynamic_func_lut_wrapper.cc)."""
    x_as_float = np.float32(np.float32(x) / np.float32(1 << input_bits))
    gain = np.float32(np.float32(1 << gain_bits) * np.power(x_as_float + np.float32(offset), np.float32(-strength)))
    if gain > 32767:
        return 32767
    return int(gain + np.float32(0.5))  # static_cast<int16_t>: truncation (gain > 0)


def _wrap_int16(v: int) -> int:
    """static_cast<int16_t> of an int32."""
    return ((int(v) + 32768) % 65536) - 32768


def pcan_gain_lut(strength: float, offset: float, input_bits: int, gain_bits: int) -> np.ndarray:
    """WideDynamicFuncLut: int16 [125] piecewise-quadratic table of gain(x) = 2**gain_bits (x + offset)**-strength."""
    lut = np.zeros(PCAN_LUT_SIZE + 1, dtype=np.int64)
    lut[0] = _pcan_gain(strength, offset, gain_bits, input_bits, 0)
    lut[1] = _pcan_gain(strength, offset, gain_bits, input_bits, 1)
    for interval in range(2, 33):
        x0 = 1 << (interval - 1)
        x1 = x0 + (x0 >> 1)
        x2 = x0 + (x0 - 1) if interval == 32 else 2 * x0
        y0 = _pcan_gain(strength, offset, gain_bits, input_bits, x0)
        y1 = _pcan_gain(strength, offset, gain_bits, input_bits, x1)
        y2 = _pcan_gain(strength, offset, gain_bits, input_bits, x2)
        diff1 = y1 - y0
        diff2 = y2 - y0
        a1 = 4 * diff1 - diff2
        a2 = diff2 - a1
        base = 4 * interval - 6  # the C code offsets its pointer by -6
        lut[base] = y0
        lut[base + 1] = _wrap_int16(a1)
        lut[base + 2] = _wrap_int16(a2)
        lut[base + 3] = 0
    return lut[:PCAN_LUT_SIZE].astype(np.int16)


def pcan_snr_shift(correction_bits: int) -> int:
    """SignalPCAN snr_shift: gain bits - input correction bits - kPcanSnrBits (pcan_op.py computes this and
    then passes a fixed 6, which is the same number for micro_speech's n_fft 512; tinykd passes the computed
    value so other FFT lengths stay right)."""
    return PCAN_GAIN_BITS - correction_bits - PCAN_SNR_BITS


# -- everything a spec needs -------------------------------------------------------------------------------
@dataclass(frozen=True)
class SignalTables:
    """All constants of one Signal front end (see `signal_tables`)."""

    window: np.ndarray  # int16 [win_length]
    window_bits: int
    fft_length: int
    fft_bits: int
    filter_bank: FilterBankTables
    correction_bits: int  # SignalFilterBankLog input_correction_bits
    log_scale: int  # SignalFilterBankLog output_scale
    feature_offset: int
    spectral_subtraction: dict | None  # options, when noise_reduction
    pcan_lut: np.ndarray | None  # int16 [125], when pcan
    pcan_snr_shift: int | None

    @property
    def start_index(self) -> int:
        return self.filter_bank.start_index

    @property
    def end_index(self) -> int:
        return self.filter_bank.end_index

    @functools.cached_property
    def mel_matrix(self) -> np.ndarray:
        """float64 [n_bins, n_mels]: the integer filter-bank weights as one matrix (for the twins)."""
        m = self.filter_bank.matrix()
        m.setflags(write=False)
        return m


def check_filter_bank(spec: FrontEndSpec) -> str | None:
    """What is wrong with a signal spec's filter bank, in one line, or None (used by FrontEndSpec.validate)."""
    try:
        fb = _cached_filter_bank(_bank_key(spec))
    except ValueError:
        return (f"fmax={spec.f_max:g} leaves no FFT bin above the top mel band at n_fft={spec.n_fft} "
                f"(SignalFilterBank needs one); lower fmax below sample_rate/2={spec.sample_rate / 2:g}")
    empty = np.flatnonzero(fb.matrix().sum(axis=0) == 0)
    if len(empty):
        return (f"n_mels={spec.n_mels}: mel band(s) {', '.join(str(int(i)) for i in empty[:5])} get no FFT bin "
                f"at n_fft={spec.n_fft}, fmin={spec.fmin:g}; use fewer mel bands, a larger n_fft or a higher fmin")
    return None


def _bank_key(spec: FrontEndSpec) -> tuple:
    return (spec.n_bins, spec.sample_rate, spec.n_mels, float(spec.fmin), spec.f_max)


@functools.lru_cache(maxsize=32)
def _cached_filter_bank(key: tuple) -> FilterBankTables:
    n_bins, sample_rate, n_mels, fmin, fmax = key
    return filter_bank_tables(n_bins, sample_rate, n_mels, fmin, fmax)


@functools.lru_cache(maxsize=32)
def signal_tables(spec: FrontEndSpec) -> SignalTables:
    """The constants of `spec`'s Signal front end (cached: a spec is frozen)."""
    if spec.kind != "signal":
        from tinykd.errors import TinykdError

        raise TinykdError(f"front end: the Signal tables need kind='signal', got kind={spec.kind!r}")
    correction = log_correction_bits(spec.n_fft)
    lut = shift = None
    if spec.pcan:
        # pcan_op.py: input_bits = smoothing_bits - input_correction_bits.
        lut = pcan_gain_lut(PCAN_STRENGTH, PCAN_OFFSET, PCAN_SMOOTHING_BITS - correction, PCAN_GAIN_BITS)
        shift = pcan_snr_shift(correction)
    return SignalTables(
        window=capped_window(hann_window_weights(spec.win_length, spec.window_bits), spec.window_bits),
        window_bits=spec.window_bits,
        fft_length=spec.n_fft,
        fft_bits=fft_bits(spec.n_fft),
        filter_bank=_cached_filter_bank(_bank_key(spec)),
        correction_bits=correction,
        log_scale=spec.log_scale,
        feature_offset=spec.feature_offset,
        spectral_subtraction=spectral_subtraction_options(spec.n_mels) if spec.noise_reduction else None,
        pcan_lut=lut,
        pcan_snr_shift=shift,
    )


__all__ = [
    "FilterBankTables", "KissFftPlan", "LOG_LUT", "capped_window", "kiss_fft_plan", "SignalTables", "filter_bank_tables", "fft_bits", "freq_to_mel", "hann_window_weights",
    "log_correction_bits", "pcan_gain_lut", "pcan_snr_shift", "signal_tables", "spectral_subtraction_options",
]


def hop_operation_counts(spec: FrontEndSpec) -> dict[str, int]:
    """Integer operations of one hop of the Signal graph, counted from the kernels' loops (signal/src, kissfft):
    the figure `tinykd models`, the quantizer's report and the benches quote for the front end's cost."""
    t = signal_tables(spec)
    plan = kiss_fft_plan(spec.n_fft)
    ncfft = spec.n_fft // 2
    butterflies = sum(ncfft // p for p, _ in plan.factors)
    # per radix-p butterfly: p C_FIXDIV (2 muls each) and p-1 C_MUL (4 muls each); the real split: n/4 x (2 FIXDIV + 1 C_MUL)
    fft_muls = sum((ncfft // p) * (2 * p + 4 * (p - 1)) for p, _ in plan.factors) + (ncfft // 2) * (2 * 2 + 4)
    counts = {
        "window muls": spec.win_length,
        "FFT butterflies": butterflies,
        "FFT real muls": fft_muls,
        "energy muls": 2 * (t.end_index - t.start_index),
        "filter-bank MACs": 2 * int(t.filter_bank.channel_widths.sum()),
        "square roots": spec.n_mels,
        "logs": spec.n_mels,
    }
    if spec.noise_reduction:
        counts["noise-reduction muls"] = 3 * spec.n_mels
    if spec.pcan:
        counts["PCAN muls"] = 5 * spec.n_mels
    counts["total muls"] = sum(v for k, v in counts.items() if "mul" in k or "MAC" in k)
    return counts
