"""The student network counted analytically, layer by layer, without TensorFlow.

`layer_plan` lists every layer with its output shape, parameters, MACs and the activation elements live
while it runs. `describe` (tinykd.students.describe) and `tinykd models` are built on it, and the tests check
its parameter counts against the Keras model.

Counting rules: a MAC is one multiply(-accumulate); elementwise multiplies count one each, additions,
comparisons (ReLU, max-pool, MAXIMUM) and the LOG itself count none. Batch norm folds into the conv at
export (no MACs; its scale and shift become the conv bias). Live elements of a layer are its inputs plus
its outputs (and, in the Gram head, the branches still waiting); a real arena adds alignment and TFLM's
own bookkeeping, which is why the arena is also measured (tinykd.students.tflm_arena).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tinykd.errors import TinykdError
from tinykd.frontend.spec import FrontEndSpec
from tinykd.students.config import StudentConfig


@dataclass(frozen=True)
class PlannedLayer:
    name: str
    stage: str  # "frontend" or "body"
    out_shape: tuple[int, ...]  # without the batch axis
    params: int  # trainable
    params_frozen: int  # non-trainable (batch-norm statistics; front-end constants are not counted)
    macs: int
    live: int  # activation elements live while the layer runs
    weights: int = 0  # constant kernel elements (int8 after quantization in the body)
    biases_int32: int = 0  # elements stored as int32 (biases, folded batch norm)


def pooled(n: int, stride: int) -> int:
    """Output length of a "same"-padded pool."""
    return math.ceil(n / stride)


def _prod(shape) -> int:
    return int(math.prod(shape))


def feature_shape(config: StudentConfig, clip_samples: int, spec: FrontEndSpec | None = None) -> tuple[int, int, int]:
    """Shape [time, freq, channels] of the `features` map (the last block's output, before any pooling)."""
    spec = spec or config.spec()
    frames = spec.n_frames(clip_samples)
    if frames < 1:
        raise TinykdError(
            f"student {config.name!r}: a clip of {clip_samples} samples is shorter than one front-end window "
            f"({spec.win_length} samples); use longer clips or a shorter window"
        )
    t, f = frames, spec.n_mels
    for _ in (block for block in config.pool_blocks if block < config.depth):
        t, f = pooled(t, config.pool_stride), pooled(f, config.pool_stride)
    return t, f, config.block_channels[-1]


def layer_plan(
    config: StudentConfig, n_classes: int, clip_samples: int, spec: FrontEndSpec | None = None
) -> list[PlannedLayer]:
    spec = spec or config.spec()
    feature_shape(config, clip_samples, spec)
    n = clip_samples
    frames, mels = spec.n_frames(n), spec.n_mels
    plan: list[PlannedLayer] = []

    # -- front end (constants frozen, no trainable parameters) -------------------------------------
    if spec.kind == "signal":
        plan.append(signal_frontend_layer(spec, frames))
    else:
        plan.extend(_logmel_layers(spec, n, frames))
    _body_layers(plan, config, n_classes, frames, mels)
    return plan


def signal_frontend_layer(spec: FrontEndSpec, frames: int) -> PlannedLayer:
    """The Signal front end, run once per hop on int16 PCM: its integer multiplies (tinykd.frontend.
    signal_tables.hop_operation_counts) for `frames` hops, and as `live` the BYTES one hop holds at once (the
    window in and out, the 16-bit spectrum, the 32-bit energies), which is what its TFLM arena head measures."""
    from tinykd.frontend.signal_tables import hop_operation_counts

    live_bytes = 2 * 2 * spec.win_length + 2 * (spec.n_fft + 2) + 4 * spec.n_bins
    return PlannedLayer("signal_frontend", "frontend", (frames, spec.n_mels), 0, 0,
                        frames * hop_operation_counts(spec)["total muls"], live_bytes)


def _logmel_layers(spec: FrontEndSpec, n: int, frames: int) -> list[PlannedLayer]:
    bins2, mels = 2 * spec.n_bins, spec.n_mels
    plan: list[PlannedLayer] = []
    if spec.normalize == "utterance":
        # x*x accumulated for the variance, then one multiply by rsqrt(var + eps) per sample.
        plan.append(PlannedLayer("normalise", "frontend", (n,), 0, 0, 2 * n, 2 * n))
    spec_shape = (frames, bins2)
    plan.append(
        PlannedLayer("dft", "frontend", spec_shape, 0, 0, frames * spec.win_length * bins2, n + _prod(spec_shape),
                     weights=spec.win_length * bins2)
    )
    # re*re + im*im: two multiplies per bin, then the mel bank on the n_bins powers.
    power_shape = (frames, spec.n_bins)
    plan.append(PlannedLayer("power", "frontend", power_shape, 0, 0, _prod(spec_shape), _prod(spec_shape) + _prod(power_shape)))
    plan.append(
        PlannedLayer("mel", "frontend", (frames, mels), 0, 0, frames * spec.n_bins * mels,
                     _prod(power_shape) + frames * mels, weights=spec.n_bins * mels)
    )
    plan.append(PlannedLayer("log", "frontend", (frames, mels), 0, 0, frames * mels, 2 * frames * mels))
    return plan


def _body_layers(plan: list[PlannedLayer], config: StudentConfig, n_classes: int, frames: int, mels: int) -> None:
    t, f, c_in = frames, mels, 1
    k2 = config.kernel_size**2
    for i, c in enumerate(config.block_channels, start=1):
        name = "features" if i == config.depth else f"block{i}"
        kernel = k2 * c_in * c
        plan.append(
            PlannedLayer(name, "body", (t, f, c), kernel + 2 * c, 2 * c, t * f * c * k2 * c_in, t * f * (c_in + c),
                         weights=kernel, biases_int32=c)
        )
        c_in = c
        if i in config.pool_blocks:
            tp, fp = pooled(t, config.pool_stride), pooled(f, config.pool_stride)
            plan.append(PlannedLayer(f"pool_after_{i}", "body", (tp, fp, c), 0, 0, 0, t * f * c + tp * fp * c))
            t, f = tp, fp

    c = c_in
    fmap = t * f * c
    if config.head == "attention_gram":
        one_by_one = c * c
        plan.append(PlannedLayer("head_values", "body", (t, f, c), one_by_one + c, 0, fmap * c, 2 * fmap,
                                 weights=one_by_one, biases_int32=c))
        plan.append(PlannedLayer("head_scores", "body", (t, f, c), one_by_one + c, 0, fmap * c, 3 * fmap,
                                 weights=one_by_one, biases_int32=c))
        # softmax weights (one exp-and-scale per element), values x weights, sum over time
        plan.append(PlannedLayer("attention_pool", "body", (f, c), 0, 0, 2 * fmap, 3 * fmap + f * c))
        head_out = f * c + c * c
        plan.append(PlannedLayer("gram_concat", "body", (head_out,), 0, 0, f * c * c, f * c + c * c + head_out))
    else:
        head_out = f * c
        plan.append(PlannedLayer("time_mean", "body", (f, c), 0, 0, fmap, fmap + head_out))
    plan.append(
        PlannedLayer("logits", "body", (n_classes,), head_out * n_classes + n_classes, 0, head_out * n_classes,
                     head_out + n_classes, weights=head_out * n_classes, biases_int32=n_classes)
    )
