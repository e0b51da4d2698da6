"""Compiling sources into a content-addressed object cache, and archiving objects into libraries.

An object's key is a hash of everything that decides its bytes: the compiler (path and version), the
flags, the source's content, and a digest of the headers it can see (the TFLM tree's digest for tree
files, the firmware's own headers for tinykd's files). The same key means the same object, so a kernel
built once is shared by every model, every test and every later build. Writes are atomic (a temporary
file renamed into place), so parallel builds never see half an object.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tinykd.device.qemu.toolchain import Toolchain
from tinykd.errors import TinykdError


@dataclass(frozen=True)
class Unit:
    """One source to compile: the compiler language, its flags, and what its included headers hash to."""

    source: Path
    flags: tuple[str, ...]  # optimisation, defines, include paths, target flags
    headers_digest: str  # digest of every header the source can include

    @property
    def is_c(self) -> bool:
        return self.source.suffix == ".c"

    def key(self, tc: Toolchain) -> str:
        h = hashlib.sha256()
        for part in (tc.name, tc.cxx, tc.cc, tc.version, self.headers_digest, self.source.name, *self.flags):
            h.update(part.encode() + b"\0")
        h.update(self.source.read_bytes())
        return h.hexdigest()[:24]


def headers_digest(*folders: Path) -> str:
    """Digest of every .h/.hpp/.inc file under `folders` (content and relative path)."""
    h = hashlib.sha256()
    for folder in folders:
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*")):
            if path.suffix in (".h", ".hpp", ".inc") and path.is_file():
                h.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:16]


def _first_error(stderr: str) -> str:
    for line in stderr.splitlines():
        if "error" in line:
            return line.strip()
    lines = stderr.strip().splitlines()
    return lines[0].strip() if lines else "(no output)"


def _compile(unit: Unit, tc: Toolchain, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.stem}.", suffix=".o", dir=out.parent)
    os.close(fd)
    cmd = [tc.cc if unit.is_c else tc.cxx, *unit.flags, "-c", str(unit.source), "-o", tmp]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        os.unlink(tmp)
        raise TinykdError(f"compiling {unit.source} with {Path(cmd[0]).name} failed: {_first_error(proc.stderr)}")
    os.replace(tmp, out)


def compile_units(units: list[Unit], tc: Toolchain, cache: Path, jobs: int | None = None) -> tuple[list[Path], int]:
    """Objects for `units` (same order), compiling only those not in the cache. Returns (objects, compiled)."""
    targets = [(u, cache / "obj" / tc.name / (k := u.key(tc))[:2] / f"{k}.o") for u in units]
    todo = [(u, o) for u, o in targets if not o.is_file()]
    if todo:
        workers = max(1, jobs or os.cpu_count() or 1)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for fut in [pool.submit(_compile, u, tc, o) for u, o in todo]:
                fut.result()
    return [o for _, o in targets], len(todo)


def archive(objects: list[Path], tc: Toolchain, cache: Path, name: str) -> Path:
    """A static library of `objects` (cached by their keys): the linker takes only the members it needs."""
    key = hashlib.sha256("\0".join([tc.ar, *sorted(o.name for o in objects)]).encode()).hexdigest()[:24]
    out = cache / "lib" / tc.name / f"{name}-{key}.a"
    if out.is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".a", dir=out.parent)
    os.close(fd)
    os.unlink(tmp)  # ar creates it
    proc = subprocess.run([tc.ar, "rcs", tmp, *map(str, objects)], capture_output=True, text=True)
    if proc.returncode != 0:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise TinykdError(f"archiving {name} with {tc.ar} failed: {_first_error(proc.stderr)}")
    os.replace(tmp, out)
    return out
