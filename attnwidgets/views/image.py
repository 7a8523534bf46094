"""ImageAttention: an image with an attention map over it, and channel weights as bars."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import traitlets as t

from ..record import AGGREGATES, AttentionRecord
from ..drawing import IMAGE_OPACITY
from ..transport import float16_bytes
from .base import AttentionView
from .inputs import check_aggregate, check_index
from .tokenview import SINGLE_HEAD

MAX_IMAGE_SIDE = 512  # the picture is sent once as PNG; larger images are shrunk to this


def as_image(image: Any) -> np.ndarray:
    """An image as uint8 [H, W, 3] (or [H, W] grey): from numpy, PIL or a torch [C, H, W] tensor."""
    if hasattr(image, "detach"):
        image = image.detach().float().cpu().numpy()
        if image.ndim == 3 and image.shape[0] in (1, 3) and image.shape[-1] not in (1, 3):
            image = np.moveaxis(image, 0, -1)  # torch's [C, H, W]
    elif hasattr(image, "convert") and hasattr(image, "size"):  # a PIL image
        image = np.asarray(image.convert("RGB"))
    try:
        arr = np.asarray(image)
    except Exception:
        raise TypeError(f"image must be a numpy array, a PIL image or a torch tensor; got {type(image).__name__}.") from None
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise TypeError(f"image must be numeric, got dtype {arr.dtype}.")
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim == 3 and arr.shape[-1] == 4:
        arr = arr[..., :3]
    if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[-1] == 3)) or min(arr.shape[:2]) < 1:
        raise ValueError(f"image must be [height, width] or [height, width, 3]; got shape {arr.shape}.")
    if not np.isfinite(arr).all():
        raise ValueError("image contains NaN or infinity.")
    if arr.dtype != np.uint8:
        arr = arr.astype(np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        if lo >= 0 and hi <= 1:
            arr = arr * 255
        elif not (lo >= 0 and hi <= 255):
            raise ValueError(f"image values must be in [0, 1] (floats) or [0, 255]; got {lo:.3g}..{hi:.3g}. Undo the normalisation first.")
        arr = np.rint(arr).astype(np.uint8)
    return arr


def encode_image(image: np.ndarray) -> tuple[bytes, str]:
    """The smaller of PNG (drawings, small synthetic images) and JPEG (photos), with its MIME type."""
    from PIL import Image

    pic = Image.fromarray(image)
    if max(pic.size) > MAX_IMAGE_SIDE:
        pic.thumbnail((MAX_IMAGE_SIDE, MAX_IMAGE_SIDE))
    encoded = []
    for fmt, options in (("PNG", {"optimize": True}), ("JPEG", {"quality": 90})):
        buf = io.BytesIO()
        pic.save(buf, format=fmt, **options)
        encoded.append((buf.getvalue(), f"image/{fmt.lower()}"))
    return min(encoded, key=lambda e: len(e[0]))


class ImageAttention(AttentionView):
    """An attention map laid over an image, plus channel weights as a bar chart.

    >>> ImageAttention(cbam_spatial_record, image, channel=cbam_channel_record)
    >>> ImageAttention(vit_record, image)        # self-attention with a patch grid: [CLS]'s map
    >>> ImageAttention(se_record)                # channel attention only: the bars

    The record comes first, as in every view and in explore(record, image).

    ``record`` is spatial ([layers, 1, 1, H*W] with grid=(H, W)), self-attention with a grid
    (a ViT: the map is query ``query``'s attention over the patches), or channel. Every map
    of the current query (all layers and heads) is a few KB, so it is sent at once and
    layer/head/opacity changes repaint in the browser.
    """

    _js_file = "image.js"

    layer = t.Int(0, help="layer (or attention module) index").tag(sync=True)
    head = t.Int(0, help="head index for multi-head (ViT) attention; ignored while `aggregate` is set").tag(sync=True)
    aggregate = t.Unicode(SINGLE_HEAD, help="'' shows `head`; 'mean' or 'max' over heads").tag(sync=True)
    query = t.Int(0, help="query position whose attention is mapped (ViT: 0 is usually [CLS])").tag(sync=True)
    opacity = t.Float(IMAGE_OPACITY, help="opacity of the map over the image, 0..1").tag(sync=True)
    n_layers = t.Int(1, help="layers (read-only)").tag(sync=True)
    n_heads = t.Int(1, help="heads per layer (read-only)").tag(sync=True)
    layer_names = t.List(t.Unicode(), help="one name per layer (read-only)").tag(sync=True)
    query_tokens = t.List(t.Unicode(), help="query labels (read-only)").tag(sync=True)
    image = t.Bytes(b"", help="the picture, PNG or JPEG (read-only)").tag(sync=True)
    image_type = t.Unicode("image/png", help="MIME type of `image` (read-only)").tag(sync=True)
    maps = t.Bytes(b"", help="float16 maps [layers, keys, rows*cols] of the current query (read-only)").tag(sync=True)
    maps_info = t.Dict(help="keys, rows, cols, maxima of `maps` (read-only)").tag(sync=True)
    channels = t.Bytes(b"", help="float16 channel weights [layers, channels] (read-only)").tag(sync=True)
    channels_info = t.Dict(help="layers and channels of `channels` (read-only)").tag(sync=True)

    def __init__(self, record: AttentionRecord, image: Any = None, channel: AttentionRecord | None = None, **kwargs: Any) -> None:
        if isinstance(image, AttentionRecord) and not isinstance(record, AttentionRecord):
            raise TypeError("ImageAttention takes the record first, then the image: ImageAttention(record, image), as every view and explore(record, image) do.")
        if not isinstance(record, AttentionRecord):
            raise TypeError(f"ImageAttention takes an AttentionRecord (spatial, channel, or self-attention with a grid) first, then the image; got {type(record).__name__}.")
        if channel is not None and (not isinstance(channel, AttentionRecord) or channel.kind != "channel"):
            raise TypeError("channel= must be an AttentionRecord of kind 'channel' (an SE or CBAM channel gate).")
        if record.kind == "channel":
            if channel is not None:
                raise ValueError("two channel records: give a spatial (or ViT) record first and the channel record as channel=, or the channel record alone.")
            record, channel = None, record
        elif record.kind in ("spatial", "self"):
            if record.grid is None:
                raise ValueError(f"a {record.kind} record needs grid=(rows, cols) to be drawn on an image.")
        else:
            raise ValueError(f"ImageAttention draws spatial, channel or patch self-attention; this record is {record.kind}.")
        self._record = None if record is None else record.without_padding()
        self._channel = channel
        if record is not None and channel is not None and channel.n_layers != record.n_layers:
            raise ValueError(f"the spatial record has {record.n_layers} layers but the channel record {channel.n_layers}: they must come from the same modules.")
        self._image = None if image is None else as_image(image)
        if self._image is None and self._record is not None:
            raise ValueError(f"a {self._record.kind} map is drawn over the image it was computed on: ImageAttention(record, image). Only a channel record (SE) is drawn without one.")
        main = self._record if self._record is not None else channel
        if self._image is not None:
            kwargs["image"], kwargs["image_type"] = encode_image(self._image)
        super().__init__(
            n_layers=main.n_layers, n_heads=1 if self._record is None else self._record.n_heads, layer_names=list(main.layer_names),
            query_tokens=[] if self._record is None else list(self._record.query_tokens),
            **kwargs,
        )

    @t.validate("layer")
    def _valid_layer(self, proposal: Any) -> int:
        if msg := check_index(proposal["value"], (self._record or self._channel).n_layers, "layer"):
            self._refuse(msg)
        return proposal["value"]

    @t.validate("head")
    def _valid_head(self, proposal: Any) -> int:
        if msg := check_index(proposal["value"], self._record.n_heads if self._record is not None else 1, "head"):
            self._refuse(msg)
        return proposal["value"]

    @t.validate("aggregate")
    def _valid_aggregate(self, proposal: Any) -> str:
        if msg := check_aggregate(proposal["value"]):
            self._refuse(msg)
        return proposal["value"]

    @t.validate("query")
    def _valid_query(self, proposal: Any) -> int:
        if self._record is not None and (msg := check_index(proposal["value"], self._record.n_queries, "query")):
            self._refuse(msg)
        return proposal["value"]

    @t.validate("opacity")
    def _valid_opacity(self, proposal: Any) -> float:
        if not 0 <= proposal["value"] <= 1:
            self._refuse(f"opacity must be between 0 and 1; got {proposal['value']}.")
        return proposal["value"]

    @t.observe("query")
    def _query_changed(self, change: Any) -> None:
        if getattr(self, "_ready", False):
            self._safely(self._push)

    def map_of(self, layer: int, head: int | str) -> np.ndarray:
        """The [rows, cols] map of `query` for one layer and head (or 'mean'/'max')."""
        rec = self._record
        row = (rec.matrix(layer, aggregate=head) if isinstance(head, str) else rec.matrix(layer, head))[self.query]
        if rec.kind == "self":
            rows, cols = rec.grid
            if rows * cols != rec.n_keys:  # the grid covers the non-special keys (e.g. not [CLS])
                row = row[~rec.key_special][: rows * cols]
        return row.reshape(rec.grid)

    def _push(self) -> None:
        with self.hold_sync():
            if self._record is not None:
                rec = self._record
                keys = [str(h) for h in range(rec.n_heads)] + (["mean", "max"] if rec.n_heads > 1 else [])
                maps = [self.map_of(layer, k if k in AGGREGATES else int(k)) for layer in range(rec.n_layers) for k in keys]
                self.maps = float16_bytes(maps)
                self.maps_info = {"query": self.query, "keys": keys, "rows": rec.grid[0], "cols": rec.grid[1], "maxima": [float(m.max()) for m in maps]}
            if self._channel is not None:
                w = self._channel.weights[:, 0, 0, :]
                self.channels = float16_bytes([w])
                self.channels_info = {"layers": int(w.shape[0]), "channels": int(w.shape[1])}

    def fallback_png(self) -> bytes:
        from .picture import overlay_png

        amap = None if self._record is None else self.map_of(self.layer, self.aggregate or self.head)
        bars = None if self._channel is None else self._channel.weights[self.layer, 0, 0]
        return overlay_png(self._image, amap, self.colors, opacity=self.opacity, channels=bars, title=self.title)

    def to_figure(self) -> Any:
        from .. import plot

        amap = None if self._record is None else self.map_of(self.layer, self.aggregate or self.head)
        bars = None if self._channel is None else self._channel.weights[self.layer, 0, 0]
        name = (self._record or self._channel).layer_names[self.layer]
        return plot.image_attention(self._image, amap, opacity=self.opacity, colormap=self.colormap, title=self.title or name, channels=bars)
