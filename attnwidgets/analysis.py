"""Analyses that take an AttentionRecord: rollout across layers, per-head entropy, induction score,
previous/next-token heads, and where attention goes (shares of chosen keys, of the future)."""

from __future__ import annotations

import unicodedata
import warnings
from dataclasses import replace
from typing import Any

import numpy as np

from .record import AGGREGATES, AttentionRecord


def _square_self_attention(record: AttentionRecord, what: str) -> AttentionRecord:
    if not isinstance(record, AttentionRecord):
        raise TypeError(f"{what} takes an AttentionRecord (from capture()), got {type(record).__name__}.")
    record = record.without_padding()
    if record.kind not in ("self", "causal") or record.n_queries != record.n_keys:
        raise ValueError(f"{what} needs square self-attention (each layer reads the previous one's tokens); this record is {record.kind} with {record.n_queries} queries and {record.n_keys} keys.")
    return record


def rollout(record: AttentionRecord, aggregate: str = "mean", residual: float = 0.5) -> AttentionRecord:
    """Attention rollout (Abnar and Zuidema, 2020): how much each input token flows into each
    position after every layer, following the attention maps through the residual stream.

    Layer l of the result is  R_l = A'_l @ R_{l-1}  with  A'_l = residual * I + (1 - residual) * A_l,
    where A_l is the layer's heads combined into one map by ``aggregate`` ("mean" or "max", as in
    the views' ``aggregate``; rows renormalised). Returns a record with one head per layer;
    padding is left out.
    """
    record = _square_self_attention(record, "rollout")
    record.require_all_layers("rollout")
    if aggregate not in AGGREGATES:
        hint = " (a head index is not what rollout takes: it combines every head of a layer; pick the heads first with record.select(heads=[...]))" if isinstance(aggregate, (int, np.integer)) else ""
        raise ValueError(f"aggregate must be 'mean' or 'max' (how a layer's heads become one map), got {aggregate!r}{hint}.")
    if not 0.0 <= residual < 1.0:
        raise ValueError(f"residual must be in [0, 1), got {residual}.")
    n = record.n_queries
    eye = np.eye(n, dtype=np.float64)
    flow = eye
    out = np.empty((record.n_layers, 1, n, n), dtype=np.float32)
    for layer in range(record.n_layers):
        heads = record.weights[layer].astype(np.float64)
        a = heads.mean(axis=0) if aggregate == "mean" else heads.max(axis=0)
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
        meta={**record.meta, "analysis": "rollout", "aggregate": aggregate, "residual": residual},
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


def induction_score(record: AttentionRecord, period: int, start: int | None = None) -> np.ndarray:
    """Induction score of every head: [layers, heads], each in [0, 1].

    For a causal record over a sequence that repeats with period n (e.g. ``[BOS, x1..xn, x1..xn]``
    from ``attnwidgets.course.induction.repeated_tokens``), an induction head at a token of a later copy
    looks at the token right after that token's previous occurrence: query q attends to key
    q - n + 1. The score is the mean of that weight over every query of the later copies (the
    diagonal stripe of TransformerLens's induction score, taken over the second copy only).

    period: n, the length of one copy.
    start:  the position of the first copy's first token; default ``length - 2 * period``
            (so a BOS or any other prefix in front of two copies is skipped).
    A head that copies perfectly scores 1; on random tokens with nothing repeated the same
    stripe gets about 1 / (number of keys it could look at), which makes a useful control.
    """
    if not isinstance(record, AttentionRecord):
        raise TypeError(f"induction_score takes an AttentionRecord (from capture()), got {type(record).__name__}.")
    record = record.without_padding()
    if record.kind != "causal" or record.n_queries != record.n_keys:
        raise ValueError(f"induction_score needs causal self-attention (a decoder such as GPT-2 run on one sequence); this record is {record.kind} with {record.n_queries} queries and {record.n_keys} keys.")
    length = record.n_queries
    if isinstance(period, bool) or not isinstance(period, (int, np.integer)):
        raise TypeError(f"period must be an integer (the length of one copy), got {type(period).__name__} {period!r}.")
    period = int(period)
    if start is None:
        if not 1 <= period <= length // 2:
            raise ValueError(f"period {period} is out of range: a record of {length} tokens holds two copies of 1 to {length // 2} tokens.")
        start = length - 2 * period
    else:
        if isinstance(start, bool) or not isinstance(start, (int, np.integer)):
            raise TypeError(f"start must be an integer position, got {type(start).__name__} {start!r}.")
        start = int(start)
        if not 0 <= start < length:
            raise ValueError(f"start {start} is out of range: the record has positions 0 to {length - 1}.")
        if not 1 <= period <= (length - start) // 2:
            raise ValueError(f"period {period} is out of range: from position {start}, {length - start} tokens hold two copies of 1 to {(length - start) // 2} tokens.")
    queries = np.arange(start + period, length)
    tokens = record.query_tokens
    if any(tokens[q] != tokens[q - period] for q in queries):
        warnings.warn(f"the record's tokens do not repeat with period {period} from position {start}: the score still measures attention from q to q - {period} + 1 (a control), but there is nothing to copy there.", UserWarning, stacklevel=2)
    stripe = record.weights[:, :, queries, queries - period + 1]  # [layers, heads, queries]
    return stripe.astype(np.float64).mean(axis=-1)


