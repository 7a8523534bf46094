"""Fast PNG pictures for the display fallback, drawn with Pillow.

The PNG beside every widget in the display message is made while the cell runs, so it
delays the live view; matplotlib needs 0.3-1 s for a labelled heatmap (mostly text layout),
Pillow about a tenth of that. ``view.to_figure()`` stays the matplotlib picture for papers.
"""

from __future__ import annotations

import io
from typing import Sequence

import numpy as np

from ..drawing import HEAD_VIEW_MAX_TOKENS, HEAD_VIEW_THRESHOLD, HEATMAP_SIZE, HEATMAP_THRESHOLD, IMAGE_OPACITY, IMAGE_SIDE, LABEL_SPACING, SEVERAL_HEADS_OPACITY
from ..record import token_label
from ..transport import bin_starts, max_pool

SIDE = HEATMAP_SIZE  # pixels of the matrix area, as the live Heatmap
FONT_SIZE = 11


def _font():
    from PIL import ImageFont

    return ImageFont.load_default(size=FONT_SIZE)


def _png(image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=3)  # zlib level 3: most of the size win, a third of the time
    return buf.getvalue()


def colorize(values: np.ndarray, colors: bytes, vmax: float) -> np.ndarray:
    """uint8 RGB [..., 3] of values in [0, vmax] through a 256-entry colour table."""
    table = np.frombuffer(colors, np.uint8).reshape(256, 3) if len(colors) >= 768 else np.repeat(np.arange(255, -1, -1, dtype=np.uint8)[:, None], 3, 1)
    index = np.clip(np.rint(np.nan_to_num(values) / (vmax or 1.0) * 255), 0, 255).astype(np.intp)
    return table[index]


