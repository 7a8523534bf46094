"""Python-side tests of the views: trait validation, what each selection sends, static fallbacks."""

from __future__ import annotations

import base64
import re

import comm
import numpy as np
import pytest
import traitlets

from attnwidgets.record import AttentionRecord, EncoderDecoderRecord
from attnwidgets.views import Heatmap, HeadView, ModelView
from attnwidgets.views.base import bin_starts, max_pool, sent_bytes


def softmaxed(shape, seed=0, causal=False):
    x = np.random.default_rng(seed).normal(size=shape) * 3
    if causal:
        x = np.where(np.tril(np.ones(shape[-2:], bool)), x, -np.inf)
    e = np.exp(x - x.max(-1, keepdims=True))
    return (e / e.sum(-1, keepdims=True)).astype(np.float32)


def tokens(n):
    return [f"t{i}" for i in range(n)]


@pytest.fixture
def record():
    return AttentionRecord(softmaxed((3, 4, 10, 10)), tokens(10))


class RecordingComm(comm.base_comm.BaseComm):
    """Keeps every message a widget would send to the browser."""

    def __init__(self, **kwargs):
        self.sent = []
        super().__init__(**kwargs)

    def publish_msg(self, msg_type, data=None, metadata=None, buffers=None, **keys):
        self.sent.append({"type": msg_type, "data": data, "buffers": [memoryview(b) for b in (buffers or [])]})


@pytest.fixture
def wire(monkeypatch):
    """Widgets created inside the test talk to a RecordingComm; returns a list of created comms."""
    comms = []

    def create(**kwargs):
        c = RecordingComm(**kwargs)
        comms.append(c)
        return c

    monkeypatch.setattr(comm, "create_comm", create)
    return comms


def updates(c):
    """(state keys, buffer byte sizes) of every 'update' message on a comm."""
    out = []
    for msg in c.sent:
        data = msg["data"] or {}
        if data.get("method") == "update":
            out.append((set(data["state"]) | {p[0] for p in data.get("buffer_paths", [])}, [b.nbytes for b in msg["buffers"]]))
    return out


# ---- pooling and packing ---------------------------------------------------------------


def test_max_pool_keeps_peaks():
    m = np.zeros((100, 100), np.float32)
    m[37, 81] = 1.0
    rs, cs = bin_starts(0, 100, 10), bin_starts(0, 100, 10)
    pooled = max_pool(m, rs, cs)
    assert pooled.shape == (10, 10)
    assert pooled[3, 8] == 1.0 and pooled.sum() == 1.0
    assert bin_starts(0, 10, 16) is None


# ---- Heatmap -------------------------------------------------------------------------------


def test_heatmap_first_render_sends_the_layer_heads_as_float16(record, wire):
    view = Heatmap(record, layer=1, head=2)
    info, more = view.data_info, view.more_info
    assert info["layer"] == 1 and info["keys"] == ["2"] and len(view.data) == 10 * 10 * 2
    assert more["layer"] == 1 and more["keys"] == ["3", "1", "0"]  # nearest heads first
    assert len(view.more) == 3 * 10 * 10 * 2
    np.testing.assert_allclose(np.frombuffer(view.data, dtype="<f2").reshape(10, 10), record.matrix(1, 2), atol=1e-3)
    words = np.frombuffer(view.more, dtype="<f2").reshape(3, 10, 10)
    for i, h in enumerate((3, 1, 0)):
        np.testing.assert_allclose(words[i], record.matrix(1, h), atol=1e-3)
    assert info["maxima"][0] == pytest.approx(record.matrix(1, 2).max(), abs=1e-6)
    # the open message carries each buffer once, with no JSON copy of the weights
    (opened,) = [m for m in wire[-1].sent if m["type"] == "comm_open"]
    assert sorted(b.nbytes for b in opened["buffers"]) == sorted([200, 600, 768])


