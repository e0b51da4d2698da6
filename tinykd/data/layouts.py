"""Dataset layouts: which files make up a data set, and each file's label, speaker and own split.

Layouts (auto-detected in this order, or forced with `DataConfig.format`):
- csv: ROOT is a `.csv` manifest, or a folder whose top level holds exactly one `.csv` with `path` and `label`
  columns. Columns `path,label[,speaker][,split]`; paths are relative to the manifest's folder, and a row naming
  a file outside that folder (`../x.wav`, an absolute path elsewhere) is reported, not read, unless
  `DataConfig.allow_outside` (`--allow-outside`). A top-level `.csv` that is not a usable manifest (no `label`
  column, not UTF-8, unreadable) is refused under `auto` rather than silently ignored: fix it or name the layout.
- fsdd: at least 90 % of the audio files are named `{digit}_{speaker}_{index}.wav` (Free Spoken Digit);
  index 0-4 is the dataset's own test split.
- tess: at least 90 % are named `{OAF|YAF}_{word}_{emotion}.wav` (Toronto Emotional Speech Set), in
  folders of any name or case; label = emotion lower-cased, speaker = OAF/YAF.
- folder: anything else: label = the name of the folder holding the file; speaker = the `{speaker}_` file-name
  prefix when every file has one, else "unknown".
Files that do not fit the chosen layout are reported as problems, never silently relabelled. A folder that cannot
be listed (permissions) is a problem of kind "permission": its files would silently be missing, so
`load_dataset` stops on it (except `tinykd data info`, which lists it with every other problem).
"""

from __future__ import annotations

import csv
import os
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from tinykd.configio import is_inside
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


PERMISSION = "permission"  # Problem.kind of a file or folder tinykd may not read
SPLIT = "split"  # Problem.kind of a split that would be empty (listed by `tinykd data info`)


@dataclass
class Problem:
    """A file (or manifest row, folder, split) that was skipped, and why."""

    path: str
    message: str
    kind: str = "file"  # file | permission | split

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def list_audio(root: Path, problems: list[Problem] | None = None) -> list[Path]:
    """Every .wav/.flac under `root` (any case), skipping hidden files and folders, in a stable order.

    Symlinked folders are followed (data often lives on another disk), each real folder once, so a link
    loop cannot hang the scan. A folder that cannot be listed is appended to `problems` (kind "permission").
    """
    found, seen = [], set()

    def unreadable(exc: OSError) -> None:
        if problems is not None:
            why = "permission denied" if isinstance(exc, PermissionError) else (exc.strerror or str(exc))
            problems.append(Problem(str(exc.filename or root), f"{why}: cannot list this folder, so its files are "
                                    "not in the data set; fix its permissions", PERMISSION))

    for folder, dirs, files in os.walk(root, followlinks=True, onerror=unreadable):
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
    if "\0" in str(root):
        raise DatasetError(f"{root}: not a valid path (it holds a NUL byte)")
    if not root.exists():
        raise DatasetError(f"{root}: no such folder or file; give the data set folder (or a .csv manifest)")
    if root.is_dir():
        try:
            empty = not any(root.iterdir())
        except OSError as exc:
            why = "permission denied" if isinstance(exc, PermissionError) else (exc.strerror or str(exc))
            raise DatasetError(f"{root}: {why}: cannot list the data folder; fix its permissions") from None
        if empty:
            raise DatasetError(f"{root}: folder is empty; it needs .wav/.flac files (or a .csv manifest)")


def _csv_header(p: Path) -> tuple[list[str] | None, str]:
    """(lower-cased header, "") of a CSV file, or (None, why it cannot be read as one)."""
    try:
        with p.open(newline="", encoding="utf-8-sig") as fh:
            return [h.strip().lower() for h in next(csv.reader(fh), [])], ""
    except UnicodeDecodeError:
        return None, "not UTF-8 text"
    except PermissionError:
        return None, "permission denied"
    except csv.Error as exc:
        return None, f"not valid CSV ({exc})"
    except OSError as exc:
        return None, f"cannot read it ({exc.strerror or exc})"


def _find_manifest(root: Path, refuse_unusable: bool = False) -> Path | None:
    """The single top-level .csv with path and label columns, if there is one.

    With `refuse_unusable` (auto-detection), a top-level .csv that is not a usable manifest, when there is no
    usable one, is an error: it was most likely meant as the manifest, and reading the folder layout instead
    would silently train on something else.
    """
    if root.is_file():
        return root if root.suffix.lower() == ".csv" else None
    manifests, unusable = [], []
    for p in sorted(root.glob("*.csv")):
        header, why = _csv_header(p)
        if header is not None and {"path", "label"} <= set(header):
            manifests.append(p)
        elif not p.name.startswith("."):
            missing = [c for c in ("path", "label") if header is not None and c not in header]
            unusable.append((p, why or f"no {' and no '.join(missing)} column (found {','.join(header or []) or 'nothing'})"))
    if len(manifests) > 1:
        names = ", ".join(p.name for p in manifests)
        raise DatasetError(f"{root}: several CSV manifests ({names}); pass the one to use as the data path")
    if not manifests and unusable and refuse_unusable:
        p, why = unusable[0]
        raise DatasetError(
            f"{p}: a CSV file in the data folder that is not a usable manifest ({why}); fix it (UTF-8, header "
            "path,label[,speaker][,split]), move it away, or name the layout with --format folder, fsdd or tess"
        )
    return manifests[0] if manifests else None


