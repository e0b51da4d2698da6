"""The built-in data set: deterministic, speech-like, multi-class audio made in seconds.

Each clip is a source-filter voice. The source is a glottal pulse train (pitch following a contour, with
jitter and shimmer) through a two-pole low-pass whose cut-off sets the spectral tilt, a first difference for
lip radiation, plus aspiration noise. Higher pitch comes with a brighter tilt and a louder voice, as in
natural intonation. The filter is a cascade of four formant resonators (Klatt style) whose frequencies follow
a vowel per syllable; syllables are gated by raised-cosine envelopes at a syllable rate. Short fricative
bursts, a random energy trend, background noise at a random SNR and a random level make the clips untidy.

A class is a combination of three cues, each with deliberately overlapping values:
- pitch contour: rise, fall, rise-fall or flat (semitone endpoints jittered);
- tempo: slow or fast syllable rate (log-normal spread, so the two overlap);
- vowel: a, i or u formants (scaled by the speaker's vocal tract and jittered per syllable; 15 % of
  syllables take another vowel, as in real words).
The first 8 classes use rise/fall x slow/fast x a/i; more classes add rise-fall, flat and u (24 at most).
A speaker has its own base pitch and vocal-tract length (formant scale), shared by all classes.
Every clip draws from its own `numpy.random.default_rng([seed, class, index])`, so output is reproducible
bit for bit and does not depend on how many other clips are made. docs/data.md has the numbers.
"""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from tinykd.configio import atomic_write_bytes, atomic_write_text, save_json, to_dict
from tinykd.errors import DatasetError

CONTOURS = ("rise", "fall", "risefall", "flat")
TEMPOS = ("slow", "fast")
VOWELS = ("a", "i", "u")
# (F1, F2, F3, F4) in Hz for an average adult vocal tract.
VOWEL_FORMANTS = {"a": (730.0, 1190.0, 2550.0, 3500.0), "i": (290.0, 2250.0, 2950.0, 3700.0), "u": (320.0, 870.0, 2250.0, 3400.0)}
FORMANT_BANDWIDTHS = (90.0, 110.0, 160.0, 220.0)
SYLLABLE_RATE = {"slow": 2.5, "fast": 5.5}  # syllables per second; per-clip spread below
CONTOUR_SEMITONES = {  # pitch at utterance start, middle, end, relative to the speaker's base
    "rise": (-5.0, 0.0, 5.0),
    "fall": (5.0, 0.0, -5.0),
    "risefall": (-4.0, 5.0, -4.0),
    "flat": (0.0, 0.0, 0.0),
}
INTONATION_DB_PER_SEMITONE = 1.2  # louder where the pitch is higher, as in natural intonation
OTHER_VOWEL_SHARE = 0.15  # syllables that take a random vowel instead of the class's
BRIGHT_RATIO = 5.0  # glottal roll-off cut-off at high pitch / at low pitch
MARKER = "synth.json"


@dataclass
class SynthConfig:
    n_classes: int = 8
    clips_per_class: int = 60
    n_speakers: int = 4
    seed: int = 0
    sample_rate: int = 16000
    clip_seconds: float = 1.0
    variation: float = 1.0  # scales every random spread (0: each class/speaker pair is one fixed sound)
    snr_db: tuple[float, float] = (8.0, 30.0)  # background noise, uniform in this range
    subtype: str = "PCM_16"  # soundfile WAV subtype of the written files

    def validate(self) -> None:
        if not (1 <= self.n_classes <= len(class_specs_all())):
            raise DatasetError(f"n_classes must be 1..{len(class_specs_all())}, got {self.n_classes}")
        if self.clips_per_class < 1 or self.n_speakers < 1:
            raise DatasetError(f"clips_per_class and n_speakers must be >= 1, got {self.clips_per_class}, {self.n_speakers}")
        if self.sample_rate < 8000:
            raise DatasetError(f"sample_rate must be >= 8000 Hz (formants reach 4 kHz), got {self.sample_rate}")
        if not (0.3 <= self.clip_seconds <= 30):
            raise DatasetError(f"clip_seconds must be in [0.3, 30], got {self.clip_seconds}")
        if self.variation < 0:
            raise DatasetError(f"variation must be >= 0, got {self.variation}")
        lo, hi = self.snr_db
        if lo > hi:
            raise DatasetError(f"snr_db must be (low, high) with low <= high, got {self.snr_db}")
        if self.subtype not in ("PCM_16", "PCM_24", "PCM_32", "FLOAT"):
            raise DatasetError(f"subtype must be PCM_16, PCM_24, PCM_32 or FLOAT, got {self.subtype!r}")


