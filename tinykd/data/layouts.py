"""Dataset layouts: which files make up a data set, and each file's label, speaker and own split.

Layouts (auto-detected in this order, or forced with `DataConfig.format`):
- csv: ROOT is a `.csv` manifest, or a folder whose top level holds exactly one `.csv` with `path` and `label`
  columns. Columns `path,label[,speaker][,split]`; paths are relative to the manifest's folder.
- fsdd: at least 90 % of the audio files are named `{digit}_{speaker}_{index}.wav` (Free Spoken Digit);
  index 0-4 is the dataset's own test split.
- tess: at least 90 % are named `{OAF|YAF}_{word}_{emotion}.wav` (Toronto Emotional Speech Set), in
  folders of any name or case; label = emotion lower-cased, speaker = OAF/YAF.
- folder: anything else: label = the name of the folder holding the file; speaker = the `{speaker}_` file-name
  prefix when every file has one, else "unknown".
Files that do not fit the chosen layout are reported as problems, never silently relabelled.
"""

from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass
from pathlib import Path

from tinykd.data.audio import AUDIO_SUFFIXES
from tinykd.errors import DatasetError

FSDD_NAME = re.compile(r"^(?P<label>\d)_(?P<speaker>[A-Za-z0-9-]+)_(?P<index>\d+)$")
TESS_NAME = re.compile(r"^(?P<speaker>OAF|YAF)_(?P<word>.+)_(?P<label>[A-Za-z]+)$", re.IGNORECASE)
NAME_MATCH_SHARE = 0.9  # share of files that must match a naming scheme for auto-detection to pick it
FSDD_TEST_INDICES = range(0, 5)  # the FSDD authors' split: recordings 0-4 of every speaker/digit are test
CSV_SPLITS = {"train": "train", "val": "val", "valid": "val", "validation": "val", "dev": "val", "test": "test"}


@dataclass
class Entry:
    """One audio file as the layout names it (before decoding)."""

    path: Path
    label: str
    speaker: str
    own_split: str | None = None  # the dataset's own split, where it has one


