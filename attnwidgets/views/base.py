"""What every view shares: error display, PNG fallback, save_html, and packing matrices into buffers.

A view keeps its AttentionRecord in the kernel and sends the browser only what it shows, as
binary buffers (``Bytes`` traits arrive in JavaScript as a ``DataView``, not base64 JSON).
"""

from __future__ import annotations

import base64
import io
import json
import os
import pathlib
from typing import Any, Sequence

import anywidget
import numpy as np
import traitlets as t

from ..record import AttentionRecord, EncoderDecoderRecord, readable_token

HERE = pathlib.Path(__file__).parent
COMMON_JS = HERE / "common.js"

# Above this many tokens on an axis a matrix is max-pooled in the kernel: the browser's
# receiving side dominates past 1024^2 (DESIGN.md), and a screen has fewer pixels anyway.
# 512 cells cover the 440-px plot at a pixel ratio of 1 (and nearly at 2), and a pooled head is
# 512 KB of float16, so the shown head and two neighbours fit one message (4096 tokens measured:
# 1024^2 overviews cost 250-330 ms per switch, one head per message).
MAX_RESOLUTION = 512
# One buffer of the current layer's heads is sent while it fits this many bytes, so head
# switches repaint in the browser without a round trip (small comm messages cost ~40 ms).
PREFETCH_BYTES = 1_500_000
COLORMAPS = ("viridis", "cividis", "magma", "plasma", "inferno", "Greys", "Blues")
# Rollout multiplies [n, n] matrices layer by layer in float64: beyond this many tokens it
# takes seconds per layer and GBs, so the views refuse it with the reason.
ROLLOUT_MAX_TOKENS = 2048
# Pooled/aggregated matrices kept in the kernel so revisiting a head costs only the send.
CACHE_BYTES = 96_000_000


# ---- buffers --------------------------------------------------------------------------


def bin_starts(first: int, stop: int, max_bins: int) -> np.ndarray | None:
    """First token of each pooling bin over [first, stop), or None when no pooling is needed."""
    n = stop - first
    if n <= max_bins:
        return None
    return first + np.floor(np.arange(max_bins) * (n / max_bins)).astype(np.int64)


def max_pool(matrix: np.ndarray, row_starts: np.ndarray | None, col_starts: np.ndarray | None, origin: tuple[int, int] = (0, 0)) -> np.ndarray:
    """Max over each bin (peaks survive, unlike dropping rows); starts are absolute token indices."""
    if matrix.size > 1_000_000 and (row_starts is not None or col_starts is not None):
        # torch's adaptive pooling uses the same bin starts (floor(i * n / bins)) and is ~6x faster
        # than reduceat; its bins may also take the next bin's first token, harmless for a max
        from torch.nn.functional import adaptive_max_pool2d

        size = (matrix.shape[0] if row_starts is None else len(row_starts), matrix.shape[1] if col_starts is None else len(col_starts))
        return adaptive_max_pool2d(as_torch(matrix)[None], size)[0].numpy()
    if row_starts is not None:
        matrix = np.maximum.reduceat(matrix, row_starts - origin[0], axis=0)
    if col_starts is not None:
        matrix = np.maximum.reduceat(matrix, col_starts - origin[1], axis=1)
    return matrix


def as_torch(array: np.ndarray) -> Any:
    """A torch view of a (read-only) record array, without a copy; views only read from it."""
    import warnings

    import torch

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(np.ascontiguousarray(array))


def float16_bytes(arrays: Sequence[np.ndarray]) -> bytes:
    """Matrices as one little-endian float16 buffer, back to back (the browser slices it)."""
    if not arrays:
        return b""
    return np.concatenate([np.ascontiguousarray(a, dtype="<f2").ravel() for a in arrays]).tobytes()


def uint8_bytes(array: np.ndarray, vmax: float) -> bytes:
    """Values scaled to 0..255 against vmax: a quarter of float16's bytes, enough for thumbnails."""
    scale = 255.0 / vmax if vmax > 0 else 0.0
    return np.clip(np.rint(np.asarray(array, dtype=np.float32) * scale), 0, 255).astype(np.uint8).tobytes()


