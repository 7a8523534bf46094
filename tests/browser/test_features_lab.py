"""Issue 10 in JupyterLab: export, pinning across linked views, aggregates, keyboard, 4096 tokens."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from PIL import Image

from .conftest import canvas_signature, kernel_eval, view_root, wait_canvas_change

pytestmark = pytest.mark.browser


def css_size(root, selector):
    return root.locator(selector).evaluate("c => [parseFloat(c.style.width), parseFloat(c.style.height)]")


@pytest.mark.parametrize("view, canvas", [("heatmap-test", "canvas.aw-heatmap"), ("headview-test", "canvas.aw-headview"), ("image-test", None)])
def test_png_button_downloads_the_picture_at_twice_its_size(lab_page, view, canvas):
    page = lab_page
    root = view_root(page, view)
    root.scroll_into_view_if_needed()
    with page.expect_download() as download:
        root.locator("button[data-export=png]").click()
    data = open(download.value.path(), "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and download.value.suggested_filename.endswith(".png")
    image = Image.open(io.BytesIO(data)).convert("RGB")
    if canvas:  # one canvas: exactly its CSS size x 2
        w, h = css_size(root, canvas)
    else:  # image and channel bars side by side: the box around both, x 2
        box = root.locator("canvas").evaluate_all("cs => { const r = cs.map(c => c.getBoundingClientRect());"
                                                  " return [Math.max(...r.map(x => x.right)) - Math.min(...r.map(x => x.left)),"
                                                  " Math.max(...r.map(x => x.bottom)) - Math.min(...r.map(x => x.top))]; }")
        w, h = box
    assert image.size == (round(w * 2), round(h * 2))
    pixels = np.asarray(image)
    assert len(np.unique(pixels.reshape(-1, 3)[::7], axis=0)) > 20  # drawn, not blank
    assert (pixels.min(-1) < 60).mean() > 0.002  # dark text (labels) is in the picture
    # the view itself went back to screen resolution
    ratio = page.evaluate("() => window.devicePixelRatio")
    if canvas:
        assert root.locator(canvas).evaluate("c => c.width") == round(w * ratio)
    assert not page.console.errors, page.console.errors


def test_svg_button_downloads_the_head_view_as_vectors(lab_page):
    page = lab_page
    root = view_root(page, "headview-test")
    with page.expect_download() as download:
        root.locator("button[data-export=svg]").click()
    svg = ET.fromstring(open(download.value.path(), "rb").read())
    ns = "{http://www.w3.org/2000/svg}"
    assert svg.tag == f"{ns}svg"
    assert len(svg.findall(f".//{ns}path")) >= 4  # line buckets of the heads shown
    labels = [t.text for t in svg.findall(f".//{ns}text")]
    assert "quick" in labels and "fox" in labels


def test_pinning_a_token_sets_the_kernel_trait_and_the_linked_view(lab_page):
    page = lab_page
    heads, heat = view_root(page, "linked-heads-test"), view_root(page, "linked-heat-test")
    heads.scroll_into_view_if_needed()
    before = canvas_signature(page, "linked-heat-test")
    heads.locator("canvas.aw-headview").click(position={"x": 60, "y": 20 + 18 * 3 + 9})  # "fox"
    wait_canvas_change(page, "linked-heat-test", before)  # the other view's picture changed
    assert kernel_eval(page, "print(pin_heads.pinned, pin_heat.pinned)").split() == ["3", "3"]
    for root in (heads, heat):
        badge = root.locator(".aw-pin")
        assert badge.is_visible() and "fox" in badge.inner_text() and "Esc" in badge.inner_text()
    # the pinned row stays outlined in red on the heatmap once the mouse has left
    page.mouse.move(0, 0)
    red = page.evaluate("""() => { const root = [...document.querySelectorAll('.aw-root')].find(r => r.querySelector('.aw-note')?.textContent === 'linked-heat-test');
        const c = root.querySelector('canvas.aw-heatmap'), d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 0; i < d.length; i += 4) if (d[i] > 200 && d[i + 1] < 40 && d[i + 2] < 40) n++; return n; }""")
    assert red > 50
    # Esc (with the view focused) unpins, in both views and in the kernel
    before = canvas_signature(page, "linked-heat-test")
    heads.locator("canvas.aw-headview").click(position={"x": 230, "y": 5})  # focus without pinning
    page.keyboard.press("Escape")
    wait_canvas_change(page, "linked-heat-test", before)
    assert kernel_eval(page, "print(pin_heads.pinned, pin_heat.pinned)").split() == ["None", "None"]
    assert not heat.locator(".aw-pin").is_visible()
    assert not page.console.errors, page.console.errors


def test_choosing_mean_shows_the_mean_the_kernel_computes(lab_page):
    page, view = lab_page, "mean-test"
    root = view_root(page, view)
    root.scroll_into_view_if_needed()
    root.locator("select[data-trait=layer]").select_option("2")
    page.wait_for_function("el => !el.querySelector('canvas.aw-heatmap').toDataURL().includes('loading')", arg=root.element_handle())
    before = canvas_signature(page, view)
    root.locator("select[data-trait=head]").select_option("mean")
    wait_canvas_change(page, view, before)
    cells = [(0, 0), (3, 5), (7, 2), (12, 16), (16, 9)]
    # what the kernel computes: the colour table entry of each cell's mean, as the view scales it
    expected = json.loads(kernel_eval(page, f"""
