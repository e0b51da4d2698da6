"""The speech generator's settings: `SpeechSynthConfig` and the constants of the set it makes."""

from __future__ import annotations

import re
from dataclasses import dataclass


from tinykd.errors import DatasetError

MARKER = "speech.json"  # written last: a folder with it is a finished speech set
PARTIAL = ".speech-partial.json"  # written first: lets a re-run clean up after an interrupted one
MANIFEST = "manifest.csv"
README = "README.md"
GENERATOR = "tinykd.data.speech"
INSTALL_HINT = "pip install espeakng-loader"
ENV_LIBRARY = "TINYKD_ESPEAK_LIBRARY"  # use another libespeak-ng (e.g. a system one) instead of the wheel's
ENV_DATA = "TINYKD_ESPEAK_DATA"  # ... and its espeak-ng-data folder

WORD_SETS: dict[str, tuple[tuple[str, str], ...]] = {  # preset -> (label, spoken text)
    "commands": tuple((w, w) for w in ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")),
    "digits": tuple((str(i), w) for i, w in enumerate(
        ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"))),
}
# espeak voice names of the English accents in the wheel (en = British English; en-Shaw is a script, not
# an accent, and is left out).
ENGLISH_ACCENTS = ("en-us", "en", "en-gb-x-rp", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-gbcwmd",
                   "en-029", "en-us-nyc")
# Variants in the wheel that are not a plain human voice. The default voice list is every other variant.
EXCLUDED_VARIANTS = {
    **{f"robosoft{s}": "robot" for s in ("", "2", "3", "4", "5", "6", "7", "8")},
    "UniRobot": "robot", "anikaRobot": "robot", "announcer": "public-address effect with echo",
    "Demonic": "effect voice", "Tweaky": "third formant doubled (effect)",
    "RicishayMax": "robotic long echo", "RicishayMax2": "robotic long echo", "RicishayMax3": "robotic long echo",
    "whisper": "whispered (no voicing)", "whisperf": "whispered (no voicing)", "caleb": "whispered (voicing 0)",
    "fast": "a speed test setting, not a voice",
}
SENTENCE_TUNES = ((".", "statement"), ("?", "question"), ("!", "exclamation"), (",", "continuation"))
TUNE_WEIGHTS = (0.4, 0.2, 0.2, 0.2)
ESPEAK_RATE_RANGE = (80, 450)  # words per minute, espeakRATE_MINIMUM..espeakRATE_MAXIMUM
FAMILY_TOLERANCE = 3.0  # formant frequency factors (percent) within this -> same vocal tract
HIGH_REGISTER_HZ = 130.0  # a variant whose pitch base is at least this is a high voice (split strata)
DEFAULT_PITCH = (82.0, 118.0)  # espeak's pitch base/top when a variant file does not set one
BABBLE_PHRASES = (  # other-language speech for babble noise; none contains a vocabulary word
    ("de", "wir haben gestern lange im garten gesessen und geredet"),
    ("fr", "nous allons au marché demain matin avec les enfants"),
    ("es", "la casa de mi abuela está cerca del río grande"),
    ("it", "domani andiamo al mare con gli amici di scuola"),
    ("nl", "het regent al de hele dag in de stad"),
    ("pt", "o comboio chega sempre atrasado à estação"),
    ("pl", "jutro rano pojedziemy razem do miasta"),
    ("sv", "vi ska äta middag hos min syster ikväll"),
)
BABBLE_POOL = 16  # utterances in the pool (two renditions of each phrase)
TRIM_DB = 40.0  # trim leading/trailing audio more than this below the utterance's loudest 5 ms frame
CHUNK = 256  # clips rendered ahead of the writer
FIT_SHARE = 0.95  # a compressed word is made to last at most this share of the clip
_LABEL = re.compile(r"^[a-z]+(?:['-][a-z]+)*$")
_SUBTYPES = ("PCM_16", "PCM_24", "PCM_32", "FLOAT")


# -- configuration ---------------------------------------------------------------------------------------
@dataclass
class SpeechSynthConfig:
    words: str | tuple[str, ...] = "commands"  # "commands", "digits", or custom words (tuple or "a,b,c")
    accents: tuple[str, ...] = ENGLISH_ACCENTS  # espeak language voices
    variants: tuple[str, ...] | None = None  # voice variants in voices/!v; None: all but EXCLUDED_VARIANTS
    clips_per_voice: int = 1  # clips of every word by every voice (accent x variant)
    seed: int = 0
    sample_rate: int = 16000
    clip_seconds: float = 1.0
    test_fraction: float = 0.2  # share of voice variants (whole families) held out for test
    val_fraction: float = 0.1  # ... and for validation (0: no validation split in the manifest)
    rate_wpm: tuple[float, float] = (100.0, 180.0)  # a voice's base speaking rate (log-uniform)
    pitch: tuple[float, float] = (25.0, 75.0)  # a voice's espeak pitch setting (0-100, 50 = the variant's own)
    pitch_range: tuple[float, float] = (25.0, 85.0)  # a voice's espeak intonation range (0 = monotone, 50 = normal)
    clip_pitch_sd: float = 6.0  # per clip: pitch setting jitter (espeak units; range jitters 1.5x this)
    clip_rate_sd: float = 0.08  # per clip: log speaking-rate jitter
    peak_dbfs: tuple[float, float] = (-27.0, -3.0)  # the clip's peak level, uniform (24 dB = +-12 dB)
    snr_db: tuple[float, float] = (5.0, 30.0)  # speech (over the word) to background noise, uniform
    babble_probability: float = 0.3  # background is babble instead of coloured noise
    reverb_probability: float = 0.5  # a clip goes through a synthetic room impulse response
    rt60_s: tuple[float, float] = (0.1, 0.5)  # reverberation time of that room, uniform
    eq_db: float = 6.0  # random 3-band EQ, each band +-eq_db (0: none)
    subtype: str = "PCM_16"  # soundfile WAV subtype of the written files

    def __post_init__(self) -> None:
        if isinstance(self.words, list):
            self.words = tuple(self.words)
        for name in ("accents", "variants"):
            value = getattr(self, name)
            if isinstance(value, str):
                setattr(self, name, tuple(v.strip() for v in value.split(",") if v.strip()))
            elif isinstance(value, list):
                setattr(self, name, tuple(value))
        for name in ("rate_wpm", "pitch", "pitch_range", "peak_dbfs", "snr_db", "rt60_s"):
            value = getattr(self, name)
            if isinstance(value, list):
                setattr(self, name, tuple(value))

    def word_list(self) -> list[tuple[str, str]]:
        """(label, spoken text) per class, in class order."""
        if isinstance(self.words, str) and self.words.strip().lower() in WORD_SETS:
            return list(WORD_SETS[self.words.strip().lower()])
        raw = self.words.split(",") if isinstance(self.words, str) else list(self.words)
        words = [str(w).strip().lower() for w in raw if str(w).strip()]
        return [(w, w) for w in words]

    def validate(self) -> None:
        if not isinstance(self.words, (str, tuple)):
            raise DatasetError(f"words must be 'commands', 'digits' or a list of words, got {self.words!r}")
        words = self.word_list()
        if len(words) < 2:
            raise DatasetError(f"words: need at least 2 classes, got {[w for _, w in words]} "
                               f"(use 'commands', 'digits' or a comma-separated list)")
        for label, text in words:
            if not _LABEL.match(text) or len(text) > 32:
                raise DatasetError(f"words: {text!r} is not a plain word (letters, with ' or - inside, at most 32)")
        labels = [label for label, _ in words]
        if len(set(labels)) != len(labels):
            raise DatasetError(f"words: duplicates in {labels}")
        if not self.accents:
            raise DatasetError("accents: need at least one espeak voice, e.g. en-us")
        if len(set(self.accents)) != len(self.accents):
            raise DatasetError(f"accents: duplicates in {list(self.accents)}")
        for a in self.accents:
            if not re.match(r"^[A-Za-z0-9-]+$", str(a)):
                raise DatasetError(f"accents: {a!r} is not an espeak voice name (like en-us or en-gb-scotland)")
        if self.variants is not None:
            if not self.variants:
                raise DatasetError("variants: empty list; leave it unset for every human variant in the wheel")
            if len(set(self.variants)) != len(self.variants):
                raise DatasetError(f"variants: duplicates in {list(self.variants)}")
            for v in self.variants:
                if not re.match(r"^[A-Za-z0-9][A-Za-z0-9 _-]*$", str(v)):
                    raise DatasetError(f"variants: {v!r} is not a variant file name (like m3 or f2)")
        if not isinstance(self.clips_per_voice, int) or self.clips_per_voice < 1:
            raise DatasetError(f"clips_per_voice must be an integer >= 1, got {self.clips_per_voice!r}")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise DatasetError(f"seed must be an integer >= 0, got {self.seed!r}")
        if not (8000 <= int(self.sample_rate) <= 48000) or int(self.sample_rate) != self.sample_rate:
            raise DatasetError(f"sample_rate must be an integer in 8000..48000 Hz, got {self.sample_rate}")
        if not (0.5 <= self.clip_seconds <= 10):
            raise DatasetError(f"clip_seconds must be in [0.5, 10], got {self.clip_seconds}")
        if not (0 <= self.test_fraction < 1 and 0 <= self.val_fraction < 1 and self.test_fraction > 0
                and self.test_fraction + self.val_fraction < 1):
            raise DatasetError(f"test_fraction must be in (0, 1), val_fraction in [0, 1) and their sum < 1, "
                               f"got test_fraction={self.test_fraction}, val_fraction={self.val_fraction}")
        _check_range("rate_wpm", self.rate_wpm, *ESPEAK_RATE_RANGE)
        _check_range("pitch", self.pitch, 0, 100)
        _check_range("pitch_range", self.pitch_range, 0, 100)
        _check_range("peak_dbfs", self.peak_dbfs, -60, 0)
        _check_range("snr_db", self.snr_db, -10, 100)
        _check_range("rt60_s", self.rt60_s, 0.05, 2.0)
        for name in ("babble_probability", "reverb_probability"):
            if not (0.0 <= getattr(self, name) <= 1.0):
                raise DatasetError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        for name, hi in (("clip_pitch_sd", 50), ("clip_rate_sd", 1), ("eq_db", 24)):
            if not (0.0 <= getattr(self, name) <= hi):
                raise DatasetError(f"{name} must be in [0, {hi}], got {getattr(self, name)}")
        if self.subtype not in _SUBTYPES:
            raise DatasetError(f"subtype must be {', '.join(_SUBTYPES)}, got {self.subtype!r}")

    @property
    def clip_samples(self) -> int:
        return int(round(self.clip_seconds * self.sample_rate))


def _check_range(name: str, value, lo: float, hi: float) -> None:
    ok = isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, (int, float)) for v in value)
    if not ok or not (lo <= value[0] <= value[1] <= hi):
        raise DatasetError(f"{name} must be (low, high) with {lo} <= low <= high <= {hi}, got {value!r}")
