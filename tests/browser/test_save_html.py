"""A file written by view.save_html() opens from disk with the network off and draws the view."""

from __future__ import annotations

import numpy as np
import pytest

from attnwidgets.record import AttentionRecord
from attnwidgets.views import AlignmentView, HeadView, Heatmap, ImageAttention, ModelView

pytestmark = pytest.mark.browser


def softmaxed(shape, seed=0):
    x = np.random.default_rng(seed).normal(size=shape) * 3
    e = np.exp(x - x.max(-1, keepdims=True))
    return (e / e.sum(-1, keepdims=True)).astype(np.float32)


WORDS = "attention is a weighted average of values".split()
RECORD = AttentionRecord(softmaxed((2, 3, 7, 7)), WORDS)
GATES = AttentionRecord((1 / (1 + np.exp(-np.random.default_rng(1).normal(size=(1, 1, 1, 12))))).astype(np.float32), ["img"], [str(i) for i in range(12)], kind="spatial", grid=(3, 4))
VIEWS = {
    "heatmap": lambda: Heatmap(RECORD, head=1),
    "headview": lambda: HeadView(RECORD),
    "modelview": lambda: ModelView(RECORD, opened=True, layer=1, head=2),
    "alignment": lambda: AlignmentView(RECORD, step=3),
    "image": lambda: ImageAttention(GATES, np.full((30, 40, 3), 200, np.uint8)),
}


@pytest.fixture(scope="module")
def offline_page(browser):
    context = browser.new_context(offline=True)
    page = context.new_page()
    requests: list[str] = []

    def only_files(route):
        requests.append(route.request.url)
        if route.request.url.startswith(("file://", "blob:", "data:")):
            route.continue_()
        else:
            route.abort()

    context.route("**/*", only_files)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    yield page, requests, errors
    context.close()


@pytest.mark.parametrize("name", list(VIEWS))
def test_saved_html_draws_offline(offline_page, tmp_path, name):
    page, requests, errors = offline_page
    requests.clear(), errors.clear()
    path = VIEWS[name]().save_html(tmp_path / f"{name}.html")
    page.goto(path.as_uri())
    canvas = page.locator("#aw-view canvas").first
    canvas.wait_for(state="visible")
    # drawn: more than one colour on the first canvas (a blank canvas has one)
    page.wait_for_function(
        """() => { const c = document.querySelector('#aw-view canvas'); if (!c.width) return false;
                   const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                   const seen = new Set(); for (let i = 0; i < d.length; i += 4 * 7) seen.add(d[i] * 65536 + d[i+1] * 256 + d[i+2]);
                   return seen.size > 20; }"""
    )
    assert not errors, errors
    assert all(u.startswith(("file://", "blob:", "data:")) for u in requests), requests


def test_saved_heatmap_switches_heads_it_carries(offline_page, tmp_path):
    page, _, errors = offline_page
    errors.clear()
    page.goto(Heatmap(RECORD).save_html(tmp_path / "h.html").as_uri())
    page.locator("canvas.aw-heatmap").wait_for()
    before = page.evaluate("() => document.querySelector('canvas.aw-heatmap').toDataURL()")
    page.select_option("select[data-trait=head]", "2")  # in the saved buffer: drawn offline
    page.wait_for_function("b => document.querySelector('canvas.aw-heatmap').toDataURL() !== b", arg=before)
    before = page.evaluate("() => document.querySelector('canvas.aw-heatmap').toDataURL()")
    page.select_option("select[data-trait=layer]", "1")  # not saved: says so instead of showing a stale layer
    page.wait_for_function("b => document.querySelector('canvas.aw-heatmap').toDataURL() !== b", arg=before)
    assert not errors, errors
