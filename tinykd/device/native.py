"""The firmware's board-independent C/C++ core, built with the host compiler and loaded with ctypes.

The virtual board (`tinykd sim`) runs exactly this code for framing, CRC, line writing and PCM
scaling; only inference is done by the TFLM Python interpreter. The library is built once per source
version into a cache folder (TINYKD_CACHE, else ~/.cache/tinykd) and reused.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
from functools import lru_cache
from pathlib import Path

from tinykd.emit.project import core_dir, firmware_dir
from tinykd.errors import TinykdError

CXXFLAGS = ["-std=c++17", "-O2", "-fPIC", "-shared", "-Wall", "-Wextra", "-Werror"]




def core_sources() -> list[Path]:
    return sorted(core_dir().glob("*.cpp")) + [firmware_dir() / "host" / "tkd_host.cpp"]


def find_compiler() -> str:
    for name in (os.environ.get("CXX"), "g++", "c++", "clang++"):
        if name and shutil.which(name):
            return shutil.which(name)  # type: ignore[return-value]
    raise TinykdError("no C++ compiler found (g++, c++ or clang++): install one (Debian/Ubuntu: apt install g++) or set CXX")


def cache_dir() -> Path:
    return Path(os.environ.get("TINYKD_CACHE", Path.home() / ".cache" / "tinykd"))


def build_core_library() -> Path:
    """Compile the core into a shared library (cached by a hash of sources and flags); return its path."""
    cxx = find_compiler()
    digest = hashlib.sha256(" ".join([cxx, *CXXFLAGS]).encode())
    for src in core_sources() + sorted(core_dir().glob("*.h")):
        digest.update(src.name.encode() + src.read_bytes())
    out = cache_dir() / "native" / digest.hexdigest()[:16] / "libtinykd_core.so"
    if out.is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".libtinykd_core.", suffix=".so", dir=out.parent)
    os.close(fd)
    cmd = [cxx, *CXXFLAGS, f"-I{core_dir()}", *map(str, core_sources()), "-o", tmp]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        os.unlink(tmp)
        first = (proc.stderr.strip().splitlines() or ["(no output)"])[0]
        raise TinykdError(f"building the firmware core with {cxx} failed: {first}")
    os.replace(tmp, out)
    return out


class BoardConfig(ctypes.Structure):
    """Mirror of `tkd_board_config` (tkd_board.h)."""

    _fields_ = [
        ("fw_version", ctypes.c_char_p),
        ("board_name", ctypes.c_char_p),
        ("model_hash", ctypes.c_char_p),
        ("labels", ctypes.POINTER(ctypes.c_char_p)),
        ("n_labels", ctypes.c_uint32),
        ("sample_rate", ctypes.c_uint32),
        ("input_samples", ctypes.c_uint32),
        ("arena_bytes", ctypes.c_uint32),
        ("hop_samples", ctypes.c_uint32),
        ("default_mode", ctypes.c_uint8),
        ("write", ctypes.c_void_p),
        ("infer", ctypes.c_void_p),
        ("ctx", ctypes.c_void_p),
        ("upload_buf", ctypes.c_void_p),
        ("ring_buf", ctypes.c_void_p),
        ("ring_samples", ctypes.c_uint32),
        ("window_buf", ctypes.c_void_p),
    ]


WRITE_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint8), ctypes.c_uint32)
INFER_FN = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.c_void_p, ctypes.POINTER(ctypes.c_int16), ctypes.c_uint32, ctypes.POINTER(ctypes.c_float),
    ctypes.POINTER(ctypes.c_uint32), ctypes.POINTER(ctypes.c_uint32),
)


@lru_cache(maxsize=1)
def load_core() -> ctypes.CDLL:
    """The core library with argument types declared for every function tinykd calls."""
    lib = ctypes.CDLL(str(build_core_library()))
    P, u8p, u32, f32 = ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint8), ctypes.c_uint32, ctypes.c_float
    sigs = {
        "tkd_crc32": (u32, [P, ctypes.c_size_t]),
        "tkd_frame_encode": (ctypes.c_size_t, [ctypes.c_uint8, ctypes.c_uint16, u32, P, u32, P, ctypes.c_size_t]),
        "tkd_pcm_to_float": (None, [P, u32, P]),
        "tkd_pcm_to_int8": (None, [P, u32, f32, ctypes.c_int32, P]),
        "tkd_pcm_to_int16": (None, [P, u32, f32, ctypes.c_int32, P]),
        "tkd_dequantize_int8": (None, [P, u32, f32, ctypes.c_int32, P]),
        "tkd_host_board_new": (P, [ctypes.POINTER(BoardConfig)]),
        "tkd_host_board_free": (None, [P]),
        "tkd_host_board_mode": (ctypes.c_uint8, [P]),
        "tkd_host_board_counters": (None, [P, ctypes.POINTER(u32)]),
        "tkd_board_reset": (None, [P]),
        "tkd_board_rx": (None, [P, u8p, u32, u32]),
        "tkd_board_poll": (None, [P, u32]),
        "tkd_board_audio": (None, [P, P, u32]),
        "tkd_board_error": (None, [P, ctypes.c_char_p, ctypes.c_char_p]),
    }
    for name, (res, args) in sigs.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = res, args
    return lib