def detect_format(root: str | Path) -> tuple[str, str]:
    """(format, reason) for `root`, following the documented order: csv, fsdd, tess, folder."""
    root = Path(root)
    _check_root(root)
    manifest = _find_manifest(root, refuse_unusable=True)
    if manifest is not None:
        return "csv", f"CSV manifest {manifest.name}"
    if root.is_file():
        raise DatasetError(f"{root}: not a folder or a .csv manifest")
    listing: list[Problem] = []
    files = list_audio(root, listing)
    if not files:
        if listing:
            raise DatasetError(f"no .wav or .flac files could be listed under {root}: {listing[0]}")
        raise DatasetError(f"{root}: no .wav or .flac files found (searched all sub-folders)")
    stems = [p.stem for p in files]
    for fmt, pattern, what in (("fsdd", FSDD_NAME, "{digit}_{speaker}_{index}"), ("tess", TESS_NAME, "{OAF|YAF}_{word}_{emotion}")):
        share = sum(bool(pattern.match(s)) for s in stems) / len(stems)
        if share >= NAME_MATCH_SHARE:
            return fmt, f"{share:.0%} of {len(stems)} file names match {what}"
    return "folder", "no naming scheme matched; label = parent folder name"


def scan(root: str | Path, fmt: str, allow_outside: bool = False) -> tuple[list[Entry], list[Problem]]:
    """Entries and problems (naming, unlistable folders, bad manifest rows) for `root` read as layout `fmt`
    (not 'auto')."""
    root = Path(root)
    _check_root(root)
    if fmt == "csv":
        manifest = _find_manifest(root)
        if manifest is None:
            _find_manifest(root, refuse_unusable=True)  # say what is wrong with the CSV that is there
            raise DatasetError(f"{root}: no CSV manifest with path and label columns found")
        return _scan_csv(manifest, allow_outside)
    if root.is_file():
        raise DatasetError(f"{root}: format {fmt} needs a folder, got a file")
    listing: list[Problem] = []
    files = list_audio(root, listing)
    if not files and not listing:
        raise DatasetError(f"{root}: no .wav or .flac files found (searched all sub-folders)")
    if fmt == "fsdd":
        entries, problems = _scan_named(root, files, FSDD_NAME, "{digit}_{speaker}_{index}.wav", _fsdd_entry)
    elif fmt == "tess":
        entries, problems = _scan_named(root, files, TESS_NAME, "{OAF|YAF}_{word}_{emotion}.wav", _tess_entry)
    elif fmt == "folder":
        entries, problems = _scan_folder(root, files)
    else:
        raise DatasetError(f"unknown data format {fmt!r}")
    return entries, listing + problems


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


def _scan_csv(manifest: Path, allow_outside: bool = False) -> tuple[list[Entry], list[Problem]]:
    base = manifest.parent
    try:
        with manifest.open(newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.reader(fh))
    except UnicodeDecodeError:
        raise DatasetError(f"{manifest}: not UTF-8 text; save the manifest as UTF-8 CSV") from None
    except PermissionError:
        raise DatasetError(f"{manifest}: permission denied (cannot read the manifest); fix its permissions") from None
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
        if any(unicodedata.category(ch) == "Cc" for ch in cells["path"] + cells["label"] + cells.get("speaker", "")):
            problems.append(Problem(where, "path, label or speaker holds a control character (a NUL byte?); row skipped"))
            continue
        named = Path(os.path.normpath(base.absolute() / cells["path"]))
        if not allow_outside and not is_inside(named, base.absolute()):
            # Not opened, not even looked up: the problem list must not tell whether such a file exists.
            problems.append(Problem(where, f"path {cells['path']!r} lies outside the manifest's folder {base}; row "
                                    "skipped (pass --allow-outside to read files outside it)"))
            continue
        path = named.resolve()
        split = None
        if cells.get("split"):
            split = CSV_SPLITS.get(cells["split"].lower())
            if split is None:
                problems.append(Problem(where, f"unknown split {cells['split']!r}; use train, val or test; row skipped"))
                continue
        try:
            found = path.is_file() or path.exists()
            if found and not path.is_file():
                problems.append(Problem(str(path), f"listed in {manifest.name} line {lineno} but not a file; skipped"))
                continue
        except OSError as exc:  # a folder on the way that may not be searched
            problems.append(Problem(str(path), f"listed in {manifest.name} line {lineno}: {exc.strerror or exc}; skipped",
                                    PERMISSION if isinstance(exc, PermissionError) else "file"))
            continue
        if not found:
            problems.append(Problem(str(path), f"listed in {manifest.name} line {lineno} but not found; skipped"))
            continue
        entries.append(Entry(path, cells["label"], cells.get("speaker") or "unknown", split))
    return entries, problems