def offset_score(record: AttentionRecord, offset: int) -> np.ndarray:
    """How much each head attends ``offset`` tokens away: [layers, heads], each in [0, 1].

    The mean, over every query that has such a key, of the weight from query q to key q + offset:
    offset -1 finds previous-token heads, +1 next-token heads (bidirectional models only).
    Padding is left out.
    """
    if not isinstance(record, AttentionRecord):
        raise TypeError(f"offset_score takes an AttentionRecord (from capture()), got {type(record).__name__}.")
    record = _square_self_attention(record, "offset_score")
    if isinstance(offset, bool) or not isinstance(offset, (int, np.integer)) or offset == 0:
        raise TypeError(f"offset must be a non-zero integer (-1 for the previous token, +1 for the next), got {offset!r}.")
    n = record.n_queries
    if abs(int(offset)) >= n:
        raise ValueError(f"offset {offset} is out of range for {n} tokens: use 1 to {n - 1} steps either way.")
    if record.kind == "causal" and offset > 0:
        raise ValueError("a causal record has no weight on later tokens: use a negative offset (e.g. -1 for previous-token heads).")
    queries = np.arange(max(0, -offset), min(n, n - offset))
    return record.weights[:, :, queries, queries + offset].astype(np.float64).mean(axis=-1)


# ---- where attention goes: shares of special tokens, punctuation, the future ------------------


def is_punctuation(token: str) -> bool:
    """True for a token made only of punctuation marks: ".", ",", "?", "'", "##." or GPT-2's "Ġ,".

    Unicode categories P* count (so quotes and dashes do); symbols such as "$" or "+" do not.
    """
    from .record import readable_token

    text = readable_token(str(token)).strip()
    if text.startswith("##") and len(text) > 2:  # a WordPiece continuation of a punctuation mark
        text = text[2:]
    return bool(text) and all(unicodedata.category(c).startswith("P") for c in text)


def key_mask(record: AttentionRecord, keys: Any) -> np.ndarray:
    """Which key positions ``keys`` selects, as booleans over the record's keys (padding included).

    keys: one flag per key (a boolean sequence), a token ("[SEP]": every key with that exact
          text), a collection of tokens, or a function token -> bool (e.g. ``is_punctuation``).
    """
    if not isinstance(record, AttentionRecord):
        raise TypeError(f"key_mask takes an AttentionRecord (from capture()), got {type(record).__name__}.")
    tokens = record.key_tokens
    if isinstance(keys, str):
        return np.array([t == keys for t in tokens], dtype=bool)
    if callable(keys):
        return np.array([bool(keys(t)) for t in tokens], dtype=bool)
    if isinstance(keys, np.ndarray) and keys.dtype != bool:
        raise TypeError(f"keys as an array must be booleans (one per key), got dtype {keys.dtype}.")
    keys = list(keys) if not isinstance(keys, np.ndarray) else keys
    if len(keys) and all(isinstance(k, (bool, np.bool_)) for k in keys):
        if len(keys) != record.n_keys:
            raise ValueError(f"keys has {len(keys)} flags but the record has {record.n_keys} keys: give one flag per key.")
        return np.asarray(keys, dtype=bool)
    if all(isinstance(k, str) for k in keys):
        wanted = set(keys)
        return np.array([t in wanted for t in tokens], dtype=bool)
    raise TypeError("keys must be a token, a collection of tokens, a function token -> bool, or one boolean per key.")


