"""TensorFlow's start-up notices are filtered from the first `import tensorflow`, also after a probe."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytest.importorskip("tensorflow")

NOTICES = ("oneDNN custom operations", "Could not find cuda drivers", "absl::InitializeLog")


def _stderr_of(code: str) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "TF_ENABLE_ONEDNN_OPTS")}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stderr


@pytest.mark.parametrize("probe", [False, True], ids=["plain", "after-find_spec"])
def test_tensorflow_start_up_notices_are_filtered(probe):
    # transformers asks importlib.util.find_spec("tensorflow") long before anything imports it.
    code = ("import tinykd, importlib.util\n" + ("importlib.util.find_spec('tensorflow')\n" if probe else "")
            + "import tensorflow as tf\nprint(int(tf.constant(1) + 1))\n")
    err = _stderr_of(code)
    assert not [n for n in NOTICES if n in err], err


def test_a_real_error_printed_while_importing_still_reaches_stderr():
    code = ("import tinykd, os, sys\n"
            "import tinykd._quiet_tf as q\n"
            "print(bool(q.NOISE.search('port.cc:153] oneDNN custom operations are on')))\n"
            "print(bool(q.NOISE.search('E0000 something real went wrong')))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.stdout.split() == ["True", "False"]