@dataclass(frozen=True)
class ClassSpec:
    name: str
    contour: str
    tempo: str
    vowel: str


@dataclass(frozen=True)
class SpeakerSpec:
    name: str
    f0: float  # base pitch, Hz
    tract_scale: float  # formant multiplier (shorter vocal tract -> higher formants)


def class_specs_all() -> list[ClassSpec]:
    """All 24 classes in the order they are used: the 2x2x2 core first, then the extra contours/vowels."""
    combos = [(c, t, v) for c in range(len(CONTOURS)) for t in range(len(TEMPOS)) for v in range(len(VOWELS))]
    combos.sort(key=lambda ctv: (max(ctv[0], ctv[2]), ctv[0], ctv[2], ctv[1]))
    return [ClassSpec(f"{CONTOURS[c]}-{TEMPOS[t]}-{VOWELS[v]}", CONTOURS[c], TEMPOS[t], VOWELS[v]) for c, t, v in combos]


def class_specs(n_classes: int) -> list[ClassSpec]:
    return class_specs_all()[:n_classes]


def speaker_specs(config: SynthConfig) -> list[SpeakerSpec]:
    """Speakers spread from low to high voices; tract length follows pitch loosely, as in people."""
    rng = np.random.default_rng([config.seed, 1_000_003])
    n = config.n_speakers
    f0s = np.geomspace(100.0, 230.0, n) if n > 1 else np.array([150.0])
    f0s = f0s * np.exp(rng.normal(0.0, 0.04 * config.variation, n))
    scales = (f0s / 150.0) ** 0.35 * np.exp(rng.normal(0.0, 0.03 * config.variation, n))
    return [SpeakerSpec(f"spk{i}", round(float(f), 2), round(float(s), 4)) for i, (f, s) in enumerate(zip(f0s, scales))]


# -- signal pieces -----------------------------------------------------------------------------------
def _resonator(x: np.ndarray, freq: float, bw: float, sr: int) -> np.ndarray:
    """Klatt two-pole resonator with unit gain at DC."""
    from scipy.signal import lfilter

    r = np.exp(-np.pi * bw / sr)
    c1, c2 = 2.0 * r * np.cos(2.0 * np.pi * freq / sr), -r * r
    return lfilter([1.0 - c1 - c2], [1.0, -c1, -c2], x)


def _glottal_source(f0: np.ndarray, sr: int, rng: np.random.Generator, v: float) -> np.ndarray:
    """Impulse train at f0 with per-period jitter (timing) and shimmer (amplitude)."""
    jitter = 0.01 + 0.01 * v * rng.random()
    shimmer = 0.05 + 0.08 * v * rng.random()
    phase = np.cumsum(f0 / sr)
    period_idx = np.floor(phase).astype(np.int64)
    starts = np.flatnonzero(np.diff(period_idx, prepend=period_idx[0] - 1))
    offsets = np.round(rng.normal(0.0, jitter, len(starts)) * sr / f0[starts]).astype(np.int64)
    pos = np.clip(starts + offsets, 0, len(f0) - 1)
    src = np.zeros(len(f0))
    np.add.at(src, pos, 1.0 + shimmer * rng.standard_normal(len(pos)))
    return src


def _raised_cosine_env(n: int, attack: float, release: float) -> np.ndarray:
    env = np.ones(n)
    a, r = max(1, int(n * attack)), max(1, int(n * release))
    env[:a] = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, a))
    env[n - r :] = 0.5 + 0.5 * np.cos(np.linspace(0, np.pi, r))
    return env


