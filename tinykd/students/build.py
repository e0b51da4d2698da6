"""`build_student`: a Keras functional model, waveform in, logits out, front end inside.

Layer names are part of the contract: `frontend` (LogMelFrontEnd for a kind="logmel" spec, SignalFrontEnd for
kind="signal": its int8 feature codes as float32), `block{i}_conv/_bn/_relu`, `pool`,
`pool`, `pool2`, ... (max-pools), `features` (the ReLU of the last block: the last feature map before pooling,
[batch, time', freq', channels], where temporal attention distillation attaches), then the head and `logits`.
Dropout (when the config has it) follows the first pool and precedes the head, as the reference Wav2Tiny.
"""

from __future__ import annotations

import os

from tinykd.errors import TinykdError
from tinykd.frontend.spec import FrontEndSpec
from tinykd.students.config import StudentConfig, load_student_config
from tinykd.students.plan import feature_shape


def build_student(
    preset: "str | os.PathLike | StudentConfig",
    n_classes: int,
    clip_samples: int,
    spec: FrontEndSpec | None = None,
):
    """Build a student: input float32 waveform [batch, clip_samples] -> logits [batch, n_classes].

    `preset` is a preset name from `models/`, a path to a preset JSON file, or a `StudentConfig`. `spec`
    replaces the preset's front end (e.g. the spec the data was prepared with); by default the preset's own.
    """
    import keras

    from tinykd.frontend.keras_layer import LogMelFrontEnd
    from tinykd.frontend.signal_keras import SignalFrontEnd
    from tinykd.students.layers import GramConcat, SoftmaxTimePool, TimeMean

    config = load_student_config(preset)
    if spec is not None:
        config = config.with_spec(spec)
    spec = config.spec()
    if not isinstance(n_classes, int) or isinstance(n_classes, bool) or n_classes < 2:
        raise TinykdError(f"student {config.name!r}: n_classes must be an integer >= 2, got {n_classes!r}")
    feature_shape(config, clip_samples)  # raises a TinykdError when the clip is too short for the network

    waveform = keras.Input(shape=(clip_samples,), dtype="float32", name="waveform")
    front_end = SignalFrontEnd if spec.kind == "signal" else LogMelFrontEnd
    x = front_end(spec, name="frontend")(waveform)
    x = keras.layers.Reshape((spec.n_frames(clip_samples), spec.n_mels, 1), name="add_channel")(x)
    for i, width in enumerate(config.block_channels, start=1):
        last = i == config.depth
        x = keras.layers.Conv2D(
            width, config.kernel_size, padding="same", use_bias=False, name=f"block{i}_conv"
        )(x)
        x = keras.layers.BatchNormalization(name=f"block{i}_bn")(x)
        x = keras.layers.ReLU(name="features" if last else f"block{i}_relu")(x)
        if i in config.pool_blocks:
            n = config.pool_blocks.index(i) + 1
            suffix = "" if n == 1 else str(n)
            x = keras.layers.MaxPooling2D(
                config.pool_size, strides=config.pool_stride, padding="same", name=f"pool{suffix}"
            )(x)
            if config.dropout > 0 and n == 1:
                x = keras.layers.Dropout(config.dropout, name="pool_dropout")(x)
    if config.dropout > 0 and config.depth not in config.pool_blocks[:1]:
        x = keras.layers.Dropout(config.dropout, name="head_dropout")(x)

    width = config.block_channels[-1]
    if config.head == "attention_gram":
        values = keras.layers.Conv2D(width, 1, name="head_values")(x)
        scores = keras.layers.Conv2D(width, 1, name="head_scores")(x)
        pooled = SoftmaxTimePool(name="attention_pool")([values, scores])
        x = GramConcat(name="gram_concat")(pooled)
    else:
        pooled = TimeMean(name="time_mean")(x)
        x = keras.layers.Flatten(name="flatten")(pooled)
    logits = keras.layers.Dense(n_classes, name="logits")(x)
    return keras.Model(waveform, logits, name=config.name.replace("-", "_"))



def trainable_params(model) -> int:
    """Learned parameters, the one count every report quotes (BatchNorm's moving statistics and the front end's
    frozen constants are not learned, so not counted; Keras' count_params() includes the former)."""
    import numpy as np

    return int(sum(int(np.prod(w.shape)) for w in model.trainable_weights))
