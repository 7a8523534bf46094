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

from ..record import AttentionRecord, EncoderDecoderRecord

HERE = pathlib.Path(__file__).parent
COMMON_JS = HERE / "common.js"

# Above this many tokens on an axis a matrix is max-pooled in the kernel: the browser's
# receiving side dominates past 1024^2 (DESIGN.md), and a screen has fewer pixels anyway.
MAX_RESOLUTION = 1024
# One buffer of the current layer's heads is sent while it fits this many bytes, so head
# switches repaint in the browser without a round trip (small comm messages cost ~40 ms).
PREFETCH_BYTES = 1_500_000
COLORMAPS = ("viridis", "cividis", "magma", "plasma", "inferno", "Greys", "Blues")


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
    colormap = t.Unicode("viridis", help="matplotlib colour map name (viridis and cividis are colour-blind safe)").tag(sync=True)
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
