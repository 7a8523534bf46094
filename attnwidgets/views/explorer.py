"""explore(record): the right views for a record, with shared ipywidgets controls linked to them."""

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
    """A VBox of controls above views; ``views`` and ``controls`` name its parts for further linking."""

    def __init__(self, controls: dict[str, W.Widget], views: dict[str, W.Widget], body: W.Widget) -> None:
        self.controls, self.views = controls, views
        super().__init__([W.HBox(list(controls.values())), body])

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        bundle = super()._repr_mimebundle_(**kwargs)
        first = next(iter(self.views.values()), None)
        if bundle is not None and hasattr(first, "_repr_mimebundle_"):
            data = bundle[0] if isinstance(bundle, tuple) else bundle
            picture = first._repr_mimebundle_()
            if picture and "image/png" in picture[0]:
                data["image/png"] = picture[0]["image/png"]  # the first view stands in when no kernel runs
        return bundle


def _tabs(views: dict[str, W.Widget]) -> W.Tab:
    tab = W.Tab(children=list(views.values()))
    for i, name in enumerate(views):
        tab.set_title(i, name)
    return tab


def _head_dropdown(n_heads: int) -> W.Dropdown:
    options = [(f"head {h}", str(h)) for h in range(n_heads)]
    if n_heads > 1:
        options += [("mean of heads", "mean"), ("max of heads", "max")]
    return W.Dropdown(options=options, value="0", description="head", layout=W.Layout(width="200px"))


def _link_head(dropdown: W.Dropdown, view: Any) -> None:
    """One dropdown over heads and aggregates drives a view's `head` + `aggregate` traits, both ways."""

    def to_view(change: Any) -> None:
        value = change["new"]
        if value in ("mean", "max"):
            view.aggregate = value
        else:
            view.aggregate, view.head = "", int(value)

    def to_dropdown(change: Any) -> None:
        dropdown.value = view.aggregate or str(view.head)

    dropdown.observe(to_view, "value")
    view.observe(to_dropdown, ["head", "aggregate"])


def _layer_slider(n_layers: int, views: list[Any]) -> W.IntSlider:
    slider = W.IntSlider(0, min=0, max=n_layers - 1, description="layer", continuous_update=False)
    for view in views:
        W.link((slider, "value"), (view, "layer"))
    return slider


def _text_explorer(record: AttentionRecord) -> Explorer:
    heads, heatmap, grid = HeadView(record), Heatmap(record), ModelView(record)
    layer = _layer_slider(record.n_layers, [heads, heatmap, grid])
    head = _head_dropdown(record.n_heads)
    _link_head(head, heatmap)

    def heads_follow(change: Any) -> None:  # one head in the line view too; an aggregate shows all
        heads.heads = list(range(record.n_heads)) if change["new"] in ("mean", "max") else [int(change["new"])]

    head.observe(heads_follow, "value")

    def clicked(change: Any) -> None:  # a click on a thumbnail selects that one head everywhere
        heatmap.aggregate, heatmap.head = "", change["new"]

    grid.observe(clicked, "head")
    W.dlink((heatmap, "head"), (grid, "head"))
    link_views(heads, heatmap, grid, traits=("pinned",))  # a token pinned in one tab is pinned in all
    threshold = W.FloatSlider(0.01, min=0, max=0.5, step=0.01, description="lines >=", continuous_update=True)
    W.link((threshold, "value"), (heads, "threshold"))
    views = {"head view": heads, "heatmap": heatmap, "model view": grid}
    return Explorer({"layer": layer, "head": head, "threshold": threshold}, views, _tabs(views))


def _seq2seq_explorer(cross: AttentionRecord, encoder: AttentionRecord | None = None, decoder: AttentionRecord | None = None) -> Explorer:
    align = AlignmentView(cross)
    views: dict[str, W.Widget] = {"alignment": align, "cross heads": HeadView(cross)}
    if encoder is not None:
        views["encoder"] = HeadView(encoder)
    if decoder is not None:
        views["decoder"] = HeadView(decoder)
    step = W.IntSlider(align.step, min=0, max=cross.n_queries, description="step")
    play = W.Play(0, min=0, max=cross.n_queries, interval=600, description="decode")
    W.link((play, "value"), (step, "value"))
    W.link((step, "value"), (align, "step"))
    layer = _layer_slider(cross.n_layers, [align, views["cross heads"]])
    head = _head_dropdown(cross.n_heads)
    _link_head(head, align)
    return Explorer({"layer": layer, "head": head, "play": play, "step": step}, views, _tabs(views))


def _image_explorer(image: Any, record: AttentionRecord, channel: AttentionRecord | None) -> Explorer:
    view = ImageAttention(image, record, channel=channel)
    views: dict[str, W.Widget] = {"image": view}
    controls: dict[str, W.Widget] = {"layer": _layer_slider(view.n_layers, [view])}
    if view.n_heads > 1:
        controls["head"] = _head_dropdown(view.n_heads)
        _link_head(controls["head"], view)
    if record.kind != "channel":
        controls["opacity"] = W.FloatSlider(view.opacity, min=0, max=1, step=0.05, description="opacity")
        W.link((controls["opacity"], "value"), (view, "opacity"))
    if record.kind == "self":  # a ViT: the token-level views too
        views["heatmap"] = Heatmap(record)
        W.link((controls["layer"], "value"), (views["heatmap"], "layer"))
        return Explorer(controls, views, _tabs(views))
    return Explorer(controls, views, view)


def explore(record: Any, image: Any = None, *, channel: AttentionRecord | None = None) -> Explorer:
    """The views that suit a record, with layer/head/step/opacity controls linked to them.

    - self or causal attention over text: head view, heatmap and model view in tabs;
    - cross attention or an EncoderDecoderRecord: the alignment view with a decoding-step
      slider, plus head views of the cross, encoder and decoder attention;
    - spatial or channel attention (CBAM, SE), or a ViT record with a grid and its image:
      the image with the map over it and the channel bars.
    """
    if isinstance(record, EncoderDecoderRecord):
        return _seq2seq_explorer(record.cross, record.encoder, record.decoder)
    if not isinstance(record, AttentionRecord):
        raise TypeError(f"explore() takes an AttentionRecord or EncoderDecoderRecord (from capture()); got {type(record).__name__}.")
    if record.kind in ("spatial", "channel") or (image is not None and record.grid is not None):
        if image is None and record.kind != "channel":
            raise ValueError(f"a {record.kind} record is drawn over its image: explore(record, image).")
        return _image_explorer(image, record, channel)
    if image is not None:
        raise ValueError("image= needs a record with a grid (spatial attention or a ViT's patch grid).")
    if record.kind == "cross":
        return _seq2seq_explorer(record)
    return _text_explorer(record)
