"""Which layers of a Keras student are its front end: LogMelFrontEnd (kind "logmel") or SignalFrontEnd
(kind "signal"). One lookup for the trainer, the converter and the quantizer (imports Keras)."""

from __future__ import annotations


def front_end_layers(model) -> list:
    """The model's front-end layers, in layer order (a student has exactly one)."""
    from tinykd.frontend.keras_layer import LogMelFrontEnd
    from tinykd.frontend.signal_keras import SignalFrontEnd

    return [layer for layer in model.layers if isinstance(layer, (LogMelFrontEnd, SignalFrontEnd))]