import json
from attnwidgets.views.base import colormap_bytes
m = record.weights[2].mean(axis=0).astype(np.float16).astype(np.float32)
table = np.frombuffer(colormap_bytes('viridis'), np.uint8).reshape(256, 3)
print(json.dumps([table[min(255, int(np.rint(m[q, k] * 255 / record.matrix(2, aggregate='mean').max())))].tolist() for q, k in {cells}]))
"""))
    geometry = root.locator("canvas.aw-heatmap").evaluate("c => ({...c.dataset, ratio: c.width / parseFloat(c.style.width)})")
    n = 17
    got = root.locator("canvas.aw-heatmap").evaluate(
        """(c, [cells, g, n]) => cells.map(([q, k]) => {
              const x = (+g.left + (k + 0.5) * +g.plotW / n) * g.ratio, y = (+g.top + (q + 0.5) * +g.plotH / n) * g.ratio;
              return Array.from(c.getContext('2d').getImageData(Math.round(x), Math.round(y), 1, 1).data.slice(0, 3)); })""",
        [cells, geometry, n],
    )
    assert np.abs(np.array(got) - np.array(expected)).max() <= 3, (got, expected)
    assert not page.console.errors, page.console.errors


def test_arrow_keys_move_head_and_layer(lab_page):
    page, view = lab_page, "keys-test"
    root = view_root(page, view)
    root.scroll_into_view_if_needed()
    canvas = root.locator("canvas.aw-heatmap")
    canvas.click(position={"x": 5, "y": 5})  # outside the plot: focuses without pinning
    page.wait_for_function("el => document.activeElement === el", arg=root.element_handle())
    before = canvas_signature(page, view)
    page.keyboard.press("ArrowRight")
    wait_canvas_change(page, view, before)
    assert root.locator("select[data-trait=head]").input_value() == "1"
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowDown")
    page.wait_for_function("el => el.querySelector('select[data-trait=layer]').value === '1'", arg=root.element_handle())
    # the browser's new values reach the kernel over the comm a moment later: poll, bounded
    import time

    deadline = time.monotonic() + 10
    while (state := kernel_eval(page, "print(keyed.head, keyed.layer, keyed.pinned)").split()) != ["2", "1", "None"] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert state == ["2", "1", "None"]
    # the keys stayed in the view: JupyterLab did not move to another cell
    assert page.evaluate("() => window.jupyterapp.shell.currentWidget.content.mode") == "command"
    assert not page.console.errors, page.console.errors


def test_a_4096_token_heatmap_and_head_view_render_and_zoom(lab_page):
    page = lab_page
    heat, heads = view_root(page, "long-heat-test"), view_root(page, "long-heads-test")
    heat.scroll_into_view_if_needed()
    canvas = heat.locator("canvas.aw-heatmap")
    g = canvas.evaluate("c => ({...c.dataset})")
    box = canvas.bounding_box()
    at = {"x": box["x"] + float(g["left"]) + float(g["plotW"]) * 0.5, "y": box["y"] + float(g["top"]) + float(g["plotH"]) * 0.5}
    tip = heat.locator(".aw-tip")
    page.mouse.move(at["x"], at["y"])
    tip.wait_for(state="visible")
    assert "(max)" in tip.inner_text()  # 4096 tokens pooled into 512 bins of 8
    for _ in range(12):  # 0.8^12: about 280 tokens in view, under max_resolution
        page.mouse.wheel(0, -100)
    page.mouse.move(at["x"] + 1, at["y"] + 1)
    page.wait_for_function(
        "el => { const t = el.querySelector('.aw-tip').textContent; return t && !t.includes('(max)') && !t.includes('loading'); }",
        arg=heat.element_handle(), timeout=15_000,
    )
    lo, hi = [float(v) for v in canvas.evaluate("c => c.dataset.view").split(",")[:2]]
    assert hi - lo < 512
    # the head view of the same 4096 tokens is drawn (lines and labels), not left blank
    hv = heads.locator("canvas.aw-headview")
    assert hv.evaluate("c => c.height") < 32767 and hv.evaluate("c => c.height") > 1000
    assert heads.locator(".aw-heads span").all_inner_texts() == ["0", "1", "mean", "max"]
    coloured = hv.evaluate("""c => { const d = c.getContext('2d').getImageData(0, 0, c.width, Math.min(c.height, 4000)).data; let n = 0;
                                     for (let i = 0; i < d.length; i += 4) if (Math.max(d[i], d[i+1], d[i+2]) - Math.min(d[i], d[i+1], d[i+2]) > 60) n++; return n; }""")
    assert coloured > 1000  # head-coloured lines
    import os

    if os.environ.get("AW_SCREENSHOTS"):
        heat.screenshot(path=os.path.join(os.environ["AW_SCREENSHOTS"], "long-heat-zoomed.png"))
        heads.screenshot(path=os.path.join(os.environ["AW_SCREENSHOTS"], "long-heads.png"))
    assert not page.console.errors, page.console.errors
