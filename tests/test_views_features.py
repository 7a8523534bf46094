"""Issue 10 features in Python: pinned token, link_views, aggregates, rollout, save_image, long inputs."""

from __future__ import annotations

import ipywidgets as W
import numpy as np
import pytest
import traitlets

from attnwidgets import analysis
from attnwidgets.record import AttentionRecord
from attnwidgets.views import AlignmentView, HeadView, Heatmap, ImageAttention, ModelView, link_views
from attnwidgets.views.base import MAX_RESOLUTION, ROLLOUT_MAX_TOKENS

from test_views import softmaxed, tokens


@pytest.fixture
def record():
    return AttentionRecord(softmaxed((3, 4, 10, 10)), tokens(10))


# ---- pinned ------------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", [Heatmap, HeadView, ModelView, AlignmentView])
def test_pinned_is_none_or_a_query_token(record, cls):
    view = cls(record)
    assert view.pinned is None
    view.pinned = 4
    assert view.pinned == 4
    for bad in (10, -1):
        with pytest.raises(traitlets.TraitError, match=f"query token {bad} is out of range"):
            view.pinned = bad
        assert "Use None to unpin" in view.error and view.pinned == 4
    view.pinned = None
    assert view.pinned is None and view.error == ""


def test_pinned_shows_in_the_static_pictures(record):
    from io import BytesIO

    from PIL import Image

    view = Heatmap(record)
    plain = np.asarray(Image.open(BytesIO(view.fallback_png())).convert("RGB")).astype(int)
    view.pinned = 3
    pinned = np.asarray(Image.open(BytesIO(view.fallback_png())).convert("RGB")).astype(int)
    changed = np.abs(pinned - plain).sum(-1) > 0
    red = (pinned[..., 0] > 200) & (pinned[..., 1] < 60) & (pinned[..., 2] < 60)
    assert (changed & red).sum() > 100  # the red outline of the pinned row
    fig = view.to_figure()
    assert any(p.get_edgecolor()[:3] == (1.0, 0.0, 0.0) for p in fig.axes[0].patches)


# ---- linking -------------------------------------------------------------------------------------


def test_link_views_keeps_layer_head_aggregate_and_pin_together(record):
    heads, heat, grid = HeadView(record), Heatmap(record, layer=2), ModelView(record)
    links = link_views(heat, heads, grid)
    assert heads.layer == 2 and grid.layer == 2  # the first view's values win
    heads.pinned = 7
    assert heat.pinned == 7 and grid.pinned == 7
    grid.head = 3
    assert heat.head == 3 and not heads.has_trait("head")
    heat.aggregate = "max"
    assert heads.aggregate == "max" and grid.aggregate == "max"
    heat.rollout = True
    assert heads.rollout and heads.data_info["keys"] == ["rollout"]
    for link in links:
        link.unlink()
    heat.pinned = 1
    assert heads.pinned == 7
    # plain ipywidgets.link works the same way
    W.link((heads, "pinned"), (heat, "pinned"))
    heads.pinned = None
    assert heat.pinned is None


def test_link_views_refuses_what_cannot_be_shared(record):
    other = AttentionRecord(softmaxed((2, 4, 10, 10), 1), tokens(10))
    with pytest.raises(ValueError, match="numbers of layers"):
        link_views(Heatmap(record), Heatmap(other))
    link_views(Heatmap(record), Heatmap(other), traits=("head", "pinned"))
    with pytest.raises(TypeError, match="two or more"):
        link_views(Heatmap(record))


# ---- aggregates and rollout ------------------------------------------------------------------------


def test_heatmap_mean_and_max_are_the_kernel_aggregates(record):
    view = Heatmap(record, layer=1)
    for how in ("mean", "max"):
        view.aggregate = how
        assert view.data_info["keys"] == [how]
        sent = np.frombuffer(view.data, "<f2").reshape(10, 10)
        np.testing.assert_allclose(sent, getattr(record.weights[1], how)(axis=0), atol=1e-3)


def test_rollout_is_offered_for_encoders_and_sent_like_any_map(record):
    view = Heatmap(record, layer=2)
    assert view.can_rollout
    view.rollout = True
    expected = analysis.rollout(record).weights[2, 0]
    assert view.data_info["keys"] == ["rollout"] and view.more_info["keys"] == []
    np.testing.assert_allclose(np.frombuffer(view.data, "<f2").reshape(10, 10), expected, atol=1e-3)
    cached = view.rollout_record()
    view.layer = 0
    assert view.rollout_record() is cached  # computed once
    np.testing.assert_allclose(np.frombuffer(view.data, "<f2").reshape(10, 10), analysis.rollout(record).weights[0, 0], atol=1e-3)
    assert view.shown_name() == "rollout to layer 0"
    causal = AttentionRecord(softmaxed((1, 2, 6, 6), causal=True), tokens(6), kind="causal")
    view = Heatmap(causal)
    assert not view.can_rollout
    with pytest.raises(traitlets.TraitError, match="encoder"):
        view.rollout = True
    assert "encoder" in view.error