def test_heatmap_head_switch_within_the_buffer_sends_nothing_but_layer_switch_sends_the_layer(record, wire):
    view = Heatmap(record)
    c = wire[-1]
    c.sent.clear()
    view.head = 3
    assert all("data" not in keys for keys, _ in updates(c))
    view.layer = 2
    data_msgs = [(keys, sizes) for keys, sizes in updates(c) if keys & {"data", "more"}]
    # the shown head first, alone (it paints sooner), then its neighbours in a second message
    assert [sizes for _, sizes in data_msgs] == [[200], [600]]
    assert {"data", "data_info"} <= data_msgs[0][0] and "more" not in data_msgs[0][0]
    assert {"more", "more_info"} <= data_msgs[1][0]
    c.sent.clear()
    view.head = 1  # in `more`: nothing sent
    assert not [keys for keys, _ in updates(c) if keys & {"data", "more"}]


def test_heatmap_prefetch_budget_limits_the_buffer():
    rec = AttentionRecord(softmaxed((1, 6, 64, 64)), tokens(64))
    view = Heatmap(rec, head=4, prefetch_bytes=3 * 64 * 64 * 2)
    assert view.data_info["keys"] == ["4"] and view.more_info["keys"] == ["5", "3"]
    assert len(view.data) + len(view.more) == 3 * 64 * 64 * 2
    view.head = 0  # not in the buffer: fetched
    assert view.data_info["keys"] == ["0"] and view.more_info["keys"] == ["1", "2"]


def test_heatmap_pools_long_inputs_and_refines_a_zoom_window():
    n = 300
    rec = AttentionRecord(softmaxed((1, 1, n, n)), tokens(n))
    view = Heatmap(rec, max_resolution=100)
    info = view.data_info
    assert (info["rows"], info["cols"]) == (100, 100) and len(info["row_starts"]) == 100
    assert len(view.data) == 100 * 100 * 2
    peak = np.frombuffer(view.data, "<f2").max()
    assert peak == pytest.approx(rec.weights.max(), abs=1e-3)  # max-pool: the peak survives
    view.window = [10, 60, 0, 300]
    assert view.data_info["region"] == [10, 60, 0, 300]
    assert (view.data_info["rows"], view.data_info["cols"]) == (50, 100)


def test_heatmap_aggregates(record):
    view = Heatmap(record, aggregate="mean")
    np.testing.assert_allclose(np.frombuffer(view.data, "<f2")[:100].reshape(10, 10), record.matrix(0, aggregate="mean"), atol=1e-3)


def test_heatmap_takes_a_plain_matrix_with_labels():
    m = softmaxed((3, 5))
    view = Heatmap(m, query_tokens=["a", "b", "c"], key_tokens=list("vwxyz"))
    assert view.query_tokens == ["a", "b", "c"] and view.key_tokens == list("vwxyz")
    assert view.data_info["rows"] == 3 and view.data_info["cols"] == 5


@pytest.mark.parametrize(
    "trait, value, words",
    [("layer", 3, "layer 3 is out of range"), ("layer", -1, "out of range"), ("head", 4, "head 4 is out of range"),
     ("aggregate", "median", "aggregate must be"), ("pinned", 10, "query token 10"), ("pinned", -1, "query token -1"), ("threshold", -0.5, "threshold must be"),
     ("window", [5, 2, 0, 10], "window must be"), ("colormap", "rainbowz", "unknown colour map")],
)
def test_heatmap_refuses_bad_values_and_shows_why(record, trait, value, words):
    view = Heatmap(record)
    before = getattr(view, trait)
    with pytest.raises(traitlets.TraitError, match=words):
        setattr(view, trait, value)
    assert getattr(view, trait) == before
    assert words in view.error  # the widget shows the message


def test_a_good_value_clears_the_error(record):
    view = Heatmap(record)
    with pytest.raises(traitlets.TraitError):
        view.layer = 9
    view.layer = 1
    assert view.error == ""


def test_a_bad_value_from_the_browser_is_refused_with_a_message(record):
    view = Heatmap(record)
    view.set_state({"layer": 7})  # what a comm message from the front end does
    assert view.layer == 0 and "layer 7 is out of range" in view.error