@dataclass
class Problem:
    """A file (or manifest row) that was skipped, and why."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def list_audio(root: Path) -> list[Path]:
    """Every .wav/.flac under `root` (any case), skipping hidden files and folders, in a stable order.

    Symlinked folders are followed (data often lives on another disk), each real folder once, so a link
    loop cannot hang the scan.
    """
    found, seen = [], set()
    for folder, dirs, files in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen:
            dirs[:] = []
            continue
        seen.add(real)
        dirs[:] = [d for d in dirs if not d.startswith(".")]  # .git, editor and OS metadata folders
        for name in files:
            if not name.startswith(".") and os.path.splitext(name)[1].lower() in AUDIO_SUFFIXES:
                found.append(Path(folder) / name)  # hidden files: macOS ._ resource forks, temp files
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def _check_root(root: Path) -> None:
    if not root.exists():
        raise DatasetError(f"{root}: no such folder or file; give the data set folder (or a .csv manifest)")
    if root.is_dir() and not any(root.iterdir()):
        raise DatasetError(f"{root}: folder is empty; it needs .wav/.flac files (or a .csv manifest)")


def _find_manifest(root: Path) -> Path | None:
    """The single top-level .csv with path and label columns, if there is one."""
    if root.is_file():
        return root if root.suffix.lower() == ".csv" else None
    manifests = []
    for p in sorted(root.glob("*.csv")):
        try:
            with p.open(newline="", encoding="utf-8-sig") as fh:
                header = next(csv.reader(fh), [])
        except (OSError, UnicodeDecodeError):
            continue
        if {"path", "label"} <= {h.strip().lower() for h in header}:
            manifests.append(p)
    if len(manifests) > 1:
        names = ", ".join(p.name for p in manifests)
        raise DatasetError(f"{root}: several CSV manifests ({names}); pass the one to use as the data path")
    return manifests[0] if manifests else None


def detect_format(root: str | Path) -> tuple[str, str]:
    """(format, reason) for `root`, following the documented order: csv, fsdd, tess, folder."""
    root = Path(root)
    _check_root(root)
    manifest = _find_manifest(root)
    if manifest is not None:
        return "csv", f"CSV manifest {manifest.name}"
    if root.is_file():
        raise DatasetError(f"{root}: not a folder or a .csv manifest")
    files = list_audio(root)
    if not files:
        raise DatasetError(f"{root}: no .wav or .flac files found (searched all sub-folders)")
    stems = [p.stem for p in files]
    for fmt, pattern, what in (("fsdd", FSDD_NAME, "{digit}_{speaker}_{index}"), ("tess", TESS_NAME, "{OAF|YAF}_{word}_{emotion}")):
        share = sum(bool(pattern.match(s)) for s in stems) / len(stems)
        if share >= NAME_MATCH_SHARE:
            return fmt, f"{share:.0%} of {len(stems)} file names match {what}"
    return "folder", "no naming scheme matched; label = parent folder name"


def scan(root: str | Path, fmt: str) -> tuple[list[Entry], list[Problem]]:
    """Entries and naming problems for `root` read as layout `fmt` (not 'auto')."""
    root = Path(root)
    _check_root(root)
    if fmt == "csv":
        manifest = _find_manifest(root)
        if manifest is None:
            raise DatasetError(f"{root}: no CSV manifest with path and label columns found")
        return _scan_csv(manifest)
    if root.is_file():
        raise DatasetError(f"{root}: format {fmt} needs a folder, got a file")
    files = list_audio(root)
    if not files:
        raise DatasetError(f"{root}: no .wav or .flac files found (searched all sub-folders)")
    if fmt == "fsdd":
        return _scan_named(root, files, FSDD_NAME, "{digit}_{speaker}_{index}.wav", _fsdd_entry)
    if fmt == "tess":
        return _scan_named(root, files, TESS_NAME, "{OAF|YAF}_{word}_{emotion}.wav", _tess_entry)
    if fmt == "folder":
        return _scan_folder(root, files)
    raise DatasetError(f"unknown data format {fmt!r}")


def _rel(root: Path, p: Path) -> str:
    return p.relative_to(root).as_posix()


def _fsdd_entry(p: Path, m: re.Match) -> Entry:
    split = "test" if int(m["index"]) in FSDD_TEST_INDICES else "train"
    return Entry(p, m["label"], m["speaker"], split)


def _tess_entry(p: Path, m: re.Match) -> Entry:
    return Entry(p, m["label"].lower(), m["speaker"].upper(), None)


def _scan_named(root, files, pattern, scheme, make) -> tuple[list[Entry], list[Problem]]:
    entries, problems = [], []
    for p in files:
        m = pattern.match(p.stem)
        if m is None:
            problems.append(Problem(str(p), f"name does not match {scheme}; skipped"))
        else:
            entries.append(make(p, m))
    return entries, problems


def _scan_folder(root: Path, files: list[Path]) -> tuple[list[Entry], list[Problem]]:
    entries, problems = [], []
    in_class = []
    for p in files:
        if p.parent == root:
            problems.append(Problem(str(p), "not inside a class folder (folder layout: ROOT/<label>/<file>.wav); skipped"))
        else:
            in_class.append(p)
    # A speaker prefix counts only when every file has one; otherwise names mean nothing and all are "unknown".
    prefixes = [p.stem.split("_", 1)[0] if "_" in p.stem else "" for p in in_class]
    use_prefix = bool(in_class) and all(prefixes)
    for p, prefix in zip(in_class, prefixes):
        entries.append(Entry(p, p.parent.name, prefix if use_prefix else "unknown", None))
    return entries, problems


def _scan_csv(manifest: Path) -> tuple[list[Entry], list[Problem]]:
    base = manifest.parent
    try:
        with manifest.open(newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.reader(fh))
    except UnicodeDecodeError:
        raise DatasetError(f"{manifest}: not UTF-8 text; save the manifest as UTF-8 CSV") from None
    except OSError as exc:
        raise DatasetError(f"{manifest}: cannot read ({exc.strerror or exc})") from None
    except csv.Error as exc:
        raise DatasetError(f"{manifest}: not valid CSV ({exc})") from None
    if not rows:
        raise DatasetError(f"{manifest}: empty manifest; need a header path,label[,speaker][,split]")
    header = [h.strip().lower() for h in rows[0]]
    missing = [c for c in ("path", "label") if c not in header]
    if missing:
        raise DatasetError(
            f"{manifest}: missing column(s) {', '.join(missing)}; the header must be path,label[,speaker][,split] "
            f"(found {','.join(header) or 'nothing'})"
        )
    col = {name: header.index(name) for name in ("path", "label", "speaker", "split") if name in header}
    entries, problems = [], []
    for lineno, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        where = f"{manifest}:{lineno}"
        cells = {name: (row[i].strip() if i < len(row) else "") for name, i in col.items()}
        if not cells["path"] or not cells["label"]:
            problems.append(Problem(where, "empty path or label; row skipped"))
            continue
        path = (base / cells["path"]).resolve() if not Path(cells["path"]).is_absolute() else Path(cells["path"])
        split = None
        if cells.get("split"):
            split = CSV_SPLITS.get(cells["split"].lower())
            if split is None:
                problems.append(Problem(where, f"unknown split {cells['split']!r}; use train, val or test; row skipped"))
                continue
        if not path.is_file():
            problems.append(Problem(str(path), f"listed in {manifest.name} line {lineno} but not found; skipped"))
            continue
        entries.append(Entry(path, cells["label"], cells.get("speaker") or "unknown", split))
    return entries, problems
