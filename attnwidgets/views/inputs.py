"""What the views accept: a record or a plain 2-D array turned into an AttentionRecord, and index checks."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..record import AGGREGATES, AttentionRecord, EncoderDecoderRecord


def as_record(value: Any, query_tokens: Sequence[str] | None = None, key_tokens: Sequence[str] | None = None, what: str = "view", kind: str = "self") -> AttentionRecord:
    """An AttentionRecord from a record or a plain 2-D [queries, keys] array, padding removed.

    A plain array must be attention: every row non-negative and summing to 1 (``kind``, "self"
    or "cross", says which). Anything else (raw scores, zeros, gates) is refused with the way to
    get there, instead of being drawn as something it is not."""
    if isinstance(value, EncoderDecoderRecord):
        raise TypeError(f"{what} takes one AttentionRecord; this is an EncoderDecoderRecord: pass .encoder, .decoder or .cross (or use AlignmentView / explore()).")
    if isinstance(value, AttentionRecord):
        if query_tokens is not None or key_tokens is not None:
            raise TypeError(f"{what}: tokens come from the record; pass query_tokens/key_tokens only with a plain 2-D array.")
        return value.without_padding()
    if hasattr(value, "detach") or isinstance(value, (np.ndarray, list, tuple)):
        matrix = value.detach().float().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)
        if matrix.ndim != 2:
            raise ValueError(f"{what} takes an AttentionRecord or a 2-D [queries, keys] array; got an array of shape {matrix.shape}. For [layers, heads, q, k] build AttentionRecord(weights, tokens).")
        if not np.issubdtype(matrix.dtype, np.number) or matrix.dtype == np.bool_:
            raise TypeError(f"{what} takes a 2-D array of attention weights (numbers); got dtype {matrix.dtype}.")
        if (problem := not_attention(matrix)) is not None:
            raise ValueError(
                f"{what} draws attention weights, where every row is a distribution over the keys (non-negative, summing to 1); "
                f"this 2-D array is not: {problem}. If these are scores before the softmax, apply it over the keys first: "
                "torch.softmax(scores, dim=-1) or scipy.special.softmax(scores, axis=-1). If they are sigmoid gates in [0, 1] "
                "(CBAM, SE), say so with AttentionRecord.from_matrix(m, kind='spatial') and draw them with ImageAttention."
            )
        return AttentionRecord.from_matrix(matrix, query_tokens, key_tokens, kind=kind)
    raise TypeError(f"{what} takes an AttentionRecord (from capture()) or a 2-D numpy array; got {type(value).__name__}.")


def not_attention(matrix: np.ndarray, tolerance: float = 1e-3) -> str | None:
    """What keeps a [queries, keys] array from being attention rows, in words; None if nothing.
    NaN and infinity are left to AttentionRecord, which says where they are."""
    m = np.asarray(matrix, dtype=np.float64)
    if not np.isfinite(m).all() or m.size == 0:
        return None
    negative = np.flatnonzero((m < -1e-6).any(axis=-1))
    if negative.size:
        q = int(negative[0])
        return f"row {q} has negative values (minimum {m[q].min():.3g}), as raw scores do"
    sums = m.sum(axis=-1)
    off = np.flatnonzero(np.abs(sums - 1) > tolerance)
    if off.size:
        q = int(off[0])
        rows = "every row sums" if off.size == len(sums) else f"{off.size} of {len(sums)} rows sum"
        return f"{rows} to something other than 1 (row {q} sums to {sums[q]:.4g}{', all zeros' if not m[q].any() else ''})"
    return None


def check_aggregate(value: str) -> str | None:
    """A refusal message when value is not what a view's `aggregate` trait takes, else None."""
    if value != "" and value not in AGGREGATES:
        return f"aggregate must be '' (single heads), {' or '.join(repr(a) for a in AGGREGATES)}; got {value!r}."
    return None


def check_index(value: int, size: int, what: str) -> str | None:
    """A refusal message when value is not a valid index, else None."""
    if not 0 <= value < size:
        return f"{what} {value} is out of range: this record has {size} {what}s (0 to {size - 1})."
    return None