def colormap_bytes(name: str) -> bytes:
    """256 RGB triples of a matplotlib colour map, so browser and figures use the same colours."""
    import matplotlib

    try:
        cmap = matplotlib.colormaps[name]
    except KeyError:
        raise ValueError(f"unknown colour map {name!r}; use a matplotlib name such as {', '.join(COLORMAPS)}.") from None
    rgb = cmap(np.linspace(0, 1, 256))[:, :3]
    return (np.rint(rgb * 255)).astype(np.uint8).tobytes()


def sent_bytes(widget: t.HasTraits) -> int:
    """Bytes of the widget's full state message: JSON text plus binary buffers (what first render costs)."""
    from ipywidgets.widgets.widget import _remove_buffers

    state, _, buffers = _remove_buffers(widget.get_state())
    return len(json.dumps(state, separators=(",", ":"))) + sum(memoryview(b).nbytes for b in buffers)


# ---- input checks ---------------------------------------------------------------------


def as_record(value: Any, query_tokens: Sequence[str] | None = None, key_tokens: Sequence[str] | None = None, what: str = "view") -> AttentionRecord:
    """An AttentionRecord from a record or a plain 2-D [queries, keys] array, padding removed."""
    if isinstance(value, EncoderDecoderRecord):
        raise TypeError(f"{what} takes one AttentionRecord; this is an EncoderDecoderRecord: pass .encoder, .decoder or .cross (or use AlignmentView / explore()).")
    if isinstance(value, AttentionRecord):
        if query_tokens is not None or key_tokens is not None:
            raise TypeError(f"{what}: tokens come from the record; pass query_tokens/key_tokens only with a plain 2-D array.")
        return value.without_padding()
    if hasattr(value, "detach") or isinstance(value, (np.ndarray, list, tuple)):
        matrix = value.detach().float().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)
        if matrix.ndim != 2:
            raise ValueError(f"{what} takes an AttentionRecord or a 2-D [queries, keys] array; got an array of shape {matrix.shape}. For [layers, heads, q, k] build AttentionRecord(weights, tokens).")
        kind = "self" if np.allclose(np.asarray(matrix, dtype=np.float64).sum(-1), 1, atol=1e-3) else "spatial"
        # a 2-D array need not be a distribution (notebook 01 shows raw scores too): non-distributions
        # are kept as gates in [0, 1] if they fit, otherwise refused with the reason
        return AttentionRecord.from_matrix(matrix, query_tokens, key_tokens, kind=kind)
    raise TypeError(f"{what} takes an AttentionRecord (from capture()) or a 2-D numpy array; got {type(value).__name__}.")


def check_index(value: int, size: int, what: str) -> str | None:
    """A refusal message when value is not a valid index, else None."""
    if not 0 <= value < size:
        return f"{what} {value} is out of range: this record has {size} {what}s (0 to {size - 1})."
    return None


# ---- the base class -------------------------------------------------------------------


