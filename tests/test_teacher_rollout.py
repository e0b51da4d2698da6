"""Attention rollout and the cache's frame interpolation, on hand-made numbers (numpy only, no torch)."""

from __future__ import annotations

import numpy as np
import pytest

from tinykd.errors import TinykdError
from tinykd.teacher.cache import resample_weights
from tinykd.teacher.rollout import attention_rollout, temporal_weights

pytestmark = pytest.mark.teacher


def hand_stack() -> list[np.ndarray]:
    """Two layers over 2 frames, worked out by hand below."""
    layer1 = np.array([[[[1.0, 0.0], [1.0, 0.0]], [[0.0, 1.0], [0.0, 1.0]]]])  # 2 heads: all->frame 0, all->frame 1
    layer2 = np.array([[[[1.0, 0.0], [1.0, 0.0]]]])  # 1 head: all->frame 0
    return [layer1, layer2]


def test_rollout_matches_hand_computation():
    # layer 1: head mean [[.5,.5],[.5,.5]] + I -> [[1.5,.5],[.5,1.5]] / 2 = [[.75,.25],[.25,.75]]
    # layer 2: [[1,0],[1,0]] + I -> [[2,0],[1,1]] -> [[1,0],[.5,.5]]
    # rollout = layer2 @ layer1 = [[.75,.25],[.5,.5]]; mean received per frame: [.625, .375]
    np.testing.assert_allclose(attention_rollout(hand_stack())[0], [[0.75, 0.25], [0.5, 0.5]], atol=1e-12)
    np.testing.assert_allclose(temporal_weights(hand_stack())[0], [0.625, 0.375], atol=1e-7)


def test_rollout_layer_order_matters():
    # The reversed product (layer1 @ layer2) gives [.75, .25]: the test above pins the order.
    reversed_stack = hand_stack()[::-1]
    assert not np.allclose(temporal_weights(reversed_stack)[0], [0.625, 0.375])


def test_uniform_attention_gives_uniform_weights_and_rows_sum_to_one():
    rng = np.random.default_rng(0)
    uniform = [np.full((3, 4, 5, 5), 0.2)] * 3
    np.testing.assert_allclose(temporal_weights(uniform), np.full((3, 5), 0.2), atol=1e-7)
    raw = [rng.random((2, 4, 7, 7)) for _ in range(4)]
    stack = [a / a.sum(-1, keepdims=True) for a in raw]
    w = temporal_weights(stack)
    assert w.shape == (2, 7) and w.dtype == np.float32
    np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-6)
    # Each batch item is rolled out on its own.
    np.testing.assert_allclose(temporal_weights([a[1:] for a in stack])[0], w[1], atol=1e-7)


def test_rollout_rejects_bad_shapes():
    with pytest.raises(TinykdError, match="expected \\[batch, heads, T, T\\]"):
        temporal_weights([np.ones((2, 3, 4))])
    with pytest.raises(TinykdError, match="at least one layer"):
        temporal_weights([])


def test_resample_weights_linear_interpolation():
    # Frame centres of 2 source frames sit at .25 and .75; 4 target centres at .125, .375, .625, .875.
    w = resample_weights(np.array([[0.25, 0.75]]), 4)
    expected = np.array([0.25, 0.375, 0.625, 0.75])  # clamped at the ends, linear between
    np.testing.assert_allclose(w[0], expected / expected.sum(), atol=1e-7)
    same = resample_weights(np.array([[0.1, 0.2, 0.7]]), 3)
    np.testing.assert_allclose(same[0], [0.1, 0.2, 0.7], atol=1e-7)
    down = resample_weights(np.random.default_rng(1).dirichlet(np.ones(49), size=5), 15)
    assert down.shape == (5, 15)
    np.testing.assert_allclose(down.sum(axis=1), 1.0, atol=1e-6)
