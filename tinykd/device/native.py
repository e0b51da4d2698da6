"""The firmware's board-independent C/C++ core, built with the host compiler and loaded with ctypes.

The virtual board (`tinykd sim`) runs exactly this code for framing, CRC, line writing and PCM
scaling; only inference is done by the TFLM Python interpreter. The library is built once per source
version into a cache folder (TINYKD_CACHE, else ~/.cache/tinykd) and reused.

`BoardConfig` mirrors `tkd_board_config` field by field. The fields added for the two-model ("signal")
kind come after the original ones and default to zero, which is the original waveform board, so code that
fills only the original fields keeps working; `load_core` checks the mirror's size against the C struct.
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
        # additions (signal kind, instruction counter, hello fields); zero = the original board
        ("kind", ctypes.c_uint8),
        ("frontend_window", ctypes.c_uint32),
        ("feature_bins", ctypes.c_uint32),
        ("feature_frames", ctypes.c_uint32),
        ("body_every", ctypes.c_uint32),
        ("frontend", ctypes.c_void_p),
        ("frontend_reset", ctypes.c_void_p),
        ("body", ctypes.c_void_p),
        ("feature_buf", ctypes.c_void_p),
        ("body_buf", ctypes.c_void_p),
        ("count", ctypes.c_void_p),
        ("hello_extra", ctypes.c_char_p),
    ]


KIND_WAVEFORM, KIND_SIGNAL = 0, 1


WRITE_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint8), ctypes.c_uint32)
INFER_FN = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.c_void_p, ctypes.POINTER(ctypes.c_int16), ctypes.c_uint32, ctypes.POINTER(ctypes.c_float),
    ctypes.POINTER(ctypes.c_uint32), ctypes.POINTER(ctypes.c_uint32),
)
# Signal kind: frontend(ctx, pcm, n, features, n_bins, us), frontend_reset(ctx), body(ctx, features, n_frames,
# n_bins, scores, us); count(ctx) -> instructions executed (optional).
FRONTEND_FN = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.c_void_p, ctypes.POINTER(ctypes.c_int16), ctypes.c_uint32, ctypes.POINTER(ctypes.c_int8),
    ctypes.c_uint32, ctypes.POINTER(ctypes.c_uint32),
)
FRONTEND_RESET_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p)
BODY_FN = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.c_void_p, ctypes.POINTER(ctypes.c_int8), ctypes.c_uint32, ctypes.c_uint32,
    ctypes.POINTER(ctypes.c_float), ctypes.POINTER(ctypes.c_uint32),
)
COUNT_FN = ctypes.CFUNCTYPE(ctypes.c_uint64, ctypes.c_void_p)


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
        "tkd_host_board_signal_counters": (None, [P, ctypes.POINTER(u32)]),
        "tkd_host_config_size": (ctypes.c_size_t, []),
        "tkd_board_set_arena": (None, [P, u32, u32, u32]),
        "tkd_board_audio_max": (u32, [P]),
        "tkd_board_send_hello": (None, [P]),
        "tkd_board_reset": (None, [P]),
        "tkd_board_rx": (None, [P, u8p, u32, u32]),
        "tkd_board_poll": (None, [P, u32]),
        "tkd_board_audio": (None, [P, P, u32]),
        "tkd_board_error": (None, [P, ctypes.c_char_p, ctypes.c_char_p]),
    }
    for name, (res, args) in sigs.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = res, args
    if lib.tkd_host_config_size() != ctypes.sizeof(BoardConfig):
        raise TinykdError(f"tinykd.device.native.BoardConfig ({ctypes.sizeof(BoardConfig)} bytes) does not mirror "
                          f"tkd_board_config ({lib.tkd_host_config_size()} bytes) in {core_dir() / 'tkd_board.h'}; "
                          "update the mirror")
    return lib
