"""tinykd: distil a large PyTorch audio model into a microcontroller-sized Keras student.

Pipeline (one module folder per stage): data -> teacher -> students/distill -> quantize -> emit -> device.
Every CLI command is a plain function in this library; `tinykd.cli` only parses and prints.
"""

__version__ = "0.1.0"

from tinykd.errors import TinykdError  # noqa: E402

__all__ = ["TinykdError", "__version__"]
