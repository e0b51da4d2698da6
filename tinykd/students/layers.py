"""Custom Keras layers of the student heads, each built from ops TFLM runs.

All are registered as `tinykd>Name`, so `keras.models.load_model` works after `import tinykd.students`.
Tensors are channels-last: feature maps are [batch, time, freq, channels].
"""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="tinykd")
class SoftmaxTimePool(keras.layers.Layer):
    """Wav2Small attention pooling: sum over time of values x softmax-over-time(scores).

    Inputs [values, scores], both [batch, time, freq, channels]; output [batch, freq, channels].
    Converts to SOFTMAX (with TRANSPOSEs around it, TFLite's softmax runs on the last axis), MUL and SUM.
    """

    def call(self, inputs):
        values, scores = inputs
        weights = ops.softmax(scores, axis=1)
        return ops.sum(values * weights, axis=1)

    def compute_output_shape(self, input_shapes):
        shape = input_shapes[0]
        return (shape[0],) + tuple(shape[2:])


@keras.saving.register_keras_serializable(package="tinykd")
class GramConcat(keras.layers.Layer):
    """[batch, freq, channels] -> [batch, freq*channels + channels*channels]: the pooled map, flattened,
    concatenated with its channel Gram matrix (x^T x, summed over frequency), as the released Wav2Small.

    Converts to TRANSPOSE, BATCH_MATMUL, RESHAPE and CONCATENATION.
    """

    def call(self, x):
        gram = ops.matmul(ops.transpose(x, (0, 2, 1)), x)
        batch = ops.shape(x)[0]
        return ops.concatenate([ops.reshape(x, (batch, -1)), ops.reshape(gram, (batch, -1))], axis=-1)

    def compute_output_shape(self, input_shape):
        _, freq, chans = input_shape
        return (input_shape[0], freq * chans + chans * chans)


@keras.saving.register_keras_serializable(package="tinykd")
class TimeMean(keras.layers.Layer):
    """Mean over time: [batch, time, freq, channels] -> [batch, freq, channels] (converts to MEAN)."""

    def call(self, x):
        return ops.mean(x, axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + tuple(input_shape[2:])
