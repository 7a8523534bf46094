"""Analyses that take an AttentionRecord: rollout across layers, per-head entropy."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .record import AttentionRecord


def _square_self_attention(record: AttentionRecord, what: str) -> AttentionRecord:
    if not isinstance(record, AttentionRecord):
        raise TypeError(f"{what} takes an AttentionRecord (from capture()), got {type(record).__name__}.")
    record = record.without_padding()
    if record.kind not in ("self", "causal") or record.n_queries != record.n_keys:
        raise ValueError(f"{what} needs square self-attention (each layer reads the previous one's tokens); this record is {record.kind} with {record.n_queries} queries and {record.n_keys} keys.")
    return record


def rollout(record: AttentionRecord, head: str = "mean", residual: float = 0.5) -> AttentionRecord:
    """Attention rollout (Abnar and Zuidema, 2020): how much each input token flows into each
    position after every layer, following the attention maps through the residual stream.

    Layer l of the result is  R_l = A'_l @ R_{l-1}  with  A'_l = residual * I + (1 - residual) * A_l,
    where A_l is the layer's heads combined by ``head`` ("mean" or "max", rows renormalised).
    Returns a record with one head per layer; padding is left out.
    """
    record = _square_self_attention(record, "rollout")
    if head not in ("mean", "max"):
        raise ValueError(f"head must be 'mean' or 'max', got {head!r}.")
    if not 0.0 <= residual < 1.0:
        raise ValueError(f"residual must be in [0, 1), got {residual}.")
    n = record.n_queries
    eye = np.eye(n, dtype=np.float64)
    flow = eye
    out = np.empty((record.n_layers, 1, n, n), dtype=np.float32)
    for layer in range(record.n_layers):
        heads = record.weights[layer].astype(np.float64)
        a = heads.mean(axis=0) if head == "mean" else heads.max(axis=0)
        a = a / a.sum(axis=-1, keepdims=True)
        a = residual * eye + (1.0 - residual) * a
        flow = a @ flow
        out[layer, 0] = flow
    return replace(
        record,
        weights=out,
        kv_heads=None,
        key_tokens=record.key_tokens,
        layer_names=tuple(f"rollout to {name}" for name in record.layer_names),
        meta={**record.meta, "analysis": "rollout", "head": head, "residual": residual},
    )


def entropy(record: AttentionRecord) -> np.ndarray:
    """Mean entropy (in bits) of each head's rows: [layers, heads]. Low means a head looks at
    few tokens (sharp); log2(n) means it spreads evenly over n tokens."""
    record = record.without_padding() if isinstance(record, AttentionRecord) else record
    if not isinstance(record, AttentionRecord):
        raise TypeError(f"entropy takes an AttentionRecord, got {type(record).__name__}.")
    if record.kind not in ("self", "causal", "cross"):
        raise ValueError(f"entropy is defined for attention distributions, not {record.kind} gates.")
    p = record.weights.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -np.where(p > 0, p * np.log2(p), 0.0).sum(axis=-1)
    return h.mean(axis=-1)
