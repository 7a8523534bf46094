"""What is drawn: the numbers every rendering of a view shares.

Each view is drawn three ways: live in the browser (views/*.js, which reads these values from
the view's traits), as the Pillow PNG beside the widget (views/picture.py) and as a matplotlib
figure (plot.py). They all read their limits and defaults here, so the three pictures agree.
This module imports nothing of attnwidgets: plot, views and transport all sit above it.
"""

from __future__ import annotations

# Above this many tokens on an axis a matrix is max-pooled (peaks survive): in the kernel before
# it is sent (the browser's receiving side dominates past 1024^2, DESIGN.md) and in figures.
# 512 cells cover the 440-px plot at a pixel ratio of 1 (and nearly at 2), and a pooled head is
# 512 KB of float16, so the shown head and two neighbours fit one message (4096 tokens measured:
# 1024^2 overviews cost 250-330 ms per switch, one head per message).
MAX_RESOLUTION = 512

# Colour maps offered by name (any matplotlib name works); the first is the default.
COLORMAPS = ("viridis", "cividis", "magma", "plasma", "inferno", "Greys", "Blues")

# Rollout multiplies [n, n] matrices layer by layer in float64: beyond this many tokens it
# takes seconds per layer and GBs, so the views refuse it with the reason.
ROLLOUT_MAX_TOKENS = 2048

# Colour-blind-distinguishable head colours (Okabe-Ito, then Tol); the same list is in common.js.
HEAD_COLORS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#999933", "#882255", "#44AA99", "#332288", "#AA4499", "#117733")


def head_color(head: int) -> str:
    """The colour of a head: the palette, then golden-angle hues (as common.js's headColor)."""
    if head < len(HEAD_COLORS):
        return HEAD_COLORS[head]
    import colorsys

    r, g, b = colorsys.hls_to_rgb(((head * 137.5) % 360) / 360, 0.45, 0.65)
    return "#%02x%02x%02x" % (int(r * 255), int(g * 255), int(b * 255))
