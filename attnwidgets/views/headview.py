"""HeadView: the classic two-column token view, a line per attention weight, one colour per head."""

from __future__ import annotations

from typing import Any

import numpy as np
import traitlets as t

from ..record import AGGREGATES, AttentionRecord
from ..drawing import AGGREGATE_COLOR, HEAD_VIEW_THRESHOLD, head_color
from ..transport import as_torch, float16_bytes
from .inputs import as_record, check_index
from .tokenview import TokenView


def top_k(weights: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k largest keys of every row: (values float32 [..., k], key indices [..., k]), largest first."""
    k = min(k, weights.shape[-1])
    if weights.size > 1_000_000:  # many rows: torch's topk is 2x (512 tokens x 12 heads) to several times faster than argpartition
        values, index = as_torch(weights).topk(k, dim=-1)
        return values.numpy(), index.numpy()
    idx = np.argpartition(-weights, k - 1, axis=-1)[..., :k]
    vals = np.take_along_axis(weights, idx, axis=-1)
    order = np.argsort(-vals, axis=-1)
    return np.take_along_axis(vals, order, axis=-1), np.take_along_axis(idx, order, axis=-1)


# Above this many weights per layer (heads x queries x keys) top_k takes 0.3-0.8 s on this
# machine (4096 tokens x 12 heads: 200M weights), so the layers beside the shown one are ranked
# ahead, in a thread, while the user looks: a layer switch then only sends (issue 17).
AHEAD_WEIGHTS = 4_000_000


class LayerTopK:
    """Every head's top-k rows of each layer of one record, packed for the browser; computed once.

    ``get(layer)`` ranks the layer in the calling thread unless it is done or being ranked
    ahead (then it waits for that); ``ahead(layers)`` ranks layers in a background thread
    (torch's topk releases the GIL), nearest first.
    """

    def __init__(self, record: AttentionRecord, k: int):
        import threading
        from concurrent.futures import Future

        self.record, self.k = record, k
        self.done: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # layer -> (float16 values, uint16 keys) [heads, queries, k]
        self.running: dict[int, Any] = {}  # layer -> Future of the ranking under way
        self.queue: list[int] = []
        self.lock = threading.Lock()
        self.thread: Any = None
        self._thread_class, self._future_class = threading.Thread, Future

    def get(self, layer: int) -> tuple[np.ndarray, np.ndarray]:
        with self.lock:
            if layer in self.done:
                return self.done[layer]
            future = self.running.get(layer)
            mine = future is None
            if mine:
                future = self.running[layer] = self._future_class()
        if mine:
            self._rank(layer, future)
        return future.result()

    def ahead(self, layers: list[int]) -> None:
        with self.lock:
            self.queue = [layer for layer in layers if layer not in self.done and layer not in self.running]
            if self.queue and self.thread is None:
                self.thread = self._thread_class(target=self._work, name="HeadView top-k", daemon=True)
                self.thread.start()

    def _work(self) -> None:
        while True:
            with self.lock:
                while self.queue and (self.queue[0] in self.done or self.queue[0] in self.running):
                    self.queue.pop(0)
                if not self.queue:
                    self.thread = None
                    return
                layer = self.queue.pop(0)
                future = self.running[layer] = self._future_class()
            self._rank(layer, future)

    def _rank(self, layer: int, future: Any) -> None:
        try:
            values, index = top_k(self.record.weights[layer], self.k)  # [heads, queries, keys], no copy
            packed = (values.astype("<f2"), index.astype("<u2"))
        except BaseException as err:  # noqa: BLE001  (handed to whoever waits for this layer)
            with self.lock:
                self.running.pop(layer, None)
            future.set_exception(err)
            return
        with self.lock:
            self.done[layer] = packed
            self.running.pop(layer, None)
        future.set_result(packed)


LONG_KEYS = 1024  # past this many keys HeadView sends fewer lines per query by default


class HeadView(TokenView):
    """Queries on the left, keys on the right, a line for each of a query's strongest keys.

    The browser gets, for the current layer, the ``top_k`` largest weights of every row of
    every head (float16 values + uint16 key indices): lines below a few percent are invisible
    anyway, and this keeps 512 tokens x 12 heads under 200 KB. The mean and max over heads ride
    along (for long inputs, once chosen), and ``rollout`` replaces them by the rollout's lines.
    Heads are toggled in the browser without a round trip; a layer change fetches that layer.
    Works for self, causal and cross attention (cross: target tokens left, source tokens right).
    """

    _js_file = "headview.js"

    heads = t.List(t.Int(), help="heads drawn (toggle them in the view); default all").tag(sync=True)
    threshold = t.Float(HEAD_VIEW_THRESHOLD, help="weights below this draw no line").tag(sync=True)
    top_k = t.Int(8, help="lines per query and head sent to the browser (the largest weights); default 8, 4 past 1024 keys").tag(sync=True)

    data = t.Bytes(b"", help="float16 top-k values then uint16 key indices, [entries, queries, k] each (read-only)").tag(sync=True)
    data_info = t.Dict(help="layer, keys (the entries: heads, 'mean', 'max' or 'rollout'), k and shape of `data` (read-only)").tag(sync=True)

    def __init__(self, record: Any, **kwargs: Any) -> None:
        self._record = rec = self._accept(record)
        kwargs.setdefault("heads", list(range(rec.n_heads)))
        # past 1024 keys a picture holds about one line per query, so four lines per query and head
        # are enough for hovering and halve what a layer switch sends (4096 tokens: 0.8 MB, not 1.6)
        kwargs.setdefault("top_k", 8 if rec.n_keys <= LONG_KEYS else 4)
        super().__init__(**self._token_traits(rec), **kwargs)

    def _accept(self, record: Any) -> AttentionRecord:
        rec = as_record(record, what="HeadView")
        if rec.kind not in ("self", "causal", "cross"):
            raise ValueError(f"HeadView draws token-to-token attention (self, causal, cross); this record is {rec.kind}: use ImageAttention.")
        if rec.n_keys > 65535:
            raise ValueError(f"HeadView sends key indices as uint16: at most 65535 keys, got {rec.n_keys}.")
        return rec

    @t.validate("heads")
    def _valid_heads(self, proposal: Any) -> list:
        for h in proposal["value"]:
            if msg := check_index(h, self._record.n_heads, "head"):
                self._refuse(msg)
        return sorted(set(proposal["value"]))

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

    @t.observe("layer", "top_k", "rollout", "aggregate")
    def _selection_changed(self, change: Any) -> None:
        if not getattr(self, "_ready", False):
            return
        if change["name"] == "aggregate" and self.data_info.get("layer") == self.layer and self.shown_key() in self.data_info.get("keys", []):
            return  # already in the browser
        self._safely(self._push)

    def entries(self) -> list[str]:
        """What `data` holds for the current layer: every head, then the aggregates (or the rollout alone)."""
        rec = self._record
        if self.rollout:
            return ["rollout"]
        keys = [str(h) for h in range(rec.n_heads)]
        if rec.n_heads > 1:
            small = rec.n_queries * rec.n_keys <= 512 * 512  # long inputs compute an aggregate once it is chosen
            keys += [a for a in AGGREGATES if small or a == self.aggregate]
        return keys

    def layer_top_k(self) -> LayerTopK:
        """The per-layer top-k of this view's record (a new one after show() or a top_k change)."""
        ranked = self.__dict__.get("_layer_top_k")
        if ranked is None or ranked.record is not self._record or ranked.k != self.top_k:
            ranked = self.__dict__["_layer_top_k"] = LayerTopK(self._record, self.top_k)
        return ranked

    def _push(self) -> None:
        keys = self.entries()
        heads = [k for k in keys if k.isdigit()]
        ranked = self.layer_top_k()
        parts = [ranked.get(self.layer)] if heads else []
        for key in keys[len(heads):]:  # an aggregate or the rollout: one [queries, keys] matrix
            values, index = top_k(self.full_matrix(self.layer, key)[None], self.top_k)
            parts.append((values.astype("<f2"), index.astype("<u2")))
        values = np.concatenate([p[0] for p in parts]) if len(parts) > 1 else parts[0][0]
        index = np.concatenate([p[1] for p in parts]) if len(parts) > 1 else parts[0][1]
        with self.hold_sync():
            self.data = float16_bytes([values]) + index.tobytes()
            self.data_info = {"layer": self.layer, "keys": keys, "k": int(values.shape[-1]), "heads": int(values.shape[0]), "queries": int(values.shape[1])}
        rec = self._record
        if heads and rec.n_heads * rec.n_queries * rec.n_keys > AHEAD_WEIGHTS:
            ranked.ahead([layer for layer in (self.layer + 1, self.layer - 1) if 0 <= layer < rec.n_layers])

    def _drawn(self) -> tuple[list[str], list[str]]:
        """(entries drawn, their colours): the chosen heads, or the aggregate / rollout in dark grey."""
        key = self.shown_key()
        if key in (*AGGREGATES, "rollout"):
            return [key], [AGGREGATE_COLOR]
        return [str(h) for h in self.heads], [head_color(h) for h in self.heads]

    def fallback_png(self) -> bytes:
        from .picture import lines_png

        info = self.data_info
        n = info["heads"] * info["queries"] * info["k"]
        values = np.frombuffer(self.data[: 2 * n], "<f2").astype(np.float32).reshape(info["heads"], info["queries"], info["k"])
        index = np.frombuffer(self.data[2 * n:], "<u2").reshape(values.shape)
        rec = self._record
        drawn, colors = self._drawn()
        rows = [info["keys"].index(k) for k in drawn]
        return lines_png(values, index, rec.query_tokens, rec.key_tokens, rows, {r: c for r, c in zip(rows, colors)},
                         threshold=self.threshold, token=self.pinned, title=self.title or self.shown_name().split(",")[0])

    def to_figure(self) -> Any:
        from .. import plot

        key = self.shown_key()
        matrices = {key: self.full_matrix(self.layer, key)} if key in (*AGGREGATES, "rollout") else None
        return plot.head_view(self._record, self.layer, self.heads, token=self.pinned, threshold=self.threshold, title=self.title, matrices=matrices)
