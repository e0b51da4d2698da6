"""Silence C-level chatter (the TFLite converter's `fully_quantize: ...`, LiteRT's delegate notice).

These libraries print from C++ straight to file descriptors 1 and 2, past Python's sys.stdout/stderr;
the user of `tinykd quantize` should see tinykd's lines only. What was printed is kept and returned, so an
error path can still show it.
"""

from __future__ import annotations

import os
import sys
import tempfile
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def quiet_c_output() -> Iterator[list[str]]:
    captured: list[str] = []
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with tempfile.TemporaryFile(mode="w+b") as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            yield captured
        finally:
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            except Exception:
                pass
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
            sink.seek(0)
            captured.append(sink.read().decode("utf-8", "replace"))