def _live(record: AttentionRecord, keys: Any, what: str) -> tuple[AttentionRecord, np.ndarray]:
    if not isinstance(record, AttentionRecord):
        raise TypeError(f"{what} takes an AttentionRecord (from capture()), got {type(record).__name__}.")
    if record.kind not in ("self", "causal", "cross"):
        raise ValueError(f"{what} is defined for attention distributions, not {record.kind} gates.")
    mask = key_mask(record, keys)[~np.asarray(record.key_padding)]  # padded keys are left out
    return record.without_padding(), mask


def attention_share(record: AttentionRecord, keys: Any) -> np.ndarray:
    """How much of each head's attention goes to the keys ``keys`` selects: [layers, heads], in [0, 1].

    For every query, the weight summed over the selected keys; then the mean over queries (padding
    left out). ``attention_share(record, "[SEP]").mean(axis=1)`` is the share per layer; compare it
    with ``uniform_share(record, "[SEP]")``, what attention spread evenly would give.
    """
    record, mask = _live(record, keys, "attention_share")
    return record.weights[..., mask].astype(np.float64).sum(axis=-1).mean(axis=-1)


def uniform_share(record: AttentionRecord, keys: Any) -> float:
    """The share the selected keys would get if every query spread its attention evenly over the
    keys it can see (all keys; for causal attention, the keys up to the query): a baseline for
    ``attention_share``."""
    record, mask = _live(record, keys, "uniform_share")
    if record.kind == "causal":
        n_q, n_k = record.n_queries, record.n_keys
        seen = record.positions + 1  # keys visible to each query
        return float(np.mean(np.cumsum(mask)[seen - 1] / seen))
    return float(mask.mean())


def future_share(record: AttentionRecord) -> np.ndarray:
    """How much of each head's attention goes to later tokens (keys after the query): [layers, heads].

    0 for a causal (GPT-style) model by construction; a bidirectional encoder such as BERT reads
    both ways. Queries are the last positions when there are fewer queries than keys.
    """
    record = _square_self_attention(record, "future_share")
    n = record.n_queries
    later = np.triu(np.ones((n, n), dtype=bool), k=1)
    return (record.weights * later).astype(np.float64).sum(axis=-1).mean(axis=-1)


def attention_distance(a: AttentionRecord, b: AttentionRecord) -> np.ndarray:
    """How different two records' attention is, head by head: [layers, heads], in [0, 1].

    The total-variation distance between matching rows (half the L1 distance: 0 for the same
    distribution, 1 for distributions on disjoint keys), averaged over queries. Both records need
    the same shape, e.g. a sentence and the same tokens in another order.
    """
    for r in (a, b):
        if not isinstance(r, AttentionRecord):
            raise TypeError(f"attention_distance takes two AttentionRecords, got {type(r).__name__}.")
    a, b = a.without_padding(), b.without_padding()
    if a.shape != b.shape:
        raise ValueError(f"attention_distance compares records of the same shape; got {a.shape} and {b.shape} (same model, same number of tokens).")
    if a.kind not in ("self", "causal", "cross") or b.kind not in ("self", "causal", "cross"):
        raise ValueError("attention_distance compares attention distributions (self, causal or cross), not gates.")
    return 0.5 * np.abs(a.weights.astype(np.float64) - b.weights).sum(axis=-1).mean(axis=-1)
