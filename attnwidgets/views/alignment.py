"""AlignmentView: target over source attention of a seq2seq model, revealed one decoding step at a time."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import traitlets as t

from ..record import AttentionRecord, EncoderDecoderRecord
from .inputs import as_record
from .heatmap import Heatmap


class AlignmentView(Heatmap):
    """Cross-attention of an encoder-decoder (or any seq2seq model): target rows over source columns.

    >>> AlignmentView(capture(...))                 # an EncoderDecoderRecord: its .cross part
    >>> AlignmentView(weights, query_tokens=tgt, key_tokens=src)   # notebook 02's [T, S] array

    As everywhere in the package, queries are the rows and keys the columns: here the queries are
    the target tokens (what the decoder writes) and the keys the source tokens (what it reads).

    ``step`` is how many target tokens are decoded so far: the rows after it are hidden and
    the source tokens are shaded by the attention of the last decoded token. Everything of
    Heatmap (layer, head, aggregate, zoom, ...) applies.
    """

    _js_file = "alignment.js"

    step = t.Int(1, help="target tokens revealed so far (0..number of target tokens); the last one is being decoded").tag(sync=True)

    def __init__(self, record: Any, query_tokens: Sequence[str] | None = None, key_tokens: Sequence[str] | None = None, **kwargs: Any) -> None:
        if "source_tokens" in kwargs or "target_tokens" in kwargs:
            raise TypeError("AlignmentView names its tokens as every view does: query_tokens= (the target tokens: rows) and key_tokens= (the source tokens: columns).")
        if isinstance(record, EncoderDecoderRecord):
            record = record.cross
        if not isinstance(record, AttentionRecord):
            matrix = np.asarray(record.detach().float().cpu().numpy() if hasattr(record, "detach") else record)
            if matrix.ndim != 2:
                raise ValueError(f"AlignmentView takes an EncoderDecoderRecord, a cross-attention AttentionRecord or a 2-D [target, source] array; got shape {matrix.shape}.")
            if query_tokens is None or key_tokens is None:
                raise TypeError("AlignmentView of a plain array needs query_tokens (the target tokens: rows) and key_tokens (the source tokens: columns).")
            record = as_record(matrix, list(query_tokens), list(key_tokens), what="AlignmentView", kind="cross")
        else:
            record = as_record(record, query_tokens, key_tokens, what="AlignmentView")
        if record.kind not in ("cross", "self", "causal"):
            raise ValueError(f"AlignmentView shows token-to-token attention; this record is {record.kind}.")
        kwargs.setdefault("step", record.n_queries)
        super().__init__(record, **kwargs)

    def _accept(self, record: Any) -> AttentionRecord:
        record = record.cross if isinstance(record, EncoderDecoderRecord) else record
        record = as_record(record, what="AlignmentView")
        if record.kind not in ("cross", "self", "causal"):
            raise ValueError(f"AlignmentView shows token-to-token attention; this record is {record.kind}.")
        return record

    @t.validate("step")
    def _valid_step(self, proposal: Any) -> int:
        n = self._record.n_queries
        if not 0 <= proposal["value"] <= n:
            self._refuse(f"step {proposal['value']} is out of range: there are {n} target tokens (0 to {n}).")
        return proposal["value"]

    def fallback_png(self) -> bytes:
        from .picture import matrix_png

        return matrix_png(self.matrix(), self._record.query_tokens, self._record.key_tokens, self.colors, vmax=self.vmax or None,
                          title=self.title or f"{self.shown_name()}, step {self.step}", reveal=self.step, pinned=self.pinned)

    def to_figure(self) -> Any:
        from .. import plot

        return plot.alignment(
            self.matrix(), self._record.query_tokens, self._record.key_tokens, step=self.step, colormap=self.colormap,
            title=self.title or f"{self.shown_name()}, step {self.step}",
        )
