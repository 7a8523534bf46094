"""Every student notebook (notebooks/01_* .. 07_*) in the real JupyterLab UI, as a student meets it.

One JupyterLab, serving a temporary copy of notebooks/ (the repository is never written), and one
Chromium page serve every notebook: each is opened in turn, run with Run All
(notebook:run-all-cells) and checked, then its kernel is shut down before the next one opens.
For each notebook:

- every code cell ran, none has an error output, and no error went over the kernel's IOPub
  channel (a widget callback's exception never reaches a cell);
- every widget output is drawn: each package view (.aw-root) has a canvas/svg/img that is not
  blank, each Output widget holding a figure shows a loaded <img>, nothing says "Loading widget..."
  or "Error displaying widget";
- the first Predict hides its reveal until an option is chosen and "Lock in my guess" is clicked,
  then shows it (the other Predicts are locked in too, so their views can be moved);
- the main widget is photographed, as Run All and the lock-in left it (set
  AW_COURSE_SCREENSHOTS=docs/screenshots/course to keep the pictures; by default they go to a
  temporary folder) and the picture is not blank;
- one control of each kind of package view on the page is moved (a select, the keyboard, a
  thumbnail click, the step buttons) and its canvas changes to a picture with data in it; every
  visible ipywidgets slider that shares a box with a matplotlib Output (notebook 01's explorers)
  or with a package view (an image slider) is moved with the keyboard and what it drives changes;
- no console error (conftest's BENIGN_CONSOLE aside), no kernel-side traceback in the server log,
  no request to anything but the server on 127.0.0.1.

The time each notebook took (kernel start, Run All, checks) is printed at the end of the run.
"""

from __future__ import annotations

import io
import os
import pathlib
import time

import numpy as np
import pytest
from PIL import Image

from .conftest import ConsoleLog
from .course_lab import (CELLS, CONTENT_BOX, IOPUB_ERRORS, KERNEL_IDLE, MARK_SLIDERS, MOVERS, OPEN, RUN_STATE, SHUTDOWN, WIDGETS, NoRedraw,
                         copy_notebooks, course_notebooks, is_local, move_slider, running_kernels, view_title)
from .lab import jupyterlab

pytestmark = pytest.mark.browser

NOTEBOOKS = course_notebooks()
RUN_TIMEOUT_S = 600  # Run All of one notebook in the browser (budget: 90 s on an idle machine)
TIMINGS: dict[str, dict] = {}
MOVED: dict[str, list] = {}
STDERR: dict[str, list] = {}


class _Report:
    """Prints each notebook's times and what was moved at the end of the pytest run."""

    def pytest_terminal_summary(self, terminalreporter):
        if not TIMINGS:
            return
        tr = terminalreporter
        tr.write_sep("-", f"course notebooks in JupyterLab + Chromium (load average {os.getloadavg()[0]:.1f}: a shared machine stretches these)")
        for name, t in TIMINGS.items():
            tr.write_line(f"{name}: open + kernel {t.get('open', 0):.1f} s, Run All {t.get('run', 0):.1f} s, "
                          f"checks {t.get('checks', 0):.1f} s, shutdown {t.get('shutdown', 0):.1f} s; total {t.get('total', 0):.1f} s")
            for moved in MOVED.get(name, []):
                tr.write_line(f"    moved {moved}")
            for cell, text in STDERR.get(name, []):
                tr.write_line(f"    stderr of cell {cell} (a student sees this): {text.strip()[:160]!r}")


@pytest.fixture(scope="module")
def course_server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("course-lab")
    root = copy_notebooks(tmp / "notebooks")
    (tmp / "state").mkdir()
    with jupyterlab(root, tmp / "state") as server:
        yield server


@pytest.fixture(scope="module")
def course_page(course_server, browser, request):
    if not request.config.pluginmanager.has_plugin("attnwidgets-course-lab-report"):
        request.config.pluginmanager.register(_Report(), "attnwidgets-course-lab-report")
    context = browser.new_context(viewport={"width": 1400, "height": 1100})
    page = context.new_page()
    page.console = ConsoleLog(page)
    page.requests = []
    page.on("request", lambda r: page.requests.append(r.url))
    page.on("websocket", lambda ws: page.requests.append(ws.url))
    page.seen = (0, 0, 0)  # console errors, requests and server log bytes already checked
    page.goto(f"{course_server['base']}/lab?reset&token={course_server['token']}")
    page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell && document.querySelector('.jp-LabShell')", timeout=90_000)
    page.evaluate("() => window.jupyterapp.restored")
    page.evaluate("() => window.jupyterapp.shell.collapseLeft()")  # the file browser closed: the notebook gets the width
    yield page
    context.close()


