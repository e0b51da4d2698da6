"""`load_dataset`: scan a layout, decode and check every file, hash it, de-duplicate, split.

The scan decodes each file once; the fixed-length clips (resampled and padded) are kept in memory so
`load_split` is instant. With `keep_audio=False` (used by `tinykd data info`) nothing is kept and
`load_split` decodes again, checking each file still has the hash the scan recorded.

Also the data-set rules every stage shares: `Dataset.check_trainable` (what a data set needs before a model
is trained on it: teacher train and distill alike), `Dataset.changes_since` (what differs from the data set a
run recorded: a resume refuses changed data), and `scoring_split` (which clips `evaluate` scores).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tinykd.data import audio
from tinykd.data.config import SPLIT_NAMES, DataConfig
from tinykd.data.layouts import PERMISSION, SPLIT, Entry, Problem, detect_format, scan
from tinykd.data.splits import assign_splits, empty_split_message, required_splits
from tinykd.errors import AudioError, DatasetError


@dataclass
class ClipInfo:
    """One usable clip: where it came from, what it is, and the hash of its decoded audio."""

    path: str
    label: str
    speaker: str
    split: str  # train | val | test
    source_rate: int
    channels: int
    subtype: str  # soundfile subtype of the file, e.g. PCM_16, PCM_24, FLOAT
    frames: int  # samples per channel in the file
    hash: str  # see tinykd.data.audio.content_hash

    @property
    def duration(self) -> float:
        return self.frames / float(self.source_rate)


@dataclass
class SplitArrays:
    """One split as arrays: x float32 [n, clip_samples] at the config's rate, y int64 [n] class ids."""

    x: np.ndarray
    y: np.ndarray
    hashes: list[str]
    paths: list[str]
    speakers: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.y)