def render_clip(cls: ClassSpec, speaker: SpeakerSpec, config: SynthConfig, rng: np.random.Generator) -> np.ndarray:
    """One clip, float32 [clip_samples], peak below 1."""
    from scipy.signal import lfilter

    sr, v = config.sample_rate, config.variation

    def spread(lo: float, hi: float) -> float:
        """Uniform in [lo, hi] at variation 1, shrinking to the middle as variation goes to 0."""
        mid = 0.5 * (lo + hi)
        return mid + (rng.uniform(lo, hi) - mid) * min(v, 1.0)

    n_clip = int(round(config.clip_seconds * sr))
    dur = min(config.clip_seconds * spread(0.55, 0.85), config.clip_seconds)
    n = int(dur * sr)
    t = np.linspace(0.0, 1.0, n)

    # Pitch: class contour (endpoints jittered) around the speaker's base, slow drift, then the source.
    knots = np.array(CONTOUR_SEMITONES[cls.contour]) + rng.normal(0.0, 1.2 * v, 3)
    semis = np.interp(t, [0.0, 0.5, 1.0], knots) + 0.4 * v * np.sin(2 * np.pi * rng.uniform(2, 6) * t * dur + rng.uniform(0, 2 * np.pi))
    f0 = speaker.f0 * np.exp(rng.normal(0.0, 0.05 * v)) * 2.0 ** (semis / 12.0)
    src = _glottal_source(f0, sr, rng, v)
    # Spectral tilt: glottal roll-off (two-pole low-pass) then lip radiation (difference). Higher pitch comes
    # with more vocal effort and a brighter voice, so the source fades from a dark to a bright roll-off as
    # the pitch rises: that makes the contour visible to a wideband log-mel, as it is in real speech.
    cutoff = spread(200.0, 400.0)
    brightness = np.clip((semis + 5.0) / 10.0, 0.0, 1.0)
    src = (1.0 - brightness) * _resonator(src, 0.0, cutoff, sr) + brightness * _resonator(src, 0.0, BRIGHT_RATIO * cutoff, sr)
    src = np.diff(src, prepend=0.0)
    src = src / (np.abs(src).max() + 1e-9)
    src += spread(0.02, 0.12) * rng.standard_normal(n) * (np.abs(src).mean() * 4)  # aspiration

    # Syllables: a vowel each, gated by an envelope; tempo sets how many fit in the utterance.
    rate = SYLLABLE_RATE[cls.tempo] * np.exp(rng.normal(0.0, 0.15 * v))
    n_syl = max(1, int(round(dur * rate)))
    edges = np.linspace(0, n, n_syl + 1)
    edges[1:-1] += rng.normal(0.0, 0.12 * v, n_syl - 1) * (n / n_syl)
    edges = np.clip(np.sort(edges), 0, n).astype(np.int64)
    trend = np.interp(t, [0, 1], [0.0, rng.normal(0.0, 2.5 * v)])  # dB over the utterance, class-independent
    voice = np.zeros(n)
    for k in range(n_syl):
        a, b = edges[k], edges[k + 1]
        if b - a < 32:
            continue
        vowel = cls.vowel if rng.random() > OTHER_VOWEL_SHARE * min(v, 1.0) else VOWELS[rng.integers(len(VOWELS))]
        seg = src[a:b]
        for f, bw in zip(VOWEL_FORMANTS[vowel], FORMANT_BANDWIDTHS):
            f_k = min(f * speaker.tract_scale * np.exp(rng.normal(0.0, 0.07 * v)), 0.45 * sr)
            seg = _resonator(seg, f_k, bw, sr)
        nucleus = spread(0.6, 0.9)
        env = np.zeros(b - a)
        m = int((b - a) * nucleus)
        env[:m] = _raised_cosine_env(m, 0.25, 0.35)
        gain = 10 ** ((rng.normal(0.0, 2.5 * v) + trend[a:b] + INTONATION_DB_PER_SEMITONE * semis[a:b]) / 20)
        voice[a:b] += seg / (np.abs(seg).max() + 1e-9) * env * gain
        if rng.random() < 0.5 * min(v, 1.0):  # fricative onset burst (s/sh/f-like)
            nb = min(int(rng.uniform(0.015, 0.045) * sr), b - a)
            burst = _resonator(rng.standard_normal(nb), rng.uniform(2500.0, 0.42 * sr), rng.uniform(800, 2500), sr)
            voice[a : a + nb] += 0.3 * burst / (np.abs(burst).max() + 1e-9) * _raised_cosine_env(nb, 0.3, 0.5)

    # Place the utterance in the clip, add background noise (white + low-frequency hum-like rumble).
    clip = np.zeros(n_clip)
    start = int(round(spread(0, n_clip - n)))
    clip[start : start + n] = voice
    noise = rng.standard_normal(n_clip)
    noise = 0.6 * noise + 0.4 * lfilter([1.0], [1.0, -0.97], noise) / 8.0
    snr = rng.uniform(*config.snr_db)
    p_sig = np.mean(voice**2) * n / n_clip + 1e-12
    clip += noise * np.sqrt(p_sig / (np.mean(noise**2) * 10 ** (snr / 10)))
    peak = 10 ** (spread(-14.0, -3.0) / 20)
    return (clip / (np.abs(clip).max() + 1e-12) * peak).astype(np.float32)


