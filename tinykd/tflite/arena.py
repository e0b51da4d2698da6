"""The TFLM arena as the interpreter reports it: one reader for the quantizer, the students' arena check and
the device side.

TFLM reports the arena it used only through `print_allocations()`, on the process's C-level stderr
("[RecordingMicroAllocator] Arena allocation total N bytes"). Light on purpose (no TensorFlow import), so
the device tools can measure a bare .tflite without loading Keras.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile

from tinykd.errors import TinykdError

ARENA_LINE = re.compile(r"Arena allocation total (\d+) bytes")


def capture_fd2(fn) -> str:
    """Run `fn` with the process's file descriptor 2 redirected to a temp file; return what was written."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as sink:
        os.dup2(sink.fileno(), 2)
        try:
            fn()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        sink.seek(0)
        return sink.read().decode("utf-8", "replace")


def arena_bytes(allocations: str) -> int:
    """The arena total from a print_allocations() report."""
    match = ARENA_LINE.search(allocations)
    if not match:
        raise TinykdError("TFLite Micro printed no 'Arena allocation total' line; check the tflite-micro install")
    return int(match.group(1))


def allocations_report(interp) -> str:
    """The print_allocations() text of a TFLM interpreter."""
    return capture_fd2(interp.print_allocations)


def measure_arena_bytes(flatbuffer: bytes) -> int:
    """Arena bytes TFLM allocates for `flatbuffer` (loaded, not invoked)."""
    from tinykd.tflite.run import tflm_interpreter

    return arena_bytes(allocations_report(tflm_interpreter(flatbuffer)))


_HEAD_LINE = re.compile(r"Arena allocation head (\d+) bytes")
_TAIL_LINE = re.compile(r"Arena allocation tail (\d+) bytes")


def head_tail_bytes(allocations: str) -> tuple[int, int]:
    """(head, tail) of a print_allocations() report: the scratch area reused between invokes, and the
    persistent area (tensors, kernel state, the interpreter's own structures)."""
    head, tail = _HEAD_LINE.search(allocations), _TAIL_LINE.search(allocations)
    if not (head and tail):
        raise TinykdError("TFLite Micro printed no 'Arena allocation head/tail' lines; check the tflite-micro install")
    return int(head.group(1)), int(tail.group(1))


def shared_arena_bytes(allocations: list[str]) -> int:
    """The arena one TFLM allocator shared by several interpreters needs (multi-tenant: the scratch head is
    shared, each model's persistent tail is kept): max(heads) + sum(tails). Slightly more than the firmware
    uses, since each report also counts its own allocator object, which the shared allocator holds once."""
    parts = [head_tail_bytes(text) for text in allocations]
    return max(h for h, _ in parts) + sum(t for _, t in parts)
