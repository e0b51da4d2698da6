"""The log-mel front end, defined once.

`FrontEndSpec` is the single definition of the features every part of tinykd uses: the numpy reference
(`tinykd.frontend.numpy_ref`), the Keras layer inside the student models (`tinykd.frontend.keras_layer`),
the emitted firmware header (sample rate, window) and the data loader (resampling target).

Defaults are the released Wav2Small settings: 16 kHz, 64-sample Hann window, n_fft 64, hop 32, no
padding, power spectrum, 26 mel bands from 0 to 8 kHz, 10*log10(max(x, 1e-10)), per-utterance
normalisation of the waveform (subtract the mean, divide by sqrt(var + 1e-7)).

Two kinds of front end share the spec:
- `kind="logmel"` (the default): the float log-mel above, built from TFLite builtin ops
  (`tinykd.frontend.keras_layer`). The signal-only fields below are ignored and, at their defaults, not
  even written by `to_dict`, so every spec, preset and saved config from before they existed keeps its
  dict and fingerprint.
- `kind="signal"`: the microcontroller form, an all-integer log-mel made of TFLite Micro's Signal-library
  ops (`tinykd.frontend.signal_graph`, one hop per invoke, int16 PCM in, int8 features out) with twins
  for training that output the same int8 codes as float32 (`signal_numpy`, `signal_keras`). See
  docs/frontend-signal.md. Its fields:
  `window_bits` (fixed-point bits of the Hann weights), `log_scale` (SignalFilterBankLog's output_scale:
  feature steps per neper of mel amplitude), `feature_offset` (int8 feature = clamp(log + offset, -128,
  127)), `noise_reduction` (SignalFilterBankSpectralSubtraction) and `pcan` (SignalPCAN, needs
  noise_reduction); their constants are micro_speech's. `SIGNAL_SPEC` is the ready default.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass

from tinykd.errors import TinykdError

WINDOWS = ("hann", "hamming", "rect")
MEL_SCALES = ("slaney", "htk")
NORMALISATIONS = ("utterance", "none")
KINDS = ("logmel", "signal")
# Fields only the Signal front end reads. A logmel spec leaves them out of its dict while they hold their
# defaults, so its dict (and fingerprint) is exactly what it was before they existed.
SIGNAL_FIELDS = ("kind", "window_bits", "log_scale", "feature_offset", "noise_reduction", "pcan")
# SignalRfft's lengths (tflite-micro python/tflite_micro/signal/ops/fft_ops.py: _MIN/_MAX_FFT_LENGTH).
SIGNAL_FFT_LENGTHS = (64, 2048)


@dataclass(frozen=True)
class FrontEndSpec:
    sample_rate: int = 16000
    win_length: int = 64  # samples in the analysis window
    n_fft: int = 64  # DFT size (>= win_length; the window is zero-padded, centred, to n_fft)
    hop_length: int = 32
    n_mels: int = 26
    fmin: float = 0.0
    fmax: float | None = None  # None: sample_rate / 2
    log_floor: float = 1e-10  # log10(max(power, floor))
    window: str = "hann"  # periodic Hann, as torch.hann_window and scipy.signal.get_window
    mel_scale: str = "slaney"  # librosa's default mel scale and area normalisation
    normalize: str = "utterance"  # per-utterance waveform normalisation, or "none"
    norm_eps: float = 1e-7
    # -- kind="signal" only (see the module docstring; the logmel paths ignore these) -------------------
    kind: str = "logmel"  # "logmel" (float, builtin ops) or "signal" (TFLM Signal ops, int8 features)
    window_bits: int = 12  # Hann weights are round(w * 2**window_bits), applied with >> window_bits
    log_scale: int = 16  # SignalFilterBankLog output_scale: int16 log = round(log_scale * ln(mel amplitude))
    feature_offset: int = -128  # int8 feature = clamp(log + feature_offset, -128, 127); -128: silence -> -128
    noise_reduction: bool = False  # SignalFilterBankSpectralSubtraction (state across hops)
    pcan: bool = False  # SignalPCAN per-channel gain control (needs noise_reduction)

    def __post_init__(self) -> None:
        self.validate()

    # -- derived facts -------------------------------------------------------------------------
    @property
    def f_max(self) -> float:
        return float(self.sample_rate) / 2 if self.fmax is None else float(self.fmax)

    @property
    def n_bins(self) -> int:
        """Number of one-sided DFT bins."""
        return self.n_fft // 2 + 1

    def n_frames(self, n_samples: int) -> int:
        """Frames produced for `n_samples` of audio (no padding, as Wav2Small)."""
        if n_samples < self.win_length:
            return 0
        return 1 + (n_samples - self.win_length) // self.hop_length

    def frame_rate(self) -> float:
        return self.sample_rate / self.hop_length

    def validate(self) -> None:
        def bad(msg: str) -> TinykdError:
            return TinykdError(f"front end: {msg}")

        if int(self.sample_rate) <= 0:
            raise bad(f"sample_rate must be positive, got {self.sample_rate}")
        if self.win_length <= 0 or self.hop_length <= 0 or self.n_fft <= 0:
            raise bad("win_length, hop_length and n_fft must be positive")
        if self.n_fft < self.win_length:
            raise bad(f"n_fft ({self.n_fft}) must be >= win_length ({self.win_length})")
        if self.n_mels <= 0:
            raise bad(f"n_mels must be positive, got {self.n_mels}")
        if not (0.0 <= self.fmin < self.f_max <= self.sample_rate / 2 + 1e-9):
            raise bad(f"need 0 <= fmin < fmax <= sample_rate/2, got fmin={self.fmin}, fmax={self.f_max}")
        if not (self.log_floor > 0):
            raise bad(f"log_floor must be > 0, got {self.log_floor}")
        if self.window not in WINDOWS:
            raise bad(f"window must be one of {', '.join(WINDOWS)}, got {self.window!r}")
        if self.mel_scale not in MEL_SCALES:
            raise bad(f"mel_scale must be one of {', '.join(MEL_SCALES)}, got {self.mel_scale!r}")
        if self.normalize not in NORMALISATIONS:
            raise bad(f"normalize must be one of {', '.join(NORMALISATIONS)}, got {self.normalize!r}")
        if self.kind not in KINDS:
            raise bad(f"kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if self.kind == "signal":
            self._validate_signal(bad)

    def _validate_signal(self, bad) -> None:
        """What the Signal ops and their tables need (one line per problem, naming the field)."""
        lo, hi = SIGNAL_FFT_LENGTHS
        if self.n_fft & (self.n_fft - 1) or not (lo <= self.n_fft <= hi):
            raise bad(f"kind='signal' needs n_fft a power of two in [{lo}, {hi}] (SignalRfft has no other "
                      f"length), got n_fft={self.n_fft}")
        if self.hop_length > self.win_length:
            raise bad(f"kind='signal' needs hop_length <= win_length (the firmware analyses one window per hop), "
                      f"got hop_length={self.hop_length} > win_length={self.win_length}")
        if self.window != "hann":
            raise bad(f"kind='signal' needs window='hann' (the Signal window weights are Hann), got {self.window!r}")
        if self.mel_scale != "htk":
            raise bad(f"kind='signal' needs mel_scale='htk' (SignalFilterBank uses 1127*ln(1+f/700)), "
                      f"got {self.mel_scale!r}")
        if self.normalize != "none":
            raise bad(f"kind='signal' needs normalize='none' (the firmware streams hop by hop: no per-utterance "
                      f"normalisation), got {self.normalize!r}")
        for name, lo_v, hi_v in (("window_bits", 1, 14), ("log_scale", 1, 1024), ("feature_offset", -32767, 127)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not (lo_v <= value <= hi_v):
                raise bad(f"{name} must be an integer in [{lo_v}, {hi_v}], got {value!r}")
        for name in ("noise_reduction", "pcan"):
            if not isinstance(getattr(self, name), bool):
                raise bad(f"{name} must be true or false, got {getattr(self, name)!r}")
        if self.pcan and not self.noise_reduction:
            raise bad("pcan=True needs noise_reduction=True (SignalPCAN divides by the noise estimate that "
                      "SignalFilterBankSpectralSubtraction keeps)")
        from tinykd.frontend.signal_tables import check_filter_bank

        problem = check_filter_bank(self)
        if problem:
            raise bad(problem)

    # -- identity --------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """Every field of a signal spec; a logmel spec omits signal-only fields that hold their defaults
        (so its dict, and its fingerprint, are what they were before those fields existed)."""
        data = dataclasses.asdict(self)
        if self.kind == "logmel":
            defaults = {f.name: f.default for f in dataclasses.fields(self) if f.name in SIGNAL_FIELDS}
            for name in SIGNAL_FIELDS:
                if data[name] == defaults[name] and type(data[name]) is type(defaults[name]):
                    del data[name]
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "FrontEndSpec":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise TinykdError(f"front end: unknown field(s) {', '.join(unknown)}")
        return cls(**data)

    def fingerprint(self) -> str:
        """Stable short hash of the spec, for keying caches and checking artifacts."""
        blob = json.dumps(self.to_dict(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


DEFAULT_SPEC = FrontEndSpec()

# The microcontroller front end: micro_speech's framing and filter bank (16 kHz, 30 ms window, 20 ms hop,
# n_fft 512, 40 HTK mel bands over 125-7500 Hz) with an int8 scale measured on FSDD (docs/frontend-signal.md):
# log_scale 16 (0.54 dB per code) and offset -128 put digital silence (mel amplitude <= 1) at -128, the
# loudest FSDD frame at +103, and at +118 with the clips 12 dB louder; a full-scale square wave reaches about
# +123, so no input clips at the top.
SIGNAL_SPEC = FrontEndSpec(kind="signal", sample_rate=16000, win_length=480, n_fft=512, hop_length=320, n_mels=40,
                           fmin=125.0, fmax=7500.0, window="hann", mel_scale="htk", normalize="none",
                           window_bits=12, log_scale=16, feature_offset=-128)
