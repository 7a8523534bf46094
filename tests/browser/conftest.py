"""One JupyterLab server and one Chromium page per test session, shared by every browser test.

The server is lab.py's (127.0.0.1, a free port, a random token, its settings, workspaces and
runtime files in a temporary directory, so a developer's own JupyterLab set-up never leaks in).
Browser tests are skipped only when Debian's /usr/bin/chromium is missing.
"""

from __future__ import annotations

import os

import nbformat
import pytest

from .lab import jupyterlab

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-quic", "--no-first-run",
]
# Console messages that are not the views' fault: JupyterLab asking for optional server
# endpoints that this minimal server does not have.
BENIGN_CONSOLE = ("favicon", "Failed to load resource: the server responded with a status of 404")

pytestmark = pytest.mark.browser

if not os.path.exists(CHROMIUM):
    pytest.skip("Debian's chromium is not installed at /usr/bin/chromium (apt-get install -y chromium)", allow_module_level=True)

# Each cell displays one view; its title is how the tests find it on the page.
SETUP = '''
import numpy as np
from attnwidgets.record import AttentionRecord
from attnwidgets import views as V

def softmaxed(shape, seed, causal=False):
    x = np.random.default_rng(seed).normal(size=shape) * 3
    if causal:
        x = np.where(np.tril(np.ones(shape[-2:], bool)), x, -np.inf)
    e = np.exp(x - x.max(-1, keepdims=True))
    return (e / e.sum(-1, keepdims=True)).astype(np.float32)

words = "the quick brown fox jumps over the lazy dog while the cat sleeps on a warm mat".split()
record = AttentionRecord(softmaxed((3, 4, len(words), len(words)), 0), words)
causal = AttentionRecord(softmaxed((2, 3, len(words), len(words)), 1, causal=True), words, kind="causal")
source, target = "le chat dort sur le tapis".split(), "the cat sleeps on the mat".split()
cross = AttentionRecord(softmaxed((2, 2, 6, 6), 2), target, source, kind="cross")
yy, xx = np.mgrid[0:60, 0:90]
picture = np.stack([xx * 2.8, yy * 4.2, 255 - xx * 2.8], -1).astype(np.uint8)
gates = 1 / (1 + np.exp(-np.random.default_rng(3).normal(size=(2, 1, 1, 6 * 9)) * 2))
spatial = AttentionRecord(gates.astype(np.float32), ["image"], [str(i) for i in range(54)], kind="spatial", grid=(6, 9))
channels = AttentionRecord((1 / (1 + np.exp(-np.random.default_rng(4).normal(size=(2, 1, 1, 24))))).astype(np.float32), ["image"], [str(i) for i in range(24)], kind="channel")
'''

CELLS = {
    "heatmap": "V.Heatmap(record, title='heatmap-test')",
    "headview": "V.HeadView(record, title='headview-test')",
    "headview-causal": "V.HeadView(causal, title='headview-causal-test')",
    "modelview": "V.ModelView(record, title='modelview-test')",
    "alignment": "V.AlignmentView(cross, step=2, title='alignment-test')",
    "image": "V.ImageAttention(spatial, picture, channel=channels, title='image-test')",
    "zoom": "long = AttentionRecord(softmaxed((1, 1, 300, 300), 5), [f'w{i}' for i in range(300)])\nV.Heatmap(long, max_resolution=100, title='zoom-test')",
    "error": "bad = V.Heatmap(record, title='error-test')\ntry:\n    bad.layer = 99\nexcept Exception as err:\n    print('refused:', err)\nbad",
    "explore": "ex = V.explore(record)\nex.views['head view'].title = 'explore-test'\nex",
    "linked": "import ipywidgets as W\npin_heads, pin_heat = V.HeadView(record, title='linked-heads-test'), V.Heatmap(record, title='linked-heat-test')\n"
              "pin_links = V.link_views(pin_heads, pin_heat)\nW.HBox([pin_heads, pin_heat])",
    "keys": "keyed = V.Heatmap(record, title='keys-test')\nkeyed",
    "mean": "V.Heatmap(record, title='mean-test')",
    "long": "n = 4096\nx = np.random.default_rng(6).normal(size=(1, 2, n, n)).astype(np.float32) * 3\nx[:, :, np.arange(n), (np.arange(n) * 7) % n] += 12  # one sharp peak per row\n"
            "np.exp(x - x.max(-1, keepdims=True), out=x)\nx /= x.sum(-1, keepdims=True)\nlong4k = AttentionRecord(x, [f'w{i}' for i in range(n)])\n"
            "W.HBox([V.Heatmap(long4k, title='long-heat-test'), V.HeadView(long4k, title='long-heads-test')])",
}


@pytest.fixture(scope="session")
def lab_server(tmp_path_factory):
    root = tmp_path_factory.mktemp("lab")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(SETUP)] + [nbformat.v4.new_code_cell(src) for src in CELLS.values()]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, root / "views.ipynb")
    with jupyterlab(root, tmp_path_factory.mktemp("lab-state")) as server:
        yield server


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


class ConsoleLog:
    def __init__(self, page):
        self.errors: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda err: self.errors.append(f"pageerror: {err}"))

    def _console(self, msg) -> None:
        if msg.type == "error" and not any(b in msg.text for b in BENIGN_CONSOLE):
            self.errors.append(msg.text)


@pytest.fixture(scope="session")
def lab_page(lab_server, browser):
    """The test notebook open in JupyterLab with every cell run and every view painted."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    console = ConsoleLog(page)
    page.goto(f"{lab_server['base']}/lab/tree/views.ipynb?reset&token={lab_server['token']}")
    page.wait_for_function(
        """() => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
                   const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
                   return k && k.status === 'idle'; }""",
        timeout=60_000,
    )
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    import re

    for title in re.findall(r"'([\w-]+-test)'", "\n".join(CELLS.values())):
        page.wait_for_selector(f".aw-root:has(.aw-note:text-is('{title}')) canvas", timeout=60_000)
    page.console = console
    yield page
    context.close()


def canvas_signature(page, view: str, selector: str = "canvas") -> str:
    """A fingerprint of what a view's canvas shows (its PNG data URL)."""
    return page.evaluate(
        """([view, sel]) => { const root = [...document.querySelectorAll('.aw-root')].find(r => r.querySelector('.aw-note')?.textContent === view);
                              return root.querySelector(sel).toDataURL(); }""",
        [view, selector],
    )


def wait_canvas_change(page, view: str, before: str, selector: str = "canvas") -> None:
    page.wait_for_function(
        """([view, sel, before]) => { const root = [...document.querySelectorAll('.aw-root')].find(r => r.querySelector('.aw-note')?.textContent === view);
                                      const c = root && root.querySelector(sel); return c && c.toDataURL() !== before; }""",
        arg=[view, selector, before], timeout=15_000,
    )


def kernel_eval(page, code: str) -> str:
    """Run code in the notebook's kernel (where the views live) and return what it printed."""
    return page.evaluate(
        """async (code) => { const kernel = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
                             const future = kernel.requestExecute({ code, silent: false, store_history: false });
                             let out = "";
                             future.onIOPub = (msg) => { if (msg.header.msg_type === "stream") out += msg.content.text;
                                                         if (msg.header.msg_type === "error") out += "ERROR " + msg.content.evalue; };
                             await future.done; return out; }""",
        code,
    )


def view_root(page, view: str):
    return page.locator(".aw-root", has=page.locator(f".aw-note:text-is('{view}')")).first
