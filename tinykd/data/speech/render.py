"""One clip: the word spoken, trimmed, resampled, coloured by a room and noise, placed and levelled."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinykd.errors import DatasetError
from tinykd.data.speech.config import BABBLE_PHRASES, BABBLE_POOL, ESPEAK_RATE_RANGE, FIT_SHARE, SENTENCE_TUNES, SpeechSynthConfig, TRIM_DB, TUNE_WEIGHTS
from tinykd.data.speech.engine import Espeak
from tinykd.data.speech.voices import VoiceSpec, _stable_hash

# -- signal pieces ---------------------------------------------------------------------------------------
def _resample(x: np.ndarray, src: int, dst: int) -> np.ndarray:
    from tinykd.data.audio import resample

    return np.asarray(resample(x, src, dst), dtype=np.float64)


def _trim(x: np.ndarray, sr: int) -> np.ndarray:
    """Cut the leading and trailing near-silence espeak puts around a word (keeps 10 ms either side)."""
    frame = max(1, int(0.005 * sr))
    n = len(x) // frame
    if n == 0:
        return x
    rms = np.sqrt(np.mean(x[: n * frame].reshape(n, frame) ** 2, axis=1))
    active = np.flatnonzero(rms > rms.max() * 10 ** (-TRIM_DB / 20))
    if active.size == 0:
        return x
    pad = int(0.01 * sr)
    start = max(0, active[0] * frame - pad)
    end = min(len(x), (active[-1] + 1) * frame + pad)
    return x[start:end]


def _peaking_sos(f0: float, gain_db: float, q: float, sr: int) -> np.ndarray:
    """RBJ audio-EQ-cookbook peaking biquad as one second-order section."""
    a = 10 ** (gain_db / 40)
    w = 2 * np.pi * f0 / sr
    alpha = np.sin(w) / (2 * q)
    b = np.array([1 + alpha * a, -2 * np.cos(w), 1 - alpha * a])
    den = np.array([1 + alpha / a, -2 * np.cos(w), 1 - alpha / a])
    return np.concatenate([b / den[0], den / den[0]])[None, :]


def _room(x: np.ndarray, sr: int, config: SpeechSynthConfig, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """Random EQ (microphone/channel colour), then with some probability a synthetic room; returns (y, rt60 or 0)."""
    from scipy.signal import fftconvolve, lfilter, sosfilt

    y = x
    if config.eq_db > 0:
        sos = np.concatenate([
            _peaking_sos(float(np.exp(rng.uniform(np.log(150.0), np.log(min(6000.0, 0.42 * sr))))),
                         float(rng.uniform(-config.eq_db, config.eq_db)), float(rng.uniform(0.7, 2.0)), sr)
            for _ in range(3)
        ])
        y = sosfilt(sos, y)
    rt60 = 0.0
    if rng.random() < config.reverb_probability:
        rt60 = float(rng.uniform(*config.rt60_s))
        n = int(min(1.2 * rt60, 1.0) * sr)
        t = np.arange(n) / sr
        tail = rng.standard_normal(n) * np.exp(-6.9078 * t / rt60)  # -60 dB at rt60
        tail = lfilter([1 - 0.4], [1, -0.4], tail)  # walls absorb the highs a little
        tail[: int(rng.uniform(0.002, 0.01) * sr)] = 0.0  # pre-delay before the first reflections
        drr_db = rng.uniform(0.0, 12.0)  # direct-to-reverberant energy ratio
        tail *= np.sqrt(10 ** (-drr_db / 10) / (np.sum(tail**2) + 1e-12))
        ir = tail
        ir[0] += 1.0
        y = fftconvolve(y, ir)
    return y, rt60


def _coloured_noise(n: int, beta: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian noise with a 1/f^beta power spectrum (0 white, 1 pink, 2 brown)."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(len(spec), dtype=np.float64)
    f[0] = 1.0
    spec *= f ** (-beta / 2)
    spec[0] = 0.0
    return np.fft.irfft(spec, n)


def _babble(n: int, pool: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """3-6 other-language utterances from the pool, each at a random offset and level, summed."""
    out = np.zeros(n)
    for _ in range(int(rng.integers(3, 7))):
        u = pool[int(rng.integers(len(pool)))]
        reps = int(np.ceil((n + len(u)) / len(u)))
        tiled = np.tile(u, reps)
        start = int(rng.integers(len(u)))
        out += tiled[start : start + n] * 10 ** (rng.uniform(-6.0, 0.0) / 20)
    return out


def _babble_pool(engine: Espeak, config: SpeechSynthConfig) -> list[np.ndarray]:
    """Utterances for babble; depends only on the seed and the sample rate (not on the words or voices)."""
    pool = []
    for k in range(BABBLE_POOL):
        lang, text = BABBLE_PHRASES[k % len(BABBLE_PHRASES)]
        rng = np.random.default_rng([config.seed, _stable_hash("babble"), k])
        x = engine.say(text, lang, rate=int(rng.uniform(140, 200)), pitch=int(rng.uniform(20, 80)),
                       pitch_range=int(rng.uniform(30, 80)), seed=int(rng.integers(1, 2**31 - 1)))
        x = _resample(_trim(x.astype(np.float64) / 32768.0, engine.sample_rate), engine.sample_rate, config.sample_rate)
        pool.append(x / (np.sqrt(np.mean(x**2)) + 1e-12))
    return pool


@dataclass
class ClipFacts:
    """What was done to one clip (a manifest row besides path/label/speaker/split)."""

    text: str
    tune: str
    rate_wpm: int
    pitch: int
    pitch_range: int
    word_s: float  # the dry word's length in the clip
    onset_s: float
    compressed: bool  # re-synthesised faster to fit the clip
    rt60_s: float  # 0: no room
    noise: str  # "coloured(beta)" or "babble"
    snr_db: float
    peak_dbfs: float


def render_clip(text: str, voice: VoiceSpec, config: SpeechSynthConfig, rng: np.random.Generator,
                engine: Espeak, babble_pool: list[np.ndarray]) -> tuple[np.ndarray, ClipFacts]:
    """One clip, float32 [clip_samples] at config.sample_rate, and what was done to it."""
    sr, n_clip = config.sample_rate, config.clip_samples
    mark, tune = SENTENCE_TUNES[int(rng.choice(len(SENTENCE_TUNES), p=TUNE_WEIGHTS))]
    pitch = int(np.clip(round(voice.pitch + rng.normal(0.0, config.clip_pitch_sd)), 0, 100))
    prange = int(np.clip(round(voice.pitch_range + rng.normal(0.0, 1.5 * config.clip_pitch_sd)), 0, 100))
    rate = float(np.clip(voice.rate_wpm * np.exp(rng.normal(0.0, config.clip_rate_sd)), *ESPEAK_RATE_RANGE))
    espeak_seed = int(rng.integers(1, 2**31 - 1))
    compressed = False
    while True:
        raw = engine.say(text + mark, voice.name, rate=int(round(rate)), pitch=pitch, pitch_range=prange, seed=espeak_seed)
        if raw.size == 0 or not np.any(raw):
            raise DatasetError(f"espeak made no sound for {text!r} with voice {voice.name}")
        word = _resample(_trim(raw.astype(np.float64) / 32768.0, engine.sample_rate), engine.sample_rate, sr)
        if len(word) <= n_clip:
            break
        if rate >= ESPEAK_RATE_RANGE[1]:
            raise DatasetError(
                f"word {text!r} lasts {len(word) / sr:.2f} s with voice {voice.name} even at {ESPEAK_RATE_RANGE[1]} "
                f"words/min, longer than clip_seconds={config.clip_seconds}; use longer clips or shorter words"
            )
        rate = min(float(ESPEAK_RATE_RANGE[1]), rate * len(word) / (FIT_SHARE * n_clip))
        compressed = True
    n_word = len(word)
    wet, rt60 = _room(word, sr, config, rng)
    onset = int(rng.integers(0, n_clip - n_word + 1))
    speech = np.zeros(n_clip)
    seg = wet[: n_clip - onset]
    speech[onset : onset + len(seg)] = seg
    p_speech = float(np.mean(speech[onset : onset + n_word] ** 2)) + 1e-12
    if rng.random() < config.babble_probability:
        noise, kind = _babble(n_clip, babble_pool, rng), "babble"
    else:
        beta = float(rng.uniform(0.0, 2.0))
        noise, kind = _coloured_noise(n_clip, beta, rng), f"coloured({beta:.2f})"
    snr = float(rng.uniform(*config.snr_db))
    mix = speech + noise * np.sqrt(p_speech / ((np.mean(noise**2) + 1e-12) * 10 ** (snr / 10)))
    peak_db = float(rng.uniform(*config.peak_dbfs))
    clip = mix / (np.abs(mix).max() + 1e-12) * 10 ** (peak_db / 20)
    facts = ClipFacts(text=text, tune=tune, rate_wpm=int(round(rate)), pitch=pitch, pitch_range=prange,
                      word_s=round(n_word / sr, 4), onset_s=round(onset / sr, 4), compressed=compressed,
                      rt60_s=round(rt60, 3), noise=kind, snr_db=round(snr, 2), peak_dbfs=round(peak_db, 2))
    return clip.astype(np.float32), facts
