"""The log-mel front end: one spec (`FrontEndSpec`), a numpy reference and a Keras layer.

Import `tinykd.frontend.keras_layer` explicitly for the layer (it pulls in TensorFlow).
"""

from tinykd.frontend.spec import DEFAULT_SPEC, SIGNAL_FIELDS, SIGNAL_SPEC, FrontEndSpec

__all__ = ["DEFAULT_SPEC", "SIGNAL_FIELDS", "SIGNAL_SPEC", "FrontEndSpec"]
