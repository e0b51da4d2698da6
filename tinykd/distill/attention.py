"""The training-only student attention module for temporal attention distillation.

It reads the student's last feature map before pooling (the layer named `features`, shape
[batch, time, ..., channels]), scores every time step with one linear map over the remaining axes (a 1x1
convolution over frequency x channels) and returns logits over time; softmax of these is the student's
temporal attention, compared with the teacher's rollout attention interpolated to the same number of frames.
It is a separate Keras model: it never becomes part of the saved or exported student.
"""

from __future__ import annotations

import math

import keras

from tinykd.errors import TinykdError

FEATURES_LAYER = "features"


def features_output(student: keras.Model):
    """The output tensor of the student's `features` layer (the contract with tinykd.students)."""
    try:
        layer = student.get_layer(FEATURES_LAYER)
    except ValueError:
        raise TinykdError(
            f"student model {student.name!r} has no layer named '{FEATURES_LAYER}'; temporal attention "
            "distillation needs the last feature map before pooling under that name"
        ) from None
    return layer.output


def feature_frames(student: keras.Model) -> int:
    """Number of time steps in the `features` map (what the teacher attention is interpolated to)."""
    shape = features_output(student).shape
    if len(shape) < 3 or shape[1] is None:
        raise TinykdError(f"'{FEATURES_LAYER}' output must be [batch, time, ..., channels] with a fixed time axis, got {shape}")
    return int(shape[1])


def build_attention_head(feature_shape, seed: int = 0) -> keras.Model:
    """[batch, time, ..., channels] -> attention logits [batch, time]."""
    time = feature_shape[1]
    rest = int(math.prod(int(d) for d in feature_shape[2:]))
    inp = keras.Input(shape=tuple(feature_shape[1:]), name="student_features")
    x = keras.layers.Reshape((time, rest))(inp)
    x = keras.layers.Dense(1, kernel_initializer=keras.initializers.GlorotUniform(seed=seed), name="attention_score")(x)
    out = keras.layers.Reshape((time,))(x)
    return keras.Model(inp, out, name="training_only_attention_head")