def test_modelview_columns_open_the_aggregates(record):
    view = ModelView(record, opened=True, aggregate="mean", layer=1)
    assert view.data_info["key"] == "1/mean"
    np.testing.assert_allclose(np.frombuffer(view.data, "<f2").reshape(10, 10), record.matrix(1, aggregate="mean"), atol=1e-3)
    thumbs = np.frombuffer(view.thumbs, np.uint8).reshape(3, 6, 10, 10)
    mean = record.matrix(1, aggregate="mean")
    np.testing.assert_allclose(thumbs[1, 4] / 255, mean / mean.max(), atol=1 / 255)


def test_headview_aggregate_and_rollout_lines(record):
    view = HeadView(record, aggregate="max")
    data_before = view.data
    view.aggregate = "mean"  # both aggregates ride with the heads for short inputs: nothing sent
    assert view.data is data_before
    view.rollout = True
    assert view.data_info["keys"] == ["rollout"]
    fig = view.to_figure()
    assert "rollout" in fig.axes[0].get_title()


# ---- export from Python -------------------------------------------------------------------------


@pytest.mark.parametrize("make", [lambda r: Heatmap(r, pinned=2), lambda r: HeadView(r, aggregate="mean"), lambda r: ModelView(r, opened=True),
                                  lambda r: AlignmentView(r, step=4)])
def test_save_image_writes_png_and_svg_without_a_browser(record, make, tmp_path):
    from PIL import Image

    view = make(record)
    png = view.save_image(tmp_path / "view.png")
    image = Image.open(png)
    fig = view.to_figure()
    w, h = fig.get_size_inches() * 200
    assert image.size == (round(w), round(h))  # dpi 200: twice matplotlib's screen resolution
    pixels = np.asarray(image.convert("L"))
    assert pixels.std() > 10  # not blank
    svg = view.save_image(tmp_path / "view.svg").read_text()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    with pytest.raises(ValueError, match=r"\.png, \.svg or \.pdf"):
        view.save_image(tmp_path / "view.jpeg")


def test_image_view_save_image(tmp_path):
    gates = (1 / (1 + np.exp(-np.random.default_rng(0).normal(size=(1, 1, 1, 12))))).astype(np.float32)
    rec = AttentionRecord(gates, ["img"], tokens(12), kind="spatial", grid=(3, 4))
    path = ImageAttention(rec, np.full((30, 40, 3), 200, np.uint8)).save_image(tmp_path / "i.png")
    assert path.read_bytes()[:4] == b"\x89PNG"


# ---- long inputs ---------------------------------------------------------------------------------------


def test_long_inputs_send_a_pooled_overview_and_cache_it():
    n = 2048
    rec = AttentionRecord(np.broadcast_to(softmaxed((1, 1, n, n)), (1, 4, n, n)), tokens(n))
    view = Heatmap(rec)
    assert view.data_info["rows"] == MAX_RESOLUTION and len(view.data) == MAX_RESOLUTION ** 2 * 2
    assert len(view.more_info["keys"]) == 1_500_000 // (MAX_RESOLUTION ** 2 * 2) - 1
    peak = np.frombuffer(view.data, "<f2").max()
    assert peak == pytest.approx(rec.weights.max(), abs=1e-3)  # max-pooled: the peak survives
    cached = view.pooled(0, "0", (0, n, 0, n), *[view.data_info["row_starts"] and np.array(view.data_info["row_starts"])] * 2)
    assert cached is view.pooled(0, "0", (0, n, 0, n), np.array(view.data_info["row_starts"]), np.array(view.data_info["col_starts"]))
    view.window = [100, 300, 1000, 1200]  # zoomed: the region at full detail
    assert view.data_info["region"] == [100, 300, 1000, 1200] and view.data_info["row_starts"] is None
    np.testing.assert_allclose(np.frombuffer(view.data, "<f2").reshape(200, 200), rec.weights[0, 0, 100:300, 1000:1200], atol=1e-3)
    assert ROLLOUT_MAX_TOKENS >= n and view.can_rollout
    headview = HeadView(rec)
    assert headview.data_info["keys"] == ["0", "1", "2", "3"]  # long: aggregates only once chosen
    headview.aggregate = "mean"
    assert headview.data_info["keys"][-1] == "mean"
