"""Static matplotlib pictures of every view: for scripts, papers, and the views' PNG fallbacks.

Each function returns a ``matplotlib.figure.Figure`` made without pyplot, so nothing is shown
twice in a notebook and no global state is touched. The views call these with their current
state (``view.to_figure()``); scripts can call them with a record directly.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .drawing import (AGGREGATE_COLOR, COLORMAP, HEAD_VIEW_MAX_TOKENS, HEAD_VIEW_THRESHOLD, HEATMAP_THRESHOLD, IMAGE_OPACITY, MAX_LABELS,
                      MAX_RESOLUTION, SEVERAL_HEADS_OPACITY, THUMBNAIL, head_color)
from .record import AGGREGATES, AttentionRecord, token_label
from .transport import bin_starts, max_pool


def _figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _pooled(matrix: np.ndarray, limit: int = MAX_RESOLUTION) -> tuple[np.ndarray, float, float]:
    rows, cols = matrix.shape
    pooled = max_pool(matrix, bin_starts(0, rows, limit), bin_starts(0, cols, limit))
    return pooled, rows / pooled.shape[0], cols / pooled.shape[1]


def _ticks(n: int, limit: int = MAX_LABELS) -> np.ndarray:
    return np.arange(0, n, max(1, int(np.ceil(n / limit))))


def heatmap(matrix: Any, query_tokens: Sequence[str] | None = None, key_tokens: Sequence[str] | None = None, *, colormap: str = COLORMAP,
            vmax: float | None = None, threshold: float = HEATMAP_THRESHOLD, title: str = "", pinned: int | None = None, reveal: int | None = None, ax: Any = None,
            xlabel: str = "key", ylabel: str = "query") -> Any:
    """One [queries, keys] matrix with token labels and a colour bar."""
    matrix = np.asarray(matrix, dtype=np.float32)
    if matrix.ndim != 2:
        raise ValueError(f"heatmap needs a 2-D [queries, keys] matrix; got shape {matrix.shape}.")
    nq, nk = matrix.shape
    query_tokens = list(query_tokens) if query_tokens is not None else [str(i) for i in range(nq)]
    key_tokens = list(key_tokens) if key_tokens is not None else [str(i) for i in range(nk)]
    if threshold > 0:
        matrix = np.where(matrix < threshold, 0, matrix)
    pooled, fy, fx = _pooled(matrix)
    if reveal is not None and reveal < nq:
        pooled = np.ma.masked_array(pooled, mask=np.zeros_like(pooled, dtype=bool))
        pooled.mask[int(np.ceil(reveal / fy)):] = True
    fig = None
    if ax is None:
        side = 2.5 + min(4.5, 0.12 * max(nq, nk))
        fig = _figure(side * min(1.6, max(0.7, nk / max(nq, 1))) + 1.0, side)
        ax = fig.add_subplot()
    extent = (-0.5, nk - 0.5, nq - 0.5, -0.5)
    image = ax.imshow(pooled, cmap=colormap, vmin=0, vmax=vmax or float(matrix.max()) or 1.0, aspect="auto", interpolation="nearest", extent=extent)
    for axis, tokens, set_ticks, set_labels in ((nk, key_tokens, ax.set_xticks, ax.set_xticklabels), (nq, query_tokens, ax.set_yticks, ax.set_yticklabels)):
        ticks = _ticks(axis)
        set_ticks(ticks)
        set_labels([token_label(tokens[i]) for i in ticks], fontsize=7)
    ax.tick_params(axis="x", rotation=90)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if pinned is not None and 0 <= pinned < nq:
        ax.axhspan(pinned - 0.5, pinned + 0.5, fill=False, edgecolor="red", linewidth=1.2)
    if title:
        ax.set_title(title, fontsize=9)
    ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.02)
    return fig if fig is not None else ax.figure


def head_view(record: AttentionRecord, layer: int = 0, heads: Sequence[int] | None = None, *, token: int | None = None, threshold: float = HEAD_VIEW_THRESHOLD,
              max_tokens: int = HEAD_VIEW_MAX_TOKENS, title: str = "", matrices: dict | None = None) -> Any:
    """The two-column token picture: queries left, keys right, a line per weight, one colour per head.

    ``matrices`` maps a label to an extra [queries, keys] matrix drawn in dark grey instead of the
    heads (e.g. {"mean": record.matrix(layer, aggregate="mean")}); ``token`` is the pinned query (None: all).
    """
    from matplotlib.collections import LineCollection
    from matplotlib.colors import to_rgba

    heads = list(range(record.n_heads)) if heads is None else list(heads)
    nq, nk = min(record.n_queries, max_tokens), min(record.n_keys, max_tokens)
    fig = _figure(4.2, 1.0 + 0.16 * max(nq, nk))
    ax = fig.add_subplot()
    y = lambda i, n: 1 - (i + 0.5) / max(nq, nk)  # noqa: E731
    for i in range(nq):
        ax.text(0, y(i, nq), token_label(record.query_tokens[i]), ha="right", va="center", fontsize=7, color="red" if i == token else "black")
    for j in range(nk):
        ax.text(1, y(j, nk), token_label(record.key_tokens[j]), ha="left", va="center", fontsize=7)
    token = -1 if token is None else token
    queries = [token] if 0 <= token < nq else range(nq)
    drawn = [(h, record.matrix(layer, h), head_color(h)) for h in heads] if not matrices else [(name, m, AGGREGATE_COLOR) for name, m in matrices.items()]
    fade = 1.0 if len(drawn) == 1 else SEVERAL_HEADS_OPACITY  # as the live view
    for h, w, color in drawn:
        w = w[:nq, :nk]
        segments, colors = [], []
        rgba = np.array(to_rgba(color))
        for i in queries:
            for j in np.flatnonzero(w[i] >= threshold):
                segments.append([(0.02, y(i, nq)), (0.98, y(j, nk))])
                colors.append((*rgba[:3], min(1.0, float(w[i, j]) * fade)))
        ax.add_collection(LineCollection(segments, colors=colors, linewidths=1.5))
    ax.set_xlim(-0.35, 1.35)
    ax.set_ylim(0, 1)
    ax.axis("off")
    clipped = " (first %d tokens)" % max_tokens if max(record.n_queries, record.n_keys) > max_tokens else ""
    what = ", ".join(matrices) if matrices else "heads " + ", ".join(map(str, heads))
    ax.set_title((title or f"{record.layer_names[layer]}, {what}") + clipped, fontsize=8)
    return fig


def model_view(record: AttentionRecord, *, colormap: str = COLORMAP, thumbnail: int = THUMBNAIL, selected: tuple[int, int] | None = None, title: str = "") -> Any:
    """Every layer x head as a grid of small pictures in one image, then the mean and max of heads.

    ``selected`` is (layer, column): a head index, or n_heads / n_heads + 1 for the mean / max.
    """
    L, H = record.n_layers, record.n_heads
    labels = [str(h) for h in range(H)] + (list(AGGREGATES) if H > 1 else [])
    gap = 2
    step = thumbnail + gap
    shift = lambda c: c * step + (gap * 3 if c >= H else 0)  # noqa: E731  (a small gap before the aggregates)
    mosaic = np.full((L * step, shift(len(labels) - 1) + step), np.nan, dtype=np.float32)
    for layer in range(L):
        for column, label in enumerate(labels):
            m = record.matrix(layer, aggregate=label) if label in AGGREGATES else record.matrix(layer, column)
            m = max_pool(m, bin_starts(0, m.shape[0], thumbnail), bin_starts(0, m.shape[1], thumbnail))
            m = m / (m.max() or 1.0)
            # nearest-neighbour stretch of small matrices to the thumbnail size
            rows = np.minimum((np.arange(thumbnail) * m.shape[0]) // thumbnail, m.shape[0] - 1)
            cols = np.minimum((np.arange(thumbnail) * m.shape[1]) // thumbnail, m.shape[1] - 1)
            r0, c0 = layer * step, shift(column)
            mosaic[r0:r0 + thumbnail, c0:c0 + thumbnail] = m[np.ix_(rows, cols)]
    fig = _figure(1.0 + 0.55 * len(labels), 0.8 + 0.55 * L)
    ax = fig.add_subplot()
    ax.imshow(np.ma.masked_invalid(mosaic), cmap=colormap, vmin=0, vmax=1, interpolation="nearest")
    ax.set_xticks([shift(c) + thumbnail / 2 for c in range(len(labels))], labels, fontsize=7)
    ax.set_yticks(np.arange(L) * step + thumbnail / 2, [str(i) for i in range(L)], fontsize=7)
    ax.set_xlabel("head")
    ax.set_ylabel("layer")
    for spine in ax.spines.values():
        spine.set_visible(False)
    if selected is not None:
        from matplotlib.patches import Rectangle

        layer, column = selected
        ax.add_patch(Rectangle((shift(column) - 1, layer * step - 1), thumbnail + 1, thumbnail + 1, fill=False, edgecolor="red", linewidth=1.5))
    ax.set_title(title or "each row a layer, each column a head (each scaled to its own max)", fontsize=8)
    return fig


def alignment(matrix: Any, query_tokens: Sequence[str], key_tokens: Sequence[str], *, step: int | None = None, colormap: str = COLORMAP, title: str = "") -> Any:
    """Target (query rows) over source (key columns) attention, rows after `step` hidden as not decoded yet."""
    return heatmap(matrix, query_tokens, key_tokens, colormap=colormap, title=title or "alignment", reveal=step,
                   xlabel="source", ylabel="target")


def image_attention(image: Any, attention_map: Any | None, *, opacity: float = IMAGE_OPACITY, colormap: str = COLORMAP, title: str = "",
                    channels: Any | None = None) -> Any:
    """An image with an attention map stretched over it, and/or a bar chart of channel weights."""
    panels = (image is not None) + (channels is not None)
    fig = _figure(3.4 * panels + 0.4, 3.4)
    if image is not None:
        ax = fig.add_subplot(1, panels, 1)
        img = np.asarray(image)
        ax.imshow(img, cmap="gray" if img.ndim == 2 else None)
        if attention_map is not None:
            amap = np.asarray(attention_map, dtype=np.float32)
            shown = ax.imshow(amap, cmap=colormap, alpha=opacity, extent=(-0.5, img.shape[1] - 0.5, img.shape[0] - 0.5, -0.5),
                              interpolation="bilinear", vmin=0, vmax=float(amap.max()) or 1.0)
            fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.02)
        ax.axis("off")
        ax.set_title(title, fontsize=9)
    if channels is not None:
        ax = fig.add_subplot(1, panels, panels)
        values = np.asarray(channels, dtype=np.float32).ravel()
        ax.bar(np.arange(len(values)), values, color="#0072B2", width=1.0)
        ax.set_xlabel("channel")
        ax.set_ylabel("weight")
        ax.set_ylim(0, max(1.0, float(values.max())))
        ax.set_title("channel attention" if image is not None else title or "channel attention", fontsize=9)
    return fig


def record_heatmap(record: AttentionRecord, layer: int = 0, head: int = 0, *, aggregate: str = "", **kwargs: Any) -> Any:
    """heatmap() of one head (or with aggregate='mean'/'max' that aggregate) of a record, labelled with its tokens."""
    rec = record.without_padding()
    kwargs.setdefault("title", f"{rec.layer_names[rec.layer_index(layer)]}, {aggregate or f'head {head}'}")
    return heatmap(rec.matrix(layer, head, aggregate=aggregate), rec.query_tokens, rec.key_tokens, **kwargs)
