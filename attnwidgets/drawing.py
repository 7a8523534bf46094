"""What is drawn: the limits and defaults every rendering of a view shares.

Each view is drawn three ways: live in the browser (views/*.js, which reads these values from
the view's traits, so it follows the defaults here), as the Pillow PNG beside the widget
(views/picture.py) and as a matplotlib figure (plot.py). The views' trait defaults, picture.py
and plot.py all read them here, so the three pictures agree (tests/test_structure.py checks).
This module imports nothing of attnwidgets: transport, plot and views all sit above it.
"""

from __future__ import annotations

# ---- every view -------------------------------------------------------------------------

# Above this many tokens on an axis a matrix is max-pooled (peaks survive): in the kernel before
# it is sent (the browser's receiving side dominates past 1024^2, DESIGN.md) and in figures.
# 512 cells cover the 440-px plot at a pixel ratio of 1 (and nearly at 2), and a pooled head is
# 512 KB of float16, so the shown head and two neighbours fit one message (4096 tokens measured:
# 1024^2 overviews cost 250-330 ms per switch, one head per message).
MAX_RESOLUTION = 512

# Colour maps offered by name (any matplotlib name works). The default, viridis, and cividis
# stay ordered for colour-blind readers and in greyscale.
COLORMAPS = ("viridis", "cividis", "magma", "plasma", "inferno", "Greys", "Blues")
COLORMAP = COLORMAPS[0]

# Token labels are thinned to stay this many pixels apart: the PNGs, common.js's heatmap and headview.js.
LABEL_SPACING = 12
# Labels per axis of a matplotlib figure (sized in inches, not pixels): at most this many, so the
# 7-point labels stay apart on the largest heatmap figure (7 inches).
MAX_LABELS = 32

# Rollout multiplies [n, n] matrices layer by layer in float64: beyond this many tokens it
# takes seconds per layer and GBs, so the views refuse it with the reason.
ROLLOUT_MAX_TOKENS = 2048

# ---- Heatmap, AlignmentView ---------------------------------------------------------------

HEATMAP_SIZE = 440  # plot width in CSS pixels; the PNG fallback's matrix area too
HEATMAP_THRESHOLD = 0.0  # values below it draw as the lowest colour

# ---- HeadView ------------------------------------------------------------------------------

HEAD_VIEW_THRESHOLD = 0.01  # weights below it draw no line (live, PNG and figure alike)
# The live view draws every token; the static pictures show the first tokens (a line per
# weight stays legible up to about this many rows on a page).
HEAD_VIEW_MAX_TOKENS = 80
# Colour-blind-distinguishable head colours (Okabe-Ito, then Tol); the same list is in common.js.
HEAD_COLORS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#999933", "#882255", "#44AA99", "#332288", "#AA4499", "#117733")
AGGREGATE_COLOR = "#333333"  # the mean, max or rollout drawn instead of the heads (headview.js too)
# Several heads' lines are drawn lighter so crossings stay readable (headview.js divides by 1.3).
SEVERAL_HEADS_OPACITY = 1 / 1.3


def head_color(head: int) -> str:
    """The colour of a head: the palette, then golden-angle hues (as common.js's headColor)."""
    if head < len(HEAD_COLORS):
        return HEAD_COLORS[head]
    import colorsys

    r, g, b = colorsys.hls_to_rgb(((head * 137.5) % 360) / 360, 0.45, 0.65)
    return "#%02x%02x%02x" % (int(r * 255), int(g * 255), int(b * 255))


# ---- ModelView -----------------------------------------------------------------------------

THUMBNAIL = 48  # cells a side of each layer x head picture (longer inputs are max-pooled to it)

# ---- ImageAttention ------------------------------------------------------------------------

IMAGE_OPACITY = 0.5  # of the attention map over the image
IMAGE_SIDE = 380  # pixels of the longer side of the drawn image (image.js scales to 380 too)
