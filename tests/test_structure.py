"""The package's structure: transport and drawing sit below plot and views (plot never reaches views), and
one spec of what is drawn (attnwidgets.drawing) that the views, their PNG fallbacks and the figures share."""

from __future__ import annotations

import ast
import inspect
import io
import pathlib
import re

import numpy as np
import pytest
from PIL import Image

import attnwidgets
from attnwidgets import drawing, plot
from attnwidgets.record import AGGREGATES, AttentionRecord
from attnwidgets.views import picture
from attnwidgets.views.tokenview import AGGREGATE_CHOICES, SINGLE_HEAD

PACKAGE = pathlib.Path(attnwidgets.__file__).parent
FILES = {".".join(("attnwidgets",) + p.relative_to(PACKAGE).with_suffix("").parts).removesuffix(".__init__"): p for p in PACKAGE.rglob("*.py")}


def imports_of(name: str, lazy: bool = True) -> set[str]:
    """The attnwidgets modules a module imports: at the top, and with ``lazy`` also inside functions."""
    path = FILES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree) if lazy else tree.body:
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(node.level - 1):
                base = base.rpartition(".")[0]
            target = (f"{base}.{node.module}" if node.module else base) if node.level else node.module
            submodules = {f"{target}.{a.name}" for a in node.names} & FILES.keys()
            # `from . import plot` loads the module plot; `from .record import X` loads record
            found |= submodules if submodules and not node.module else {target} | submodules
    return found & FILES.keys()


def graph(lazy: bool = True) -> dict[str, set[str]]:
    return {name: imports_of(name, lazy) for name in FILES}


def reachable(start: str, edges: dict[str, set[str]]) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for m in edges[todo.pop()] - seen:
            seen.add(m)
            todo.append(m)
    return seen


def views(modules: set[str]) -> set[str]:
    return {m for m in modules if m == "attnwidgets.views" or m.startswith("attnwidgets.views.")}


def test_the_parser_sees_relative_and_lazy_imports():
    edges = graph()
    # views/heatmap.py: `from .tokenview import TokenView` at the top, `from .. import plot` inside to_figure
    assert {"attnwidgets.views.tokenview", "attnwidgets.plot", "attnwidgets.transport", "attnwidgets.views.picture"} <= edges["attnwidgets.views.heatmap"]
    assert "attnwidgets.plot" not in graph(lazy=False)["attnwidgets.views.heatmap"]
    assert {"attnwidgets.views", "attnwidgets.plot", "attnwidgets.analysis"} <= edges["attnwidgets"]
    assert "attnwidgets.views.headview" in edges["attnwidgets.views"]


def test_plot_does_not_reach_the_views():
    reached = reachable("attnwidgets.plot", graph())
    assert not views(reached), sorted(reached)
    assert {"attnwidgets.transport", "attnwidgets.drawing"} <= reached


def test_transport_and_drawing_import_neither_plot_nor_views():
    edges = graph()
    for low in ("attnwidgets.transport", "attnwidgets.drawing"):
        reached = reachable(low, edges)
        assert "attnwidgets.plot" not in reached and not views(reached), (low, sorted(reached))
    assert edges["attnwidgets.drawing"] == set()  # the spec of what is drawn imports nothing of the package


def test_no_cycle_through_plot_views_transport_drawing():
    """No module of plot, views, transport or drawing reaches itself again, lazy imports included."""
    edges = graph()
    for start in {"attnwidgets.plot", "attnwidgets.transport", "attnwidgets.drawing", "attnwidgets.record"} | views(set(FILES)):
        assert start not in reachable(start, edges), start


def test_public_names_still_import_from_views():
    from attnwidgets.views import AlignmentView, AttentionView, Explorer, HeadView, Heatmap, ImageAttention, ModelView, Predict, TokenView, explore, link_views

    assert issubclass(TokenView, AttentionView) and issubclass(Heatmap, TokenView) and issubclass(AlignmentView, Heatmap)
    assert issubclass(HeadView, TokenView) and issubclass(ModelView, TokenView) and issubclass(ImageAttention, AttentionView)
    assert callable(explore) and callable(link_views) and Explorer.__module__ == "attnwidgets.views.explorer" and Predict


# ---- one spec of what is drawn: views' trait defaults, the PNG fallbacks and the figures agree ----

def defaults(function) -> dict:
    return {k: p.default for k, p in inspect.signature(function).parameters.items() if p.default is not inspect.Parameter.empty}


def trait_default(cls, name):
    return cls.class_traits()[name].default_value


def record(n=12, heads=3, seed=0):
    x = np.random.default_rng(seed).normal(size=(2, heads, n, n)) * 3
    e = np.exp(x - x.max(-1, keepdims=True))
    return AttentionRecord((e / e.sum(-1, keepdims=True)).astype(np.float32), [f"t{i}" for i in range(n)])


def test_trait_defaults_are_the_spec():
    from attnwidgets.views import AttentionView, Heatmap, HeadView, ImageAttention, ModelView

    assert trait_default(AttentionView, "colormap") == drawing.COLORMAP == "viridis"
    assert (trait_default(Heatmap, "threshold"), trait_default(Heatmap, "size"), trait_default(Heatmap, "max_resolution")) == (drawing.HEATMAP_THRESHOLD, drawing.HEATMAP_SIZE, drawing.MAX_RESOLUTION)
    assert trait_default(HeadView, "threshold") == drawing.HEAD_VIEW_THRESHOLD == 0.01  # the live view's default
    assert (trait_default(ModelView, "thumbnail"), trait_default(ModelView, "max_resolution")) == (drawing.THUMBNAIL, drawing.MAX_RESOLUTION)
    assert trait_default(ImageAttention, "opacity") == drawing.IMAGE_OPACITY
    assert trait_default(Heatmap, "aggregate") == trait_default(ImageAttention, "aggregate") == SINGLE_HEAD