class AttentionView(anywidget.AnyWidget):
    """Shared machinery of every attention view.

    Subclasses set ``_js_file`` (their ES module, concatenated after common.js) and implement
    ``to_figure()``. A refused trait value raises ``TraitError`` in Python and also shows its
    message inside the widget through the ``error`` trait, so the view is never blank.
    """

    _js_file: str = ""
    # The PNG beside the widget in the display message (for GitHub, nbviewer, a reopened notebook).
    # Drawn with Pillow in tens of ms (matplotlib needs 0.3-1 s); set False on the class to skip it.
    png_fallback: bool = True

    error = t.Unicode("", help="why the last value was refused or the view could not draw; shown in the widget").tag(sync=True)
    colormap = t.Unicode("viridis", help="matplotlib colour map name; viridis (default) and cividis stay ordered for colour-blind readers and in greyscale").tag(sync=True)
    colors = t.Bytes(b"", help="256 RGB triples of `colormap`, sent to the browser (read-only)").tag(sync=True)
    title = t.Unicode("", help="a caption above the view").tag(sync=True)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        if cls.__dict__.get("_js_file"):
            # one self-contained module: shared helpers, then the view (see common.js for why)
            code = COMMON_JS.read_text() + "\n" + (HERE / cls._js_file).read_text()
            cls._esm = code + "\n// end of module\n"
        super().__init_subclass__(**kwargs)

    def __init__(self, **kwargs: Any) -> None:
        # The comm opens only once the first selection is packed, so the first render is one
        # message carrying everything (each extra small message costs ~40 ms, see DESIGN.md).
        self._defer_open = True
        super().__init__(**kwargs)
        self.colors = colormap_bytes(self.colormap)
        self._ready = True
        self._safely(self._push)
        self._defer_open = False
        self.open()

    def open(self) -> None:
        if not getattr(self, "_defer_open", False):
            super().open()

    def _push(self) -> None:
        """Pack what the browser shows for the current selection into the view's traits."""

    # ---- errors ---------------------------------------------------------------------------

    def _refuse(self, message: str) -> None:
        self.error = message
        raise t.TraitError(message)

    @t.validate("colormap")
    def _valid_colormap(self, proposal: Any) -> str:
        try:
            colormap_bytes(proposal["value"])
        except ValueError as err:
            self._refuse(str(err))
        return proposal["value"]

    @t.observe("colormap")
    def _colormap_changed(self, change: Any) -> None:
        self.colors = colormap_bytes(change["new"])

    @t.observe(t.All)
    def _accepted(self, change: Any) -> None:
        """A value that passed validation replaces the message of an earlier refused one."""
        if change["name"] != "error" and self.error and getattr(self, "_ready", False) and not change["name"].startswith("_"):
            self.error = ""

    def set_state(self, sync_data: dict) -> None:
        """A value from the browser that validation refuses: show why, and put the controls back."""
        try:
            super().set_state(sync_data)
        except t.TraitError as err:
            # traitlets rolled back every change made during the refused update, error included
            self.error = str(err)
            self.send_state([k for k in sync_data if self.has_trait(k)])

    def _safely(self, action: Any) -> None:
        """Run a refresh; a failure shows in the widget instead of a traceback in the kernel log."""
        try:
            action()
        except Exception as err:  # noqa: BLE001  (the message is the point: never a blank view)
            self.error = f"{type(err).__name__}: {err}"
        else:
            if self.error:
                self.error = ""

    # ---- static pictures ------------------------------------------------------------------

    def to_figure(self) -> Any:
        """A matplotlib figure of the current state (see attnwidgets.plot)."""
        raise NotImplementedError

    def to_png(self, dpi: int = 72) -> bytes:
        fig = self.to_figure()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=dpi)  # the figures use constrained layout: "tight" would draw twice
        return buf.getvalue()

    def save_image(self, path: str | os.PathLike, dpi: int = 200) -> pathlib.Path:
        """Write the current picture to a file without a browser: PNG, SVG or PDF by the suffix.

        The same drawing as ``to_figure()`` (matplotlib); ``dpi=200`` is twice matplotlib's screen
        resolution, as the toolbar's PNG button is twice the browser's.
        """
        path = pathlib.Path(path)
        suffix = path.suffix.lower().lstrip(".")
        if suffix not in ("png", "svg", "pdf"):
            raise ValueError(f"save_image writes .png, .svg or .pdf; got {path.name!r}. Add one of those suffixes.")
        fig = self.to_figure()
        fig.savefig(path, format=suffix, dpi=dpi)
        return path

    def fallback_png(self) -> bytes:
        """The picture shown where no kernel runs; views draw it with Pillow (see picture.py) for speed."""
        return self.to_png()

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        bundle = super()._repr_mimebundle_(**kwargs)
        if bundle is None:
            return None
        data, metadata = bundle
        if not self.png_fallback:
            return data, metadata
        try:
            # GitHub, nbviewer and a reopened notebook without a kernel show this picture
            data["image/png"] = base64.b64encode(self.fallback_png()).decode("ascii")
        except Exception as err:  # noqa: BLE001  (a picture must never stop the live view)
            data["text/plain"] = f"{data.get('text/plain', '')}\n(no PNG fallback: {err})"
        return data, metadata

    # ---- one offline HTML file --------------------------------------------------------------

    def save_html(self, path: str | os.PathLike, title: str | None = None) -> pathlib.Path:
        """Write one self-contained HTML file: the view's module and the current selection's data inlined.

        No script or style is loaded from anywhere: it opens from disk with the network off.
        Controls that need data the kernel did not send yet say so instead of drawing.
        """
        from ipywidgets.widgets.widget import _remove_buffers

        state, paths, buffers = _remove_buffers(self.get_state())
        for key in ("_esm", "_css", "_anywidget_id", "layout", "tabbable", "tooltip", "_dom_classes"):
            state.pop(key, None)
        for key in list(state):
            if key.startswith(("_model", "_view")):
                state.pop(key)
        state["offline"] = True
        binaries = [[p, base64.b64encode(memoryview(b).tobytes()).decode("ascii")] for p, b in zip(paths, buffers)]
        payload = json.dumps({"state": state, "buffers": binaries}).replace("</", "<\\/")
        module = self._esm.replace("export default", "const VIEW =")
        name = title or self.title or type(self).__name__
        html = _HTML.format(title=_escape(name), payload=payload, module=module, boot=_BOOT)
        path = pathlib.Path(path)
        path.write_text(html, encoding="utf-8")
        return path


