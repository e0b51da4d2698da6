"""Shared pieces of the firmware-on-TFLM tests (host build of the glue, emulated board); no tests here.

- `require(reason)`: skip with the reason, or fail with it when TINYKD_REQUIRE_EMULATOR=1 (CI installs and
  provides every piece, so there a missing one is a failure, never a silent skip). `require_*` use it when the
  vendored TFLM trees (and board libraries), a compiler or QEMU are missing.
- `signal_pair` / `waveform_dir`: model folders (model_data.h/.cc, model_ops.h) written by tinykd's own
  converter and emitter into the session's temporary folder, once per session (module-level caches, because
  each test module imports these helpers and would otherwise get its own copy of a session fixture).
- `run_host`: the host build of the firmware fed protocol bytes on stdin; its lines and output dumps.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tinykd.device import protocol as P

_CACHE: dict[tuple, Path] = {}


REQUIRE_ENV = "TINYKD_REQUIRE_EMULATOR"


def require(reason: str) -> None:
    """A piece a test needs is missing: skip with `reason`, or fail with it when TINYKD_REQUIRE_EMULATOR=1."""
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{reason} ({REQUIRE_ENV}=1: required here, not skipped)", pytrace=False)
    pytest.skip(reason)


def require_vendor(*libraries: str) -> None:
    """The vendored TFLM trees, and the named board libraries of tinykd.device.qemu.tree.LIBRARY_ARCHIVES
    ("esp-tflite-micro", "esp-nn", "chirale")."""
    from tinykd.device.qemu.tree import ARCHIVES, LIBRARY_ARCHIVES, vendor_dir

    vendor = vendor_dir()
    if vendor is None or not all((vendor / a).is_file() for a in ARCHIVES.values()):
        require("vendored TFLM trees not found (../shared/vendor beside the checkout, or TINYKD_VENDOR)")
    missing = [LIBRARY_ARCHIVES[name][0] for name in libraries if not (vendor / LIBRARY_ARCHIVES[name][0]).is_file()]
    if missing:
        require(f"vendored {', '.join(missing)} not found in {vendor}")


def require_host_compiler() -> None:
    if shutil.which("g++") is None:
        require("needs the host g++")


def require_arm_and_qemu() -> None:
    from tinykd.device.qemu.toolchain import ToolchainMissing, arm_toolchain, qemu_system_arm

    try:
        arm_toolchain()
        qemu_system_arm()
    except ToolchainMissing as exc:
        require(str(exc))


SIGNAL_LABELS = ("silence", "unknown", "yes", "no")


def signal_clips() -> dict[str, np.ndarray]:
    """Four 1 s int16 clips at 16 kHz: two voiced (harmonics under a syllable envelope), noise, silence."""
    from tinykd.students.tflm_arena import example_clips

    voiced = example_clips(2, 16000, 16000, seed=11)
    noise = np.random.default_rng(12).standard_normal(16000) * 0.05
    as_pcm = lambda x: np.clip(np.round(np.asarray(x) * 32767), -32768, 32767).astype(np.int16)  # noqa: E731
    return {"voiced-a": as_pcm(voiced[0]), "voiced-b": as_pcm(voiced[1]), "noise": as_pcm(noise),
            "silence": np.zeros(16000, np.int16)}


def signal_pair(base: Path, arena_bytes: int | None = None):
    """(RUN/int8 folder, the host reference, clips) for a genuine signal deployment: tinykd's Signal-op front
    end with noise reduction + PCAN and a small untrained body (tests/device_support.make_signal_int8_run).
    `arena_bytes` overrides the emitted arena (for a deployment too large for the board)."""
    key = ("signal", arena_bytes)
    if key not in _CACHE:
        from device_support import make_signal_int8_run

        _CACHE[key] = make_signal_int8_run(base / "signal", list(SIGNAL_LABELS), arena_bytes=arena_bytes) / "int8"
    from tinykd.device.qemu.reference import SignalReference

    folder = _CACHE[key]
    ref = SignalReference((folder / "frontend.tflite").read_bytes(), (folder / "model_int8.tflite").read_bytes(), 320)
    return folder, ref, signal_clips()


def waveform_dir(base: Path, int8_io: bool = True) -> Path:
    """A small untrained Conv1D classifier (8 kHz, 0.5 s) converted to int8 by tests/device_support."""
    key = ("waveform", int8_io)
    if key not in _CACHE:
        from device_support import cached_run

        run = cached_run(base, ("yes", "no", "up"), sample_rate=8000, seconds=0.5, seed=3, int8_io=int8_io)
        _CACHE[key] = run / "int8"
    return _CACHE[key]


def read_dump(path: Path) -> list[tuple[str, bytes]]:
    """The records tkd_tflm_host --dump wrote: (tag, raw output bytes)."""
    data, out, pos = path.read_bytes(), [], 0
    while pos < len(data):
        tag, n = chr(data[pos]), struct.unpack_from("<I", data, pos + 1)[0]
        out.append((tag, data[pos + 5 : pos + 5 + n]))
        pos += 5 + n
    return out


def run_host(exe: Path, stdin: bytes, dump: Path | None = None, timeout: float = 300) -> list[bytes]:
    """Raw lines (without CR LF) the host build wrote for `stdin`."""
    cmd = [str(exe)] + (["--dump", str(dump)] if dump else [])
    proc = subprocess.run(cmd, input=stdin, capture_output=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-2000:]
    return [line for line in proc.stdout.split(b"\r\n") if line]


def score_text(raw_line: bytes | str) -> tuple[str, ...]:
    """The score fields of a result line exactly as the board wrote them."""
    text = raw_line.decode() if isinstance(raw_line, bytes) else raw_line
    fields = text.split("*")[0].split(",")[4:]
    return tuple(f for f in fields if "=" not in f)


def audio_frames(pcm: np.ndarray, sizes: list[int], first_id: int = 2) -> bytes:
    """The whole of `pcm` as AUDIO frames of the given sizes (cycled), the first one starting a stream."""
    out, start, i = b"", 0, 0
    while start < len(pcm):
        n = sizes[i % len(sizes)]
        out += P.audio_frame(first_id + i, start, pcm[start : start + n], start=start == 0)
        start += n
        i += 1
    return out
