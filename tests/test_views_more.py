"""AlignmentView, ImageAttention and explore(): construction checks, buffers, validation, fallbacks."""

from __future__ import annotations

import base64
import re

import ipywidgets as W
import numpy as np
import pytest
import traitlets

from attnwidgets.record import AttentionRecord, EncoderDecoderRecord
from attnwidgets.views import AlignmentView, Explorer, HeadView, Heatmap, ImageAttention, ModelView, explore

from test_views import softmaxed, tokens


def seq2seq():
    enc = AttentionRecord(softmaxed((2, 2, 5, 5), 1), list("abcde"))
    dec = AttentionRecord(softmaxed((2, 2, 4, 4), 2, causal=True), list("WXYZ"), kind="causal")
    cross = AttentionRecord(softmaxed((2, 2, 4, 5), 3), list("WXYZ"), list("abcde"), kind="cross")
    return EncoderDecoderRecord(enc, dec, cross)


def spatial(layers=2, grid=(4, 6)):
    gates = 1 / (1 + np.exp(-np.random.default_rng(0).normal(size=(layers, 1, 1, grid[0] * grid[1]))))
    return AttentionRecord(gates.astype(np.float32), ["image"], tokens(grid[0] * grid[1]), kind="spatial", grid=grid)


def channel(layers=2, channels=16):
    gates = 1 / (1 + np.exp(-np.random.default_rng(1).normal(size=(layers, 1, 1, channels))))
    return AttentionRecord(gates.astype(np.float32), ["image"], [f"c{i}" for i in range(channels)], kind="channel")


IMAGE = (np.arange(40 * 60 * 3) % 251).reshape(40, 60, 3).astype(np.uint8)


# ---- AlignmentView -----------------------------------------------------------------------------


def test_alignment_takes_the_cross_part_and_steps_through_the_target():
    rec = seq2seq()
    view = AlignmentView(rec, step=2)
    assert view.query_tokens == list("WXYZ") and view.key_tokens == list("abcde")
    assert view.data_info["rows"] == 4 and view.data_info["cols"] == 5
    np.testing.assert_allclose(np.frombuffer(view.data, "<f2")[:20].reshape(4, 5), rec.cross.matrix(0, 0), atol=1e-3)
    data_before = view.data
    view.step = 4  # the whole matrix is already in the browser: stepping sends no data
    assert view.data is data_before
    with pytest.raises(traitlets.TraitError, match="step 5 is out of range"):
        view.step = 5
    assert "step 5" in view.error


def test_alignment_from_a_plain_array():
    m = softmaxed((3, 4))
    view = AlignmentView(m, query_tokens=list("xyz"), key_tokens=list("abcd"))
    assert view.step == 3 and view.query_tokens == list("xyz") and view.key_tokens == list("abcd")
    with pytest.raises(TypeError, match=r"query_tokens \(the target tokens: rows\) and key_tokens \(the source tokens: columns\)"):
        AlignmentView(m)
    with pytest.raises(ValueError, match="2-D"):
        AlignmentView(np.ones((2, 2, 2)), query_tokens=list("ab"), key_tokens=list("ab"))
    fig = view.to_figure()
    assert fig.axes[0].get_xlabel() == "source" and fig.axes[0].get_ylabel() == "target"


# ---- ImageAttention --------------------------------------------------------------------------------


def test_image_attention_sends_the_image_once_and_every_map_of_the_query():
    sp, ch = spatial(), channel()
    view = ImageAttention(sp, IMAGE, channel=ch)
    assert view.image[:8] == b"\x89PNG\r\n\x1a\n" or view.image[:2] == b"\xff\xd8"
    assert view.maps_info == {"query": 0, "keys": ["0"], "rows": 4, "cols": 6, "maxima": pytest.approx([float(sp.weights[i].max()) for i in range(2)], abs=1e-6)}
    maps = np.frombuffer(view.maps, "<f2").reshape(2, 4, 6)
    np.testing.assert_allclose(maps[1], sp.weights[1, 0, 0].reshape(4, 6), atol=1e-3)
    bars = np.frombuffer(view.channels, "<f2").reshape(2, 16)
    np.testing.assert_allclose(bars, ch.weights[:, 0, 0], atol=1e-3)
    maps_before = view.maps
    view.layer, view.opacity = 1, 0.8  # client-side
    assert view.maps is maps_before


def test_image_attention_of_a_vit_maps_cls_over_the_patch_grid():
    n = 1 + 2 * 3
    w = softmaxed((2, 3, n, n))
    special = [True] + [False] * 6
    rec = AttentionRecord(w, ["[CLS]"] + tokens(6), query_special=special, grid=(2, 3))
    view = ImageAttention(rec, IMAGE, aggregate="mean")
    assert view.maps_info["keys"] == ["0", "1", "2", "mean", "max"]
    np.testing.assert_allclose(view.map_of(1, 2), w[1, 2, 0, 1:].reshape(2, 3))
    view.query = 3
    assert view.maps_info["query"] == 3