def matrix_png(matrix: np.ndarray, query_tokens: Sequence[str], key_tokens: Sequence[str], colors: bytes, *, vmax: float | None = None,
               threshold: float = HEATMAP_THRESHOLD, title: str = "", pinned: int | None = None, reveal: int | None = None) -> bytes:
    """A labelled heatmap: token labels (thinned to stay readable), colour bar, pinned row, hidden rows."""
    pinned = -1 if pinned is None else pinned
    from PIL import Image, ImageDraw

    nq, nk = matrix.shape
    vmax = vmax or float(matrix.max()) or 1.0
    shown = np.where(matrix < threshold, 0, matrix) if threshold > 0 else matrix
    pooled = max_pool(shown, bin_starts(0, nq, SIDE), bin_starts(0, nk, SIDE))
    rgb = colorize(pooled, colors, vmax)
    if reveal is not None and reveal < nq:
        rgb[int(np.ceil(reveal * pooled.shape[0] / nq)):] = 242
    cell = max(1, min(28, SIDE // max(nq, nk)))
    width, height = (nk * cell, nq * cell) if max(nq, nk) * cell <= SIDE else (SIDE * nk // max(nq, nk), SIDE * nq // max(nq, nk))
    width, height = max(width, 1), max(height, 1)
    plot = Image.fromarray(rgb).resize((width, height), Image.NEAREST)
    font = _font()
    row_px, col_px = height / nq, width / nk
    step_r, step_c = max(1, int(np.ceil(LABEL_SPACING / row_px))), max(1, int(np.ceil(LABEL_SPACING / col_px)))  # labels that stay readable
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    label_w = lambda tokens, step: int(max([measure.textlength(token_label(t), font=font) for t in tokens[::step]] + [20])) + 8  # noqa: E731
    left, top = label_w(list(query_tokens), step_r), label_w(list(key_tokens), step_c)
    head = 18 if title else 4
    img = Image.new("RGB", (left + width + 70, head + top + height + 6), "white")
    img.paste(plot, (left, head + top))
    draw = ImageDraw.Draw(img)
    if title:
        draw.text((4, 2), title, fill="#444", font=font)
    for i in range(0, nq, step_r):
        y = head + top + (i + 0.5) * row_px
        color = "#c00" if i == pinned else ("#bbb" if reveal is not None and i >= reveal else "#222")
        draw.text((left - 4, y), token_label(query_tokens[i]), fill=color, font=font, anchor="rm")
    for j in range(0, nk, step_c):
        label = Image.new("RGB", (top, FONT_SIZE + 4), "white")
        ImageDraw.Draw(label).text((2, 1), token_label(key_tokens[j]), fill="#222", font=font)
        rotated = label.rotate(90, expand=True)
        img.paste(rotated, (int(left + (j + 0.5) * col_px - rotated.width / 2), head + top - rotated.height - 2))
    if 0 <= pinned < nq:
        y0 = head + top + pinned * row_px
        draw.rectangle([left, y0, left + width - 1, y0 + max(row_px, 2)], outline="#e00", width=2)
    # colour bar
    bar = colorize(np.linspace(vmax, 0, height)[:, None].repeat(12, 1), colors, vmax)
    img.paste(Image.fromarray(bar), (left + width + 10, head + top))
    for frac, value in ((0, vmax), (0.5, vmax / 2), (1, 0.0)):
        draw.text((left + width + 26, head + top + frac * (height - 1)), f"{value:.3g}", fill="#222", font=font, anchor="lm")
    return _png(img)


def mosaic_png(thumbs: np.ndarray, colors: bytes, *, selected: tuple[int, int] | None = None, title: str = "", columns: Sequence[str] | None = None) -> bytes:
    """Thumbnails [layers, columns, rows, cols] in [0, 1] as one labelled grid (columns: heads, then mean/max)."""
    from PIL import Image, ImageDraw

    layers, heads, rows, cols = thumbs.shape
    cell = max(16, min(48, 620 // heads))
    gap, left, top = 3, 30, (34 if title else 18)
    img = Image.new("RGB", (left + heads * (cell + gap), top + layers * (cell + gap)), "white")
    draw, font = ImageDraw.Draw(img), _font()
    if title:
        draw.text((4, 2), title, fill="#444", font=font)
    names = list(columns) if columns is not None else [str(h) for h in range(heads)]
    for h in range(heads):
        draw.text((left + h * (cell + gap) + cell / 2, top - 2), names[h], fill="#444", font=font, anchor="mb")
    for layer in range(layers):
        draw.text((left - 6, top + layer * (cell + gap) + cell / 2), str(layer), fill="#444", font=font, anchor="rm")
        for h in range(heads):
            tile = Image.fromarray(colorize(thumbs[layer, h], colors, 1.0)).resize((cell, cell), Image.NEAREST)
            img.paste(tile, (left + h * (cell + gap), top + layer * (cell + gap)))
    if selected is not None:
        layer, h = selected
        x, y = left + h * (cell + gap), top + layer * (cell + gap)
        draw.rectangle([x - 2, y - 2, x + cell + 1, y + cell + 1], outline="#e00", width=2)
    return _png(img)


def lines_png(values: np.ndarray, index: np.ndarray, query_tokens: Sequence[str], key_tokens: Sequence[str], heads: Sequence[int],
              head_colors: Sequence[str], *, threshold: float = HEAD_VIEW_THRESHOLD, token: int | None = None, title: str = "",
              max_tokens: int = HEAD_VIEW_MAX_TOKENS) -> bytes:
    """The two-column head view from top-k values/indices [heads, queries, k]; lines fade to white with weight."""
    from PIL import Image, ImageColor, ImageDraw

    token = -1 if token is None else token
    nq, nk = min(len(query_tokens), max_tokens), min(len(key_tokens), max_tokens)
    if max(len(query_tokens), len(key_tokens)) > max_tokens:
        title = f"{title} (first {max_tokens} tokens)"
    row = 16 if max(nq, nk) <= 40 else 10
    font = _font()
    head = 20 if title else 6
    width, label = 460, 120
    img = Image.new("RGB", (width, head + 14 + max(nq, nk) * row + 6), "white")
    draw = ImageDraw.Draw(img)
    if title:
        draw.text((4, 2), title, fill="#444", font=font)
    y = lambda i: head + 14 + (i + 0.5) * row  # noqa: E731
    segments = []
    fade = 1.0 if len(heads) == 1 else SEVERAL_HEADS_OPACITY  # as the live view
    for h in heads:
        rgb = np.array(ImageColor.getrgb(head_colors[h]), dtype=np.float32)
        for q in ([token] if 0 <= token < nq else range(nq)):
            for w, k in zip(values[h, q], index[h, q]):
                if w >= threshold and k < nk:
                    segments.append((float(w) * fade, q, int(k), rgb))
    for w, q, k, rgb in sorted(segments, key=lambda s: s[0]):  # strongest drawn last, on top
        shade = tuple(int(c) for c in 255 - (255 - rgb) * min(1.0, w))
        draw.line([(label + 4, y(q)), (width - label - 4, y(k))], fill=shade, width=2)
    step = max(1, int(np.ceil(LABEL_SPACING / row)))
    for i in range(0, nq, step):
        draw.text((label - 6, y(i)), token_label(query_tokens[i]), fill="#c00" if i == token else "#222", font=font, anchor="rm")
    for j in range(0, nk, step):
        draw.text((width - label + 6, y(j)), token_label(key_tokens[j]), fill="#222", font=font, anchor="lm")
    return _png(img)


def overlay_png(image: np.ndarray | None, attention_map: np.ndarray | None, colors: bytes, *, opacity: float = IMAGE_OPACITY,
                channels: np.ndarray | None = None, title: str = "") -> bytes:
    """The image with the map blended over it (bilinear), and/or channel weights as bars."""
    from PIL import Image, ImageDraw

    panels = []
    if image is not None:
        pic = Image.fromarray(image).convert("RGB")
        pic.thumbnail((IMAGE_SIDE, IMAGE_SIDE))
        if attention_map is not None:
            amap = np.asarray(attention_map, dtype=np.float32)
            over = Image.fromarray(colorize(amap, colors, float(amap.max()) or 1.0)).resize(pic.size, Image.BILINEAR)
            pic = Image.blend(pic, over, float(opacity))
        panels.append(pic)
    if channels is not None:
        values = np.clip(np.asarray(channels, dtype=np.float32).ravel(), 0, 1)
        bw = max(2, min(12, 400 // len(values)))
        bars = Image.new("RGB", (len(values) * bw + 30, 220), "white")
        draw = ImageDraw.Draw(bars)
        for c, v in enumerate(values):
            draw.rectangle([26 + c * bw, 210 - v * 200, 26 + (c + 1) * bw - 2, 210], fill="#0072B2")
        draw.rectangle([26, 10, 26 + len(values) * bw, 210], outline="#888")
        for v in (0, 0.5, 1):
            draw.text((22, 210 - v * 200), f"{v:g}", fill="#222", font=_font(), anchor="rm")
        panels.append(bars)
    head = 18 if title else 0
    img = Image.new("RGB", (sum(p.width for p in panels) + 16 * (len(panels) - 1) or 1, max((p.height for p in panels), default=1) + head), "white")
    x = 0
    for p in panels:
        img.paste(p, (x, head))
        x += p.width + 16
    if title:
        ImageDraw.Draw(img).text((4, 2), title, fill="#444", font=_font())
    return _png(img)