@pytest.mark.parametrize(
    "bad, error, words",
    [("text", TypeError, "AttentionRecord"), (np.ones((2, 2, 2)), ValueError, "2-D"), (np.full((2, 2), 5.0), ValueError, "gates"),
     (EncoderDecoderRecord(*(AttentionRecord(softmaxed((1, 1, 3, 3)), tokens(3)),) * 3), TypeError, "EncoderDecoderRecord")],
)
def test_heatmap_bad_input_raises_at_construction(bad, error, words):
    with pytest.raises(error, match=words):
        Heatmap(bad)


def test_padding_is_never_sent():
    w = softmaxed((1, 1, 6, 6))
    w[..., 4:] = 0
    w /= w.sum(-1, keepdims=True)
    rec = AttentionRecord(w, tokens(6), query_padding=[0, 0, 0, 0, 1, 1])
    view = Heatmap(rec)
    assert view.query_tokens == tokens(4) and view.data_info["rows"] == 4


# ---- HeadView --------------------------------------------------------------------------------


def test_headview_sends_top_k_values_and_uint16_indices_for_the_layer(record, wire):
    view = HeadView(record, layer=2, top_k=3)
    assert view.data_info["keys"] == ["0", "1", "2", "3", "mean", "max"]  # every head, then the aggregates
    n = 6 * 10 * 3
    assert len(view.data) == n * 2 + n * 2
    vals = np.frombuffer(view.data[: 2 * n], "<f2").reshape(6, 10, 3)
    idx = np.frombuffer(view.data[2 * n:], "<u2").reshape(6, 10, 3)
    w = record.weights[2]
    np.testing.assert_allclose(vals[1, 5], np.sort(w[1, 5])[::-1][:3], atol=1e-3)
    np.testing.assert_allclose(w[1, 5][idx[1, 5]], vals[1, 5], atol=1e-3)
    mean = record.matrix(2, aggregate="mean")
    np.testing.assert_allclose(vals[4, 5], np.sort(mean[5])[::-1][:3], atol=1e-3)
    np.testing.assert_allclose(mean[5][idx[4, 5]], vals[4, 5], atol=1e-3)
    c = wire[-1]
    c.sent.clear()
    view.heads = [0, 2]  # toggling heads is client-side: no data is sent
    assert all("data" not in keys for keys, _ in updates(c))
    view.layer = 0
    assert [sizes for keys, sizes in updates(c) if "data" in keys] == [[n * 4]]


def test_headview_causal_and_cross():
    causal = AttentionRecord(softmaxed((1, 2, 8, 8), causal=True), tokens(8), kind="causal")
    view = HeadView(causal, top_k=4)
    assert view.data_info["keys"] == ["0", "1", "mean", "max"] and not view.can_rollout  # rollout is for encoders
    vals = np.frombuffer(view.data[: 2 * 4 * 8 * 4], "<f2").reshape(4, 8, 4)
    idx = np.frombuffer(view.data[2 * 4 * 8 * 4:], "<u2").reshape(4, 8, 4)
    assert view.kind == "causal"
    assert np.all((idx <= np.arange(8)[None, :, None]) | (vals == 0))  # no weight on future keys
    cross = AttentionRecord(softmaxed((1, 1, 3, 5)), tokens(3), list("abcde"), kind="cross")
    view = HeadView(cross)
    assert view.kind == "cross" and view.data_info["k"] == 5


def test_headview_sends_four_lines_per_query_past_1024_keys_unless_asked():
    short = AttentionRecord(softmaxed((1, 1, 1024, 1024)), tokens(1024))
    long = AttentionRecord(softmaxed((1, 1, 1025, 1025)), tokens(1025))
    assert HeadView(short).data_info["k"] == 8
    view = HeadView(long)
    assert view.top_k == 4 and view.data_info["k"] == 4
    top = np.sort(long.weights[0, 0], -1)[:, ::-1][:, :4]
    np.testing.assert_allclose(np.frombuffer(view.data[: 2 * 1025 * 4], "<f2").reshape(1025, 4), top, atol=1e-3)
    assert HeadView(long, top_k=8).data_info["k"] == 8


