"""int8 post-training quantization for TensorFlow Lite Micro, proven in the TFLM and LiteRT interpreters.

    from tinykd.quantize import QuantizeConfig, quantize_run
    result = quantize_run("runs/tiny", "data/fsdd", config=QuantizeConfig(representative_size=200))

Kept light: TensorFlow is imported inside the functions that need it. The steps live in source.py, sets.py,
proof.py, metrics.py, report.py and pipeline.py; the converter and the interpreters in tinykd.tflite.
"""

from tinykd.quantize.config import QuantizeConfig


def quantize_run(*args, **kwargs):
    """See `tinykd.quantize.pipeline.quantize_run`."""
    from tinykd.quantize.pipeline import quantize_run as _quantize_run

    return _quantize_run(*args, **kwargs)


__all__ = ["QuantizeConfig", "quantize_run"]