class Notebook:
    """One course notebook open in the page, after Run All."""

    def __init__(self, path: pathlib.Path, page, server):
        self.name, self.path, self.page, self.server = path.stem, path.name, page, server
        self.panel = None
        # what the console, the network and the server log said since the previous notebook closed
        # (for the first one: since JupyterLab loaded)
        self.console_from, self.requests_from, self.log_from = page.seen
        self.stopped_at: str | None = None  # the cell where Run All stopped on an error, if it did

    def skip_if_stopped(self, what: str) -> None:
        """Nothing found because Run All never got there: that failure is test_run_all_...'s to report, not a second one."""
        if self.stopped_at:
            pytest.skip(f"{self.name}: {what}, but Run All stopped at {self.stopped_at} (see test_run_all_executes_every_cell_without_errors)")

    def cells(self) -> list[dict]:
        return self.page.evaluate(CELLS, self.path)

    def unlock_predicts(self) -> int:
        """Lock in the first option of every Predict not locked in yet; how many were."""
        done = 0
        shown = "e => getComputedStyle(e).display !== 'none'"  # (an empty reveal is never "visible")
        for predict in self.panel.locator(".aw-predict").all():
            lock = predict.locator("button.widget-button", has_text="Lock in my guess")
            reveal = predict.locator(":scope > .widget-box").last
            if reveal.evaluate(shown):
                continue
            predict.locator(".widget-toggle-button").first.click()
            self.page.wait_for_function("b => !b.disabled", arg=lock.element_handle(), timeout=20_000)
            lock.click()
            self.page.wait_for_function(shown, arg=reveal.element_handle(), timeout=30_000)
            done += 1
        return done