def test_figures_and_png_fallbacks_default_to_the_spec():
    assert defaults(plot.heatmap)["threshold"] == defaults(picture.matrix_png)["threshold"] == drawing.HEATMAP_THRESHOLD
    assert defaults(plot.heatmap)["colormap"] == defaults(plot.model_view)["colormap"] == defaults(plot.alignment)["colormap"] == drawing.COLORMAP
    assert defaults(plot.head_view)["threshold"] == defaults(picture.lines_png)["threshold"] == drawing.HEAD_VIEW_THRESHOLD
    assert defaults(plot.head_view)["max_tokens"] == defaults(picture.lines_png)["max_tokens"] == drawing.HEAD_VIEW_MAX_TOKENS
    assert defaults(plot.model_view)["thumbnail"] == drawing.THUMBNAIL
    assert defaults(plot.image_attention)["opacity"] == defaults(picture.overlay_png)["opacity"] == drawing.IMAGE_OPACITY
    assert defaults(plot._pooled)["limit"] == drawing.MAX_RESOLUTION and defaults(plot._ticks)["limit"] == drawing.MAX_LABELS
    assert picture.SIDE == drawing.HEATMAP_SIZE


@pytest.mark.parametrize("threshold", [None, 0.2])
def test_headview_png_and_figure_draw_the_same_tokens_and_lines(monkeypatch, threshold):
    """A view's fallback PNG and its figure get the same token limit and line threshold (the view's own)."""
    from attnwidgets.views import HeadView

    calls = {}

    def spy(name, function):
        def wrapper(*args, **kwargs):
            bound = inspect.signature(function).bind(*args, **kwargs)
            bound.apply_defaults()
            calls[name] = bound.arguments
            return function(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(picture, "lines_png", spy("png", picture.lines_png))
    monkeypatch.setattr(plot, "head_view", spy("figure", plot.head_view))
    n = drawing.HEAD_VIEW_MAX_TOKENS + 20
    view = HeadView(record(n)) if threshold is None else HeadView(record(n), threshold=threshold)
    png = view.fallback_png()
    fig = view.to_figure()
    limit = drawing.HEAD_VIEW_MAX_TOKENS
    assert calls["png"]["max_tokens"] == calls["figure"]["max_tokens"] == limit
    assert calls["png"]["threshold"] == calls["figure"]["threshold"] == view.threshold == (threshold or drawing.HEAD_VIEW_THRESHOLD)
    # what was drawn: the first `limit` tokens on each side, said in the title
    labels = [t.get_text() for t in fig.axes[0].texts]
    assert len(labels) == 2 * limit and f"t{limit - 1}" in labels and f"t{limit}" not in labels
    assert fig.axes[0].get_title().endswith(f"(first {limit} tokens)")
    height = Image.open(io.BytesIO(png)).height
    assert height == 20 + 14 + limit * 10 + 6  # title band, header, `limit` rows of 10 px, margin


def test_head_colors_agree_with_the_browser():
    common = (PACKAGE / "views" / "common.js").read_text()
    js = re.search(r"const HEAD_COLORS = \[(.*?)\];", common).group(1)
    assert tuple(c.strip().strip('"') for c in js.split(",")) == drawing.HEAD_COLORS
    assert drawing.head_color(0) == "#0072B2" and drawing.head_color(len(drawing.HEAD_COLORS)).startswith("#")
    # label thinning and the heatmap's default width in common.js (the views pass `size` from the trait)
    assert f"Math.ceil({drawing.LABEL_SPACING} / Math.max(spacing" in common
    assert f"options.size || {drawing.HEATMAP_SIZE}" in common


def test_the_browsers_drawing_constants_are_the_spec():
    """The JavaScript cannot import drawing.py: each constant it repeats is checked here."""
    views = PACKAGE / "views"
    head = (views / "headview.js").read_text()
    assert f'"{drawing.AGGREGATE_COLOR}"' in head and '"#333"' not in head
    assert f"entries.length > 1 ? {1 / drawing.SEVERAL_HEADS_OPACITY:g} : 1" in head
    assert f"Math.ceil({drawing.LABEL_SPACING} / s.rowH)" in head and f"lastKey < {drawing.LABEL_SPACING} " in head
    image = (views / "image.js").read_text()
    assert f"Math.min({drawing.IMAGE_SIDE} / picture.width, {drawing.IMAGE_SIDE} / picture.height" in image


def test_aggregates_have_one_name_per_meaning():
    from attnwidgets.views import Heatmap, ImageAttention

    assert AGGREGATES == ("mean", "max") and AGGREGATE_CHOICES == (SINGLE_HEAD, *AGGREGATES) == ("", "mean", "max")
    rec = record()
    view = Heatmap(rec)
    for choice in AGGREGATE_CHOICES:
        view.aggregate = choice
        assert view.shown_key() == (choice or "0")
    with pytest.raises(Exception, match="aggregate must be"):
        view.aggregate = "median"
    spatial = AttentionRecord(np.full((1, 1, 1, 4), 0.5, np.float32), ["q"], [f"p{i}" for i in range(4)], kind="spatial", grid=(2, 2))
    image = ImageAttention(spatial, np.zeros((2, 2, 3), np.uint8))
    with pytest.raises(Exception, match="aggregate must be"):
        image.aggregate = "median"
    # no module of the package names a different tuple AGGREGATES
    for name, path in FILES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "AGGREGATES" for t in node.targets):
                assert name == "attnwidgets.record", name
