"""`load_dataset`: scan a layout, decode and check every file, hash it, de-duplicate, split.

The scan decodes each file once; the fixed-length clips (resampled and padded) are kept in memory so
`load_split` is instant. With `keep_audio=False` (used by `tinykd data info`) nothing is kept and
`load_split` decodes again, checking each file still has the hash the scan recorded.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tinykd.data import audio
from tinykd.data.config import SPLIT_NAMES, DataConfig
from tinykd.data.layouts import Entry, Problem, detect_format, scan
from tinykd.data.splits import assign_splits
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
    def _check_split_name(self, name: str) -> None:
        if name not in SPLIT_NAMES:
            raise DatasetError(f"unknown split name {name!r}; use one of {', '.join(SPLIT_NAMES)}")

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
        self._check_split_name(name)
        idx = [i for i, c in enumerate(self.clips) if c.split == name]
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


def load_dataset(root: str | Path, config: DataConfig | None = None, *, progress: bool = False,
                 keep_audio: bool = True) -> Dataset:
    """Scan `root` (a folder, or a .csv manifest), validate and hash every file, and split it.

    Bad files are listed in `Dataset.problems` and skipped; with `config.strict` the first one raises.
    Raises `DatasetError` when nothing usable is left, a split is empty, or the split cannot be made.
    """
    config = config or DataConfig()
    config.validate()
    root = Path(root)
    if config.format == "auto":
        fmt, reason = detect_format(root)
    else:
        fmt, reason = config.format, "given"
    entries, problems = scan(root, fmt)

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
            report(Problem(str(e.path), f"{reason}; skipped"), AudioError)
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

    if not kept_entries:
        first = f"; first problem: {problems[0]}" if problems else ""
        raise DatasetError(f"{root}: no usable audio clips ({len(problems)} problem file(s)){first}")
    labels = list(config.labels) if config.labels is not None else sorted({e.label for e in kept_entries})
    splits, how = assign_splits(
        [e.label for e in kept_entries], [e.speaker for e in kept_entries], [e.own_split for e in kept_entries], config
    )
    clips = [
        ClipInfo(
            path=str(e.path), label=e.label, speaker=e.speaker, split=s, source_rate=d.rate, channels=d.channels,
            subtype=d.subtype, frames=len(d.samples), hash=digest,
        )
        for e, (d, digest), s in zip(kept_entries, metas, splits)
    ]
    return Dataset(root, fmt, config, labels, clips, problems, how, reason, cache if keep_audio else None)
