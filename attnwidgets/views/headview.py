"""HeadView: the classic two-column token view, a line per attention weight, one colour per head."""

from __future__ import annotations

from typing import Any

import numpy as np
import traitlets as t

from .base import AttentionView, as_record, as_torch, check_index, float16_bytes

# Colour-blind-distinguishable head colours (Okabe-Ito, then Tol); the same list is in common.js.
HEAD_COLORS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#999933", "#882255", "#44AA99", "#332288", "#AA4499", "#117733")


def head_color(head: int) -> str:
    if head < len(HEAD_COLORS):
        return HEAD_COLORS[head]
    import colorsys

    r, g, b = colorsys.hls_to_rgb(((head * 137.5) % 360) / 360, 0.45, 0.65)
    return "#%02x%02x%02x" % (int(r * 255), int(g * 255), int(b * 255))


def top_k(weights: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k largest keys of every row: (values float32 [..., k], key indices [..., k]), largest first."""
    k = min(k, weights.shape[-1])
    if weights.size > 4_000_000:  # long inputs: torch's topk is several times faster than argpartition
        values, index = as_torch(weights).topk(k, dim=-1)
        return values.numpy(), index.numpy()
    idx = np.argpartition(-weights, k - 1, axis=-1)[..., :k]
    vals = np.take_along_axis(weights, idx, axis=-1)
    order = np.argsort(-vals, axis=-1)
    return np.take_along_axis(vals, order, axis=-1), np.take_along_axis(idx, order, axis=-1)


class HeadView(AttentionView):
    """Queries on the left, keys on the right, a line for each of a query's strongest keys.

    The browser gets, for the current layer, the ``top_k`` largest weights of every row of
    every head (float16 values + uint16 key indices): lines below a few percent are invisible
    anyway, and this keeps 512 tokens x 12 heads under 200 KB. Heads are toggled in the browser
    without a round trip; a layer change fetches that layer. Works for self, causal and cross
    attention (cross: target tokens left, source tokens right).
    """

    _js_file = "headview.js"

    layer = t.Int(0, help="layer index").tag(sync=True)
    heads = t.List(t.Int(), help="heads drawn (toggle them in the view); default all").tag(sync=True)
    token = t.Int(-1, help="pinned query token: only its lines are drawn; -1 for all; click a token to pin/unpin").tag(sync=True)
    threshold = t.Float(0.01, help="weights below this draw no line").tag(sync=True)
    top_k = t.Int(8, help="lines per query and head sent to the browser (the largest weights)").tag(sync=True)

    query_tokens = t.List(t.Unicode(), help="left-column labels (read-only)").tag(sync=True)
    key_tokens = t.List(t.Unicode(), help="right-column labels (read-only)").tag(sync=True)
    layer_names = t.List(t.Unicode(), help="one name per layer (read-only)").tag(sync=True)
    n_heads = t.Int(1, help="heads per layer (read-only)").tag(sync=True)
    kind = t.Unicode("self", help="self, causal or cross (read-only)").tag(sync=True)
    data = t.Bytes(b"", help="float16 top-k values then uint16 key indices, [heads, queries, k] each (read-only)").tag(sync=True)
    data_info = t.Dict(help="layer, k and shape of `data` (read-only)").tag(sync=True)

    def __init__(self, record: Any, **kwargs: Any) -> None:
        rec = as_record(record, what="HeadView")
        if rec.kind not in ("self", "causal", "cross"):
            raise ValueError(f"HeadView draws token-to-token attention (self, causal, cross); this record is {rec.kind}: use ImageAttention.")
        if rec.n_keys > 65535:
            raise ValueError(f"HeadView sends key indices as uint16: at most 65535 keys, got {rec.n_keys}.")
        self._record = rec
        kwargs.setdefault("heads", list(range(rec.n_heads)))
        super().__init__(
            query_tokens=list(rec.query_tokens), key_tokens=list(rec.key_tokens), layer_names=list(rec.layer_names),
            n_heads=rec.n_heads, kind=rec.kind, **kwargs,
        )

    @property
    def record(self):
        return self._record

    @t.validate("layer")
    def _valid_layer(self, proposal: Any) -> int:
        if msg := check_index(proposal["value"], self._record.n_layers, "layer"):
            self._refuse(msg)
        return proposal["value"]

    @t.validate("heads")
    def _valid_heads(self, proposal: Any) -> list:
        for h in proposal["value"]:
            if msg := check_index(h, self._record.n_heads, "head"):
                self._refuse(msg)
        return sorted(set(proposal["value"]))

    @t.validate("token")
    def _valid_token(self, proposal: Any) -> int:
        if proposal["value"] != -1 and (msg := check_index(proposal["value"], self._record.n_queries, "query token")):
            self._refuse(msg + " Use -1 for no pinned token.")
        return proposal["value"]

    @t.validate("threshold")
    def _valid_threshold(self, proposal: Any) -> float:
        if not 0 <= proposal["value"] <= 1:
            self._refuse(f"threshold must be between 0 and 1; got {proposal['value']}.")
        return proposal["value"]

    @t.validate("top_k")
    def _valid_top_k(self, proposal: Any) -> int:
        if not 1 <= proposal["value"] <= 64:
            self._refuse(f"top_k must be between 1 and 64; got {proposal['value']}.")
        return proposal["value"]

    @t.observe("layer", "top_k")
    def _selection_changed(self, change: Any) -> None:
        if getattr(self, "_ready", False):
            self._safely(self._push)

    def _push(self) -> None:
        values, index = top_k(self._record.weights[self.layer], self.top_k)  # [heads, queries, k]
        with self.hold_sync():
            self.data = float16_bytes([values]) + index.astype("<u2").tobytes()
            self.data_info = {"layer": self.layer, "k": int(values.shape[-1]), "heads": int(values.shape[0]), "queries": int(values.shape[1])}

    def fallback_png(self) -> bytes:
        from .picture import lines_png

        info = self.data_info
        n = info["heads"] * info["queries"] * info["k"]
        values = np.frombuffer(self.data[: 2 * n], "<f2").astype(np.float32).reshape(info["heads"], info["queries"], info["k"])
        index = np.frombuffer(self.data[2 * n:], "<u2").reshape(values.shape)
        rec = self._record
        return lines_png(values, index, rec.query_tokens, rec.key_tokens, self.heads, [head_color(h) for h in range(rec.n_heads)],
                         threshold=max(self.threshold, 0.02), token=self.token, title=self.title or rec.layer_names[self.layer])

    def to_figure(self) -> Any:
        from .. import plot

        return plot.head_view(self._record, self.layer, self.heads, token=self.token, threshold=max(self.threshold, 0.02), title=self.title)
