"""Head and layer switch latency of the views in JupyterLab + Chromium, and the bytes each switch sends.

    python benchmarks/view_switch.py                # 512 and 4096 tokens
    python benchmarks/view_switch.py --tokens 512   # one size
    python benchmarks/view_switch.py --repeat 10    # switches per case (median reported)

What is timed: a control changed in the browser (the view's own <select>) to the end of the
repaint that shows the new selection (the draw call that paints it, measured in the page).
"in browser" switches find the head in the buffers the view already holds; "kernel" switches
go through a comm message to the kernel and back with a binary buffer. "cold" is the first
fetch of a head (the kernel pools it), "warm" a head the kernel has pooled before (cached).
Zoomed: the view zoomed with the mouse wheel to about 180 tokens, which the kernel sends at full
resolution. Bytes are the binary buffers the kernel sent for the switch (data + neighbours);
"0 (in browser)" when the switch needed nothing from the kernel.

Records are random softmax attention (timing does not depend on the values): 512 tokens with
12 layers x 12 heads (the DESIGN.md budget case), 4096 tokens with 2 layers x 12 heads.

bertviz's head_view is measured as HTML bytes only: it loads require.js from a CDN, so it does
not draw on this offline machine at all; at 512 tokens 1 layer x 12 heads is generated and
multiplied by the layers (its size is linear in layers x heads x n^2), at 4096 extrapolated by n^2.

Budgets (DESIGN.md): switch <= 50 ms median fetched from the kernel at 512 tokens, <= 16 ms in
the browser, <= 100 ms at 4096 tokens; first render <= 200 ms at 512.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

import nbformat

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tests" / "browser"))
from conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

LAYERS = {512: 12, 4096: 2}

SETUP = """
import numpy as np, time
from attnwidgets.record import AttentionRecord
from attnwidgets import views as V
n, layers = {n}, {layers}
rng = np.random.default_rng(0)
x = rng.normal(size=(layers, 12, n, n)).astype(np.float32) * 3
np.exp(x - x.max(-1, keepdims=True), out=x)
x /= x.sum(-1, keepdims=True)
rec = AttentionRecord(x, [f"t{{i}}" for i in range(n)])
def sent(view):
    return len(view.data) + len(getattr(view, "more", b""))
