"""What the views accept: a record or a plain 2-D array turned into an AttentionRecord, and index checks."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..record import AttentionRecord, EncoderDecoderRecord


def as_record(value: Any, query_tokens: Sequence[str] | None = None, key_tokens: Sequence[str] | None = None, what: str = "view") -> AttentionRecord:
    """An AttentionRecord from a record or a plain 2-D [queries, keys] array, padding removed."""
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
        kind = "self" if np.allclose(np.asarray(matrix, dtype=np.float64).sum(-1), 1, atol=1e-3) else "spatial"
        # a 2-D array need not be a distribution (notebook 01 shows raw scores too): non-distributions
        # are kept as gates in [0, 1] if they fit, otherwise refused with the reason
        return AttentionRecord.from_matrix(matrix, query_tokens, key_tokens, kind=kind)
    raise TypeError(f"{what} takes an AttentionRecord (from capture()) or a 2-D numpy array; got {type(value).__name__}.")


def check_index(value: int, size: int, what: str) -> str | None:
    """A refusal message when value is not a valid index, else None."""
    if not 0 <= value < size:
        return f"{what} {value} is out of range: this record has {size} {what}s (0 to {size - 1})."
    return None

