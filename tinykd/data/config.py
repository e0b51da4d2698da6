"""`DataConfig`: how a folder of audio becomes fixed-length clips and splits (saved as JSON with artifacts)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tinykd.configio import load_config, save_config
from tinykd.errors import DatasetError
from tinykd.frontend.spec import DEFAULT_SPEC

FORMATS = ("auto", "tess", "fsdd", "folder", "csv")
PADS = ("center", "start", "end")
SPLIT_MODES = ("auto", "random", "speaker:NAME")
SPLIT_NAMES = ("train", "val", "test")


@dataclass
class DataConfig:
    format: str = "auto"  # auto | tess | fsdd | folder | csv
    split: str = "auto"  # auto (the dataset's own split, else stratified random) | random | speaker:NAME
    val_fraction: float = 0.1  # carved from the training pool, stratified by class
    test_fraction: float = 0.2  # for stratified random splits only
    seed: int = 0
    sample_rate: int = DEFAULT_SPEC.sample_rate  # every clip is resampled to this rate
    clip_seconds: float = 1.0
    pad: str = "center"  # where a short clip sits in the window; a long one keeps the same part
    strict: bool = False  # stop at the first bad file instead of reporting it and going on
    labels: tuple[str, ...] | None = None  # explicit class list; files with other labels are problems
    dedup: bool = True  # drop files whose decoded audio equals an earlier file's (reported)
    allow_outside: bool = False  # CSV rows may name files outside the manifest's folder (else reported, not read)

    def __post_init__(self) -> None:
        if self.labels is not None:
            self.labels = tuple(str(v) for v in self.labels)
        self.validate()

    @property
    def clip_samples(self) -> int:
        return int(round(self.sample_rate * self.clip_seconds))

    def validate(self) -> None:
        if self.format not in FORMATS:
            raise DatasetError(f"unknown data format {self.format!r}; use one of {', '.join(FORMATS)}")
        if self.pad not in PADS:
            raise DatasetError(f"unknown pad {self.pad!r}; use one of {', '.join(PADS)}")
        self.split_mode()  # raises on an unreadable split
        if not (0.0 <= self.val_fraction < 1.0):
            raise DatasetError(f"val_fraction must be in [0, 1), got {self.val_fraction}")
        if not (0.0 < self.test_fraction < 1.0) or self.val_fraction + self.test_fraction >= 1.0:
            raise DatasetError(
                f"test_fraction must be in (0, 1) and val_fraction + test_fraction < 1, "
                f"got test_fraction={self.test_fraction}, val_fraction={self.val_fraction}"
            )
        if int(self.sample_rate) <= 0:
            raise DatasetError(f"sample_rate must be a positive integer, got {self.sample_rate}")
        if not (self.clip_seconds > 0) or self.clip_samples < 1:
            raise DatasetError(f"clip_seconds must be positive, got {self.clip_seconds}")
        if self.labels is not None and len(set(self.labels)) != len(self.labels):
            raise DatasetError(f"labels list has duplicates: {list(self.labels)}")

    def split_mode(self) -> tuple[str, str | None]:
        """('auto'|'random', None) or ('speaker', NAME)."""
        s = str(self.split).strip()
        if s in ("auto", "random"):
            return s, None
        if s.startswith("speaker:") and s[len("speaker:"):].strip():
            return "speaker", s[len("speaker:"):].strip()
        raise DatasetError(f"unreadable split {self.split!r}; use auto, random or speaker:NAME (e.g. speaker:jackson)")

    def save(self, path: str | Path) -> None:
        save_config(path, self)

    @classmethod
    def load(cls, path: str | Path) -> "DataConfig":
        return load_config(cls, path)
