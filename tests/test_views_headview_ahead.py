"""HeadView ranks each layer's top-k once, and long inputs rank the next layers in a thread (issue 17)."""

from __future__ import annotations

import time

import numpy as np

from attnwidgets.record import AttentionRecord
from attnwidgets.views import HeadView
from attnwidgets.views import headview as hv_module


def softmaxed(shape, seed):
    x = np.random.default_rng(seed).normal(size=shape).astype(np.float32) * 3
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def sent(view) -> tuple[np.ndarray, np.ndarray]:
    info = view.data_info
    n = info["heads"] * info["queries"] * info["k"]
    values = np.frombuffer(view.data[: 2 * n], "<f2").reshape(info["heads"], info["queries"], info["k"])
    return values, np.frombuffer(view.data[2 * n:], "<u2").reshape(values.shape)


def expected(weights: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    index = np.argsort(-weights, axis=-1, kind="stable")[..., :k]
    return np.take_along_axis(weights, index, -1).astype(np.float16), index


def idle(ranked, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while ranked.thread is not None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert ranked.thread is None, "the ranking thread did not finish"


def test_long_inputs_rank_the_neighbouring_layers_ahead_and_switches_send_them(monkeypatch):
    monkeypatch.setattr(hv_module, "AHEAD_WEIGHTS", 0)  # every record counts as long
    w = softmaxed((4, 2, 40, 40), 0)
    view = HeadView(AttentionRecord(w, [f"t{i}" for i in range(40)]), top_k=5)
    ranked = view.layer_top_k()
    idle(ranked)
    assert sorted(ranked.done) == [0, 1]  # the shown layer, and the next one ranked ahead
    view.layer = 1
    idle(ranked)
    assert sorted(ranked.done) == [0, 1, 2]
    values, index = sent(view)
    want_v, want_i = expected(w[1], 5)
    assert view.data_info["keys"][:2] == ["0", "1"]
    np.testing.assert_array_equal(values[:2], want_v)
    np.testing.assert_array_equal(index[:2], want_i)
    # the rankings belong to the record: a new one (show) or another k starts afresh
    w2 = softmaxed((4, 2, 40, 40), 1)
    view.show(AttentionRecord(w2, [f"u{i}" for i in range(40)]))
    assert view.layer_top_k() is not ranked
    values, index = sent(view)
    np.testing.assert_array_equal(values[:2], expected(w2[1], 5)[0])
    view.top_k = 3
    assert sent(view)[0].shape == (4, 40, 3)  # two heads, mean, max
    np.testing.assert_array_equal(sent(view)[1][:2], expected(w2[1], 3)[1])


def test_short_inputs_rank_on_demand_only():
    w = softmaxed((3, 2, 20, 20), 2)
    view = HeadView(AttentionRecord(w, [f"t{i}" for i in range(20)]))
    ranked = view.layer_top_k()
    assert ranked.thread is None and sorted(ranked.done) == [0]
    view.layer = 2
    assert sorted(ranked.done) == [0, 2]


def test_a_layer_being_ranked_ahead_is_waited_for_not_ranked_twice(monkeypatch):
    calls = []
    real = hv_module.top_k

    def slow(weights, k):
        calls.append(weights.shape)
        time.sleep(0.3)
        return real(weights, k)

    monkeypatch.setattr(hv_module, "AHEAD_WEIGHTS", 0)
    w = softmaxed((2, 2, 16, 16), 3)
    view = HeadView(AttentionRecord(w, [f"t{i}" for i in range(16)]))
    ranked = view.layer_top_k()
    idle(ranked)  # layer 1 ranked ahead at full speed
    monkeypatch.setattr(hv_module, "top_k", slow)
    ranked.done.pop(1)  # as if layer 1 were not ranked yet: rank it ahead, slowly
    ranked.ahead([1])
    time.sleep(0.05)
    view.layer = 1  # waits for the thread's ranking
    idle(ranked)
    assert [s for s in calls if s == (2, 16, 16)] == [(2, 16, 16)]
    np.testing.assert_array_equal(sent(view)[1][:2], expected(w[1], 8)[1])
