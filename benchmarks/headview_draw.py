"""How long HeadView's picture takes in Chromium alone: no kernel, no JupyterLab, no websocket.

    python benchmarks/headview_draw.py            # 512 and 4096 tokens
    python benchmarks/headview_draw.py 2048       # other lengths

view_switch.py times what a user waits for; this splits off the browser's share of it. A HeadView
of random softmax attention (one layer, 12 heads) is saved with save_html() and opened from disk;
the threshold is moved back and forth (every line is redrawn, nothing is fetched), and for each
redraw this prints the JavaScript of the draw call (drawing commands, line choice, labels) and the
time until the second animation frame after the change, less the same two frames with nothing to
draw: what is left is the raster and compositing of the canvas (software, no GPU here).
"""

from __future__ import annotations

import pathlib
import statistics
import sys
import tempfile

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tests"))
from browser.conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

from attnwidgets.record import AttentionRecord  # noqa: E402
from attnwidgets.views import HeadView  # noqa: E402

# times the draw in the page: the view's own animation-frame callback, then two frames
MEASURE = """async (change) => {
  const raf = window.requestAnimationFrame.bind(window);
  let js = 0;
  window.requestAnimationFrame = (cb) => raf((ts) => { const s = performance.now(); cb(ts); js += performance.now() - s; });
  const twoFrames = () => new Promise((r) => raf(() => raf(() => r())));
  const rows = [];
  for (let i = 0; i < 14; i++) {
    js = 0;
    const s = performance.now();
    if (change) window.awModel.set('threshold', i % 2 ? 0.0001 : 0);
    await twoFrames();
    rows.push({ total: performance.now() - s, js });
  }
  return rows.slice(4);
}"""


def page_for(n: int, folder: pathlib.Path) -> pathlib.Path:
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(1, 12, n, n)).astype(np.float32) * 3
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    path = HeadView(AttentionRecord(weights, [f"t{i}" for i in range(n)]), layer=0).save_html(folder / f"headview-{n}.html")
    # the saved page's stand-in widget model, reachable from the measuring script
    path.write_text(path.read_text().replace("VIEW.render({ model,", "window.awModel = model; VIEW.render({ model,"))
    return path


def main() -> None:
    from playwright.sync_api import sync_playwright

    lengths = [int(a) for a in sys.argv[1:]] or [512, 4096]
    print("| tokens | canvas px | lines | draw JavaScript ms | raster + composite ms | change to second frame ms |")
    print("|---|---|---|---|---|---|")
    with sync_playwright() as pw, tempfile.TemporaryDirectory() as tmp:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for n in lengths:
            page = browser.new_page(viewport={"width": 1300, "height": 900}, device_scale_factor=1)
            page.goto(page_for(n, pathlib.Path(tmp)).as_uri())
            canvas = page.locator("canvas.aw-headview")
            canvas.wait_for()
            page.wait_for_timeout(500)
            idle = statistics.median(r["total"] for r in page.evaluate(MEASURE, False))
            rows = page.evaluate(MEASURE, True)
            total, js = statistics.median(r["total"] for r in rows), statistics.median(r["js"] for r in rows)
            size = canvas.evaluate("c => `${c.width} x ${c.height}`")
            lines = canvas.evaluate("c => c.dataset.lines")
            print(f"| {n} | {size} | {lines} | {js:.1f} | {total - idle - js:.1f} | {total:.1f} (two idle frames {idle:.1f}) |")
            page.close()
        browser.close()


if __name__ == "__main__":
    main()
