"""Typed dataclass configs saved as JSON next to every artifact (never pickle), the one writer of files
(atomic: a reader never sees half a file; a failed write is one line, never a traceback), and the rule that
keeps a path read from a file inside the folder it belongs to (`confined_path`).

Every config read back from JSON goes through `from_dict`, which checks each field against its type hint:
a hand-edited or corrupt record gives one line naming the field, not a TypeError deep in a stage.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import math
import os
import tempfile
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from tinykd.errors import OutputError, TinykdError

T = TypeVar("T")


def _file_mode() -> int:
    """0666 less the process umask: the mode `open()` would give a new file (mkstemp's is always 0600)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


FILE_MODE = _file_mode()


def to_dict(obj: Any) -> Any:
    """Dataclass (possibly nested) -> JSON-ready dict."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {str(k): to_dict(v) for k, v in obj.items()}
    if isinstance(obj, Path):
        return str(obj)
    return obj


def from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """Build dataclass `cls` from a dict, recursing into nested dataclass fields.

    Unknown keys are an error (a typo in a config must not be silently ignored), and so is a value of the
    wrong type (a string where a number belongs, a list where a name belongs): one line naming the field.
    """
    if not isinstance(data, dict):
        raise TinykdError(f"config for {cls.__name__} must be a JSON object, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(str(k) for k in set(data) - names)
    if unknown:
        raise TinykdError(f"unknown {cls.__name__} field(s) {', '.join(unknown)}; known: {', '.join(sorted(names))}")
    kwargs = {}
    for key, value in data.items():
        kwargs[key] = _coerce(value, hints.get(key, Any), f"{cls.__name__}.{key}")
    try:
        return cls(**kwargs)
    except (TypeError, ValueError, OverflowError) as exc:  # a dataclass's own checks on odd but well-typed values
        raise TinykdError(f"unusable {cls.__name__} ({exc})") from None


_SIMPLE = {int: "an integer", float: "a number", str: "a string", bool: "true or false", type(None): "null"}


def _coerce(value: Any, hint: Any, where: str) -> Any:
    """`value` checked against type hint `hint` (lists become tuples where a tuple is declared)."""
    ok, out = _match(value, hint)
    if not ok:
        shown = json.dumps(value)[:60] if _jsonable(value) else repr(value)[:60]
        raise TinykdError(f"{where} must be {_describe(hint)}, got {shown}")
    return out


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def _match(value: Any, hint: Any) -> tuple[bool, Any]:
    if hint is Any or hint is object:
        return True, value
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(hint):
            ok, out = _match(value, arg)
            if ok:
                return True, out
        return False, value
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        if isinstance(value, hint):
            return True, value
        if isinstance(value, dict):
            return True, from_dict(hint, value)
        return False, value
    if hint is bool:
        return isinstance(value, bool), value
    if hint is int:
        if isinstance(value, bool):
            return False, value
        if isinstance(value, int):
            return True, value
        if isinstance(value, float) and math.isfinite(value) and value == int(value):
            return True, int(value)  # 16000.0 from a hand-written file
        return False, value
    if hint is float:
        return (isinstance(value, (int, float)) and not isinstance(value, bool)), value
    if hint is str:
        return isinstance(value, str), value
    if hint is type(None):
        return value is None, value
    if origin is tuple or hint is tuple:
        if not isinstance(value, (list, tuple)):
            return False, value
        args = typing.get_args(hint)
        if not args:
            return True, tuple(value)
        if len(args) == 2 and args[1] is Ellipsis:
            args = (args[0],) * len(value)
        if len(args) != len(value):
            return False, value
        items = []
        for item, arg in zip(value, args):
            ok, out = _match(item, arg)
            if not ok:
                return False, value
            items.append(out)
        return True, tuple(items)
    if origin is list or hint is list:
        return isinstance(value, (list, tuple)), list(value) if isinstance(value, (list, tuple)) else value
    if origin is dict or hint is dict:
        return isinstance(value, dict), value
    return True, value  # a type this checker does not know: the dataclass's own validation decides


def _describe(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in typing.get_args(hint))
    if hint in _SIMPLE:
        return _SIMPLE[hint]
    if origin is tuple or hint is tuple:
        return "a list"
    if origin is list or hint is list:
        return "a list"
    if origin is dict or hint is dict:
        return "a JSON object"
    if dataclasses.is_dataclass(hint):
        return f"a JSON object ({hint.__name__})"
    return str(hint)


# -- reading and writing files ---------------------------------------------------------------------


def hash_file(h, path: str | os.PathLike) -> None:
    """Feed a file into the hashlib object `h` in 1 MiB blocks (OSError propagates: callers word it)."""
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)


def os_reason(exc: BaseException) -> str:
    """A few words for an OS error, the way a user would say it ("permission denied", "disk full")."""
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, IsADirectoryError):
        return "it is a folder"
    if isinstance(exc, NotADirectoryError):
        return "a part of the path is a file, not a folder"
    if isinstance(exc, ValueError):  # embedded NUL byte
        return "not a valid path (it holds a NUL byte)"
    number = getattr(exc, "errno", None)
    if number in (errno.ENOSPC, errno.EDQUOT):
        return "disk full"
    if number == errno.EROFS:
        return "read-only file system"
    return (getattr(exc, "strerror", None) or str(exc) or type(exc).__name__).strip()


def is_inside(path: str | os.PathLike, folder: str | os.PathLike) -> bool:
    """Whether `path` lies in `folder` (or is it), by their normalised absolute spelling (no link is followed)."""
    p = os.path.normpath(os.path.abspath(os.fspath(path)))
    f = os.path.normpath(os.path.abspath(os.fspath(folder)))
    try:
        return os.path.commonpath([p, f]) == f
    except ValueError:  # different drives (Windows)
        return False


def confined_path(root: str | os.PathLike, relative: Any, what: str = "file") -> Path:
    """`root / relative` with every link resolved, refused (one line) unless it stays inside `root`.

    For names tinykd reads from its own records (a cache's shard list): such a name is never trusted to point
    anywhere else, so a crafted record cannot make tinykd open, or reveal the existence of, a file outside.
    """
    root = Path(root)
    if not isinstance(relative, str) or not relative.strip() or "\0" in relative:
        raise TinykdError(f"{root}: {what} name {relative!r} is not a file name; the record is corrupt")
    rel = Path(relative)
    real_root = Path(os.path.realpath(root))
    target = Path(os.path.realpath(real_root / rel))
    if rel.is_absolute() or not is_inside(target, real_root) or target == real_root:
        raise TinykdError(f"{root}: {what} {relative!r} points outside the folder; refused (the record is corrupt or crafted)")
    return target


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write via a temp file in the same folder, then rename: a reader never sees half a file.

    Anything in the way (a folder at `path`, no permission, a full disk, a file where a folder belongs) is an
    `OutputError` naming the path, and nothing is left behind: the temp file is removed.
    """
    path = Path(path)
    try:
        if path.is_dir():
            raise OutputError(f"{path}: is a folder; give the path of a file to write")
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except (OSError, ValueError) as exc:
        raise OutputError(f"{path}: cannot write it ({os_reason(exc)}); choose another path", getattr(exc, "errno", None)) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), FILE_MODE)  # readable like any file the user writes, not private to them
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise OutputError(f"{path}: cannot write it ({os_reason(exc)}); choose another path or free space",
                              exc.errno) from None
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def save_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_text(path, json.dumps(to_dict(obj), indent=2, sort_keys=False) + "\n")


def load_json(path: str | os.PathLike) -> Any:
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TinykdError(f"{path}: file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise TinykdError(f"{path}: not valid JSON ({exc})") from None
    except RecursionError:
        raise TinykdError(f"{path}: not valid JSON (nested too deeply)") from None
    except (OSError, ValueError) as exc:
        raise TinykdError(f"{path}: cannot read it ({os_reason(exc)})") from None


def save_config(path: str | os.PathLike, config: Any) -> None:
    """Save a dataclass config as JSON."""
    save_json(path, config)


def load_config(cls: type[T], path: str | os.PathLike) -> T:
    return from_dict(cls, load_json(path))
