"""Notebook 06: channel and spatial attention (SE, CBAM) in small CNNs on synthetic shapes.

The data: 64x64 images with one target shape among 2-5 distractors on a cluttered, textured
background. The label is the target's kind; the target is the odd one out by colour (all
distractors share one colour, the target's hue is at least 60 degrees away), and distractor
kinds are drawn independently of the label, so a colour detector alone cannot solve it: the
model has to find the odd-coloured shape and read its form. Masks of the target and of the
distractors come with every image, so we can score where a spatial map points.

    images, labels, target_masks, distractor_masks = make_images(n, seed)
    # images float32 [n, 3, 64, 64] in [0, 1]; labels int64 [n]; masks bool [n, 64, 64]

The notebook-07 ViT uses the same generator; keep this API stable.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass

import numpy as np

CLASSES = ("circle", "square", "triangle", "plus", "diamond")
SIZE = 64
MIN_HUE_GAP = 60.0  # degrees between the distractors' hue and the target's
AREA_RANGE = (80.0, 180.0)  # pixels per shape; mean ~130 = 3.2% of the image
_YY, _XX = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32) + 0.5  # pixel centres


@dataclass(frozen=True)
class SceneInfo:
    """Per-image extras of make_images(..., details=True)."""

    n_shapes: np.ndarray  # int64 [n]: target + distractors
    distractor_kinds: tuple[tuple[int, ...], ...]  # per image, the kind index of each distractor
    target_hue: np.ndarray  # float32 [n], degrees
    distractor_hue: np.ndarray  # float32 [n], degrees
    shape_masks: tuple[np.ndarray, ...]  # per image, bool [n_shapes, 64, 64], target first


def _shape_mask(kind: int, cx: float, cy: float, area: float) -> tuple[np.ndarray, float]:
    """A filled shape of about `area` pixels centred at (cx, cy); returns (mask [64, 64], radius that bounds it)."""
    dx, dy = _XX - cx, _YY - cy
    name = CLASSES[kind]
    if name == "circle":
        r = np.sqrt(area / np.pi)
        return dx * dx + dy * dy <= r * r, r
    if name == "square":
        h = np.sqrt(area) / 2
        return (np.abs(dx) <= h) & (np.abs(dy) <= h), h * np.sqrt(2)
    if name == "diamond":
        r = np.sqrt(area / 2)
        return np.abs(dx) + np.abs(dy) <= r, r
    if name == "triangle":  # apex up, base 2r wide and 2r tall: area 2r^2
        r = np.sqrt(area / 2)
        inside = (dy >= -r) & (dy <= r) & (np.abs(dx) <= (dy + r) / 2)
        return inside, r * np.sqrt(2)
    # plus: two bars of length 2L and width 2L/3: area 20 L^2 / 9
    half = np.sqrt(9 * area / 20)
    w = half / 3
    bar = lambda a, b: (np.abs(a) <= half) & (np.abs(b) <= w)  # noqa: E731
    return bar(dx, dy) | bar(dy, dx), half * 1.05


def _hsv(h: float, s: float, v: float) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb((h % 360) / 360, s, v), dtype=np.float32)


def _background(rng: np.random.Generator) -> np.ndarray:
    """Gradient + stripes + noise + 2-5 thin strokes: float32 [64, 64, 3]."""
    c0 = _hsv(rng.uniform(0, 360), rng.uniform(0.1, 0.5), rng.uniform(0.3, 0.8))
    c1 = _hsv(rng.uniform(0, 360), rng.uniform(0.1, 0.5), rng.uniform(0.3, 0.8))
    angle = rng.uniform(0, 2 * np.pi)
    t = ((_XX - 32) * np.cos(angle) + (_YY - 32) * np.sin(angle)) / 90 + 0.5  # [64, 64], roughly 0..1
    img = c0 + (c1 - c0) * t[..., None]
    s_angle, period = rng.uniform(0, np.pi), rng.uniform(4, 12)
    phase = (_XX * np.cos(s_angle) + _YY * np.sin(s_angle)) * 2 * np.pi / period
    img = img + rng.uniform(0.04, 0.12) * np.sin(phase)[..., None] * rng.uniform(-1, 1, 3).astype(np.float32)
    for _ in range(rng.integers(2, 6)):  # strokes in any colour: clutter that is not a shape
        x0, y0 = rng.uniform(0, SIZE, 2)
        a, length = rng.uniform(0, 2 * np.pi), rng.uniform(15, 45)
        x1, y1 = x0 + length * np.cos(a), y0 + length * np.sin(a)
        vx, vy = x1 - x0, y1 - y0
        u = np.clip(((_XX - x0) * vx + (_YY - y0) * vy) / (vx * vx + vy * vy), 0, 1)
        dist = np.hypot(_XX - x0 - u * vx, _YY - y0 - u * vy)
        line = dist <= rng.uniform(0.5, 1.1)
        img[line] = _hsv(rng.uniform(0, 360), rng.uniform(0.3, 1), rng.uniform(0.4, 1))
    return img


def _scene(rng: np.random.Generator, label: int):
    img = _background(rng)
    n_distractors = int(rng.integers(2, 6))
    kinds = [label] + [int(k) for k in rng.integers(0, len(CLASSES), n_distractors)]
    masks: list[np.ndarray] = []
    discs: list[tuple[float, float, float]] = []
    for kind in kinds:
        for _ in range(200):  # rejection sampling: no overlaps, 2 px apart, inside the frame
            area = rng.uniform(*AREA_RANGE)
            r = {"circle": np.sqrt(area / np.pi), "square": np.sqrt(area / 2), "diamond": np.sqrt(area / 2),
                 "triangle": np.sqrt(area), "plus": np.sqrt(9 * area / 20) * 1.05}[CLASSES[kind]]
            cx, cy = rng.uniform(r + 1, SIZE - r - 1, 2)
            if all((cx - x) ** 2 + (cy - y) ** 2 > (r + rr + 2) ** 2 for x, y, rr in discs):
                break
        else:
            continue  # no room left: drop this distractor (the target always comes first and fits)
        mask, _ = _shape_mask(kind, cx, cy, area)
        discs.append((cx, cy, r))
        masks.append(mask)
    hue_d = rng.uniform(0, 360)
    hue_t = hue_d + rng.uniform(MIN_HUE_GAP, 360 - MIN_HUE_GAP)
    col_d = _hsv(hue_d, rng.uniform(0.6, 1), rng.uniform(0.65, 1))
    col_t = _hsv(hue_t, rng.uniform(0.6, 1), rng.uniform(0.65, 1))
    for i, mask in enumerate(masks):
        img[mask] = col_t if i == 0 else col_d
    img = img + rng.normal(0, 0.03, img.shape).astype(np.float32)
    kept_kinds = tuple(kinds[1:len(masks)])
    return np.clip(img, 0, 1).transpose(2, 0, 1), np.stack(masks), kept_kinds, hue_t % 360, hue_d


def make_images(n: int, seed: int, details: bool = False):
    """n seeded images, labels balanced across CLASSES (counts differ by at most 1).

    Returns (images float32 [n, 3, 64, 64] in [0, 1], labels int64 [n],
    target_masks bool [n, 64, 64], distractor_masks bool [n, 64, 64]); with details=True a fifth
    item, a SceneInfo (shape counts, distractor kinds, hues, one mask per shape).
    """
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % len(CLASSES)).astype(np.int64)
    images = np.empty((n, 3, SIZE, SIZE), np.float32)
    target = np.zeros((n, SIZE, SIZE), bool)
    distract = np.zeros((n, SIZE, SIZE), bool)
    n_shapes, kinds, hues_t, hues_d, all_masks = [], [], [], [], []
    for i in range(n):
        images[i], masks, dk, ht, hd = _scene(rng, int(labels[i]))
        target[i], distract[i] = masks[0], masks[1:].any(0)
        if details:
            n_shapes.append(len(masks)); kinds.append(dk); hues_t.append(ht); hues_d.append(hd); all_masks.append(masks)
    if not details:
        return images, labels, target, distract
    info = SceneInfo(np.array(n_shapes, np.int64), tuple(kinds), np.array(hues_t, np.float32), np.array(hues_d, np.float32), tuple(all_masks))
    return images, labels, target, distract, info
