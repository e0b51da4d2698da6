"""A built-in data set of spoken words, made by a real speech synthesizer (eSpeak NG) with no download.

`tinykd.data.synth` makes speech-*like* sounds whose classes differ by pitch contour, tempo and vowel; this
module makes *words*: the ten Speech Commands core words by default, FSDD's digits (labels "0".."9", spoken
"zero".."nine", so a model trained here can be tried on FSDD), or a custom list. The synthesizer is
libespeak-ng from the `espeakng-loader` wheel (library and voice data inside the wheel), driven through
ctypes in this process: no subprocess, no system package, no network.

Why the pieces are as they are:
- Speakers. A voice is an espeak language voice (an English accent: en-us, en (British), en-029, Scottish,
  ...) plus a voice variant from the wheel's `voices/!v/` (m1..m8, f1..f5 and about sixty contributed
  ones; robot, whisper and effect variants are left out, see EXCLUDED_VARIANTS). Each voice gets its own
  base pitch, pitch range and speaking rate; each clip varies them again, and takes a random sentence tune
  (statement, question, exclamation, continuation: the word is spoken as "yes." "yes?" "yes!" "yes,").
- Speaker-held-out split. Variants that share a vocal tract (formant table within 3 % of each other, e.g.
  Diogo/Henrique/Hugo/michel/miguel, or the klatt1..6 family) form a *family*; whole families go to test
  or validation, stratified by register (low/high voice), so no test voice has a twin in training. The
  split is written to `manifest.csv` (`path,label,speaker,split` + per-clip facts), which
  `tinykd.data.load_dataset(DIR, DataConfig(split="auto"))` reads as the data set's own split.
- Nuisance, per clip: level (peak -27..-3 dBFS by default, a 24 dB spread), onset anywhere in the clip,
  room colouring (a random 3-band EQ always, a synthetic exponentially decaying impulse response with
  probability 0.5), background noise at 5..30 dB SNR: coloured noise (power-law spectrum, white to brown)
  or babble (several other-language utterances made by espeak, never the vocabulary).
- Determinism. espeak keeps synthesis state in C statics (a flutter phase that is never reset, an echo
  buffer, a random generator seeded from the clock), so a word said twice in one process is not the same
  twice. Every utterance therefore runs in a *fresh* library instance: a private copy of the library is
  loaded, initialised, seeded (espeak's own generator and libc's rand(), which the klatt3 engine uses),
  used once and unloaded (about 2 ms). Every other random choice comes from
  `numpy.random.default_rng([seed, hash(word), hash(voice), index])`, so a clip is the same bit for bit
  whatever else is generated. The babble pool depends only on the seed and the sample rate.
- Words longer than fits are time-compressed by re-synthesising at a faster espeak speaking rate (pitch
  and formants unchanged), up to espeak's 450 words/min; a word that still does not fit is an error.
"""

from tinykd.data.speech.config import (  # noqa: F401
    MARKER,
    PARTIAL,
    MANIFEST,
    README,
    GENERATOR,
    INSTALL_HINT,
    ENV_LIBRARY,
    ENV_DATA,
    ENGLISH_ACCENTS,
    EXCLUDED_VARIANTS,
    SENTENCE_TUNES,
    TUNE_WEIGHTS,
    ESPEAK_RATE_RANGE,
    FAMILY_TOLERANCE,
    HIGH_REGISTER_HZ,
    DEFAULT_PITCH,
    BABBLE_PHRASES,
    BABBLE_POOL,
    TRIM_DB,
    CHUNK,
    FIT_SHARE,
    SpeechSynthConfig,
)
from tinykd.data.speech.engine import (  # noqa: F401
    AUDIO_OUTPUT_SYNCHRONOUS,
    INITIALIZE_DONT_EXIT,
    ESPEAK_CHARS_UTF8,
    POS_CHARACTER,
    espeak_paths,
    Espeak,
)
from tinykd.data.speech.voices import (  # noqa: F401
    VariantInfo,
    VoiceSpec,
    read_variant,
    group_families,
    split_families,
    plan_voices,
)
from tinykd.data.speech.render import (  # noqa: F401
    ClipFacts,
    render_clip,
)
from tinykd.data.speech.folder import (  # noqa: F401
    synthesize_speech,
)
from tinykd.data.speech.engine import _unload  # noqa: F401  (tests reload the library)