def _wav_bytes(x: np.ndarray, sr: int, subtype: str) -> bytes:
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, x, sr, format="WAV", subtype=subtype)
    return buf.getvalue()


def _check_out(out: Path, prepared: bool) -> None:
    """Refuse to write into a folder that is not new or empty. Nothing is ever deleted here: replacing an earlier
    set is `tinykd.artifacts.prepare_output`'s job (`tinykd data synth --force`), which deletes only a folder
    it recognises as a synthetic set, the folder as a whole, never paths named inside a file."""
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise DatasetError(f"{out}: exists and is not a folder; choose a new output folder")
    if prepared or not out.is_dir():
        return
    try:
        entries = [p.name for p in out.iterdir()]
    except OSError as exc:
        raise DatasetError(f"{out}: cannot read the folder ({exc.strerror or exc}); choose another output folder") from None
    if entries:
        what = "an earlier synthetic set" if MARKER in entries else f"{len(entries)} entries"
        raise DatasetError(f"{out}: folder is not empty (it holds {what}); choose an empty or new folder "
                           "(`tinykd data synth --force` replaces an earlier synthetic set)")


def synthesize(out_dir: str | Path, config: SynthConfig | None = None, *, progress: bool = False,
               prepared: bool = False) -> dict:
    """Write the synthetic set to `out_dir`: `<class>/<speaker>_<class>_<i>.wav`, `synth.json`, `README.md`.

    `out_dir` must be new or empty, unless `prepared` (the caller made it ready with
    `tinykd.artifacts.prepare_output`, which leaves only its marker there). `synth.json` (the config, class and
    speaker parameters, file count) is written last, so a folder without it is not a finished set. Returns the
    contents of `synth.json`.
    """
    config = config or SynthConfig()
    config.validate()
    out = Path(out_dir)
    _check_out(out, prepared)
    classes, speakers = class_specs(config.n_classes), speaker_specs(config)
    jobs = [(ci, i) for ci in range(len(classes)) for i in range(config.clips_per_class)]
    bar = None
    if progress:
        from rich.progress import Progress

        bar = Progress(transient=True)
        bar.start()
        task = bar.add_task("synthesising", total=len(jobs))
    try:
        for ci, i in jobs:
            cls, spk = classes[ci], speakers[i % len(speakers)]
            rng = np.random.default_rng([config.seed, ci, i])
            x = render_clip(cls, spk, config, rng)
            atomic_write_bytes(out / cls.name / f"{spk.name}_{cls.name}_{i:03d}.wav", _wav_bytes(x, config.sample_rate, config.subtype))
            if bar is not None:
                bar.advance(task)
    finally:
        if bar is not None:
            bar.stop()
    meta = {
        "generator": "tinykd.data.synth",
        "config": to_dict(config),
        "classes": [asdict(c) for c in classes],
        "speakers": [asdict(s) for s in speakers],
        "n_files": len(jobs),
    }
    atomic_write_text(out / "README.md", _readme(config, classes, speakers))
    save_json(out / MARKER, meta)
    return meta


def _readme(config: SynthConfig, classes: list[ClassSpec], speakers: list[SpeakerSpec]) -> str:
    rows = "\n".join(f"| `{c.name}` | {c.contour} | {c.tempo} ({SYLLABLE_RATE[c.tempo]} syll/s) | {c.vowel} |" for c in classes)
    spk = "\n".join(f"| `{s.name}` | {s.f0:.0f} Hz | {s.tract_scale:.3f} |" for s in speakers)
    return f"""# tinykd synthetic speech-like data

Made by `tinykd data synth` (`tinykd.data.synth`, seed {config.seed}): {len(classes)} classes x
{config.clips_per_class} clips, {len(speakers)} speakers, {config.clip_seconds:g} s at {config.sample_rate} Hz,
WAV {config.subtype}. Layout: folder per class, files `{{speaker}}_{{class}}_{{i}}.wav`. The generator
configuration is in `{MARKER}`; see docs/data.md for how the clips are made.

| class | pitch contour | tempo | vowel |
|---|---|---|---|
{rows}

| speaker | base pitch | vocal-tract scale |
|---|---|---|
{spk}
"""
