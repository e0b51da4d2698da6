"""TensorFlow's start-up chatter, silenced: whichever module first imports `tensorflow`, the import runs with
the process's C-level stderr captured, and only the lines that are not TensorFlow's known start-up notices
(absl's pre-init warning, the oneDNN notice, the CUDA probe of a CPU-only machine, CPU feature hints) are
written back. TF_CPP_MIN_LOG_LEVEL does not reach these: absl prints them before it reads its settings.
Anything else TensorFlow prints while importing (a real error) still reaches the user.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import re
import sys
import tempfile

NOISE = re.compile(
    r"All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|port\.cc:\d+\] oneDNN custom operations are on"
    r"|cudart_stub\.cc:\d+\] Could not find cuda drivers"
    r"|cuda_(?:dnn|fft|blas)\.cc:\d+\] Unable to register"
    r"|cpu_feature_guard\.cc:\d+\]"
    r"|^To enable the following instructions:"
    r"|computation_placer\.cc:\d+\]"
)


class _QuietLoader(importlib.abc.Loader):
    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        sys.stderr.flush()
        saved = os.dup(2)
        with tempfile.TemporaryFile(mode="w+b") as sink:
            os.dup2(sink.fileno(), 2)
            try:
                self.loader.exec_module(module)
            finally:
                os.dup2(saved, 2)
                os.close(saved)
                sink.seek(0)
                kept = [line for line in sink.read().decode("utf-8", "replace").splitlines(keepends=True)
                        if not NOISE.search(line)]
                if kept:
                    sys.stderr.write("".join(kept))
                    sys.stderr.flush()


class _QuietFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        # Not once-only: `importlib.util.find_spec("tensorflow")` (transformers' availability probe) asks
        # without importing, and the real import comes later. PathFinder does not consult sys.meta_path.
        if name != "tensorflow" or name in sys.modules:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec


def install() -> None:
    """Silence the next `import tensorflow` (nothing to do once TensorFlow is imported)."""
    if "tensorflow" not in sys.modules and not any(isinstance(f, _QuietFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietFinder())
