"""ModelView: every layer x head as a thumbnail; click one to open it as a heatmap beside the grid."""

from __future__ import annotations

from typing import Any

import numpy as np
import traitlets as t

from ..drawing import MAX_RESOLUTION, THUMBNAIL
from ..transport import as_torch, bin_starts, float16_bytes, uint8_bytes
from .inputs import as_record
from .tokenview import TokenView


class ModelView(TokenView):
    """A grid of small pictures, one per layer (rows) and head (columns), then the mean and max of heads.

    Thumbnails are max-pooled to ``thumbnail`` pixels a side and sent as uint8, each scaled to
    its own maximum (the pattern matters, not the level): 12 x 12 heads cost 330 KB at any
    length. Clicking one sets ``layer``/``head`` (or ``aggregate``) and opens it in the detail
    heatmap, whose float16 matrix is fetched then; a row of the detail pins that token.
    """

    _js_file = "modelview.js"

    head = t.Int(0, help="head of the opened cell (ignored while `aggregate` or `rollout` is set)").tag(sync=True)
    opened = t.Bool(False, help="whether the detail heatmap of layer/head is shown (click a thumbnail)").tag(sync=True)
    thumbnail = t.Int(THUMBNAIL, help="thumbnail side in cells (longer inputs are max-pooled to it)").tag(sync=True)
    max_resolution = t.Int(MAX_RESOLUTION, help="max rows/columns of the detail matrix; longer axes are max-pooled").tag(sync=True)

    thumbs = t.Bytes(b"", help="uint8 [layers, columns, rows, cols] thumbnails: every head, then mean and max (read-only)").tag(sync=True)
    thumbs_info = t.Dict(help="layers, heads, columns (their keys), rows, cols of `thumbs` (read-only)").tag(sync=True)
    data = t.Bytes(b"", help="float16 detail matrix of the opened cell (read-only)").tag(sync=True)
    data_info = t.Dict(help="what `data` holds, as in Heatmap (read-only)").tag(sync=True)

    def __init__(self, record: Any, **kwargs: Any) -> None:
        self._record = as_record(record, what="ModelView")
        super().__init__(**self._token_traits(self._record), **kwargs)

    @t.validate("thumbnail", "max_resolution")
    def _valid_size(self, proposal: Any) -> int:
        if not 4 <= proposal["value"] <= 4096:
            self._refuse(f"{proposal['trait'].name} must be between 4 and 4096; got {proposal['value']}.")
        return proposal["value"]

    @t.observe("thumbnail")
    def _thumbnail_changed(self, change: Any) -> None:
        if getattr(self, "_ready", False):
            self._safely(self._push_thumbs)

    @t.observe("layer", "head", "aggregate", "rollout", "opened", "max_resolution")
    def _selection_changed(self, change: Any) -> None:
        if getattr(self, "_ready", False):
            self._safely(self._push_detail)

    def _push(self) -> None:
        self._push_thumbs()
        self._push_detail()

    def columns(self) -> list[str]:
        return [str(h) for h in range(self._record.n_heads)] + (["mean", "max"] if self._record.n_heads > 1 else [])

    def _push_thumbs(self) -> None:
        w = self._record.weights
        rs, cs = bin_starts(0, w.shape[2], self.thumbnail), bin_starts(0, w.shape[3], self.thumbnail)
        if rs is None and cs is None:
            pooled = w
        else:  # every head at once; torch's pooling is several times faster than reduceat here
            from torch.nn.functional import adaptive_max_pool2d

            size = (w.shape[2] if rs is None else self.thumbnail, w.shape[3] if cs is None else self.thumbnail)
            pooled = adaptive_max_pool2d(as_torch(w), size).numpy()
        if w.shape[1] > 1:
            # the max of heads pools exactly (max commutes with max); the mean is pooled from the full mean
            mean = np.stack([self.pooled(layer, "mean", (0, w.shape[2], 0, w.shape[3]), rs, cs) for layer in range(w.shape[0])])[:, None]
            pooled = np.concatenate([pooled, mean, pooled.max(axis=1, keepdims=True)], axis=1)
        peak = pooled.max(axis=(2, 3), keepdims=True)
        scaled = pooled / np.where(peak > 0, peak, 1.0)
        with self.hold_sync():
            self.thumbs = uint8_bytes(scaled, 1.0)
            self.thumbs_info = {"layers": int(w.shape[0]), "heads": int(w.shape[1]), "columns": self.columns(), "rows": int(scaled.shape[2]), "cols": int(scaled.shape[3])}

    def _push_detail(self) -> None:
        if not self.opened:
            return
        key = f"{self.layer}/{self.shown_key()}"
        if self.data_info.get("key") == key and self.data_info.get("resolution") == self.max_resolution:
            return
        n, m = self._record.n_queries, self._record.n_keys
        rs, cs = bin_starts(0, n, self.max_resolution), bin_starts(0, m, self.max_resolution)
        pooled = self.pooled(self.layer, self.shown_key(), (0, n, 0, m), rs, cs)
        with self.hold_sync():
            self.data = float16_bytes([pooled])
            self.data_info = {
                "layer": self.layer, "keys": [self.shown_key()], "key": key, "resolution": self.max_resolution,
                "rows": int(pooled.shape[0]), "cols": int(pooled.shape[1]), "region": [0, n, 0, m],
                "row_starts": None if rs is None else rs.tolist(), "col_starts": None if cs is None else cs.tolist(),
                "maxima": [float(pooled.max())],
            }

    def _selected(self) -> tuple[int, int] | None:
        if not self.opened or self.rollout:
            return None
        return (self.layer, self.columns().index(self.shown_key()))

    def fallback_png(self) -> bytes:
        from .picture import mosaic_png

        info = self.thumbs_info
        thumbs = np.frombuffer(self.thumbs, np.uint8).reshape(info["layers"], len(info["columns"]), info["rows"], info["cols"]) / 255.0
        return mosaic_png(thumbs, self.colors, selected=self._selected(), title=self.title, columns=info["columns"])

    def heatmap(self, **kwargs: Any) -> Any:
        """A Heatmap of the same record that follows this grid's clicks (layer, head, aggregate, pinned linked)."""
        import ipywidgets

        from .heatmap import Heatmap

        view = Heatmap(self._record, layer=self.layer, head=self.head, aggregate=self.aggregate, colormap=self.colormap, **kwargs)
        view._links = [ipywidgets.dlink((self, name), (view, name)) for name in ("layer", "head", "aggregate", "rollout")]
        view._links.append(ipywidgets.link((self, "pinned"), (view, "pinned")))
        return view

    def to_figure(self) -> Any:
        from .. import plot

        return plot.model_view(self._record, colormap=self.colormap, selected=self._selected(), title=self.title)
