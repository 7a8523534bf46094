"""TokenView: what every token-to-token view shares (layer, aggregate, rollout, pinned token, cached pooled matrices)."""

from __future__ import annotations

from typing import Any

import numpy as np
import traitlets as t

from ..drawing import ROLLOUT_MAX_TOKENS
from ..record import AGGREGATES, AttentionRecord, readable_token
from ..transport import max_pool
from .base import AttentionView
from .inputs import as_record, check_aggregate, check_index

# Pooled/aggregated matrices kept in the kernel so revisiting a head costs only the send.
CACHE_BYTES = 96_000_000
# What the views' `aggregate` trait takes: "" for a single head (the `head` trait), or one of the
# record's aggregates over the layer's heads.
SINGLE_HEAD = ""
AGGREGATE_CHOICES = (SINGLE_HEAD, *AGGREGATES)


class TokenView(AttentionView):
    """What every token-to-token view shares (Heatmap, AlignmentView, HeadView, ModelView).

    The traits below are the views' common vocabulary, so ``link_views`` (or ``ipywidgets.link``)
    keeps several views on the same selection: ``layer``, ``aggregate`` (mean/max over heads),
    ``rollout`` (attention rollout across layers, encoders only) and ``pinned`` (a query token
    that stays highlighted). Subclasses set ``self._record`` before calling ``__init__``.
    """

    layer = t.Int(0, help="layer index (with `rollout`: the rollout through this layer)").tag(sync=True)
    aggregate = t.Unicode(SINGLE_HEAD, help="'' shows single heads; 'mean' or 'max' shows that aggregate over the layer's heads").tag(sync=True)
    rollout = t.Bool(False, help="show attention rollout through `layer` (Abnar & Zuidema 2020, from attnwidgets.analysis); encoders only").tag(sync=True)
    pinned = t.Int(None, allow_none=True, help="pinned query token (stays highlighted); None when nothing is pinned; click a token or press Esc to unpin").tag(sync=True)

    query_tokens = t.List(t.Unicode(), help="query (row / left) labels (read-only)").tag(sync=True)
    key_tokens = t.List(t.Unicode(), help="key (column / right) labels (read-only)").tag(sync=True)
    layer_names = t.List(t.Unicode(), help="one name per layer (read-only)").tag(sync=True)
    n_heads = t.Int(1, help="heads per layer (read-only)").tag(sync=True)
    kind = t.Unicode("self", help="self, causal or cross (read-only)").tag(sync=True)
    can_rollout = t.Bool(False, help="whether `rollout` is offered: square self-attention of at most ROLLOUT_MAX_TOKENS tokens (read-only)").tag(sync=True)

    def _token_traits(self, rec: AttentionRecord) -> dict:
        """The read-only traits that describe a record, for the subclass's super().__init__."""
        return {
            # readable labels: byte-level BPE's "Ġquick" is drawn " quick", SentencePiece's "▁the" " the"
            "query_tokens": [readable_token(t) for t in rec.query_tokens], "key_tokens": [readable_token(t) for t in rec.key_tokens],
            "layer_names": list(rec.layer_names),
            "n_heads": rec.n_heads, "kind": rec.kind, "can_rollout": self._rollout_refusal(rec) is None,
        }

    @property
    def record(self) -> AttentionRecord:
        """The record shown (padding removed); it stays in the kernel."""
        return self._record

    def _accept(self, record: Any) -> AttentionRecord:
        """Turn what show() was given into the record this view draws (subclasses convert more)."""
        return as_record(record, what=type(self).__name__)

    def show(self, record: Any) -> None:
        """Show another record in this same view (a student's own sentence, the next image, ...).

        The widget, its links and its place in the page stay. Layer, head and pinned token are kept
        when they exist in the new record, else reset; a view with a decoding ``step`` shows every step.
        A record this view cannot draw raises (and says why in the widget), leaving the old one shown.
        """
        try:
            new = self._accept(record)
        except (TypeError, ValueError) as err:
            self.error = str(err)
            raise
        old_heads = self._record.n_heads
        self._ready = False  # one push at the end, not one per trait
        try:
            self._record = new
            self.__dict__.pop("_matrix_cache", None)
            self._rollout = None
            for name, trait in self._token_traits(new).items():
                setattr(self, name, trait)
            if self.layer >= new.n_layers:
                self.layer = 0
            if self.has_trait("head") and self.head >= new.n_heads:
                self.head = 0
            if self.has_trait("heads") and (any(h >= new.n_heads for h in self.heads) or len(self.heads) == old_heads):
                self.heads = list(range(new.n_heads))  # all heads shown stays all heads shown
            if self.pinned is not None and self.pinned >= new.n_queries:
                self.pinned = None
            if self.rollout and self._rollout_refusal(new):
                self.rollout = False
            if self.has_trait("window"):
                self.window = []
            if self.has_trait("step"):
                self.step = new.n_queries
            self.error = ""
        finally:
            self._ready = True
        self._safely(self._push)

    # ---- validation ----------------------------------------------------------------------------

    @staticmethod
    def _rollout_refusal(rec: AttentionRecord) -> str | None:
        if rec.kind != "self" or rec.n_queries != rec.n_keys:
            return f"rollout follows attention through the layers of an encoder (square self-attention); this record is {rec.kind} with {rec.n_queries} queries and {rec.n_keys} keys."
        if rec.n_queries > ROLLOUT_MAX_TOKENS:
            return f"rollout of {rec.n_queries} tokens multiplies {rec.n_queries}x{rec.n_queries} matrices per layer (seconds and GBs each); views offer it up to {ROLLOUT_MAX_TOKENS} tokens. Call attnwidgets.analysis.rollout(record) yourself to wait for it."
        return None

    @t.validate("layer")
    def _valid_layer(self, proposal: Any) -> int:
        if msg := check_index(proposal["value"], self._record.n_layers, "layer"):
            self._refuse(msg)
        return proposal["value"]

    @t.validate("head")
    def _valid_head(self, proposal: Any) -> int:
        if msg := check_index(proposal["value"], self._record.n_heads, "head"):
            self._refuse(msg)
        return proposal["value"]

    @t.validate("aggregate")
    def _valid_aggregate(self, proposal: Any) -> str:
        if msg := check_aggregate(proposal["value"]):
            self._refuse(msg)
        return proposal["value"]

    @t.validate("rollout")
    def _valid_rollout(self, proposal: Any) -> bool:
        if proposal["value"] and (msg := self._rollout_refusal(self._record)):
            self._refuse(msg)
        return proposal["value"]

    @t.validate("pinned")
    def _valid_pinned(self, proposal: Any) -> int | None:
        value = proposal["value"]
        if value is not None and (msg := check_index(value, self._record.n_queries, "query token")):
            self._refuse(msg + " Use None to unpin.")
        return value

    # ---- what is shown ---------------------------------------------------------------------------

    def shown_key(self) -> str:
        """What the head control shows: 'rollout', 'mean', 'max' or a head index as text."""
        if self.rollout:
            return "rollout"
        return self.aggregate or str(getattr(self, "head", 0))

    def shown_name(self) -> str:
        """A caption for the current selection, e.g. 'layer.2, head 5' or 'rollout to layer.2'."""
        name = self._record.layer_names[self.layer]
        key = self.shown_key()
        if key == "rollout":
            return f"rollout to {name}"
        return f"{name}, {key + ' of heads' if key in AGGREGATES else 'head ' + key}"

    def rollout_record(self) -> AttentionRecord:
        """attnwidgets.analysis.rollout of the record, computed once (then cached) when first shown."""
        if getattr(self, "_rollout", None) is None:
            from ..analysis import rollout

            if msg := self._rollout_refusal(self._record):
                raise ValueError(msg)
            self._rollout = rollout(self._record)
        return self._rollout

    def full_matrix(self, layer: int, key: str) -> np.ndarray:
        """The [queries, keys] matrix of a layer and key ('0'.., 'mean', 'max', 'rollout'); aggregates cached."""
        if key == "rollout":
            return self.rollout_record().weights[layer, 0]
        if key in AGGREGATES:
            return self._cached(("full", layer, key), lambda: self._record.matrix(layer, aggregate=key))
        return self._record.weights[layer, int(key)]

    def pooled(self, layer: int, key: str, region: tuple[int, int, int, int], row_starts: np.ndarray | None, col_starts: np.ndarray | None) -> np.ndarray:
        """The matrix cut to region and max-pooled into the given bins, cached in the kernel."""
        q0, q1, k0, k1 = region
        if row_starts is None and col_starts is None and (q1 - q0) * (k1 - k0) <= 1_000_000:
            return self.full_matrix(layer, key)[q0:q1, k0:k1]  # small: a slice costs nothing
        return self._cached(("pooled", layer, key, tuple(region), None if row_starts is None else len(row_starts), None if col_starts is None else len(col_starts)),
                            lambda: np.ascontiguousarray(max_pool(self.full_matrix(layer, key)[q0:q1, k0:k1], row_starts, col_starts, (q0, k0))))

    def _cached(self, key: tuple, make: Any) -> np.ndarray:
        cache = self.__dict__.setdefault("_matrix_cache", {})
        if key in cache:
            cache[key] = cache.pop(key)  # most recently used last
            return cache[key]
        value = make()
        cache[key] = value
        while sum(v.nbytes for v in cache.values()) > CACHE_BYTES and len(cache) > 1:
            cache.pop(next(iter(cache)))
        return value

