"""Heatmap: one attention matrix, token labels on both axes, hover value, zoom and pan."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import traitlets as t

from .base import MAX_RESOLUTION, PREFETCH_BYTES, AttentionView, as_record, bin_starts, check_index, float16_bytes, max_pool

AGGREGATES = ("", "mean", "max")


class Heatmap(AttentionView):
    """One [queries, keys] attention matrix of a record (or a plain 2-D array with labels).

    >>> Heatmap(record, layer=3, head=5)
    >>> Heatmap(weights_2d, query_tokens=["a", "b"], key_tokens=["x", "y", "z"])

    The browser gets the selected head plus as many other heads of the same layer as fit
    ``prefetch_bytes`` in one float16 buffer, so most head switches need no round trip.
    Above ``max_resolution`` tokens the matrix is max-pooled; zooming in asks for the
    zoomed window at full detail.
    """

    _js_file = "heatmap.js"

    layer = t.Int(0, help="layer index").tag(sync=True)
    head = t.Int(0, help="head index (ignored while `aggregate` is set)").tag(sync=True)
    aggregate = t.Unicode("", help="'' shows `head`; 'mean' or 'max' shows that aggregate over the layer's heads").tag(sync=True)
    token = t.Int(-1, help="pinned query token (a highlighted row); -1 for none; click a row to pin/unpin").tag(sync=True)
    threshold = t.Float(0.0, help="values below this draw as the lowest colour").tag(sync=True)
    vmax = t.Float(0.0, help="value at the top of the colour scale; 0 = the shown matrix's maximum").tag(sync=True)
    window = t.List(t.Int(), [], help="[q0, q1, k0, k1] token window sent in detail when the matrix is pooled; [] = all").tag(sync=True)
    max_resolution = t.Int(MAX_RESOLUTION, help="max rows/columns sent; longer axes are max-pooled in the kernel").tag(sync=True)
    prefetch_bytes = t.Int(PREFETCH_BYTES, help="bytes of other heads of the layer sent ahead for instant switching").tag(sync=True)
    size = t.Int(440, help="plot width in CSS pixels").tag(sync=True)

    query_tokens = t.List(t.Unicode(), help="query (row) labels (read-only)").tag(sync=True)
    key_tokens = t.List(t.Unicode(), help="key (column) labels (read-only)").tag(sync=True)
    layer_names = t.List(t.Unicode(), help="one name per layer (read-only)").tag(sync=True)
    n_heads = t.Int(1, help="heads per layer (read-only)").tag(sync=True)
    data = t.Bytes(b"", help="float16 matrices described by data_info (read-only)").tag(sync=True)
    data_info = t.Dict(help="layer, keys, rows, cols, region, bin starts and maxima of `data` (read-only)").tag(sync=True)

    def __init__(self, record: Any, query_tokens: Sequence[str] | None = None, key_tokens: Sequence[str] | None = None, **kwargs: Any) -> None:
        self._record = as_record(record, query_tokens, key_tokens, "Heatmap")
        rec = self._record
        super().__init__(
            query_tokens=list(rec.query_tokens), key_tokens=list(rec.key_tokens),
            layer_names=list(rec.layer_names), n_heads=rec.n_heads, **kwargs,
        )

    @property
    def record(self):
        """The record shown (padding removed); it stays in the kernel."""
        return self._record

    # ---- validation ------------------------------------------------------------------------

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
        if proposal["value"] not in AGGREGATES:
            self._refuse(f"aggregate must be '', 'mean' or 'max'; got {proposal['value']!r}.")
        return proposal["value"]

    @t.validate("token")
    def _valid_token(self, proposal: Any) -> int:
        if proposal["value"] != -1 and (msg := check_index(proposal["value"], self._record.n_queries, "query token")):
            self._refuse(msg + " Use -1 for no pinned token.")
        return proposal["value"]

    @t.validate("threshold", "vmax")
    def _valid_level(self, proposal: Any) -> float:
        if not np.isfinite(proposal["value"]) or proposal["value"] < 0:
            self._refuse(f"{proposal['trait'].name} must be a number >= 0; got {proposal['value']}.")
        return proposal["value"]

    @t.validate("window")
    def _valid_window(self, proposal: Any) -> list:
        w = list(proposal["value"])
        if w:
            nq, nk = self._record.n_queries, self._record.n_keys
            if len(w) != 4 or not (0 <= w[0] < w[1] <= nq and 0 <= w[2] < w[3] <= nk):
                self._refuse(f"window must be [q0, q1, k0, k1] with 0 <= q0 < q1 <= {nq} and 0 <= k0 < k1 <= {nk}; got {w}.")
        return w

    @t.validate("max_resolution", "size")
    def _valid_positive(self, proposal: Any) -> int:
        if proposal["value"] < 16:
            self._refuse(f"{proposal['trait'].name} must be at least 16; got {proposal['value']}.")
        return proposal["value"]

    # ---- what the browser gets ---------------------------------------------------------------

    def shown_key(self) -> str:
        return self.aggregate or str(self.head)

    def matrix(self) -> np.ndarray:
        """The full [queries, keys] matrix currently shown."""
        return self._record.matrix(self.layer, self.aggregate or self.head)

    def _region(self) -> tuple[int, int, int, int]:
        nq, nk = self._record.n_queries, self._record.n_keys
        pooled = max(nq, nk) > self.max_resolution
        return tuple(self.window) if (self.window and pooled) else (0, nq, 0, nk)  # type: ignore[return-value]

    @t.observe("layer", "head", "aggregate", "window", "max_resolution", "prefetch_bytes")
    def _selection_changed(self, change: Any) -> None:
        if not getattr(self, "_ready", False):  # __init__ sends once, after every keyword is set
            return
        info = self.data_info
        cached = (
            change["name"] in ("head", "aggregate")
            and info.get("layer") == self.layer
            and self.shown_key() in info.get("keys", [])
        )
        if not cached:  # otherwise the browser already has it and repaints by itself
            self._safely(self._push)

    def _push(self) -> None:
        rec, layer = self._record, self.layer
        q0, q1, k0, k1 = self._region()
        row_starts, col_starts = bin_starts(q0, q1, self.max_resolution), bin_starts(k0, k1, self.max_resolution)
        rows = q1 - q0 if row_starts is None else len(row_starts)
        cols = k1 - k0 if col_starts is None else len(col_starts)
        per_matrix = rows * cols * 2
        keys = [self.shown_key()]
        room = max(0, self.prefetch_bytes // per_matrix - 1)
        for step in range(1, rec.n_heads):  # nearest heads first: the next click is likely a neighbour
            for h in (self.head + step, self.head - step):
                if len(keys) <= room and 0 <= h < rec.n_heads and str(h) not in keys:
                    keys.append(str(h))
        mats = []
        for key in keys:
            full = rec.matrix(layer, key if key in ("mean", "max") else int(key))
            mats.append(max_pool(full[q0:q1, k0:k1], row_starts, col_starts, (q0, k0)))
        with self.hold_sync():
            self.data = float16_bytes(mats)
            self.data_info = {
                "layer": layer, "keys": keys, "rows": rows, "cols": cols, "region": [q0, q1, k0, k1],
                "row_starts": None if row_starts is None else row_starts.tolist(),
                "col_starts": None if col_starts is None else col_starts.tolist(),
                "maxima": [float(m.max()) for m in mats],
            }

    # ---- static counterpart -----------------------------------------------------------------

    def fallback_png(self) -> bytes:
        from .picture import matrix_png

        head = self.aggregate or f"head {self.head}"
        return matrix_png(self.matrix(), self._record.query_tokens, self._record.key_tokens, self.colors, vmax=self.vmax or None,
                          threshold=self.threshold, title=self.title or f"{self._record.layer_names[self.layer]}, {head}", pinned=self.token)

    def to_figure(self) -> Any:
        from .. import plot

        name = self._record.layer_names[self.layer]
        head = self.aggregate or f"head {self.head}"
        return plot.heatmap(
            self.matrix(), self._record.query_tokens, self._record.key_tokens,
            colormap=self.colormap, vmax=self.vmax or None, threshold=self.threshold,
            title=self.title or f"{name}, {head}", pinned=self.token,
        )
