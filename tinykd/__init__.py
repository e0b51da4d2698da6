"""tinykd: distil a large PyTorch audio model into a microcontroller-sized Keras student.

Pipeline (one module folder per stage): data -> teacher -> students/distill -> quantize -> emit -> device.
Every CLI command is a plain function in this library; `tinykd.cli` only parses and prints.
"""

import os as _os

__version__ = "0.1.0"

# TensorFlow's C++ start-up chatter (CPU feature notes, a failed CUDA probe on CPU-only machines) is noise
# to a user of the CLI; users who want it can set TF_CPP_MIN_LOG_LEVEL themselves. Its absl notices ignore
# that setting, so the first `import tensorflow` is also filtered (tinykd._quiet_tf).
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
if _os.environ.get("TF_CPP_MIN_LOG_LEVEL") == "3":
    from tinykd import _quiet_tf

    _quiet_tf.install()

from tinykd.errors import TinykdError  # noqa: E402

__all__ = ["TinykdError", "__version__"]
