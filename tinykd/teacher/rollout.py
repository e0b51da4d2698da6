"""Attention rollout (Abnar & Zuidema, 2020) reduced to one weight per teacher frame (numpy only).

Per layer: average the heads, add the identity (the residual path), row-normalise; multiply the layers
(R = A_L ... A_2 A_1, so R[i, j] is how much output frame i draws on input frame j). The temporal weight of
frame j is the mean attention it receives, mean_i R[i, j], normalised to sum 1: the 1-D target of temporal
attention distillation (ICASSP 2022, FIELD-NOTES).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tinykd.errors import TinykdError


def attention_rollout(attentions: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
    """Per-layer attentions, each [batch, heads, T, T] (rows = queries) -> rollout [batch, T, T] (float64)."""
    if len(attentions) == 0:
        raise TinykdError("attention rollout needs at least one layer of attention weights")
    rollout = None
    for layer, att in enumerate(attentions):
        a = np.asarray(att, dtype=np.float64)
        if a.ndim != 4 or a.shape[-1] != a.shape[-2]:
            raise TinykdError(f"attention rollout: layer {layer} has shape {a.shape}, expected [batch, heads, T, T]")
        a = a.mean(axis=1) + np.eye(a.shape[-1])
        a = a / a.sum(axis=-1, keepdims=True)
        rollout = a if rollout is None else a @ rollout
    return rollout


def temporal_weights(attentions: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
    """Per-layer attentions -> [batch, T] float32: mean attention each frame receives, each row sums to 1."""
    received = attention_rollout(attentions).mean(axis=1)
    return (received / received.sum(axis=-1, keepdims=True)).astype(np.float32)