# ---- token views: layer, aggregate, rollout, pinned token, cached pooled matrices ---------------

AGGREGATES = ("", "mean", "max")


class TokenView(AttentionView):
    """What every token-to-token view shares (Heatmap, AlignmentView, HeadView, ModelView).

    The traits below are the views' common vocabulary, so ``link_views`` (or ``ipywidgets.link``)
    keeps several views on the same selection: ``layer``, ``aggregate`` (mean/max over heads),
    ``rollout`` (attention rollout across layers, encoders only) and ``pinned`` (a query token
    that stays highlighted). Subclasses set ``self._record`` before calling ``__init__``.
    """

    layer = t.Int(0, help="layer index (with `rollout`: the rollout through this layer)").tag(sync=True)
    aggregate = t.Unicode("", help="'' shows single heads; 'mean' or 'max' shows that aggregate over the layer's heads").tag(sync=True)
    rollout = t.Bool(False, help="show attention rollout through `layer` (Abnar & Zuidema 2020, from attnwidgets.analysis); encoders only").tag(sync=True)
    pinned = t.Int(None, allow_none=True, help="pinned query token (stays highlighted); None when nothing is pinned; click a token or press Esc to unpin").tag(sync=True)

    query_tokens = t.List(t.Unicode(), help="query (row / left) labels (read-only)").tag(sync=True)
    key_tokens = t.List(t.Unicode(), help="key (column / right) labels (read-only)").tag(sync=True)
    layer_names = t.List(t.Unicode(), help="one name per layer (read-only)").tag(sync=True)
    n_heads = t.Int(1, help="heads per layer (read-only)").tag(sync=True)
    kind = t.Unicode("self", help="self, causal or cross (read-only)").tag(sync=True)
    can_rollout = t.Bool(False, help="whether `rollout` is offered: square self-attention of at most ROLLOUT_MAX_TOKENS tokens (read-only)").tag(sync=True)

    def _token_traits(self, rec: AttentionRecord) -> dict:
        """The read-only traits that describe a record, for the subclass's super().__init__."""
        return {
            # readable labels: byte-level BPE's "Ġquick" is drawn " quick", SentencePiece's "▁the" " the"
            "query_tokens": [readable_token(t) for t in rec.query_tokens], "key_tokens": [readable_token(t) for t in rec.key_tokens],
            "layer_names": list(rec.layer_names),
            "n_heads": rec.n_heads, "kind": rec.kind, "can_rollout": self._rollout_refusal(rec) is None,
        }

    @property
    def record(self) -> AttentionRecord:
        """The record shown (padding removed); it stays in the kernel."""
        return self._record

    def _accept(self, record: Any) -> AttentionRecord:
        """Turn what show() was given into the record this view draws (subclasses convert more)."""
        return as_record(record, what=type(self).__name__)

    def show(self, record: Any) -> None:
        """Show another record in this same view (a student's own sentence, the next image, ...).

        The widget, its links and its place in the page stay. Layer, head and pinned token are kept
        when they exist in the new record, else reset; a view with a decoding ``step`` shows every step.
        A record this view cannot draw raises (and says why in the widget), leaving the old one shown.
        """
        try:
            new = self._accept(record)
        except (TypeError, ValueError) as err:
            self.error = str(err)
            raise
        old_heads = self._record.n_heads
        self._ready = False  # one push at the end, not one per trait
        try:
            self._record = new
            self.__dict__.pop("_matrix_cache", None)
            self._rollout = None
            for name, trait in self._token_traits(new).items():
                setattr(self, name, trait)
            if self.layer >= new.n_layers:
                self.layer = 0
            if self.has_trait("head") and self.head >= new.n_heads:
                self.head = 0
            if self.has_trait("heads") and (any(h >= new.n_heads for h in self.heads) or len(self.heads) == old_heads):
                self.heads = list(range(new.n_heads))  # all heads shown stays all heads shown
            if self.pinned is not None and self.pinned >= new.n_queries:
                self.pinned = None
            if self.rollout and self._rollout_refusal(new):
                self.rollout = False
            if self.has_trait("window"):
                self.window = []
            if self.has_trait("step"):
                self.step = new.n_queries
            self.error = ""
        finally:
            self._ready = True
        self._safely(self._push)

    # ---- validation ----------------------------------------------------------------------------

    @staticmethod
    def _rollout_refusal(rec: AttentionRecord) -> str | None:
        if rec.kind != "self" or rec.n_queries != rec.n_keys:
            return f"rollout follows attention through the layers of an encoder (square self-attention); this record is {rec.kind} with {rec.n_queries} queries and {rec.n_keys} keys."
        if rec.n_queries > ROLLOUT_MAX_TOKENS:
            return f"rollout of {rec.n_queries} tokens multiplies {rec.n_queries}x{rec.n_queries} matrices per layer (seconds and GBs each); views offer it up to {ROLLOUT_MAX_TOKENS} tokens. Call attnwidgets.analysis.rollout(record) yourself to wait for it."
        return None

    @t.validate("layer")
    def _valid_layer(self, proposal: Any) -> int:
        if msg := check_index(proposal["value"], self._record.n_layers, "layer"):
            self._refuse(msg)
        return proposal["value"]

    @t.validate("head")
    def _valid_head(self, proposal: Any) -> int:
        if msg := check_index(proposal["value"], self._record.n_heads, "head"):
            self._refuse(msg)
        return proposal["value"]

    @t.validate("aggregate")
    def _valid_aggregate(self, proposal: Any) -> str:
        if proposal["value"] not in AGGREGATES:
            self._refuse(f"aggregate must be '', 'mean' or 'max'; got {proposal['value']!r}.")
        return proposal["value"]

    @t.validate("rollout")
    def _valid_rollout(self, proposal: Any) -> bool:
        if proposal["value"] and (msg := self._rollout_refusal(self._record)):
            self._refuse(msg)
        return proposal["value"]

    @t.validate("pinned")
    def _valid_pinned(self, proposal: Any) -> int | None:
        value = proposal["value"]
        if value is not None and (msg := check_index(value, self._record.n_queries, "query token")):
            self._refuse(msg + " Use None to unpin.")
        return value

    # ---- what is shown ---------------------------------------------------------------------------

    def shown_key(self) -> str:
        """What the head control shows: 'rollout', 'mean', 'max' or a head index as text."""
        if self.rollout:
            return "rollout"
        return self.aggregate or str(getattr(self, "head", 0))

    def shown_name(self) -> str:
        """A caption for the current selection, e.g. 'layer.2, head 5' or 'rollout to layer.2'."""
        name = self._record.layer_names[self.layer]
        key = self.shown_key()
        if key == "rollout":
            return f"rollout to {name}"
        return f"{name}, {key + ' of heads' if key in ('mean', 'max') else 'head ' + key}"

    def rollout_record(self) -> AttentionRecord:
        """attnwidgets.analysis.rollout of the record, computed once (then cached) when first shown."""
        if getattr(self, "_rollout", None) is None:
            from ..analysis import rollout

            if msg := self._rollout_refusal(self._record):
                raise ValueError(msg)
            self._rollout = rollout(self._record)
        return self._rollout

    def full_matrix(self, layer: int, key: str) -> np.ndarray:
        """The [queries, keys] matrix of a layer and key ('0'.., 'mean', 'max', 'rollout'); aggregates cached."""
        if key == "rollout":
            return self.rollout_record().weights[layer, 0]
        if key in ("mean", "max"):
            return self._cached(("full", layer, key), lambda: self._record.matrix(layer, key))
        return self._record.weights[layer, int(key)]

    def pooled(self, layer: int, key: str, region: tuple[int, int, int, int], row_starts: np.ndarray | None, col_starts: np.ndarray | None) -> np.ndarray:
        """The matrix cut to region and max-pooled into the given bins, cached in the kernel."""
        q0, q1, k0, k1 = region
        if row_starts is None and col_starts is None and (q1 - q0) * (k1 - k0) <= 1_000_000:
            return self.full_matrix(layer, key)[q0:q1, k0:k1]  # small: a slice costs nothing
        return self._cached(("pooled", layer, key, tuple(region), None if row_starts is None else len(row_starts), None if col_starts is None else len(col_starts)),
                            lambda: np.ascontiguousarray(max_pool(self.full_matrix(layer, key)[q0:q1, k0:k1], row_starts, col_starts, (q0, k0))))

    def _cached(self, key: tuple, make: Any) -> np.ndarray:
        cache = self.__dict__.setdefault("_matrix_cache", {})
        if key in cache:
            cache[key] = cache.pop(key)  # most recently used last
            return cache[key]
        value = make()
        cache[key] = value
        while sum(v.nbytes for v in cache.values()) > CACHE_BYTES and len(cache) > 1:
            cache.pop(next(iter(cache)))
        return value


