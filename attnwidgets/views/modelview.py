"""ModelView: every layer x head as a thumbnail; click one to open it as a heatmap beside the grid."""

from __future__ import annotations

from typing import Any

import numpy as np
import traitlets as t

from .base import MAX_RESOLUTION, AttentionView, as_record, as_torch, bin_starts, check_index, float16_bytes, max_pool, uint8_bytes


class ModelView(AttentionView):
    """A grid of small pictures, one per layer (rows) and head (columns).

    Thumbnails are max-pooled to ``thumbnail`` pixels a side and sent as uint8, each scaled to
    its own maximum (the pattern matters, not the level): 12 x 12 heads cost 330 KB at any
    length. Clicking one sets ``layer``/``head`` and opens it in the detail heatmap, whose
    float16 matrix is fetched then.
    """

    _js_file = "modelview.js"

    layer = t.Int(0, help="layer of the opened head").tag(sync=True)
    head = t.Int(0, help="head of the opened head").tag(sync=True)
    opened = t.Bool(False, help="whether the detail heatmap of layer/head is shown (click a thumbnail)").tag(sync=True)
    thumbnail = t.Int(48, help="thumbnail side in cells (longer inputs are max-pooled to it)").tag(sync=True)
    max_resolution = t.Int(MAX_RESOLUTION, help="max rows/columns of the detail matrix; longer axes are max-pooled").tag(sync=True)

    query_tokens = t.List(t.Unicode(), help="query labels (read-only)").tag(sync=True)
    key_tokens = t.List(t.Unicode(), help="key labels (read-only)").tag(sync=True)
    layer_names = t.List(t.Unicode(), help="one name per layer (read-only)").tag(sync=True)
    n_heads = t.Int(1, help="heads per layer (read-only)").tag(sync=True)
    thumbs = t.Bytes(b"", help="uint8 [layers, heads, rows, cols] thumbnails (read-only)").tag(sync=True)
    thumbs_info = t.Dict(help="layers, heads, rows, cols of `thumbs` (read-only)").tag(sync=True)
    data = t.Bytes(b"", help="float16 detail matrix of layer/head (read-only)").tag(sync=True)
    data_info = t.Dict(help="what `data` holds, as in Heatmap (read-only)").tag(sync=True)

    def __init__(self, record: Any, **kwargs: Any) -> None:
        self._record = as_record(record, what="ModelView")
        rec = self._record
        super().__init__(
            query_tokens=list(rec.query_tokens), key_tokens=list(rec.key_tokens), layer_names=list(rec.layer_names),
            n_heads=rec.n_heads, **kwargs,
        )

    @property
    def record(self):
        return self._record

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

    @t.validate("thumbnail", "max_resolution")
    def _valid_size(self, proposal: Any) -> int:
        if not 4 <= proposal["value"] <= 4096:
            self._refuse(f"{proposal['trait'].name} must be between 4 and 4096; got {proposal['value']}.")
        return proposal["value"]

    @t.observe("thumbnail")
    def _thumbnail_changed(self, change: Any) -> None:
        if getattr(self, "_ready", False):
            self._safely(self._push_thumbs)

    @t.observe("layer", "head", "opened", "max_resolution")
    def _selection_changed(self, change: Any) -> None:
        if getattr(self, "_ready", False):
            self._safely(self._push_detail)

    def _push(self) -> None:
        self._push_thumbs()
        self._push_detail()

    def _push_thumbs(self) -> None:
        w = self._record.weights
        rs, cs = bin_starts(0, w.shape[2], self.thumbnail), bin_starts(0, w.shape[3], self.thumbnail)
        if rs is None and cs is None:
            pooled = w
        else:  # every head at once; torch's pooling is several times faster than reduceat here
            from torch.nn.functional import adaptive_max_pool2d

            size = (w.shape[2] if rs is None else self.thumbnail, w.shape[3] if cs is None else self.thumbnail)
            pooled = adaptive_max_pool2d(as_torch(w), size).numpy()
        peak = pooled.max(axis=(2, 3), keepdims=True)
        scaled = pooled / np.where(peak > 0, peak, 1.0)
        with self.hold_sync():
            self.thumbs = uint8_bytes(scaled, 1.0)
            self.thumbs_info = {"layers": int(w.shape[0]), "heads": int(w.shape[1]), "rows": int(scaled.shape[2]), "cols": int(scaled.shape[3])}

    def _push_detail(self) -> None:
        if not self.opened:
            return
        key = f"{self.layer}/{self.head}"
        if self.data_info.get("key") == key and self.data_info.get("resolution") == self.max_resolution:
            return
        m = self._record.matrix(self.layer, self.head)
        rs, cs = bin_starts(0, m.shape[0], self.max_resolution), bin_starts(0, m.shape[1], self.max_resolution)
        pooled = max_pool(m, rs, cs)
        with self.hold_sync():
            self.data = float16_bytes([pooled])
            self.data_info = {
                "layer": self.layer, "keys": [str(self.head)], "key": key, "resolution": self.max_resolution,
                "rows": int(pooled.shape[0]), "cols": int(pooled.shape[1]), "region": [0, m.shape[0], 0, m.shape[1]],
                "row_starts": None if rs is None else rs.tolist(), "col_starts": None if cs is None else cs.tolist(),
                "maxima": [float(pooled.max())],
            }

    def fallback_png(self) -> bytes:
        from .picture import mosaic_png

        info = self.thumbs_info
        thumbs = np.frombuffer(self.thumbs, np.uint8).reshape(info["layers"], info["heads"], info["rows"], info["cols"]) / 255.0
        return mosaic_png(thumbs, self.colors, selected=(self.layer, self.head) if self.opened else None, title=self.title)

    def heatmap(self, **kwargs: Any) -> Any:
        """A Heatmap of the same record that follows this grid's clicks (layer and head linked)."""
        import ipywidgets

        from .heatmap import Heatmap

        view = Heatmap(self._record, layer=self.layer, head=self.head, colormap=self.colormap, **kwargs)
        view._links = [ipywidgets.dlink((self, "layer"), (view, "layer")), ipywidgets.dlink((self, "head"), (view, "head"))]
        return view

    def to_figure(self) -> Any:
        from .. import plot

        return plot.model_view(self._record, colormap=self.colormap, selected=(self.layer, self.head) if self.opened else None, title=self.title)
