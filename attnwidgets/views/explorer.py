"""explore(record): the right views for a record, linked to show one selection."""

from __future__ import annotations

from typing import Any

import ipywidgets as W

from ..record import AttentionRecord, EncoderDecoderRecord
from .alignment import AlignmentView
from .link import link_views
from .headview import HeadView
from .heatmap import Heatmap
from .image import ImageAttention
from .modelview import ModelView


class Explorer(W.VBox):
    """The views of one record in tabs (or alone), linked so they show one selection.

    Every view carries its own controls (layer, head, threshold, decoding step, opacity), so the
    explorer adds none of its own: changing the layer in one tab changes it in all. ``views``
    names the views for further linking; ``controls`` holds widgets the explorer adds beside
    them (none at present: an extension point, kept empty rather than duplicating a view's)."""

    def __init__(self, controls: dict[str, W.Widget], views: dict[str, W.Widget], body: W.Widget) -> None:
        self.controls, self.views = controls, views
        super().__init__(([W.HBox(list(controls.values()))] if controls else []) + [body])

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        bundle = super()._repr_mimebundle_(**kwargs)
        first = next(iter(self.views.values()), None)
        if bundle is not None and hasattr(first, "_repr_mimebundle_"):
            data = bundle[0] if isinstance(bundle, tuple) else bundle
            picture = first._repr_mimebundle_()
            if picture and "image/png" in picture[0]:
                data["image/png"] = picture[0]["image/png"]  # the first view stands in when no kernel runs
        return bundle


def _tabs(views: dict[str, W.Widget]) -> W.Widget:
    if len(views) == 1:
        return next(iter(views.values()))
    tab = W.Tab(children=list(views.values()))
    for i, name in enumerate(views):
        tab.set_title(i, name)
    return tab


def _one_head_follows(source: Any, heads: HeadView) -> None:
    """A single head chosen in a heatmap or model view is the head drawn in the head view too
    (the head view's own toggles still add or remove heads)."""

    def follow(change: Any) -> None:
        if not source.aggregate and not source.rollout:
            heads.heads = [int(source.head)]

    source.observe(follow, "head")


def _text_explorer(record: AttentionRecord) -> Explorer:
    heads, heatmap, grid = HeadView(record), Heatmap(record), ModelView(record)
    link_views(heads, heatmap, grid)  # layer, head, aggregate, rollout, pinned: one selection in every tab
    _one_head_follows(heatmap, heads)
    views = {"head view": heads, "heatmap": heatmap, "model view": grid}
    return Explorer({}, views, _tabs(views))


def _seq2seq_explorer(cross: AttentionRecord, encoder: AttentionRecord | None = None, decoder: AttentionRecord | None = None) -> Explorer:
    # every target token decoded: the whole alignment first (the view's own step control and
    # play button step through the decoding from there)
    align = AlignmentView(cross, step=cross.n_queries)
    cross_heads = HeadView(cross)
    link_views(align, cross_heads)
    _one_head_follows(align, cross_heads)
    views: dict[str, W.Widget] = {"alignment": align, "cross heads": cross_heads}
    if encoder is not None:
        views["encoder"] = HeadView(encoder)
    if decoder is not None:
        views["decoder"] = HeadView(decoder)
    return Explorer({}, views, _tabs(views))


def _image_explorer(record: AttentionRecord, image: Any, channel: AttentionRecord | None) -> Explorer:
    view = ImageAttention(record, image, channel=channel)  # its own layer, head and opacity controls
    views: dict[str, W.Widget] = {"image": view}
    if record.kind == "self":  # a ViT: the token-level view too, on the same layer and head
        views["heatmap"] = Heatmap(record)
        link_views(view, views["heatmap"], traits=("layer", "head", "aggregate"))
    return Explorer({}, views, _tabs(views))


def explore(record: Any, image: Any = None, *, channel: AttentionRecord | None = None) -> Explorer:
    """The views that suit a record, linked so that a layer, head, aggregate or pinned token
    chosen in one view is chosen in all (each view's own controls; no second set above them).

    - self or causal attention over text: head view, heatmap and model view in tabs;
    - cross attention or an EncoderDecoderRecord: the alignment view, opened with every target
      token decoded (its step control and play button replay the decoding), plus head views of
      the cross, encoder and decoder attention;
    - spatial or channel attention (CBAM, SE), or a ViT record with a grid and its image:
      the image with the map over it and the channel bars (and, for a ViT, a heatmap).
    """
    if isinstance(record, EncoderDecoderRecord) or (isinstance(record, AttentionRecord) and record.kind == "cross"):
        if image is not None or channel is not None:
            raise ValueError("image= and channel= go with spatial, channel or ViT records; an encoder-decoder's attention is drawn over its tokens: explore(record).")
    if isinstance(record, EncoderDecoderRecord):
        return _seq2seq_explorer(record.cross, record.encoder, record.decoder)
    if not isinstance(record, AttentionRecord):
        if isinstance(image, AttentionRecord):
            raise TypeError("explore() takes the record first, then the image: explore(record, image), as ImageAttention(record, image) does.")
        raise TypeError(f"explore() takes an AttentionRecord or EncoderDecoderRecord (from capture()); got {type(record).__name__}.")
    if record.kind in ("spatial", "channel") or (image is not None and record.grid is not None):
        if image is None and record.kind != "channel":
            raise ValueError(f"a {record.kind} record is drawn over its image: explore(record, image).")
        return _image_explorer(record, image, channel)
    if image is not None:
        raise ValueError("image= needs a record with a grid (spatial attention or a ViT's patch grid).")
    if channel is not None:
        raise ValueError("channel= (an SE or CBAM channel record) goes with a spatial record and its image: explore(spatial_record, image, channel=channel_record).")
    if record.kind == "cross":
        return _seq2seq_explorer(record)
    return _text_explorer(record)
