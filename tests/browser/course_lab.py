"""Helpers for test_course_lab.py: a temporary copy of notebooks/ for JupyterLab (lab.py), and what the
browser is asked about one open course notebook (its cells, its widget models and their views).

Everything the browser is asked goes through ``window.jupyterapp`` (JupyterLab's application,
exposed with --LabApp.expose_app_in_browser) and the notebook's ipywidgets manager, reached
through the output renderers of its widget outputs.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[2]
# the student notebooks; AW_COURSE_NOTEBOOKS points the suite at another folder of NN_*.ipynb (e.g. masters, before a release)
NOTEBOOK_DIR = pathlib.Path(os.environ.get("AW_COURSE_NOTEBOOKS", ROOT / "notebooks"))
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


def course_notebooks() -> list[pathlib.Path]:
    """The student notebooks 01..07 that exist now (00_start_here has no code)."""
    return sorted(p for p in NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb") if 1 <= int(p.name[:2]) <= 7)


def copy_notebooks(dest: pathlib.Path) -> pathlib.Path:
    """A throw-away copy of notebooks/ (the server's root): running the course never writes into the repository."""
    shutil.copytree(NOTEBOOK_DIR, dest, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    return dest


def running_kernels(server: dict) -> list[dict]:
    with urllib.request.urlopen(f"{server['base']}/api/kernels?token={server['token']}", timeout=10) as r:
        return json.load(r)


def is_local(url: str, port: int) -> bool:
    """Requests the course may make: its own server, and the page's blob:/data: URLs."""
    return url.startswith((f"http://127.0.0.1:{port}/", f"ws://127.0.0.1:{port}/", "blob:", "data:", "about:"))


# ---- JavaScript run in the page ---------------------------------------------------------

# Open a notebook in the running JupyterLab (no page load) and start listening to its kernel's
# IOPub channel: error messages of callbacks (a slider's observer, a button's on_click) never reach a cell.
OPEN = """async (path) => {
  const app = window.jupyterapp;
  const panel = await app.commands.execute('docmanager:open', { path, factory: 'Notebook' });
  await panel.context.ready;
  await panel.sessionContext.ready;
  window.__awIopub = window.__awIopub || {};
  const log = window.__awIopub[path] = [];
  const listen = () => {
    const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
    if (!kernel || kernel.__awListened) return;
    kernel.__awListened = true;
    kernel.iopubMessage.connect((_, msg) => {
      if (msg.header.msg_type === 'error')
        log.push({ parent: msg.parent_header && msg.parent_header.msg_type, ename: msg.content.ename, evalue: msg.content.evalue });
    });
  };
  listen();
  panel.sessionContext.kernelChanged.connect(listen);
  app.shell.activateById(panel.id);
  return panel.id;
}"""

# The open notebook (by path), for every snippet below.
_PANEL = """const panel = window.jupyterapp.shell.widgets('main') ? [...window.jupyterapp.shell.widgets('main')].find(w => w.context && w.context.path === path) : null;"""

KERNEL_IDLE = """(path) => { """ + _PANEL + """
  const k = panel && panel.sessionContext.session && panel.sessionContext.session.kernel;
  return Boolean(k && k.status === 'idle'); }"""

# Run All is done when the kernel is idle and every code cell has an execution count and is not
# running; or, kernel idle, when a cell has failed (JupyterLab then stops running the rest).
RUN_STATE = """(path) => { """ + _PANEL + """
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  const cells = panel.content.widgets.filter(c => c.model.type === 'code');
  const pending = cells.filter(c => c.model.executionCount === null || c.model.executionState === 'running'
                                    || (c.promptNode && c.promptNode.textContent.includes('*'))).length;
  const failed = cells.some(c => c.model.outputs.toJSON().some(o => o.output_type === 'error'));
  return { idle: Boolean(kernel && kernel.status === 'idle'), pending, failed, cells: cells.length }; }"""

# Every code cell: its index among all cells, first source lines, execution count, error outputs
# (name and value) and what it wrote to stderr (warnings).
CELLS = """(path) => { """ + _PANEL + """
  return panel.content.widgets.map((c, index) => ({ index, type: c.model.type }))
    .filter(c => c.type === 'code').map(({ index }) => {
      const cell = panel.content.widgets[index], outputs = cell.model.outputs.toJSON();
      return { index, source: cell.model.sharedModel.getSource().split('\\n').slice(0, 2).join(' / ').slice(0, 120),
               count: cell.model.executionCount,
               errors: outputs.filter(o => o.output_type === 'error').map(o => ({ ename: o.ename, evalue: String(o.evalue).slice(0, 500) })),
               stderr: outputs.filter(o => o.output_type === 'stream' && o.name === 'stderr').map(o => String(o.text).slice(0, 300)) };
    }); }"""

IOPUB_ERRORS = """(path) => (window.__awIopub && window.__awIopub[path]) || []"""

# The widget models reachable from the cells' widget outputs, each with where its views are in
# the page, checked: an Output holding a PNG shows a loaded <img>; an anywidget draws a .aw-root
# with a canvas/svg/img that is not blank (more than one colour); nothing says "Loading widget"
# or "Error displaying widget".
WIDGETS = """async (path) => { """ + _PANEL + """
  const mime = '""" + WIDGET_MIME + """';
  // the notebook's widget manager, through one of its widget output renderers
  const renderers = [];
  const walk = (w) => { if (!w) return; if (w.mimeType === mime && w._manager) renderers.push(w); for (const c of (w.widgets || [])) walk(c); };
  panel.content.widgets.forEach((cell) => { if (cell.model.type === 'code') walk(cell.outputArea); });
  const problems = [], report = { roots: 0, models: 0, outputsWithFigure: 0, imageWidgets: 0, anywidgets: 0, kinds: {}, problems };
  const text = panel.content.node.textContent || "";
  for (const bad of ['Loading widget...', 'Error displaying widget']) if (text.includes(bad)) problems.push(`the page shows "${bad}"`);
  panel.content.widgets.forEach((cell, index) => {  // figures shown straight in a cell's output, too
    for (const img of cell.node.querySelectorAll('.jp-OutputArea-output img'))
      if (!(img.complete && img.naturalWidth > 1)) problems.push(`cell ${index}: an image output did not load`);
  });
  if (!renderers.length) return report;
  const manager = await renderers[0]._manager.promise;
  const seen = new Set(), todo = [];
  const cells = panel.content.widgets;
  for (let index = 0; index < cells.length; index++) {
    const cell = cells[index];
    if (cell.model.type !== 'code') continue;
    for (const o of cell.model.outputs.toJSON()) {
      if (!o.data || !o.data[mime]) continue;
      report.roots++;
      todo.push([o.data[mime].model_id, index]);
    }
  }
  const blank = (node) => {
    // a canvas is drawn when it has more than one colour (sampled); an img when it has loaded
    if (node.tagName === 'CANVAS') {
      if (node.width < 2 || node.height < 2) return true;
      const d = node.getContext('2d').getImageData(0, 0, node.width, node.height).data;
      const step = Math.max(1, Math.floor(d.length / 4 / 40000)) * 4;
      for (let i = step; i < d.length; i += step) if (d[i] !== d[0] || d[i + 1] !== d[1] || d[i + 2] !== d[2] || d[i + 3] !== d[3]) return false;
      return true;
    }
    if (node.tagName === 'IMG') return !(node.complete && node.naturalWidth > 1);
    if (node.tagName === 'svg' || node.tagName === 'SVG') return node.childElementCount === 0;
    return true;
  };
  while (todo.length) {
    const [id, cellIndex] = todo.pop();
    if (seen.has(id)) continue;
    seen.add(id);
    let model;
    try { model = await manager.get_model(id); } catch (e) { problems.push(`cell ${cellIndex}: widget model ${id} not found`); continue; }
    if (!model) { problems.push(`cell ${cellIndex}: widget model ${id} not found`); continue; }
    report.models++;
    for (const value of Object.values(model.attributes)) {
      const items = Array.isArray(value) ? value : [value];
      for (const v of items) if (v && v.model_id && v.attributes) todo.push([v.model_id, cellIndex]);
    }
    const name = model.get('_model_name'), viewName = model.get('_view_name');
    if (!viewName) continue;  // layouts and styles
    const views = await Promise.all(Object.values(model.views || {}));
    const outputs = name === 'OutputModel' ? model.get('outputs') || [] : [];
    for (const o of outputs) if (o.output_type === 'error') problems.push(`cell ${cellIndex}: an Output widget shows ${o.ename}: ${o.evalue}`);
    if (outputs.some(o => o.data && o.data['image/png'])) {
      report.outputsWithFigure++;
      if (!views.length) problems.push(`cell ${cellIndex}: an Output widget holding a figure has no view on the page`);
      for (const v of views) {
        const imgs = [...v.el.querySelectorAll('img')];
        if (!imgs.length) problems.push(`cell ${cellIndex}: an Output widget holding a figure shows no <img>`);
        else if (imgs.every(blank)) problems.push(`cell ${cellIndex}: an Output widget's figure <img> did not load`);
      }
    }
    if (name === 'ImageModel') {  // a figure as an ipywidgets Image (how the course hides one inside a Predict)
      report.imageWidgets++;
      if (!views.length) problems.push(`cell ${cellIndex}: an Image widget has no view on the page`);
      for (const v of views) if (blank(v.el.tagName === 'IMG' ? v.el : v.el.querySelector('img') || v.el))
        problems.push(`cell ${cellIndex}: an Image widget's picture did not load`);
    }
    if (model.get('_view_module') === 'anywidget') {
      report.anywidgets++;
      if (!views.length) problems.push(`cell ${cellIndex}: an anywidget (${name}) has no view on the page`);
      for (const v of views) {
        const root = v.el.querySelector('.aw-root');
        if (!root) { problems.push(`cell ${cellIndex}: an anywidget view drew no .aw-root: "${(v.el.innerText || '').slice(0, 200)}"`); continue; }
        const kind = [...root.classList].find(c => c.startsWith('aw-view-')) || 'aw-view-?';
        report.kinds[kind] = (report.kinds[kind] || 0) + 1;
        const pictures = [...root.querySelectorAll('canvas, svg, img')];
        if (!pictures.length || pictures.every(blank))
          problems.push(`cell ${cellIndex}: ${kind} "${(root.querySelector('.aw-note') || {}).textContent || ''}" is blank (${pictures.length} canvas/svg/img, none drawn)`);
        const err = root.querySelector('.aw-error');
        if (err && err.style.display !== 'none' && err.textContent) problems.push(`cell ${cellIndex}: ${kind} shows an error: ${err.textContent.slice(0, 300)}`);
      }
    }
  }
  return report;
}"""

SHUTDOWN = """async (path) => { """ + _PANEL + """
  if (!panel) return false;
  await panel.sessionContext.shutdown();
  panel.context.model.dirty = false;  // the copy is thrown away: no "save your work?" dialog
  panel.close();
  return true; }"""

# Each visible ipywidgets slider that shares a box with what it drives: an Output widget showing a
# matplotlib PNG (notebook 01's explorers) or a package view (an image slider calling view.show()).
# The smallest such box decides; the handle and its target get data-aw-* marks for locators.
MARK_SLIDERS = """(path) => { """ + _PANEL + """
  const pairs = [];
  panel.content.node.querySelectorAll('.widget-slider .noUi-handle').forEach((handle) => {
    const slider = handle.closest('.widget-slider');
    if (slider.offsetParent === null) return;  // hidden (a closed tab, an unrevealed Predict)
    for (let box = slider.parentElement; box && !box.classList.contains('jp-Cell'); box = box.parentElement) {
      if (!box.classList.contains('widget-box')) continue;
      const figure = [...box.querySelectorAll('.widget-output')].find(o => o.querySelector('img'));
      // a view's box, not the view: an explorer may replace the view with a new one (06's image slider)
      const target = figure || (box.querySelector('.aw-root') ? box : null);
      if (!target) continue;
      const n = pairs.length;
      handle.setAttribute('data-aw-slider', String(n));
      target.setAttribute(`data-aw-target-${n}`, '');
      const label = slider.querySelector('.widget-label');
      pairs.push({ n, label: label ? label.textContent : '', target: figure ? 'figure' : 'view' });
      break;
    }
  });
  return pairs; }"""

# A fingerprint of what a canvas shows, or of an Output's figure (its <img> src).
CANVAS_SIGNATURE = "c => (c.width > 0 ? c.toDataURL() : '')"
FIGURE_SIGNATURE = "o => { const i = o.querySelector('img'); return i && i.complete && i.naturalWidth > 1 ? i.src : ''; }"
VIEW_SIGNATURE = "r => [...r.querySelectorAll('canvas')].map(c => (c.width > 0 ? c.toDataURL() : '')).join('|')"

# Whether a view's canvas shows its data (not an empty plot or a "loading..." placeholder):
# heat maps have a colour in their plot area other than the empty/unrevealed greys; the head
# view has line pixels between its label columns (below the "loading..." line); anything else
# has more than one colour.
DRAWN = """(c) => {
  if (!c || c.width < 2 || c.height < 2) return false;
  const ctx = c.getContext('2d'), ratio = c.width / (parseFloat(c.style.width) || c.width);
  const px = (x, y) => ctx.getImageData(Math.round(x * ratio), Math.round(y * ratio), 1, 1).data;
  if (c.classList.contains('aw-heatmap')) {
    const left = +c.dataset.left, top = +c.dataset.top, w = +c.dataset.plotW, hh = +c.dataset.plotH;
    for (let i = 0; i < 9; i++) for (let j = 0; j < 9; j++) {
      const d = px(left + (i + 0.5) * w / 9, top + (j + 0.5) * hh / 9);
      const grey = d[0] === d[1] && d[1] === d[2] && (d[0] === 238 || d[0] === 242 || d[0] === 255);
      if (!grey) return true;
    }
    return false;
  }
  if (c.classList.contains('aw-headview')) {
    const x0 = Math.round(130 * ratio), x1 = Math.round((parseFloat(c.style.width) - 130) * ratio), y0 = Math.round(60 * ratio);
    if (x1 <= x0 || c.height <= y0) return false;
    const d = ctx.getImageData(x0, y0, x1 - x0, c.height - y0).data;
    let ink = 0;
    for (let i = 0; i < d.length; i += 16) if (d[i] < 250 || d[i + 1] < 250 || d[i + 2] < 250) ink++;
    return ink > 20;
  }
  const d = ctx.getImageData(0, 0, c.width, c.height).data, step = Math.max(1, Math.floor(d.length / 4 / 40000)) * 4;
  for (let i = step; i < d.length; i += step) if (d[i] !== d[0] || d[i + 1] !== d[1] || d[i + 2] !== d[2]) return true;
  return false; }"""


# ---- moving one control of a view and waiting for its picture to change -------------------

class Moved:
    """What was moved in which view, and how long the redraw took."""

    def __init__(self, what: str, control: str, ms: float):
        self.what, self.control, self.ms = what, control, ms

    def __repr__(self) -> str:
        return f"{self.what}: {self.control} ({self.ms:.0f} ms)"


class NoRedraw(AssertionError):
    pass


def _redraw(page, element, action, signature: str = CANVAS_SIGNATURE, drawn: str = DRAWN, timeout: int = 30_000) -> float:
    """Do `action`, then wait until `element`'s picture differs from before and shows its data; ms taken."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    handle = element.element_handle()
    before = handle.evaluate(signature)
    start = time.perf_counter()
    action()
    try:
        page.wait_for_function(f"([el, before]) => ({signature})(el) !== before && ({drawn})(el)", arg=[handle, before], timeout=timeout)
    except PlaywrightTimeout:
        same = handle.evaluate(signature) == before
        raise NoRedraw(f"the picture {'did not change' if same else 'changed but shows no data (still loading?)'} within {timeout / 1000:.0f} s") from None
    return (time.perf_counter() - start) * 1000


def _other_option(select) -> str | None:
    """Another value of a <select> than the one shown (the next one, wrapping), or None if it has one option."""
    if select.count() == 0 or select.first.is_disabled():
        return None
    values = select.first.evaluate("s => [...s.options].map(o => o.value)")
    if len(values) < 2:
        return None
    current = select.first.input_value()
    return values[(values.index(current) + 1) % len(values)] if current in values else values[0]


def view_title(root) -> str:
    """The view's title, else which cell it is in."""
    title = (root.locator(".aw-note").first.text_content() or "").strip()
    if title:
        return f"'{title[:60]}'"
    return "view in cell " + root.evaluate("r => { const c = r.closest('.jp-Cell'); return c ? (c.dataset.windowedListIndex || '?') : '?'; }")


def _select_move(page, root, canvas, traits: tuple[str, ...]) -> Moved | None:
    """Choose another option in the first of the view's selects (by trait) that has one."""
    for trait in traits:
        select = root.locator(f".aw-bar select[data-trait={trait}]")
        value = _other_option(select)
        if value is not None:
            ms = _redraw(page, canvas, lambda: select.first.select_option(value))
            return Moved(view_title(root), f"{trait} select -> {value}", ms)
    return None


def move_heatmap(page, root) -> Moved:
    canvas = root.locator("canvas.aw-heatmap").first
    # a matrix with one head and one layer has nothing else to show: then the colour map changes
    moved = _select_move(page, root, canvas, ("head", "layer", "colormap"))
    assert moved, f"Heatmap '{view_title(root)}': no head, layer or colour map select to move"
    return moved


def move_headview(page, root) -> Moved:
    canvas = root.locator("canvas.aw-headview").first
    layer = root.locator(".aw-bar select[data-trait=layer]")
    if layer.count():
        # keyboard: the view has focus, down/up steps the layer (rollout stays on if it was)
        values = [v for v in layer.first.evaluate("s => [...s.options].map(o => o.value)") if not v.startswith("r")]
        current = int(layer.first.input_value().lstrip("r"))
        if len(values) > 1:
            key = "ArrowDown" if current < len(values) - 1 else "ArrowUp"
            ms = _redraw(page, canvas, lambda: root.press(key))
            return Moved(view_title(root), f"keyboard {key} (layer {current} -> {current + (1 if key == 'ArrowDown' else -1)})", ms)
    chips = root.locator(".aw-heads span[data-head]")
    heads = [c for c in chips.evaluate_all("cs => cs.map(c => c.dataset.head)") if c.isdigit()]
    if len(heads) > 1:
        on = chips.evaluate_all("cs => cs.filter(c => /^\\d+$/.test(c.dataset.head) && !c.classList.contains('off')).map(c => c.dataset.head)")
        target = next(h for h in heads if on != [h])
        ms = _redraw(page, canvas, lambda: root.locator(f".aw-heads span[data-head='{target}']").dblclick())
        return Moved(view_title(root), f"double-click head chip {target} (only that head)", ms)
    # one layer, one head: the threshold is what changes the picture (fewer lines)
    ms = _redraw(page, canvas, lambda: root.locator("input[data-trait=threshold]").fill("0.3"))
    return Moved(view_title(root), "threshold 0.3 (one layer, one head)", ms)


def move_modelview(page, root) -> Moved:
    grid = root.locator("canvas.aw-modelview").first
    detail = root.locator(".aw-detail canvas.aw-heatmap").first
    step, left, top = (float(grid.get_attribute(f"data-{k}")) for k in ("step", "left", "top"))
    width, height = grid.evaluate("c => [parseFloat(c.style.width), parseFloat(c.style.height)]")
    cells = [(layer, col) for layer, col in ((1, 1), (0, 1), (1, 0), (0, 0)) if left + (col + 1) * step <= width and top + (layer + 1) * step <= height]
    # the opened cell has a red outline on the grid (its top and bottom edges; a neighbour shares one): click another one
    outlined = grid.evaluate("""(c, cells) => { const r = c.width / parseFloat(c.style.width), ctx = c.getContext('2d');
        const red = (x, y) => { const d = ctx.getImageData(Math.floor(x * r), Math.floor(y * r), 1, 1).data; return d[0] > 180 && d[1] < 120 && d[2] < 120; };
        return cells.map(([x, y, size]) => red(x + size / 2, y - 1.5) && red(x + size / 2, y + size + 1.5)); }""",
                             [[left + col * step, top + layer * step, step - 3] for layer, col in cells])
    layer, col = next((cell for cell, red in zip(cells, outlined) if not red), cells[0])
    position = {"x": left + col * step + step / 2, "y": top + layer * step + step / 2}
    ms = _redraw(page, detail, lambda: grid.click(position=position))
    return Moved(view_title(root), f"thumbnail click (row {layer}, column {col}) -> '{root.locator('.aw-detail .aw-note').inner_text()}'", ms)


def move_alignment(page, root) -> Moved:
    canvas = root.locator("canvas.aw-heatmap").first
    step = root.locator("input[data-trait=step]").first
    value, top = int(step.input_value()), int(step.get_attribute("max"))
    button = "\u25b6\u2223" if value < top else "\u25c0"
    ms = _redraw(page, canvas, lambda: root.locator(f"button:text-is('{button}')").click())
    return Moved(view_title(root), f"step button {button} (step {value} -> {value + (1 if value < top else -1)})", ms)


def move_image(page, root) -> Moved:
    image = root.locator("canvas.aw-image").first
    canvas = image if image.is_visible() else root.locator("canvas.aw-channels").first
    moved = _select_move(page, root, canvas, ("layer", "head"))
    if moved:
        return moved
    # one layer, one head: the opacity of the map over the picture is the control left
    opacity = root.locator("input[data-trait=opacity]").first
    value = "0.2" if float(opacity.input_value()) > 0.5 else "0.9"
    ms = _redraw(page, canvas, lambda: opacity.fill(value))
    return Moved(view_title(root), f"opacity -> {value} (one layer, one head)", ms)


MOVERS = {"aw-view-heatmap": move_heatmap, "aw-view-headview": move_headview, "aw-view-modelview": move_modelview,
          "aw-view-alignment": move_alignment, "aw-view-image": move_image}


def move_slider(page, panel, pair: dict) -> Moved:
    """Keyboard on an ipywidgets slider's handle; the figure or view it drives must change."""
    handle = panel.locator(f"[data-aw-slider='{pair['n']}']")
    target = panel.locator(f"[data-aw-target-{pair['n']}]")
    readout = handle.locator("xpath=ancestor::*[contains(@class, 'widget-slider')][1]").locator(".widget-readout")
    before = readout.text_content()
    at_max = handle.get_attribute("aria-valuenow") == handle.get_attribute("aria-valuemax")
    key = "ArrowLeft" if at_max else "ArrowRight"
    if pair["target"] == "figure":
        ms = _redraw(page, target, lambda: handle.press(key), signature=FIGURE_SIGNATURE, drawn="o => Boolean(o.querySelector('img'))")
        what = "its figure"
    else:
        ms = _redraw(page, target, lambda: handle.press(key), signature=VIEW_SIGNATURE,
                     drawn=f"r => [...r.querySelectorAll('canvas')].some(c => c.offsetParent !== null && ({DRAWN})(c))")
        what = view_title(target.locator('.aw-root').first)
    return Moved(f"slider '{pair['label']}' -> {what}", f"keyboard {key} ({before} -> {readout.text_content()})", ms)


# The box around what a widget draws (text, canvases, pictures, controls), in page pixels, with a
# small margin: widget boxes stretch to the notebook's width, their content often does not.
CONTENT_BOX = """(el) => {
  const outer = el.getBoundingClientRect();
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
  const add = (r) => { if (r.width < 1 || r.height < 1) return;
                       x0 = Math.min(x0, r.left); y0 = Math.min(y0, r.top); x1 = Math.max(x1, r.right); y1 = Math.max(y1, r.bottom); };
  const texts = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
  while (texts.nextNode()) {
    if (!texts.currentNode.textContent.trim()) continue;
    const range = document.createRange();
    range.selectNodeContents(texts.currentNode);
    add(range.getBoundingClientRect());
  }
  for (const e of el.querySelectorAll('canvas, img, svg, input, select, button, textarea, .noUi-target')) add(e.getBoundingClientRect());
  if (x0 === Infinity) return null;
  const m = 6, left = Math.max(outer.left, x0 - m), top = Math.max(outer.top, y0 - m);
  return { x: left, y: top, width: Math.min(outer.right, x1 + m) - left, height: Math.min(outer.bottom, y1 + m) - top }; }"""
