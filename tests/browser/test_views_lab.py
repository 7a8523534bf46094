"""Each view renders in JupyterLab, a control moved in the browser repaints it, and nothing logs an error."""

from __future__ import annotations

import pytest

from .conftest import canvas_signature, kernel_eval, view_root, wait_canvas_change

pytestmark = pytest.mark.browser


def test_heatmap_layer_and_head_controls_repaint(lab_page):
    page, view = lab_page, "heatmap-test"
    root = view_root(page, view)
    before = canvas_signature(page, view)
    root.locator("select[data-trait=layer]").select_option("1")
    wait_canvas_change(page, view, before)
    before = canvas_signature(page, view)
    root.locator("select[data-trait=head]").select_option("mean")
    wait_canvas_change(page, view, before)
    assert not page.console.errors, page.console.errors


def test_heatmap_hover_shows_value(lab_page):
    page = lab_page
    root = view_root(page, "heatmap-test")
    canvas = root.locator("canvas.aw-heatmap")
    box = canvas.bounding_box()
    canvas.hover(position={"x": box["width"] - 120, "y": box["height"] - 40})
    tip = root.locator(".aw-tip")
    tip.wait_for(state="visible")
    assert "\u2192" in tip.inner_text() and ":" in tip.inner_text()


def test_headview_head_toggle_and_layer_repaint(lab_page):
    page, view = lab_page, "headview-test"
    root = view_root(page, view)
    before = canvas_signature(page, view)
    root.locator(".aw-heads span[data-head='0']").click()
    wait_canvas_change(page, view, before)
    before = canvas_signature(page, view)
    root.locator("select[data-trait=layer]").select_option("2")
    wait_canvas_change(page, view, before)
    assert not page.console.errors, page.console.errors


def test_causal_headview_hover_shows_one_token(lab_page):
    page, view = lab_page, "headview-causal-test"
    root = view_root(page, view)
    before = canvas_signature(page, view)
    canvas = root.locator("canvas.aw-headview")
    canvas.hover(position={"x": 60, "y": 20 + 18 * 3 + 9})
    wait_canvas_change(page, view, before)
    assert not page.console.errors, page.console.errors


def test_modelview_click_opens_heatmap(lab_page):
    page, view = lab_page, "modelview-test"
    root = view_root(page, view)
    assert not root.locator(".aw-detail").is_visible()
    grid = root.locator("canvas.aw-modelview")
    step, left, top = (float(grid.get_attribute(f"data-{k}")) for k in ("step", "left", "top"))
    grid.click(position={"x": left + 2 * step + 10, "y": top + 1 * step + 10})
    root.locator(".aw-detail canvas").wait_for(state="visible")
    page.wait_for_function(
        "el => !el.querySelector('.aw-detail').textContent.includes('loading')", arg=root.element_handle()
    )
    assert "layer 1, head 2" in root.locator(".aw-detail .aw-note").inner_text()
    assert not page.console.errors, page.console.errors


def test_screenshots(lab_page, tmp_path):
    """Pictures of each view for a human to look at (copied to docs/screenshots by hand)."""
    import os

    out = os.environ.get("AW_SCREENSHOTS", str(tmp_path))
    for name in ("heatmap-test", "headview-test", "headview-causal-test", "modelview-test", "alignment-test", "image-test"):
        root = view_root(lab_page, name)
        root.scroll_into_view_if_needed()
        png = root.screenshot(path=os.path.join(out, name.replace("-test", "") + ".png"))
        assert len(png) > 2000


def test_alignment_step_slider_reveals_rows(lab_page):
    page, view = lab_page, "alignment-test"
    root = view_root(page, view)
    assert root.locator(".aw-target span").nth(2).evaluate("e => getComputedStyle(e).visibility") == "hidden"
    before = canvas_signature(page, view)
    root.locator("input[data-trait=step]").fill("5")
    wait_canvas_change(page, view, before)
    assert root.locator(".aw-target span").nth(4).evaluate("e => getComputedStyle(e).visibility") == "visible"
    assert not page.console.errors, page.console.errors


def test_image_opacity_and_layer_repaint(lab_page):
    page, view = lab_page, "image-test"
    root = view_root(page, view)
    before = canvas_signature(page, view, "canvas.aw-image")
    root.locator("input[data-trait=opacity]").fill("0.9")
    wait_canvas_change(page, view, before, "canvas.aw-image")
    before = canvas_signature(page, view, "canvas.aw-channels")
    root.locator("select[data-trait=layer]").select_option("1")
    wait_canvas_change(page, view, before, "canvas.aw-channels")
    assert not page.console.errors, page.console.errors


def test_explore_has_one_set_of_controls_and_its_views_follow_each_other(lab_page):
    page, view = lab_page, "explore-test"
    root = view_root(page, view)
    explorer = page.locator(".widget-vbox", has=root).last
    # the views' own controls only: no ipywidgets slider or dropdown above them
    assert explorer.locator(".widget-slider, .widget-dropdown").count() == 0
    before = canvas_signature(page, view)
    root.locator("select[data-trait=layer]").select_option("1")  # the head view's own layer control
    wait_canvas_change(page, view, before)
    # the other tabs follow in the kernel (the change travels browser -> kernel -> links)
    for _ in range(50):
        layers = kernel_eval(page, "print(*(v.layer for v in ex.views.values()))").split()
        if layers == ["1", "1", "1"]:
            break
        page.wait_for_timeout(200)
    assert layers == ["1", "1", "1"]
    assert not page.console.errors, page.console.errors


def test_a_refused_value_shows_its_message_in_the_widget(lab_page):
    root = view_root(lab_page, "error-test")
    box = root.locator(".aw-error")
    box.wait_for(state="visible")
    assert "layer 99 is out of range" in box.inner_text()
    assert root.locator("canvas.aw-heatmap").bounding_box()["height"] > 100  # still drawn, never blank


def test_zooming_a_pooled_heatmap_fetches_the_window_in_detail(lab_page):
    page = lab_page
    root = view_root(page, "zoom-test")
    canvas = root.locator("canvas.aw-heatmap")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    # the plot area starts after the labels; aim at its middle
    at = {"x": box["x"] + box["width"] * 0.45, "y": box["y"] + box["height"] * 0.55}
    tip = root.locator(".aw-tip")
    page.mouse.move(at["x"], at["y"])
    tip.wait_for(state="visible")
    assert "(max)" in tip.inner_text()  # 300 tokens pooled into 100 bins: each cell is a max over 3
    for _ in range(6):  # 0.8^6: about 80 tokens in view, under max_resolution
        page.mouse.wheel(0, -100)
    page.mouse.move(at["x"] + 1, at["y"] + 1)
    page.wait_for_function(
        "el => { const t = el.querySelector('.aw-tip').textContent; return t && !t.includes('(max)') && !t.includes('loading'); }",
        arg=root.element_handle(), timeout=15_000,
    )
    assert not page.console.errors, page.console.errors
