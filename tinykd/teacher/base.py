"""The shipped teacher base: a tiny Wav2Vec2 that tinykd pretrained on other words, fine-tuned by the demo.

A real teacher starts from a model that has heard far more speech than its students' data set (wav2vec2-base:
960 h of LibriSpeech). This machine cannot download one, and a from-scratch teacher trained inside the demo's
10 minutes does not get past its students (docs/teacher.md). So tinykd ships its own small base, made offline by
`build_base` (`python bench/make_teacher_base.py`) with tinykd's own commands:

1. `tinykd data synth CORPUS --words <BASE_WORDS>`: 70 English words that are *not* the demo's command words,
   said by every espeak-ng voice in all 8 English accents (seed 0: the demo's voice-family split);
2. `tinykd teacher train CORPUS --base tiny` with the demo's recipe (mel filterbank start, 2 layers, no dropout
   or masking), on the corpus's *training* voice families only; the checkpoint is chosen on its val families.

The folder (`models/teacher-base/`, shipped in the package as `tinykd/_models/teacher-base/`) is a plain
`save_pretrained` Wav2Vec2 classifier over the 70 words (`config.json`, `model.safetensors`,
`preprocessor_config.json`, `labels.json`, `tinykd_teacher.json`, `train_metrics.json`, `report.md`,
`training_curves.png`) plus `base.json`: the words, the corpus settings, every voice with its family and split,
the clips trained on and how long it took.
`teacher train DATA --base models/teacher-base` keeps its encoder and transformer and adds a new head.

What it has heard is checked before use (`check_base_voices`): a base that trained on a voice family held out
(val or test) by the data set it is fine-tuned on would void the held-out score, and is refused.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

from tinykd.artifacts import TeacherDir
from tinykd.configio import load_json, save_json, to_dict
from tinykd.errors import TinykdError

BASE_RECORD = TeacherDir.BASE_RECORD
SHIPPED_NAME = "teacher-base"
# Words of the base corpus: Speech Commands' auxiliary words and common short English words. None is one of the
# demo's ten command words (yes no up down left right on off stop go).
BASE_WORDS = (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "bed", "bird", "cat", "dog",
    "happy", "house", "tree", "wow", "forward", "backward", "follow", "learn", "visual", "apple", "water", "light",
    "music", "open", "close", "start", "play", "pause", "next", "back", "home", "red", "green", "blue", "black",
    "white", "orange", "yellow", "car", "boat", "train", "plane", "ball", "book", "door", "window", "table", "chair",
    "phone", "coffee", "hello", "thanks", "please", "sorry", "morning", "night", "today", "later", "again", "maybe",
    "never", "always", "help", "wait", "come", "stay",
)
_COPIED = (TeacherDir.HF_CONFIG, TeacherDir.WEIGHTS, TeacherDir.PREPROCESSOR, TeacherDir.LABELS, TeacherDir.META,
           TeacherDir.METRICS)


@dataclass(frozen=True)
class BaseConfig:
    """How the shipped base is made (saved in its base.json)."""

    words: tuple[str, ...] = BASE_WORDS
    accents: tuple[str, ...] | None = None  # espeak accents; None: all 8 English ones (the generator's default)
    variants: tuple[str, ...] | None = None  # voice variants; None: every human one (the split is drawn from them)
    seed: int = 0  # the speech generator's seed: it draws the voice-family split (the demo's default is 0)
    sample_rate: int = 16000
    epochs: int = 12
    batch_size: int = 32
    lr: float = 1e-3
    layers: int = 2
    threads: int = 0


def shipped_base_dir() -> Path:
    """Where the base that ships with tinykd is (`tinykd/_models/teacher-base`, the repository's models/)."""
    return Path(__file__).resolve().parents[1] / "_models" / SHIPPED_NAME


def teacher_size(sample_rate: int, layers: int):
    """The demo's teacher shape: a 25 ms / 10 ms first layer started as a mel filterbank, then stride 2 (20 ms
    frames), no dropout."""
    from tinykd.teacher.config import TinyTeacherSize

    window, hop = round(0.025 * sample_rate), round(0.010 * sample_rate)
    return TinyTeacherSize(num_hidden_layers=layers, dropout=0.0, filterbank="mel", conv_dim=(160, 128),
                           conv_kernel=(window, 2), conv_stride=(hop, 2))


def read_base_record(base: str | Path) -> dict[str, Any] | None:
    """A base folder's base.json, or None when `base` is not a tinykd-made base."""
    path = Path(base) / BASE_RECORD
    if not path.is_file():
        return None
    record = load_json(path)
    voices = record.get("voices") if isinstance(record, dict) else None
    if not isinstance(voices, list) or not all(
            isinstance(v, dict) and isinstance(v.get("family"), str) and isinstance(v.get("split"), str) for v in voices):
        raise TinykdError(f"{path}: not a teacher-base record (no voice list with each voice's family and split); "
                          "rebuild it with `python bench/make_teacher_base.py`")
    return record


def base_summary(base: str | Path) -> dict[str, Any] | None:
    """What a tinykd-made base says about itself, for the records of a teacher fine-tuned from it (None: not one)."""
    record = read_base_record(base)
    if record is None:
        return None
    def part(doc: Any, key: str) -> dict[str, Any]:
        value = doc.get(key) if isinstance(doc, dict) else None
        return value if isinstance(value, dict) else {}

    corpus = part(record, "corpus")
    words = record.get("words") if isinstance(record.get("words"), list) else None
    return {"dir": str(Path(base).resolve()), "kind": "teacher-base", "words": words,
            "n_train": part(corpus, "counts").get("train"), "accents": corpus.get("accents"),
            "epochs": part(record, "train_config").get("epochs"), "test_accuracy": record.get("test_accuracy")}


def check_base_voices(base: str | Path, voices: list[dict[str, Any]], where: str) -> dict[str, Any] | None:
    """Refuse a base that trained on a voice family that `voices` (a speech set's voice list, each with `family`
    and `split`) holds out for val or test. Returns the base's record (None: not a tinykd-made base, not checked)."""
    record = read_base_record(base)
    if record is None:
        return None
    trained = {v["family"] for v in record["voices"] if v.get("split") == "train"}
    held_out = {v["family"] for v in voices if v.get("split") != "train"}
    leaked = sorted(trained & held_out)
    if leaked:
        raise TinykdError(f"{base}: the teacher base trained on voice families that {where} holds out "
                          f"({', '.join(leaked[:4])}{', ...' if len(leaked) > 4 else ''}): its held-out score would "
                          f"mean nothing; use the base's seed ({record.get('config', {}).get('seed')}) or train the "
                          "teacher from scratch (--teacher-base tiny)")
    return record


def build_base(corpus: str | Path, out: str | Path, config: BaseConfig | None = None, *, progress: bool = True,
               log: Callable[[str], None] = print, force: bool = False) -> dict[str, Any]:
    """Make the base: the corpus (kept when already complete), a teacher trained on it next to `out`, then `out`
    with the model files and base.json. Returns the record."""
    from tinykd.data.speech import SpeechSynthConfig, synthesize_speech
    from tinykd.data.speech.config import MARKER
    from tinykd.teacher.config import Masking, TeacherTrainConfig
    from tinykd.teacher.report import write_teacher_report
    from tinykd.teacher.train import train_teacher

    cfg = config or BaseConfig()
    corpus, out = Path(corpus), Path(out)
    if out.exists() and any(out.iterdir()) and not force:
        raise TinykdError(f"{out}: not empty; pass force=True (--force) to replace a teacher base there")
    if out.exists() and any(out.iterdir()) and read_base_record(out) is None:
        raise TinykdError(f"{out}: holds something that is not a teacher base; choose another folder")
    synth = SpeechSynthConfig(words=tuple(cfg.words), seed=cfg.seed, sample_rate=cfg.sample_rate, variants=cfg.variants)
    if cfg.accents is not None:
        synth = replace(synth, accents=tuple(cfg.accents))
    synth.validate()
    t0 = time.perf_counter()
    if not (corpus / MARKER).is_file():
        synthesize_speech(corpus, synth, progress=progress)
    marker = load_json(corpus / MARKER)
    made = marker.get("config", {})
    words = made.get("words")
    words = tuple(words) if isinstance(words, list) else words
    if [w for w, _ in SpeechSynthConfig(words=words).word_list()] != list(cfg.words) or \
            made.get("seed") != cfg.seed or made.get("sample_rate") != cfg.sample_rate or \
            list(made.get("accents") or []) != list(synth.accents) or \
            (made.get("variants") and list(made["variants"]) != list(synth.variants or [])):
        raise TinykdError(f"{corpus}: a speech set made with other settings than the base's; give an empty folder")
    t_synth = time.perf_counter() - t0
    trained = out.with_name(out.name + ".training")
    train_cfg = TeacherTrainConfig(base="tiny", epochs=cfg.epochs, lr=cfg.lr, batch_size=cfg.batch_size, seed=cfg.seed,
                                   threads=cfg.threads, tiny=teacher_size(cfg.sample_rate, cfg.layers),
                                   masking=Masking(mask_time_prob=0.0, mask_feature_prob=0.0))
    t1 = time.perf_counter()
    result = train_teacher(corpus, trained, train_cfg, progress=progress, log=log, force=True)
    t_train = time.perf_counter() - t1
    if out.exists():
        shutil.rmtree(out)  # a teacher base (checked above) that --force replaces
    out.mkdir(parents=True)
    for name in _COPIED:
        shutil.copy2(trained / name, out / name)
    record = {
        "what": "a tiny Wav2Vec2 word classifier trained by tinykd on espeak-ng speech (tinykd.teacher.base)",
        "config": to_dict(cfg),
        "words": list(cfg.words),
        "train_config": to_dict(train_cfg),
        "corpus": {"n_files": marker["n_files"], "counts": marker["counts"], "accents": marker["config"]["accents"],
                   "generator": marker.get("generator")},
        "voices": [{k: v[k] for k in ("name", "accent", "variant", "family", "split")} for v in marker["voices"]],
        "best_epoch": result.best_epoch,
        "val_accuracy": result.best_val_accuracy,
        "test_accuracy": result.test_accuracy,
        "seconds": {"synthesis": round(t_synth, 1), "training": round(t_train, 1)},
    }
    save_json(out / BASE_RECORD, record)
    write_teacher_report(out)  # report.md and training_curves.png from the copied records
    shutil.rmtree(trained)
    return record