"""

# Every paint that shows data is recorded: the heatmap's drawImage of its matrix, the head view's
# stroke of its lines ("loading..." frames call neither); a microtask after that call runs when
# the synchronous draw has finished.
HOOK = """() => {
  window.__draws = { heat: [], heads: [] };
  const mark = (canvas) => { const kind = canvas.classList.contains('aw-heatmap') ? 'heat' : canvas.classList.contains('aw-headview') ? 'heads' : null;
                             if (kind && !canvas.__pending) { canvas.__pending = true; queueMicrotask(() => { canvas.__pending = false; window.__draws[kind].push(performance.now()); }); } };
  const draw = CanvasRenderingContext2D.prototype.drawImage;
  CanvasRenderingContext2D.prototype.drawImage = function (...a) { if (this.canvas.classList.contains('aw-heatmap') && a[0] instanceof HTMLCanvasElement) mark(this.canvas); return draw.apply(this, a); };
  const stroke = CanvasRenderingContext2D.prototype.stroke;
  CanvasRenderingContext2D.prototype.stroke = function (...a) { if (this.canvas.classList.contains('aw-headview')) mark(this.canvas); return stroke.apply(this, a); };
}"""


def start_lab(root: pathlib.Path) -> tuple[subprocess.Popen, str]:
    settings = root / ".settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}')
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    token = secrets.token_hex(8)
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(root / ".c"), "JUPYTER_RUNTIME_DIR": str(root / ".r"), "JUPYTER_PLATFORM_DIRS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.allow_root=True",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}", "--LabApp.expose_app_in_browser=True",
         f"--LabApp.user_settings_dir={root / '.settings'}", f"--LabApp.workspaces_dir={root / '.w'}", "--LabApp.news_url=None",
         "--LabApp.extension_manager=readonly", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
        cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    for _ in range(300):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token={token}", timeout=2)
            return proc, f"http://127.0.0.1:{port}/lab/tree/{{name}}?reset&token={token}"
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("JupyterLab did not start")


class Session:
    """One notebook open in JupyterLab: the record built, one Heatmap and one HeadView shown."""

    def __init__(self, page, url: str, root: pathlib.Path, n: int):
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell(SETUP.format(n=n, layers=LAYERS.get(n, 2))),
                    nbformat.v4.new_code_cell("hm = V.Heatmap(rec, title='timing-heat')\nhm"),
                    nbformat.v4.new_code_cell("hv = V.HeadView(rec, title='timing-heads')\nhv")]
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(nb, root / f"switch{n}.ipynb")
        self.page, self.n = page, n
        page.goto(url.format(name=f"switch{n}.ipynb"))
        page.wait_for_function("() => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget; const k = w && w.sessionContext?.session?.kernel; return k && k.status === 'idle'; }", timeout=120_000)
        page.evaluate(HOOK)
        log(f"  {n} tokens: building the record")
        self.run_cell(0, None)
        log("  record built")
        # first render: the view cell run again (module and imports warm), median of three
        self.first_heat = median([self.run_cell(1, "heat") for _ in range(3)])
        self.first_heads = median([self.run_cell(2, "heads") for _ in range(3)])
        page.wait_for_function("() => window.jupyterapp.shell.currentWidget.node.querySelector('.aw-view-heatmap select[data-trait=head]')")

    def run_cell(self, index: int, kind: str | None) -> float:
        """Run one cell; ms from the run to the end of the view's first paint."""
        return self.page.evaluate(
            """async ([index, kind]) => { const nb = window.jupyterapp.shell.currentWidget; nb.content.activeCellIndex = index;
                const n = kind ? window.__draws[kind].length : 0; const t0 = performance.now();
                await window.jupyterapp.commands.execute('notebook:run-cell');
                if (!kind) { while (nb.sessionContext.session.kernel.status !== 'idle' || nb.content.widgets[index].model.executionCount === null) await new Promise(r => setTimeout(r, 20)); return 0; }
                while (window.__draws[kind].length === n) await new Promise(r => setTimeout(r, 1));
                return window.__draws[kind][n] - t0; }""", [index, kind])

    def kernel(self, code: str) -> str:
        return self.page.evaluate(
            """async (code) => { const k = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
                const f = k.requestExecute({ code, store_history: false }); let out = '';
                f.onIOPub = (m) => { if (m.header.msg_type === 'stream') out += m.content.text; if (m.header.msg_type === 'error') out += 'ERROR ' + m.content.evalue; };
                await f.done; return out; }""", code).strip()

    def switch(self, view: str, trait: str, value: str, kind: str = "heat") -> float:
        """ms from the select's change to the end of the repaint that shows the new value."""
        sel = f".aw-view-{view} select[data-trait={trait}]"
        return self.page.evaluate(
            """async ([sel, value, kind]) => {
                const el = window.jupyterapp.shell.currentWidget.node.querySelector(sel); const n = window.__draws[kind].length; const t0 = performance.now();
                if (el.value === value) return -1;  // already shown: nothing to time
                el.value = value; el.dispatchEvent(new Event('change'));
                while (window.__draws[kind].length === n) await new Promise(r => setTimeout(r, 1));
                return window.__draws[kind][n] - t0; }""", [sel, value, kind])

    def zoom(self, steps: int = 14) -> list[int]:
        canvas = self.page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) canvas.aw-heatmap").first
        canvas.scroll_into_view_if_needed()
        box, g = canvas.bounding_box(), canvas.evaluate("c => ({...c.dataset})")
        self.page.mouse.move(box["x"] + float(g["left"]) + float(g["plotW"]) * 0.4, box["y"] + float(g["top"]) + float(g["plotH"]) * 0.6)
        for _ in range(steps):
            self.page.mouse.wheel(0, -100)
        self.page.mouse.move(0, 0)
        for _ in range(200):  # the kernel's reply: the window at full detail
            region = self.kernel("print(hm.data_info['region'], hm.data_info['row_starts'] is None)")
            if region.endswith("True") and not region.startswith("[0, %d, 0, %d]" % (self.n, self.n)):
                time.sleep(0.3)
                return [int(v) for v in region.split("]")[0].strip("[").split(",")]
            time.sleep(0.05)
        raise RuntimeError("the zoomed window never arrived")


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def log(*what) -> None:
    print(*what, file=sys.stderr, flush=True)