def link_views(*views: Any, traits: Sequence[str] = ("layer", "head", "aggregate", "rollout", "pinned")) -> list:
    """Keep views on the same selection: every trait in ``traits`` that two views both have is
    linked both ways with ``ipywidgets.link`` (HeadView has no ``head``: it follows the rest).

    >>> heads, heat = HeadView(record), Heatmap(record)
    >>> links = link_views(heads, heat)    # pin a token in one, the other highlights it
    >>> widgets.HBox([heads, heat])

    Returns the links; ``link.unlink()`` undoes one.
    """
    import ipywidgets

    if len(views) < 2:
        raise TypeError(f"link_views needs two or more views; got {len(views)}.")
    for view in views:
        if not isinstance(view, t.HasTraits):
            raise TypeError(f"link_views takes widgets (HeadView, Heatmap, ...); got {type(view).__name__}.")
    links = []
    for name in traits:
        having = [v for v in views if v.has_trait(name)]
        for a, b in zip(having, having[1:]):
            ra, rb = getattr(a, "_record", None), getattr(b, "_record", None)
            if name in ("layer", "head", "pinned") and ra is not None and rb is not None:
                sizes = {"layer": ("n_layers", "layers"), "head": ("n_heads", "heads"), "pinned": ("n_queries", "query tokens")}[name]
                if getattr(ra, sizes[0]) != getattr(rb, sizes[0]):
                    raise ValueError(f"views of records with different numbers of {sizes[1]} ({getattr(ra, sizes[0])} and {getattr(rb, sizes[0])}) cannot share `{name}`; pass traits=(...) without it.")
            links.append(ipywidgets.link((a, name), (b, name)))  # b takes a's value first
    return links


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# A stand-in for the widget model: same get/set/on/off/save_changes, no kernel behind it.
_BOOT = """
const payload = JSON.parse(document.getElementById("aw-state").textContent);
const state = payload.state;
for (const [path, b64] of payload.buffers) {
  const raw = atob(b64), bytes = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
  let obj = state;
  for (const k of path.slice(0, -1)) obj = obj[k];
  obj[path[path.length - 1]] = new DataView(bytes.buffer);
}
const listeners = {};
const model = {
  get: (k) => state[k],
  set(k, v) { if (state[k] === v) return; state[k] = v; for (const f of listeners["change:" + k] || []) f(); },
  on(events, f) { for (const e of events.split(" ")) (listeners[e] = listeners[e] || []).push(f); },
  off(events, f) { for (const e of (events || "").split(" ")) listeners[e] = (listeners[e] || []).filter((g) => g !== f); },
  save_changes() {},
  send() {},
};
VIEW.render({ model, el: document.getElementById("aw-view") });
"""

_HTML = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title></head>
<body>
<div id="aw-view"></div>
<script type="application/json" id="aw-state">{payload}</script>
<script type="module">
{module}
{boot}
</script>
</body></html>
"""
