"""AttentionView, the base of every view: error display, PNG fallback, save_image and save_html.

A view keeps its AttentionRecord in the kernel and sends the browser only what it shows, as
binary buffers (see attnwidgets.transport). What a token view adds is in tokenview.py, what
the views accept in inputs.py, link_views in link.py.
"""

from __future__ import annotations

import base64
import difflib
import io
import json
import os
import pathlib
from typing import Any

import anywidget
import traitlets as t

from ..drawing import COLORMAP
from ..transport import colormap_bytes

# Moved to attnwidgets.drawing / attnwidgets.transport; still importable from here because
# tests/test_views.py, tests/test_views_features.py, tests/browser/test_features_lab.py and
# benchmarks/view_bytes.py import them from views.base (files this split did not own).
from ..drawing import MAX_RESOLUTION, ROLLOUT_MAX_TOKENS  # noqa: E402,F401
from ..transport import bin_starts, max_pool, sent_bytes  # noqa: E402,F401

HERE = pathlib.Path(__file__).parent
COMMON_JS = HERE / "common.js"


class _Strict(type(anywidget.AnyWidget)):
    """Once a view's whole __init__ (the subclass's too) has run, its public names are fixed."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        view = super().__call__(*args, **kwargs)
        view._strict = True
        return view


class AttentionView(anywidget.AnyWidget, metaclass=_Strict):
    """Shared machinery of every attention view.

    Subclasses set ``_js_file`` (their ES module, concatenated after common.js) and implement
    ``to_figure()``. A refused trait value raises ``TraitError`` in Python and also shows its
    message inside the widget through the ``error`` trait, so the view is never blank.
    A keyword or an attribute the view does not have (``head`` on HeadView, which has ``heads``)
    is refused with the names it does have, instead of being kept and doing nothing.
    """

    _js_file: str = ""
    # The PNG beside the widget in the display message (for GitHub, nbviewer, a reopened notebook).
    # Drawn with Pillow in tens of ms (matplotlib needs 0.3-1 s); set False on the class to skip it.
    png_fallback: bool = True

    error = t.Unicode("", help="why the last value was refused or the view could not draw; shown in the widget").tag(sync=True)
    colormap = t.Unicode(COLORMAP, help="matplotlib colour map name; viridis (default) and cividis stay ordered for colour-blind readers and in greyscale").tag(sync=True)
    colors = t.Bytes(b"", help="256 RGB triples of `colormap`, sent to the browser (read-only)").tag(sync=True)
    title = t.Unicode("", help="a caption above the view").tag(sync=True)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        if cls.__dict__.get("_js_file"):
            # one self-contained module: shared helpers, then the view (see common.js for why)
            code = COMMON_JS.read_text() + "\n" + (HERE / cls._js_file).read_text()
            cls._esm = code + "\n// end of module\n"
        super().__init_subclass__(**kwargs)

    def __init__(self, **kwargs: Any) -> None:
        unknown = [k for k in kwargs if not self.has_trait(k)]
        if unknown:
            raise TypeError(self._unknown_name(unknown[0], "keyword argument"))
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

    # ---- names the view does not have -------------------------------------------------------

    def settable_names(self) -> list[str]:
        """The view's traits a user may set (the read-only ones and ipywidgets' own left out)."""
        own = [name for cls in type(self).__mro__ if issubclass(cls, AttentionView) for name in cls.__dict__]
        return sorted({n for n in own if self.has_trait(n) and not n.startswith("_") and n != "error" and "(read-only)" not in (self.trait_metadata(n, "help") or "")})

    def _unknown_name(self, name: str, what: str) -> str:
        names = self.settable_names()
        close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        return f"{type(self).__name__} has no {what} {name!r}, so it would do nothing.{hint} What it takes: {', '.join(names)}."

    def __setattr__(self, name: str, value: Any) -> None:
        # only public names that are neither traits nor class attributes (methods, properties):
        # ipywidgets' and traitlets' own bookkeeping is private or traits
        if name[:1] != "_" and getattr(self, "_strict", False) and not self.has_trait(name) and not hasattr(type(self), name):
            message = self._unknown_name(name, "attribute")
            self.error = message
            raise AttributeError(message)
        super().__setattr__(name, value)

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