@pytest.fixture(scope="module", params=NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def notebook(request, course_page, course_server):
    """Open the notebook, Run All, wait until every code cell ran; afterwards shut its kernel down."""
    page, path = course_page, request.param
    times = TIMINGS.setdefault(path.stem, {})
    start = time.perf_counter()
    nb = Notebook(path, page, course_server)
    try:
        nb.panel = page.locator(f"[id='{page.evaluate(OPEN, path.name)}']")
        page.wait_for_function(KERNEL_IDLE, arg=path.name, timeout=120_000)
        times["open"] = time.perf_counter() - start
        page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
        page.wait_for_function(f"(p) => {{ const s = ({RUN_STATE})(p); return s.idle && (s.pending === 0 || s.failed); }}",
                               arg=path.name, timeout=RUN_TIMEOUT_S * 1000, polling=250)
        times["run"] = time.perf_counter() - start - times["open"]
        failed = [c for c in nb.cells() if c["errors"]]
        nb.stopped_at = f"cell {failed[0]['index']} `{failed[0]['source']}`" if failed else None
        checks = time.perf_counter()
        yield nb
        times["checks"] = time.perf_counter() - checks
    finally:
        stop = time.perf_counter()
        page.evaluate(SHUTDOWN, path.name)
        deadline = time.monotonic() + 30
        while running_kernels(course_server) and time.monotonic() < deadline:
            time.sleep(0.2)
        times["shutdown"] = time.perf_counter() - stop
        page.seen = (len(page.console.errors), len(page.requests), course_server["log"].stat().st_size)
        times["total"] = time.perf_counter() - start
        assert not running_kernels(course_server), f"{path.name}: its kernel is still running after the shutdown"


def test_run_all_executes_every_cell_without_errors(notebook):
    cells = notebook.cells()
    STDERR[notebook.name] = [(c["index"], text) for c in cells for text in c["stderr"]]  # reported, not failed: warnings
    not_run = [f"cell {c['index']} `{c['source']}`" for c in cells if c["count"] is None]
    failed = [f"cell {c['index']} `{c['source']}`: {e['ename']}: {e['evalue']}" for c in cells for e in c["errors"]]
    assert not failed, f"{notebook.name}: cells with an error output:\n" + "\n".join(failed)
    assert not not_run, f"{notebook.name}: cells Run All did not execute:\n" + "\n".join(not_run)
    iopub = notebook.page.evaluate(IOPUB_ERRORS, notebook.path)
    assert not iopub, f"{notebook.name}: errors on the kernel's IOPub channel: {iopub}"


def test_every_widget_output_is_drawn(notebook):
    # views draw after their models arrive and images decode: poll until clean (or report what is not)
    deadline = time.monotonic() + 60
    while True:
        report = notebook.page.evaluate(WIDGETS, notebook.path)
        if not report["problems"] or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert not report["problems"], f"{notebook.name}: " + "\n".join(report["problems"])
    if not report["roots"]:
        notebook.skip_if_stopped("no widget output")
    assert report["roots"] > 0, f"{notebook.name}: no widget output at all: the course wants a widget the student moves"


def test_first_predict_reveals_after_a_guess(notebook):
    predicts = notebook.panel.locator(".aw-predict")
    if not predicts.count():
        notebook.skip_if_stopped("no aw.Predict on the page")
    assert predicts.count() > 0, f"{notebook.name}: no aw.Predict on the page (every notebook has a predict-then-reveal moment)"
    first = predicts.first
    first.scroll_into_view_if_needed()
    reveal = first.locator(":scope > .widget-box").last
    lock = first.locator("button.widget-button", has_text="Lock in my guess")
    assert not reveal.is_visible(), f"{notebook.name}: the first Predict shows its reveal before any guess"
    assert lock.is_disabled(), f"{notebook.name}: 'Lock in my guess' is enabled before an option is chosen"
    option = first.locator(".widget-toggle-button").first
    guess = option.inner_text().strip()
    option.click()
    notebook.page.wait_for_function("b => !b.disabled", arg=lock.element_handle(), timeout=20_000)
    assert not reveal.is_visible(), f"{notebook.name}: choosing an option revealed the answer before the lock-in"
    lock.click()
    reveal.wait_for(state="visible", timeout=30_000)
    verdict = first.locator(":scope > .widget-html").nth(1).inner_text()
    assert "you guessed" in verdict and guess in verdict, f"{notebook.name}: verdict after the guess: {verdict!r}"
    # what was hidden is there now, with a size (a view or a figure)
    box = reveal.bounding_box()
    assert box and box["height"] > 50, f"{notebook.name}: the revealed part has no height: {box}"
    notebook.unlock_predicts()  # the others too, so their views can be moved


def _main_widget(panel):
    """What the notebook is about, on screen: the first Predict's reveal if the student moves something in it
    (a view, a slider and its figure), else the whole widget output holding the first package view, else the
    first Predict's reveal, else the first figure."""
    reveals = [r for r in panel.locator(".aw-predict > .widget-box:last-child").all() if r.is_visible()]
    for reveal in reveals:
        if reveal.locator(".aw-root, .widget-slider").count():
            return reveal
    for root in panel.locator(".aw-root").all():
        if root.is_visible():
            return root.locator("xpath=ancestor::div[contains(concat(' ', @class, ' '), ' jp-OutputArea-output ')][last()]")
    return reveals[0] if reveals else panel.locator(".widget-output:has(img), img.widget-image").first


def test_screenshot_of_the_main_widget(notebook, tmp_path):
    page = notebook.page
    notebook.unlock_predicts()
    target = _main_widget(notebook.panel)
    if not target.count():
        notebook.skip_if_stopped("no widget to photograph")
    assert target.count(), f"{notebook.name}: no widget to photograph"
    page.evaluate("() => document.activeElement && document.activeElement.blur()")  # no focus outline in the picture
    # clicks above may have scrolled a box of side-by-side views sideways: show it from its left edge
    target.evaluate("e => { for (const x of [e, ...e.querySelectorAll('*')]) if (x.scrollLeft) x.scrollLeft = 0; }")
    page.mouse.move(0, 0)  # no tooltip either
    box = target.bounding_box()
    # a tall widget would be cut by the notebook's scroll area: make the window tall enough for it
    size = page.viewport_size
    if box["height"] + 250 > size["height"]:
        page.set_viewport_size({"width": size["width"], "height": int(box["height"]) + 300})
    try:
        # the notebook lays out cells lazily, so one scroll can land short once the cells above it are measured
        for _ in range(5):
            target.evaluate("e => e.scrollIntoView({ block: 'center' })")
            page.wait_for_timeout(300)  # one layout pass after the resize and scroll
            now = target.bounding_box()
            if now and now["y"] >= 0 and now["y"] + now["height"] <= page.viewport_size["height"]:
                break
        else:
            raise AssertionError(f"{notebook.name}: the main widget cannot be scrolled fully into view: {now}, window {page.viewport_size}")
        out = pathlib.Path(os.environ.get("AW_COURSE_SCREENSHOTS", tmp_path))
        out.mkdir(parents=True, exist_ok=True)
        clip = target.evaluate(CONTENT_BOX)  # the widget's drawn content, without the empty width of its box
        assert clip, f"{notebook.name}: the main widget draws nothing"
        png = page.screenshot(path=str(out / f"{notebook.name}.png"), clip=clip, animations="disabled")
    finally:
        page.set_viewport_size(size)
    picture = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    assert picture.shape[0] > 80 and picture.shape[1] > 200, f"{notebook.name}: screenshot is {picture.shape[1]}x{picture.shape[0]} px"
    assert len(np.unique(picture.reshape(-1, 3)[::7], axis=0)) > 20, f"{notebook.name}: the screenshot is (nearly) blank"


def test_each_kind_of_view_redraws_when_its_control_moves(notebook):
    page, panel = notebook.page, notebook.panel
    notebook.unlock_predicts()
    moved = MOVED.setdefault(notebook.name, [])
    kinds = panel.locator(".aw-root").evaluate_all("rs => [...new Set(rs.map(r => [...r.classList].find(c => c.startsWith('aw-view-'))))]")
    unknown = [k for k in kinds if k not in MOVERS]
    assert not unknown, f"{notebook.name}: views this test does not know how to move: {unknown}"
    hidden = []
    failed = []
    for kind in kinds:
        roots = [r for r in panel.locator(f".aw-root.{kind}").all() if r.is_visible()]
        if not roots:
            hidden.append(kind)  # e.g. in a tab not shown: nothing a student can move before clicking there
            continue
        roots[0].scroll_into_view_if_needed()
        try:
            moved.append(MOVERS[kind](page, roots[0]))
        except NoRedraw as err:
            failed.append(f"{kind} {view_title(roots[0])}: {err}")
    for pair in page.evaluate(MARK_SLIDERS, notebook.path):
        panel.locator(f"[data-aw-slider='{pair['n']}']").scroll_into_view_if_needed()
        try:
            moved.append(move_slider(page, panel, pair))
        except NoRedraw as err:
            failed.append(f"slider '{pair['label']}' and the {pair['target']} it drives: {err}")
    assert not failed, f"{notebook.name}: moved a control, but\n" + "\n".join(failed)
    count = len(moved)
    moved.extend(f"{kind}: not moved, none visible (in a closed tab or box?)" for kind in hidden)
    if not count:
        notebook.skip_if_stopped("nothing to move")
    assert count, f"{notebook.name}: no package view and no slider-driven figure or view to move (hidden views: {hidden})"
    page.wait_for_function(KERNEL_IDLE, arg=notebook.path, timeout=60_000)


def test_no_console_error_kernel_traceback_or_outside_request(notebook):
    page, server = notebook.page, notebook.server
    problems = [f"console error: {e}" for e in page.console.errors[notebook.console_from:]]
    problems += [f"request to something other than 127.0.0.1:{server['port']}: {u}"
                 for u in page.requests[notebook.requests_from:] if not is_local(u, server["port"])]
    # errors of cells are test_run_all_...'s; these are the others: widget callbacks (comm messages)
    problems += [f"error on the kernel's IOPub channel (a widget callback): {e}"
                 for e in page.evaluate(IOPUB_ERRORS, notebook.path) if e["parent"] != "execute_request"]
    with open(server["log"], encoding="utf-8", errors="replace") as log:
        log.seek(notebook.log_from)
        text = log.read()
    if "Traceback" in text:  # an exception in a widget callback is logged by the kernel, not shown in a cell
        problems.append(f"a traceback in the server/kernel log:\n{text[max(0, text.index('Traceback') - 300):][:3000]}")
    assert not problems, f"{notebook.name}:\n" + "\n".join(problems)
