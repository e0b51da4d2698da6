"""The log-mel front end as a Keras layer that lives inside the student models.

It is built only from ops TensorFlow Lite Micro runs: the windowed DFT is a frozen 1-D convolution (TFLM has
no RFFT), the power spectrum a MUL and a SUM, the mel bank a matmul with constant weights, then MAXIMUM and LOG. LOG has
no int8 kernel in TFLM, so the quantizer keeps the front end float (see docs/quantize.md).

Its constants are rebuilt from the `FrontEndSpec` in the layer config, so a saved model carries the spec,
not a copy of the matrices that could drift from it.
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from tinykd.errors import TinykdError
from tinykd.frontend.matrices import dft_kernels, mel_matrix
from tinykd.frontend.spec import DEFAULT_SPEC, FrontEndSpec

_DB_PER_LN = 10.0 / math.log(10.0)


@keras.saving.register_keras_serializable(package="tinykd")
class LogMelFrontEnd(keras.layers.Layer):
    """Waveform [batch, n_samples] float32 -> log-mel [batch, n_frames, n_mels] in dB."""

    def __init__(self, spec: FrontEndSpec | dict | None = None, **kwargs):
        kwargs.setdefault("trainable", False)
        super().__init__(**kwargs)
        if spec is None:
            spec = DEFAULT_SPEC
        elif isinstance(spec, dict):
            spec = FrontEndSpec.from_dict(spec)
        if spec.kind != "logmel":
            raise TinykdError(f"LogMelFrontEnd takes a kind='logmel' spec, got kind={spec.kind!r} "
                              "(the Signal front end is tinykd.frontend.signal_keras.SignalFrontEnd)")
        self.spec = spec

    def build(self, input_shape):
        spec = self.spec
        # Constants, not Keras weights: they are rebuilt from the spec, so a saved model carries the spec and
        # never a copy of the matrices that could drift from it (load_own_variables ignores stored copies).
        # [1, win_length, in_channels=1, 2*n_bins]: real parts then imaginary parts. A 2-D convolution over a
        # [batch, 1, samples, 1] image converts to one CONV_2D with static shapes (a 1-D conv brings
        # shape-computing ops TFLM lacks, such as REDUCE_PROD).
        self._dft = dft_kernels(spec)[None, :, None, :].astype(np.float32)
        # The mel bank has n_bins rows: |X|^2 = re^2 + im^2 is summed before it (a stacked [re^2, im^2] bank
        # would be twice the size; float constants are what a converted model spends most flash on after
        # the int8 body).
        self._mel = mel_matrix(spec).astype(np.float32)
        super().build(input_shape)

    def load_own_variables(self, store):
        # Models saved before the constants stopped being weights stored the DFT kernel and mel bank;
        # the spec rebuilds them, so stored copies are ignored.
        return

    def call(self, waveform):
        spec = self.spec
        x = ops.cast(waveform, "float32")
        if spec.normalize == "utterance":
            x = x - ops.mean(x, axis=-1, keepdims=True)
            x = x * ops.rsqrt(ops.mean(x * x, axis=-1, keepdims=True) + spec.norm_eps)
        n_samples = int(waveform.shape[-1])
        n_frames = spec.n_frames(n_samples)
        # Only RESHAPEs with constant shapes: slicing/squeezing brings STRIDED_SLICE masks that TFLM rejects.
        x = ops.reshape(x, (-1, 1, n_samples, 1))
        spectrum = ops.conv(x, ops.convert_to_tensor(self._dft), strides=(1, spec.hop_length), padding="valid")
        squares = ops.reshape(spectrum * spectrum, (-1, 2, spec.n_bins))
        power = ops.sum(squares, axis=1)  # re^2 + im^2
        # Flatten to 2-D so the matmul converts to one FULLY_CONNECTED; a 3-D x 2-D matmul brings
        # dynamic-shape ops (SHAPE, GATHER, REDUCE_PROD) that TFLM does not have.
        power = ops.reshape(power, (-1, spec.n_bins))
        mel = ops.reshape(ops.matmul(power, ops.convert_to_tensor(self._mel)), (-1, n_frames, spec.n_mels))
        return ops.log(ops.maximum(mel, spec.log_floor)) * _DB_PER_LN

    def compute_output_shape(self, input_shape):
        n = input_shape[-1]
        frames = None if n is None else self.spec.n_frames(int(n))
        return (input_shape[0], frames, self.spec.n_mels)

    def get_config(self):
        config = super().get_config()
        config["spec"] = self.spec.to_dict()
        return config
