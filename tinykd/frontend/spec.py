"""The log-mel front end, defined once.

`FrontEndSpec` is the single definition of the features every part of tinykd uses: the numpy reference
(`tinykd.frontend.numpy_ref`), the Keras layer inside the student models (`tinykd.frontend.keras_layer`),
the emitted firmware header (sample rate, window) and the data loader (resampling target).

Defaults are the released Wav2Small settings: 16 kHz, 64-sample Hann window, n_fft 64, hop 32, no
padding, power spectrum, 26 mel bands from 0 to 8 kHz, 10*log10(max(x, 1e-10)), per-utterance
normalisation of the waveform (subtract the mean, divide by sqrt(var + 1e-7)).
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

    # -- identity --------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

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
