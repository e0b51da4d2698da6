"""The log-mel front end as a Keras layer that lives inside the student models.

It is built only from ops TensorFlow Lite Micro runs: the windowed DFT is a frozen 1-D convolution (TFLM has
no RFFT), the power spectrum a MUL, the mel bank a matmul with constant weights, then MAXIMUM and LOG. LOG has
no int8 kernel in TFLM, so the quantizer keeps the front end float (see docs/quantize.md).

Its constants are rebuilt from the `FrontEndSpec` in the layer config, so a saved model carries the spec,
not a copy of the matrices that could drift from it.
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

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
        self.spec = spec

    def build(self, input_shape):
        spec = self.spec
        # [1, win_length, in_channels=1, 2*n_bins]: real parts then imaginary parts. A 2-D convolution
        # over a [batch, 1, samples, 1] image converts to one CONV_2D with static shapes (a 1-D conv
        # brings shape-computing ops TFLM lacks, such as REDUCE_PROD).
        kernel = dft_kernels(spec)[None, :, None, :].astype(np.float32)
        # Mel bank applied to [re^2, im^2] at once: |X|^2 @ M == re^2 @ M + im^2 @ M.
        mel = mel_matrix(spec)
        mel_stacked = np.concatenate([mel, mel], axis=0).astype(np.float32)
        self.dft_kernel = self.add_weight(
            name="dft_kernel", shape=kernel.shape, initializer=keras.initializers.Constant(kernel), trainable=False
        )
        self.mel_weights = self.add_weight(
            name="mel_weights",
            shape=mel_stacked.shape,
            initializer=keras.initializers.Constant(mel_stacked),
            trainable=False,
        )
        super().build(input_shape)

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
        spectrum = ops.conv(x, self.dft_kernel, strides=(1, spec.hop_length), padding="valid")
        power = spectrum * spectrum
        # Flatten to 2-D so the matmul converts to one FULLY_CONNECTED; a 3-D x 2-D matmul brings
        # dynamic-shape ops (SHAPE, GATHER, REDUCE_PROD) that TFLM does not have.
        power = ops.reshape(power, (-1, 2 * spec.n_bins))
        mel = ops.reshape(ops.matmul(power, self.mel_weights), (-1, n_frames, spec.n_mels))
        return ops.log(ops.maximum(mel, spec.log_floor)) * _DB_PER_LN

    def compute_output_shape(self, input_shape):
        n = input_shape[-1]
        frames = None if n is None else self.spec.n_frames(int(n))
        return (input_shape[0], frames, self.spec.n_mels)

    def get_config(self):
        config = super().get_config()
        config["spec"] = self.spec.to_dict()
        return config
