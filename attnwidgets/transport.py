"""How a view's data travels: pooling long matrices, packing them into binary buffers, colour tables.

A view keeps its AttentionRecord in the kernel and sends the browser only what it shows, as
binary buffers (``Bytes`` traits arrive in JavaScript as a ``DataView``, not base64 JSON). The
same pooling serves the PNG fallbacks (views/picture.py) and the figures (plot.py), so this
module sits below both: it imports neither attnwidgets.plot nor attnwidgets.views.
"""

from __future__ import annotations

import json
from typing import Any, Sequence

import numpy as np

from .drawing import COLORMAPS

# One buffer of the current layer's heads is sent while it fits this many bytes, so head
# switches repaint in the browser without a round trip (small comm messages cost ~40 ms).
PREFETCH_BYTES = 1_500_000


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


def sent_bytes(widget: Any) -> int:
    """Bytes of the widget's full state message: JSON text plus binary buffers (what first render costs)."""
    from ipywidgets.widgets.widget import _remove_buffers

    state, _, buffers = _remove_buffers(widget.get_state())
    return len(json.dumps(state, separators=(",", ":"))) + sum(memoryview(b).nbytes for b in buffers)