class Dataset:
    """A scanned, validated, split data set. Build with `load_dataset`."""

    def __init__(self, root: Path, fmt: str, config: DataConfig, labels: list[str], clips: list[ClipInfo],
                 problems: list[Problem], split_how: str, format_reason: str,
                 audio_cache: dict[int, np.ndarray] | None):
        self.root = root
        self.format = fmt
        self.format_reason = format_reason
        self.config = config
        self.labels = labels
        self.clips = clips
        self.problems = problems
        self.split_how = split_how
        self._audio = audio_cache  # clip index -> float32 [clip_samples]; None: decode on demand

    # -- facts -----------------------------------------------------------------------------------
    @property
    def clip_samples(self) -> int:
        return self.config.clip_samples

    @property
    def sample_rate(self) -> int:
        return int(self.config.sample_rate)

    @property
    def speakers(self) -> list[str]:
        return sorted({c.speaker for c in self.clips})

    def label_id(self, label: str) -> int:
        return self.labels.index(label)

    def split_clips(self, name: str) -> list[ClipInfo]:
        self._check_split_name(name)
        return [c for c in self.clips if c.split == name]

    def split_counts(self) -> dict[str, int]:
        return {s: sum(c.split == s for c in self.clips) for s in SPLIT_NAMES}

    def split_fingerprints(self) -> dict[str, str]:
        """Per split, a hash of its clips (content hash and label): recorded by a run so a resume can say which
        split changed."""
        out = {}
        for name in SPLIT_NAMES:
            blob = json.dumps(sorted((c.hash, c.label) for c in self.clips if c.split == name)).encode()
            out[name] = hashlib.sha256(blob).hexdigest()[:16]
        return out

    def record(self) -> dict:
        """What a run or a teacher records about its data set (config.json "dataset"): root, fingerprint,
        labels, clip counts and per-split fingerprints; `changes_since` reads it back."""
        counts = self.split_counts()
        return {"root": str(Path(self.root).resolve()), "fingerprint": self.fingerprint(), "labels": list(self.labels),
                "n_train": counts["train"], "n_val": counts["val"], "n_test": counts["test"],
                "split_fingerprints": self.split_fingerprints()}

    def changes_since(self, recorded: dict) -> str | None:
        """None when this is the data set `recorded` (a `record()`) describes, else what changed, in words."""
        if not isinstance(recorded, dict) or recorded.get("fingerprint") == self.fingerprint():
            return None
        parts = []
        old_labels = recorded.get("labels")
        if isinstance(old_labels, list) and old_labels != list(self.labels):
            gone = [v for v in old_labels if v not in self.labels]
            new = [v for v in self.labels if v not in old_labels]
            parts.append("classes " + ", ".join(([f"removed {gone}"] if gone else []) + ([f"added {new}"] if new else [])
                                                 or ["reordered"]))
        counts, prints = self.split_counts(), self.split_fingerprints()
        old_prints = recorded.get("split_fingerprints") if isinstance(recorded.get("split_fingerprints"), dict) else {}
        for name in SPLIT_NAMES:
            old_n = recorded.get(f"n_{name}")
            if isinstance(old_n, int) and old_n != counts[name]:
                parts.append(f"{name} {old_n} -> {counts[name]} clips")
            elif old_prints.get(name) not in (None, prints[name]):
                parts.append(f"{name}: same number of clips ({counts[name]}) but other recordings")
        if not parts:
            parts.append("the clips, their labels or the clip settings differ")
        return (f"fingerprint {recorded.get('fingerprint')} -> {self.fingerprint()}: " + "; ".join(parts))

    def check_trainable(self) -> None:
        """The one rule for a data set a classifier is trained on (`teacher train`, `distill`): at least two
        classes, and every class with clips in the training split. A DatasetError naming the gap otherwise."""
        train = {c.label for c in self.clips if c.split == "train"}
        if not train:
            raise DatasetError(f"{self.root}: the training split is empty ({self.split_how}); use more data or another --split")
        if len(self.labels) < 2:
            raise DatasetError(f"{self.root}: only one class ({', '.join(self.labels)}); a classifier needs at least 2 "
                               "(check the layout with `tinykd data info`)")
        missing = [label for label in self.labels if label not in train]
        if missing:
            raise DatasetError(f"{self.root}: class(es) {', '.join(missing)} have no clip in the training split "
                               f"({self.split_how}); use more data or another --split")

    def problem_summary(self) -> str:
        """One line about the skipped files ("" when none), for commands that go on without them."""
        files = [p for p in self.problems if p.kind != SPLIT]
        if not files:
            return ""
        return (f"{len(files)} problem file(s) skipped, first: {files[0]}; `tinykd data info {self.root}` lists them all")

    def fingerprint(self) -> str:
        """Hash of (clip hashes, labels, splits, sample rate, clip length, placement): keys caches and runs."""
        blob = json.dumps(
            {
                "labels": self.labels,
                "clips": sorted((c.hash, c.label, c.split) for c in self.clips),
                "sample_rate": self.sample_rate,
                "clip_samples": self.clip_samples,
                "pad": self.config.pad,
            },
            sort_keys=True,
        ).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    # -- arrays ----------------------------------------------------------------------------------
    def _check_split_name(self, name: str, all_ok: bool = False) -> None:
        names = SPLIT_NAMES + (("all",) if all_ok else ())
        if name not in names:
            raise DatasetError(f"unknown split name {name!r}; use one of {', '.join(names)}")

    def clip_audio(self, index: int) -> np.ndarray:
        """Clip `index` as float32 [clip_samples] at the config's rate."""
        if self._audio is not None and index in self._audio:
            return self._audio[index]
        info = self.clips[index]
        decoded = audio.decode(info.path)
        if audio.content_hash(decoded.samples, decoded.rate) != info.hash:
            raise DatasetError(f"{info.path}: file changed since the data set was scanned; load the data set again")
        return audio.prepare(decoded, self.sample_rate, self.clip_samples, self.config.pad)

    def load_split(self, name: str) -> SplitArrays:
        """The clips of split `name` (train, val, test), or of the whole data set for "all"."""
        self._check_split_name(name, all_ok=True)
        idx = [i for i, c in enumerate(self.clips) if name == "all" or c.split == name]
        x = np.zeros((len(idx), self.clip_samples), dtype=np.float32)
        for row, i in enumerate(idx):
            x[row] = self.clip_audio(i)
        clips = [self.clips[i] for i in idx]
        return SplitArrays(
            x=x,
            y=np.array([self.label_id(c.label) for c in clips], dtype=np.int64),
            hashes=[c.hash for c in clips],
            paths=[c.path for c in clips],
            speakers=[c.speaker for c in clips],
        )

    def __repr__(self) -> str:
        counts = {s: sum(c.split == s for c in self.clips) for s in SPLIT_NAMES}
        return (f"Dataset({str(self.root)!r}, format={self.format}, {len(self.clips)} clips, "
                f"{len(self.labels)} classes, splits={counts}, {len(self.problems)} problems)")


def _progress_iter(items: list, progress: bool, description: str) -> Iterable:
    if not progress:
        yield from items
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  transient=True) as bar:
        task = bar.add_task(description, total=len(items))
        for item in items:
            yield item
            bar.advance(task)


def scoring_split(requested: str | None, ds: Dataset, trained_on: dict | None) -> tuple[str, str]:
    """(split, why) of the clips a model is scored on.

    `requested` (train, val, test or all) when given. Otherwise the test split when `ds` is the data set the
    model was trained on (`trained_on`, the run's or teacher's record: the same folder, or the same
    fingerprint), and every clip when it is not: a model has heard none of a new data set, so all of it is
    test data, whatever split it happens to fall into. With no record at all (a loose model file) the test split.
    """
    if requested is not None:
        ds._check_split_name(requested, all_ok=True)
        return requested, "as asked"
    if isinstance(trained_on, dict):
        same_root = trained_on.get("root") == str(Path(ds.root).resolve())
        if same_root or trained_on.get("fingerprint") == ds.fingerprint():
            return "test", "the data set the model was trained on: its test split"
        return "all", "not the data set the model was trained on: every clip"
    # No record to compare with: the conservative choice (scoring all could count training clips).
    return "test", "no record of the model's training data: the test split (--split all scores every clip)"


