"""Heatmap: one attention matrix, token labels on both axes, hover value, zoom and pan."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import traitlets as t

from ..drawing import HEATMAP_SIZE, HEATMAP_THRESHOLD, MAX_RESOLUTION
from ..transport import PREFETCH_BYTES, bin_starts, float16_bytes
from .inputs import as_record
from .tokenview import TokenView


class Heatmap(TokenView):
    """One [queries, keys] attention matrix of a record (or a plain 2-D array with labels).

    >>> Heatmap(record, layer=3, head=5)
    >>> Heatmap(weights_2d, query_tokens=["a", "b"], key_tokens=["x", "y", "z"])

    The shown matrix goes in ``data``; right after it, as many other heads of the same layer as
    fit ``prefetch_bytes`` go in ``more`` (a second message), so most head switches repaint in
    the browser without a round trip. Above ``max_resolution`` tokens the matrix is max-pooled
    in the kernel (peaks survive, pooled maps are cached); zooming in asks for the zoomed window
    at full detail. Layer, aggregate, rollout and pinned token are shared with the other views
    (see TokenView and link_views).
    """

    _js_file = "heatmap.js"

    head = t.Int(0, help="head index (ignored while `aggregate` or `rollout` is set)").tag(sync=True)
    threshold = t.Float(HEATMAP_THRESHOLD, help="values below this draw as the lowest colour").tag(sync=True)
    vmax = t.Float(0.0, help="value at the top of the colour scale; 0 = the shown matrix's maximum").tag(sync=True)
    window = t.List(t.Int(), [], help="[q0, q1, k0, k1] token window sent in detail when the matrix is pooled; [] = all").tag(sync=True)
    max_resolution = t.Int(MAX_RESOLUTION, help="max rows/columns sent; longer axes are max-pooled in the kernel").tag(sync=True)
    prefetch_bytes = t.Int(PREFETCH_BYTES, help="bytes of the shown matrix plus other heads of the layer sent for instant switching").tag(sync=True)
    size = t.Int(HEATMAP_SIZE, help="plot width in CSS pixels").tag(sync=True)

    data = t.Bytes(b"", help="float16 shown matrix, described by data_info (read-only)").tag(sync=True)
    data_info = t.Dict(help="layer, keys, rows, cols, region, bin starts and maxima of `data` (read-only)").tag(sync=True)
    more = t.Bytes(b"", help="float16 neighbouring heads of the same layer and region, sent after `data` (read-only)").tag(sync=True)
    more_info = t.Dict(help="layer, region, keys and maxima of `more` (read-only)").tag(sync=True)

    def __init__(self, record: Any, query_tokens: Sequence[str] | None = None, key_tokens: Sequence[str] | None = None, **kwargs: Any) -> None:
        self._record = as_record(record, query_tokens, key_tokens, type(self).__name__)
        super().__init__(**self._token_traits(self._record), **kwargs)

    # ---- validation ------------------------------------------------------------------------

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

    def matrix(self) -> np.ndarray:
        """The full [queries, keys] matrix currently shown."""
        return self.full_matrix(self.layer, self.shown_key())

    def _region(self) -> tuple[int, int, int, int]:
        nq, nk = self._record.n_queries, self._record.n_keys
        pooled = max(nq, nk) > self.max_resolution
        return tuple(self.window) if (self.window and pooled) else (0, nq, 0, nk)  # type: ignore[return-value]

    def in_browser(self, key: str) -> bool:
        """Whether the browser already holds `key` of the current layer (so a switch sends nothing)."""
        info, more = self.data_info, self.more_info
        if info.get("layer") != self.layer:
            return False
        return key in info.get("keys", []) or (more.get("layer") == self.layer and more.get("region") == info.get("region") and key in more.get("keys", []))

    @t.observe("layer", "head", "aggregate", "rollout", "window", "max_resolution", "prefetch_bytes")
    def _selection_changed(self, change: Any) -> None:
        if not getattr(self, "_ready", False):  # __init__ sends once, after every keyword is set
            return
        if change["name"] in ("head", "aggregate") and self.in_browser(self.shown_key()):
            return  # the browser repaints by itself
        self._safely(self._push)

    def _push(self) -> None:
        """The shown matrix in one message, then its neighbours in a second (the first paints sooner)."""
        layer, key = self.layer, self.shown_key()
        q0, q1, k0, k1 = region = self._region()
        row_starts, col_starts = bin_starts(q0, q1, self.max_resolution), bin_starts(k0, k1, self.max_resolution)
        shown = self.pooled(layer, key, region, row_starts, col_starts)
        geometry = {
            "layer": layer, "rows": int(shown.shape[0]), "cols": int(shown.shape[1]), "region": [q0, q1, k0, k1],
            "row_starts": None if row_starts is None else row_starts.tolist(),
            "col_starts": None if col_starts is None else col_starts.tolist(),
        }
        with self.hold_sync():
            self.data = float16_bytes([shown])
            self.data_info = {**geometry, "keys": [key], "maxima": [float(shown.max())]}
        keys: list[str] = []
        if key != "rollout":  # nearest heads first: the next click (or arrow key) is likely a neighbour
            room = max(0, self.prefetch_bytes // max(1, shown.nbytes // 2) - 1)
            head = self.head
            for step in range(1, self._record.n_heads):
                for h in (head + step, head - step):
                    if len(keys) < room and 0 <= h < self._record.n_heads and str(h) != key:
                        keys.append(str(h))
        mats = [self.pooled(layer, k, region, row_starts, col_starts) for k in keys]
        with self.hold_sync():
            self.more = float16_bytes(mats)
            self.more_info = {**geometry, "keys": keys, "maxima": [float(m.max()) for m in mats]}

    # ---- static counterpart -----------------------------------------------------------------

    def fallback_png(self) -> bytes:
        from .picture import matrix_png

        return matrix_png(self.matrix(), self._record.query_tokens, self._record.key_tokens, self.colors, vmax=self.vmax or None,
                          threshold=self.threshold, title=self.title or self.shown_name(), pinned=self.pinned)

    def to_figure(self) -> Any:
        from .. import plot

        return plot.heatmap(
            self.matrix(), self._record.query_tokens, self._record.key_tokens,
            colormap=self.colormap, vmax=self.vmax or None, threshold=self.threshold,
            title=self.title or self.shown_name(), pinned=self.pinned,
        )