def test_image_attention_channel_only_and_bad_input():
    view = ImageAttention(channel())
    assert view.image == b"" and view.channels_info == {"layers": 2, "channels": 16}
    with pytest.raises(ValueError, match=r"drawn over the image it was computed on: ImageAttention\(record, image\)"):
        ImageAttention(spatial())
    with pytest.raises(ValueError, match="height, width"):
        ImageAttention(spatial(), np.zeros((3, 4, 5, 6)))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        ImageAttention(spatial(), np.full((8, 8, 3), -2.0))
    with pytest.raises(ValueError, match="spatial, channel"):
        ImageAttention(AttentionRecord(softmaxed((1, 1, 3, 4)), tokens(3), tokens(4), kind="cross"), IMAGE)
    with pytest.raises(ValueError, match="same modules"):
        ImageAttention(spatial(layers=2), IMAGE, channel=channel(layers=3))
    view = ImageAttention(spatial(), IMAGE)
    for trait, value in (("layer", 2), ("opacity", 1.5), ("query", 1)):
        with pytest.raises(traitlets.TraitError):
            setattr(view, trait, value)
        assert view.error


def test_image_from_torch_chw_and_floats():
    torch = pytest.importorskip("torch")
    view = ImageAttention(spatial(), torch.rand(3, 20, 30))
    assert view.image


# ---- explore -----------------------------------------------------------------------------------------


def test_explore_text_links_the_views_own_controls():
    rec = AttentionRecord(softmaxed((3, 4, 8, 8)), tokens(8))
    ex = explore(rec)
    assert isinstance(ex, Explorer)
    # (anywidget's add_traits makes a subclass per instance: compare with isinstance)
    assert all(isinstance(v, c) for v, c in zip(ex.views.values(), [HeadView, Heatmap, ModelView]))
    # one set of controls: the views' own; nothing above them duplicates layer, head or threshold
    assert ex.controls == {} and len(ex.children) == 1 and isinstance(ex.children[0], W.Tab)
    assert not [w for w in ex.children if isinstance(w, (W.IntSlider, W.Dropdown, W.FloatSlider))]
    ex.views["heatmap"].layer = 2  # the layer chosen in one tab is the layer of every tab
    assert all(v.layer == 2 for v in ex.views.values())
    ex.views["head view"].aggregate = "mean"
    assert ex.views["heatmap"].aggregate == "mean" and ex.views["model view"].aggregate == "mean"
    ex.views["head view"].aggregate = ""
    ex.views["model view"].head = 3  # a thumbnail click: that head in the heatmap and alone in the head view
    assert ex.views["heatmap"].head == 3 and ex.views["head view"].heads == [3]
    ex.views["heatmap"].pinned = 5
    assert ex.views["head view"].pinned == 5 and ex.views["model view"].pinned == 5


def test_explore_seq2seq_opens_on_the_whole_alignment():
    rec = seq2seq()
    ex = explore(rec)
    assert list(ex.views) == ["alignment", "cross heads", "encoder", "decoder"]
    align = ex.views["alignment"]
    assert align.step == rec.cross.n_queries == 4  # every target token decoded, not an empty grid at step 0
    assert ex.controls == {}  # the decoding step and its play button are the view's own
    align.layer = 0
    align.head = 1
    assert ex.views["cross heads"].heads == [1]
    assert explore(rec.cross).views["alignment"].step == 4


def test_explore_image_and_bad_input():
    ex = explore(spatial(), IMAGE, channel=channel())
    assert list(ex.views) == ["image"] and ex.controls == {} and ex.children[0] is ex.views["image"]
    with pytest.raises(ValueError, match="image"):
        explore(spatial())
    with pytest.raises(TypeError, match="AttentionRecord"):
        explore(np.eye(3))
    with pytest.raises(TypeError, match=r"record first, then the image: explore\(record, image\)"):
        explore(IMAGE, spatial())


def test_explore_vit_links_the_image_and_the_heatmap():
    n = 1 + 2 * 3
    rec = AttentionRecord(softmaxed((2, 3, n, n)), ["[CLS]"] + tokens(6), query_special=[True] + [False] * 6, grid=(2, 3))
    ex = explore(rec, IMAGE)
    assert list(ex.views) == ["image", "heatmap"]
    ex.views["image"].layer, ex.views["image"].head = 1, 2
    assert ex.views["heatmap"].layer == 1 and ex.views["heatmap"].head == 2


# ---- fallbacks for the rest --------------------------------------------------------------------------


@pytest.mark.parametrize("make", [lambda: AlignmentView(seq2seq()), lambda: ImageAttention(spatial(), IMAGE, channel=channel()), lambda: ImageAttention(channel())])
def test_png_fallback_and_offline_html(make, tmp_path):
    view = make()
    data, _ = view._repr_mimebundle_()
    assert base64.b64decode(data["image/png"])[:4] == b"\x89PNG"
    html = view.save_html(tmp_path / "v.html").read_text()
    assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}/", html, re.I)