def test_headview_validation(record):
    view = HeadView(record)
    for trait, value in (("heads", [0, 9]), ("layer", 5), ("top_k", 0), ("threshold", 2.0)):
        with pytest.raises(traitlets.TraitError):
            setattr(view, trait, value)
        assert view.error
    with pytest.raises(ValueError, match="ImageAttention"):
        HeadView(AttentionRecord(np.full((1, 1, 1, 4), 0.5, np.float32), ["img"], tokens(4), kind="spatial", grid=(2, 2)))


# ---- ModelView -------------------------------------------------------------------------------


def test_modelview_sends_uint8_thumbnails_then_the_clicked_head_on_demand(wire):
    rec = AttentionRecord(softmaxed((3, 4, 100, 100)), tokens(100))
    view = ModelView(rec, thumbnail=20)
    assert view.thumbs_info == {"layers": 3, "heads": 4, "columns": ["0", "1", "2", "3", "mean", "max"], "rows": 20, "cols": 20}
    thumbs = np.frombuffer(view.thumbs, np.uint8).reshape(3, 6, 20, 20)
    assert thumbs.max(axis=(2, 3)).min() == 255  # each scaled to its own max
    assert view.data == b""  # nothing opened yet
    c = wire[-1]
    c.sent.clear()
    view.layer, view.head, view.opened = 2, 1, True
    np.testing.assert_allclose(np.frombuffer(view.data, "<f2").reshape(100, 100), rec.matrix(2, 1), atol=1e-3)
    assert [sizes for keys, sizes in updates(c) if "data" in keys] == [[100 * 100 * 2]]
    linked = view.heatmap()
    view.head = 3
    assert linked.head == 3 and linked.layer == 2


# ---- budget ----------------------------------------------------------------------------------


def test_first_render_of_12x12_at_512_tokens_fits_the_2mb_budget():
    rec = AttentionRecord(np.broadcast_to(softmaxed((1, 1, 512, 512)), (12, 12, 512, 512)), tokens(512))
    for cls in (Heatmap, HeadView, ModelView):
        assert sent_bytes(cls(rec)) <= 2_000_000, cls.__name__


# ---- static fallbacks ----------------------------------------------------------------------------


@pytest.mark.parametrize("cls", [Heatmap, HeadView, ModelView])
def test_mimebundle_has_a_png_beside_the_widget(record, cls):
    data, _ = cls(record)._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in data
    assert base64.b64decode(data["image/png"])[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("cls", [Heatmap, HeadView, ModelView])
def test_save_html_is_self_contained(record, cls, tmp_path):
    view = cls(record, title="saved")
    path = view.save_html(tmp_path / "view.html")
    html = path.read_text()
    assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}/", html, re.I), "an external URL in the saved file"
    assert "<script src" not in html and "import(" not in html
    assert "export default" not in html and "VIEW.render" in html
    assert base64.b64encode(view.data[:30]).decode()[:20] in html if view.data else True


def test_to_figure_is_a_matplotlib_figure(record):
    from matplotlib.figure import Figure

    for view in (Heatmap(record, pinned=2), HeadView(record, pinned=1), ModelView(record, opened=True)):
        fig = view.to_figure()
        assert isinstance(fig, Figure) and fig.axes


def test_png_fallback_shows_the_current_state(record):
    from io import BytesIO

    from PIL import Image

    view = Heatmap(record)
    first = view.fallback_png()
    view.layer = 2
    assert view.fallback_png() != first
    image = Image.open(BytesIO(view.fallback_png()))
    assert image.width > 200 and image.height > 200
    view.png_fallback = False  # opt out: the display message carries no picture
    assert "image/png" not in view._repr_mimebundle_()[0]