def measure(session: Session, repeat: int) -> dict:
    s, r = session, {}
    log("  first render done")
    r["first render Heatmap"] = (s.first_heat, int(s.kernel("print(sent(hm))")))
    r["first render HeadView"] = (s.first_heads, int(s.kernel("print(sent(hv))")))
    near = [s.switch("heatmap", "head", str(h % 2)) for h in range(1, repeat + 1)]
    r["Heatmap head switch, neighbour (in browser)"] = (median(near), 0)
    s.switch("heatmap", "head", "0")
    far = [s.switch("heatmap", "head", str(6 if i % 2 == 0 else 0)) for i in range(repeat + 1)]
    r["Heatmap head switch, far (kernel), cold"] = (far[0], int(s.kernel("print(sent(hm))")))
    r["Heatmap head switch, far (kernel), warm"] = (median(far[2:]), int(s.kernel("print(sent(hm))")))
    s.switch("heatmap", "head", "0")
    layers = [s.switch("heatmap", "layer", str(i % 2)) for i in range(1, repeat + 1)]
    r["Heatmap layer switch (kernel)"] = (median(layers), int(s.kernel("print(sent(hm))")))
    mean = [s.switch("heatmap", "head", "mean" if i % 2 else "0") for i in range(1, repeat + 1)]
    r["Heatmap mean <-> head 0 (kernel, cached)"] = (median(mean), int(s.kernel("hm.aggregate = 'mean'\nprint(sent(hm))")))
    s.kernel("hm.aggregate = ''; hm.head = 0; hm.layer = 0")
    hv = [s.switch("headview", "layer", str(i % 2), kind="heads") for i in range(1, repeat + 1)]
    r["HeadView layer switch (kernel)"] = (median(hv), int(s.kernel("print(sent(hv))")))
    if s.n > 512:  # pooled: zooming in fetches the window at full resolution
        region = s.zoom()
        label = f"zoomed to {region[1] - region[0]}x{region[3] - region[2]} tokens"
        r[f"Heatmap zoom (wheel, kernel fetch): {label}"] = (float("nan"), int(s.kernel("print(sent(hm))")))
        s.switch("heatmap", "head", "0")
        near = [s.switch("heatmap", "head", str(h % 2)) for h in range(1, repeat + 1)]
        r[f"Heatmap head switch {label}, neighbour (in browser)"] = (median(near), 0)
        held = s.kernel("print(hm.in_browser('11'))") == "True"  # a small window: every head may fit the prefetch
        far = [s.switch("heatmap", "head", str(11 if i % 2 == 0 else 0)) for i in range(repeat + 1)]
        r[f"Heatmap head switch {label}, far ({'in browser: every head of the window was sent' if held else 'kernel'})"] = (
            median(far[1:]), 0 if held else int(s.kernel("print(sent(hm))")))
        layers = [s.switch("heatmap", "layer", str(i % 2)) for i in range(1, repeat + 1)]
        r[f"Heatmap layer switch {label} (kernel)"] = (median(layers), int(s.kernel("print(sent(hm))")))
    return r


def bertviz_bytes(n: int) -> tuple[float, str]:
    """bertviz head_view HTML bytes for 12 heads x LAYERS[n] layers (measured at 512, extrapolated above)."""
    import numpy as np
    from bertviz import head_view

    from attnwidgets.record import AttentionRecord

    m = min(n, 512)
    x = np.random.default_rng(0).normal(size=(1, 12, m, m)).astype(np.float32) * 3
    e = np.exp(x - x.max(-1, keepdims=True))
    rec = AttentionRecord(e / e.sum(-1, keepdims=True), [f"t{i}" for i in range(m)])
    one_layer = len(head_view(**rec.to_bertviz(), html_action="return").data.encode())
    how = "1 layer measured x layers" if n == m else f"extrapolated from {m} tokens by n^2"
    return one_layer * LAYERS.get(n, 2) * (n / m) ** 2, how


def human(b: float) -> str:
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if b >= size:
            return f"{b / size:.1f} {unit}"
    return f"{int(b)} B"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tokens", type=int, nargs="*", default=[512, 4096])
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--no-bertviz", action="store_true")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    root = pathlib.Path(tempfile.mkdtemp())
    proc, url = start_lab(root)
    results = {}
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for n in args.tokens:
                page = browser.new_page(viewport={"width": 1300, "height": 1000})
                errors = []
                page.on("pageerror", lambda e: errors.append(str(e)))
                results[n] = measure(Session(page, url, root, n), args.repeat)
                if errors:
                    print(f"page errors at {n} tokens: {errors}", file=sys.stderr)
                page.evaluate("() => window.jupyterapp.commands.execute('kernelmenu:shutdown')")
                page.close()
                print(f"measured {n} tokens", file=sys.stderr, flush=True)
            browser.close()
    finally:
        proc.terminate()
    print("| tokens (layers x heads) | what | ms (median) | bytes sent |")
    print("|---|---|---|---|")
    for n, rows in results.items():
        for what, (ms, sent) in rows.items():
            shown = "-" if ms != ms else f"{ms:.0f}"
            print(f"| {n} ({LAYERS.get(n, 2)}x12) | {what} | {shown} | {human(sent) if sent else '0 (in browser)'} |")
        if not args.no_bertviz:
            size, how = bertviz_bytes(n)
            print(f"| {n} ({LAYERS.get(n, 2)}x12) | bertviz head_view: the whole page ({how}); draws nothing offline (require.js from a CDN) | - | {human(size)} |")
    print(f"\nMachine load while measuring (1-min load average, 2 cores): {os.getloadavg()[0]:.1f}.")
    print("Budgets: kernel switch <= 50 ms at 512 tokens, in-browser <= 16 ms, <= 100 ms at 4096; first render <= 200 ms at 512.")


if __name__ == "__main__":
    main()