def load_dataset(root: str | Path, config: DataConfig | None = None, *, progress: bool = False,
                 keep_audio: bool = True, require_splits: Sequence[str] | None = None,
                 diagnose: bool = False) -> Dataset:
    """Scan `root` (a folder, or a .csv manifest), validate and hash every file, and split it.

    Bad files are listed in `Dataset.problems` and skipped; with `config.strict` the first one raises. Files
    or folders that may not be read (permissions) raise: skipping them would quietly drop data (a whole class).
    Raises `DatasetError` when nothing usable is left or a split of `require_splits` is empty (default: train,
    test and, unless val_fraction is 0, val; `()` demands none: scoring new data).

    `diagnose` (`tinykd data info`): only bad options stop it; permission problems, empty splits and even a data
    set with no usable clip are listed in `problems` (kinds "permission", "split"), so every problem is seen.
    """
    config = config or DataConfig()
    config.validate()
    root = Path(root)
    if config.format == "auto":
        fmt, reason = detect_format(root)
    else:
        fmt, reason = config.format, "given"
    entries, problems = scan(root, fmt, config.allow_outside)

    def report(problem: Problem, error: type[DatasetError] | type[AudioError] = DatasetError) -> None:
        if config.strict:
            raise error(f"{problem} (strict: stopping at the first bad file)")
        problems.append(problem)

    if config.strict and problems:
        report(problems.pop(0))
    if config.labels is not None:
        allowed = set(config.labels)
        kept = []
        for e in entries:
            if e.label in allowed:
                kept.append(e)
            else:
                report(Problem(str(e.path), f"label {e.label!r} is not in the label list ({', '.join(config.labels)}); skipped"))
        entries = kept

    kept_entries: list[Entry] = []
    metas: list[tuple[audio.DecodedAudio, str]] = []
    cache: dict[int, np.ndarray] = {}
    first_by_hash: dict[str, Entry] = {}
    for e in _progress_iter(entries, progress, f"scanning {root.name or root}"):
        try:
            decoded = audio.decode(e.path)
        except AudioError as exc:
            # AudioError lines start with the path; keep just the reason next to Problem.path.
            reason = str(exc).removeprefix(f"{e.path}: ")
            kind = PERMISSION if isinstance(exc, audio.UnreadableAudioError) else "file"
            report(Problem(str(e.path), f"{reason}; skipped", kind), AudioError)
            continue
        digest = audio.content_hash(decoded.samples, decoded.rate)
        if config.dedup and digest in first_by_hash:
            first = first_by_hash[digest]
            note = "" if first.label == e.label else f" but labelled {e.label!r} there {first.label!r}"
            report(Problem(str(e.path), f"duplicate of {first.path} (same decoded audio){note}; skipped"))
            continue
        first_by_hash.setdefault(digest, e)
        if keep_audio:
            cache[len(kept_entries)] = audio.prepare(decoded, config.sample_rate, config.clip_samples, config.pad)
        kept_entries.append(e)
        metas.append((decoded, digest))

    unreadable = [p for p in problems if p.kind == PERMISSION]
    if unreadable and not diagnose:
        raise DatasetError(f"{root}: {len(unreadable)} file(s) or folder(s) may not be read, so the data set would "
                           f"silently lack them (first: {unreadable[0]}); fix the permissions, or see them all with "
                           f"`tinykd data info {root}`")
    if not kept_entries:
        first = f"; first problem: {problems[0]}" if problems else ""
        if diagnose:
            problems.append(Problem(str(root), f"no usable audio clips ({len(problems)} problem file(s))", SPLIT))
            return Dataset(root, fmt, config, [], [], problems, "none (no usable clips)", reason, {} if keep_audio else None)
        raise DatasetError(f"{root}: no usable audio clips ({len(problems)} problem file(s)){first}")
    labels = list(config.labels) if config.labels is not None else sorted({e.label for e in kept_entries})
    splits, how = assign_splits(
        [e.label for e in kept_entries], [e.speaker for e in kept_entries], [e.own_split for e in kept_entries], config,
        require=() if diagnose else require_splits,
        unknown_speaker_ok=not diagnose and require_splits is not None and len(require_splits) == 0,
    )
    if diagnose:
        for name in required_splits(config):
            if name not in splits:
                problems.append(Problem(str(root), empty_split_message(name, len(splits), config, how), SPLIT))
    clips = [
        ClipInfo(
            path=str(e.path), label=e.label, speaker=e.speaker, split=s, source_rate=d.rate, channels=d.channels,
            subtype=d.subtype, frames=len(d.samples), hash=digest,
        )
        for e, (d, digest), s in zip(kept_entries, metas, splits)
    ]
    return Dataset(root, fmt, config, labels, clips, problems, how, reason, cache if keep_audio else None)
