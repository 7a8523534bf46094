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
import json
import math
import os
import pathlib
import time
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

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


# ---- attention blocks ------------------------------------------------------------------------

KINDS = ("plain", "se", "cbam")
DATA_DIR = pathlib.Path(__file__).resolve().parents[2] / "data"
TEST_SEED = 999_999  # the held-out images; training seeds are seed * 100_000 + step
REFERENCE_SEED = 999_998  # 500 other fresh images whose mean gates stand in for the gates in an ablation


class Gate(nn.Module):
    """The sigmoid that makes a gate in [0, 1]. It is its own module so that hooks (aw.capture_modules)
    read the gate, and `open = True` replaces it by 1 everywhere (the ablation: attention switched off)."""

    def __init__(self) -> None:
        super().__init__()
        self.open = False
        self.fixed: torch.Tensor | None = None  # a constant gate (e.g. its mean over many images), broadcast over the batch

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        if self.open:
            return torch.ones_like(logits)
        if self.fixed is not None:
            return self.fixed.expand_as(logits)
        return torch.sigmoid(logits)


class SE(nn.Module):
    """Squeeze-and-Excitation: global average pool -> C/r -> ReLU -> C -> sigmoid, one gate per channel."""

    def __init__(self, channels: int, reduction: int = 8) -> None:
        super().__init__()
        hidden = max(channels // reduction, 4)
        self.mlp = nn.Sequential(nn.Linear(channels, hidden), nn.ReLU(), nn.Linear(hidden, channels))
        self.gate = Gate()

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x [B, C, H, W]
        g = self.gate(self.mlp(x.mean(dim=(2, 3))))  # [B, C]
        return x * g[:, :, None, None]


class ChannelAttention(nn.Module):
    """CBAM's channel half: a shared MLP on the average- and the max-pooled descriptor, summed, sigmoid."""

    def __init__(self, channels: int, reduction: int = 8) -> None:
        super().__init__()
        hidden = max(channels // reduction, 4)
        self.mlp = nn.Sequential(nn.Linear(channels, hidden), nn.ReLU(), nn.Linear(hidden, channels))
        self.gate = Gate()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        avg = x.mean(dim=(2, 3))  # [B, C]
        mx = x.flatten(2).max(dim=2).values  # [B, C]; .max is cheaper than amax in backward
        g = self.gate(self.mlp(avg) + self.mlp(mx))  # [B, C]
        return x * g[:, :, None, None]


class SpatialAttention(nn.Module):
    """CBAM's spatial half: channel-wise mean and max maps -> 7x7 conv -> sigmoid, one gate per position."""

    def __init__(self, kernel: int = 7) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel, padding=kernel // 2)
        self.gate = Gate()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        maps = torch.stack([x.mean(dim=1), x.max(dim=1).values], dim=1)  # [B, 2, H, W]
        g = self.gate(self.conv(maps))  # [B, 1, H, W]
        return x * g


class CBAM(nn.Module):
    """Convolutional Block Attention Module: channel attention, then spatial attention."""

    def __init__(self, channels: int, reduction: int = 8, kernel: int = 7) -> None:
        super().__init__()
        self.channel = ChannelAttention(channels, reduction)
        self.spatial = SpatialAttention(kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.spatial(self.channel(x))


# ---- the CNNs --------------------------------------------------------------------------------

WIDTHS = (32, 48, 96, 128)


class ShapesCNN(nn.Module):
    """4 blocks conv3x3 -> BatchNorm -> ReLU -> maxpool 2 (not in block 4) -> [SE | CBAM]; mean pool; linear.

    Feature maps: 64 -> 32 -> 16 -> 8 -> 8 pixels, so the spatial gates are 32x32, 16x16, 8x8, 8x8.
    """

    def __init__(self, kind: str = "plain", widths: tuple[int, ...] = WIDTHS, n_classes: int = len(CLASSES), reduction: int = 8) -> None:
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}; got {kind!r}.")
        self.kind = kind
        blocks, c_in = [], 3
        for i, c in enumerate(widths):
            layers = [nn.Conv2d(c_in, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU()]
            if i < len(widths) - 1:
                layers.append(nn.MaxPool2d(2))
            if kind == "se":
                layers.append(SE(c, reduction))
            elif kind == "cbam":
                layers.append(CBAM(c, reduction))
            blocks.append(nn.Sequential(*layers))
            c_in = c
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Linear(c_in, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x [B, 3, 64, 64] in [0, 1]
        return self.head(self.blocks(x - 0.5).mean(dim=(2, 3)))  # [B, n_classes]

    def attention(self) -> list[nn.Module]:
        """The SE or CBAM module of each block (empty for the plain CNN)."""
        return [m for m in self.modules() if isinstance(m, (SE, CBAM))]

    def gates(self, part: str = "spatial") -> list[tuple[str, Gate]]:
        """(name, Gate) of every 'spatial' or 'channel' gate (SE gates count as channel gates)."""
        owner = SpatialAttention if part == "spatial" else (SE, ChannelAttention)
        return [(n + ".gate", m.gate) for n, m in self.named_modules() if isinstance(m, owner)]


@contextmanager
def gates_fixed(model: ShapesCNN, part: str, reference) -> "ShapesCNN":
    """Inside the block, every `part` gate is its mean over the reference images: the same for every image.

    Unlike gates_open, this keeps the average scale of the features; what it removes is only the
    gate's dependence on the image in front of it.
    """
    means = [torch.as_tensor(v.mean(0, keepdims=True)) for v in gate_values(model, reference, part)]
    chosen = [g for _, g in model.gates(part)]
    for g, m in zip(chosen, means):
        g.fixed = m[:, None] if part == "spatial" else m  # spatial gates are [B, 1, H, W]
    try:
        yield model
    finally:
        for g in chosen:
            g.fixed = None


@contextmanager
def gates_open(model: ShapesCNN, part: str):
    """Inside the block, every `part` ('spatial' or 'channel') gate of model is 1: that attention is off."""
    chosen = [g for _, g in model.gates(part)]
    for g in chosen:
        g.open = True
    try:
        yield model
    finally:
        for g in chosen:
            g.open = False


# ---- training, saving, loading ---------------------------------------------------------------

RECIPE = {"steps": 1000, "batch": 64, "lr": 3e-3, "weight_decay": 5e-4, "warmup": 50, "flip": True}


def _lr_at(step: int, steps: int, lr: float, warmup: int) -> float:
    if step < warmup:
        return lr * (step + 1) / warmup
    return 0.5 * lr * (1 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup)))


@torch.no_grad()
def predict(model: nn.Module, images, batch: int = 250) -> np.ndarray:
    """Predicted class per image: int64 [n]."""
    model.eval()
    x = torch.as_tensor(images)
    return np.concatenate([model(x[i:i + batch]).argmax(1).numpy() for i in range(0, len(x), batch)])


def accuracy(model: nn.Module, images, labels) -> float:
    return float((predict(model, images) == np.asarray(labels)).mean())


def train(kind: str, seed: int = 0, steps: int = RECIPE["steps"], batch: int = RECIPE["batch"], n_test: int = 2000,
          out: pathlib.Path | None = None, progress: bool = True, threads: int | None = 1) -> tuple[ShapesCNN, dict]:
    """Train one ShapesCNN on fresh images each step (the same images for every kind at a given seed).

    Writes data/shapes-cnn-<kind>/ (model.safetensors, training.json, attnwidgets.json) when out is given.
    """
    from tqdm.auto import tqdm

    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    model = ShapesCNN(kind)
    decay = [p for n, p in model.named_parameters() if p.ndim > 1]
    no_decay = [p for n, p in model.named_parameters() if p.ndim <= 1]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": RECIPE["weight_decay"]}, {"params": no_decay, "weight_decay": 0.0}], lr=RECIPE["lr"])
    flip_rng = np.random.default_rng(seed + 12345)
    losses, accs, start, cpu_start, data_time = [], [], time.perf_counter(), time.process_time(), 0.0
    bar = tqdm(range(steps), desc=f"shapes-cnn-{kind}", disable=not progress)
    for step in bar:
        t0 = time.perf_counter()
        x, y, _, _ = make_images(batch, seed * 100_000 + step)
        if RECIPE["flip"]:
            flip = flip_rng.random(batch) < 0.5
            x[flip] = x[flip][..., ::-1]
        data_time += time.perf_counter() - t0
        for group in opt.param_groups:
            group["lr"] = _lr_at(step, steps, RECIPE["lr"], RECIPE["warmup"])
        model.train()
        logits = model(torch.from_numpy(x))
        loss = F.cross_entropy(logits, torch.from_numpy(y))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(round(loss.item(), 4))
        accs.append(round(float((logits.argmax(1).numpy() == y).mean()), 4))
        if step % 20 == 0:
            bar.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}", acc=f"{np.mean(accs[-20:]):.2f}")
    train_seconds = time.perf_counter() - start
    cpu_seconds = time.process_time() - cpu_start  # the shared machine inflates wall time, not CPU time
    info_test = test_report(model, n_test)
    test_acc = info_test["accuracy"]
    info = {
        "kind": kind, "seed": seed, "steps": steps, "batch": batch, "recipe": RECIPE, "widths": list(WIDTHS),
        "parameters": sum(p.numel() for p in model.parameters()),
        "train_seconds": round(train_seconds, 1), "cpu_seconds": round(cpu_seconds, 1), "data_seconds": round(data_time, 1),
        "load_average_at_end": [round(v, 2) for v in os.getloadavg()],
        "torch": torch.__version__, "threads": torch.get_num_threads(),
        "test": info_test,
        "train_images_seeds": f"seed * 100000 + step, {batch} images each",
        "loss": losses, "train_accuracy": accs,
    }
    print(f"{kind} seed {seed}: test accuracy {test_acc:.1%} on {n_test} fresh images; {train_seconds:.0f} s")
    if out is not None:
        save(model, info, out)
    return model, info


def test_report(model: ShapesCNN, n_test: int = 2000) -> dict:
    """Accuracy on n_test fresh images; for CBAM the pointing game and ablations, for SE the ablations."""
    tx, ty, tmask, dmask, scenes = make_images(n_test, TEST_SEED, details=True)
    report = {"images": n_test, "seed": TEST_SEED, "accuracy": round(accuracy(model, tx, ty), 4)}
    reference = make_images(min(500, n_test), REFERENCE_SEED)[0] if model.kind != "plain" else None
    if model.kind == "cbam":
        report.update(pointing_report(model, tx, ty, tmask, dmask, scenes.n_shapes, reference=reference))
    elif model.kind == "se":
        report["ablation"] = ablations(model, tx, ty, reference=reference)
    return report


def save(model: ShapesCNN, info: dict, out: pathlib.Path) -> None:
    from safetensors.torch import save_file

    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(out / "model.safetensors"))
    (out / "training.json").write_text(json.dumps(info, indent=1) + "\n")
    label = {"plain": "a plain CNN", "se": "a CNN with Squeeze-and-Excitation", "cbam": "a CNN with CBAM (channel + spatial attention)"}[info["kind"]]
    meta = {
        "description": f"{label} (4 conv blocks, {info['parameters'] // 1000}k parameters) trained on synthetic shapes (notebook 06); "
                       f"test accuracy {info['test']['accuracy']:.1%} on {info['test']['images']} fresh images",
        "recreate": f"python -m attnwidgets.course.vision train --kind {info['kind']} --seed {info['seed']}",
        "loader": "attnwidgets.course.vision:load",
    }
    (out / "attnwidgets.json").write_text(json.dumps(meta, indent=1) + "\n")


def load(path: pathlib.Path) -> tuple[ShapesCNN, None]:
    """(model in eval mode, None) from a data/shapes-cnn-<kind>/ folder."""
    from safetensors.torch import load_file

    path = pathlib.Path(path)
    info = json.loads((path / "training.json").read_text())
    model = ShapesCNN(info["kind"], widths=tuple(info.get("widths", WIDTHS)))
    model.load_state_dict(load_file(str(path / "model.safetensors")))
    model.training_info = info
    return model.eval(), None


def model_dir(kind: str) -> pathlib.Path:
    return DATA_DIR / f"shapes-cnn-{kind}"


# ---- where the spatial maps point --------------------------------------------------------------


@torch.no_grad()
def gate_values(model: ShapesCNN, images, part: str = "spatial", batch: int = 250) -> list[np.ndarray]:
    """Every `part` gate of model on images, at its own resolution: spatial [n, h, w] per block, channel [n, C]."""
    model.eval()
    names = model.gates(part)
    seen: list[list[torch.Tensor]] = [[] for _ in names]
    hooks = [g.register_forward_hook(lambda m, a, out, i=i: seen[i].append(out.detach())) for i, (_, g) in enumerate(names)]
    try:
        x = torch.as_tensor(images)
        for i in range(0, len(x), batch):
            model(x[i:i + batch])
    finally:
        for h in hooks:
            h.remove()
    out = [torch.cat(s).numpy() for s in seen]
    return [o[:, 0] if part == "spatial" else o for o in out]


def cell_centres(size: int) -> np.ndarray:
    """Pixel index of the centre of each of `size` cells along a 64-pixel side."""
    step = SIZE // size
    return np.arange(size) * step + step // 2


def pointing(maps: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """The pointing game at the map's own resolution: is the centre of the argmax cell inside the mask? bool [n].

    maps [n, h, w] (any resolution that divides 64), masks bool [n, 64, 64]. No upsampling: bilinear
    upsampling drags a noisy map's argmax toward the border.
    """
    maps, masks = np.asarray(maps), np.asarray(masks, bool)
    n, h, w = maps.shape
    flat = maps.reshape(n, -1).argmax(1)
    rows, cols = cell_centres(h)[flat // w], cell_centres(w)[flat % w]
    return masks[np.arange(n), rows, cols]


def mass_share(maps: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Share of each map's total mass that falls on the mask (map repeated up to 64x64 pixels): float [n]."""
    maps = np.asarray(maps, np.float64)
    n, h, w = maps.shape
    up = maps.repeat(SIZE // h, 1).repeat(SIZE // w, 2)
    return (up * masks).sum((1, 2)) / np.maximum(up.sum((1, 2)), 1e-12)


def image_specific_share(maps: np.ndarray) -> float:
    """Share of a set of maps' variance that changes from image to image (the rest is one fixed pattern). maps [n, h, w]."""
    maps = np.asarray(maps, np.float64)
    total = maps.var()
    return float(maps.var(axis=0).mean() / total) if total > 0 else 0.0


def pointing_report(model: ShapesCNN, images, labels, target, distract, n_shapes=None, reference=None, ablate: bool = True) -> dict:
    """Pointing game, distractor hits and mass on target for each CBAM spatial map, the baselines, and (ablate) the gate ablations."""
    report: dict = {"area_share": round(float(np.asarray(target).mean()), 4)}
    if n_shapes is not None:
        report["random_shape"] = round(float(np.mean(1.0 / np.asarray(n_shapes))), 4)
        report["mean_shapes"] = round(float(np.mean(n_shapes)), 3)
    layers = []
    for (name, _), maps in zip(model.gates("spatial"), gate_values(model, images, "spatial")):
        layers.append({
            "layer": name, "grid": list(maps.shape[1:]),
            "pointing": round(float(pointing(maps, target).mean()), 4),
            "distractor": round(float(pointing(maps, distract).mean()), 4),
            "mass_on_target": round(float(mass_share(maps, target).mean()), 4),
            "gate_mean": round(float(maps.mean()), 4), "gate_min": round(float(maps.min()), 4),
            "image_specific": round(image_specific_share(maps), 4),
        })
    report["spatial"] = layers
    if ablate:
        report["ablation"] = ablations(model, images, labels, reference=reference)
    return report


def ablations(model: ShapesCNN, images, labels, reference=None, as_trained: float | None = None) -> dict:
    """Accuracy as trained, with the spatial gates set to 1, and with the channel gates set to 1.

    With reference images, also with each part's gates fixed at their mean over them ("*_gate_mean").
    as_trained: the accuracy on these images if already measured (saves a pass).
    """
    result = {"as_trained": round(accuracy(model, images, labels) if as_trained is None else as_trained, 4)}
    for part in ("spatial", "channel"):
        if model.gates(part):
            with gates_open(model, part):
                result[f"{part}_gate_1"] = round(accuracy(model, images, labels), 4)
            if reference is not None:
                with gates_fixed(model, part, reference):
                    result[f"{part}_gate_mean"] = round(accuracy(model, images, labels), 4)
    return result



# ---- records and views -------------------------------------------------------------------------


def _one(image) -> torch.Tensor:
    x = torch.as_tensor(np.asarray(image, np.float32))
    return x[None] if x.ndim == 3 else x  # [1, 3, 64, 64]


def capture_spatial(model: ShapesCNN, image, stretch: bool = False) -> "AttentionRecord":
    """CBAM's spatial gates on one image as one 'spatial' AttentionRecord, one layer per block.

    Each gate is read by aw.capture_modules (a forward hook on the gate) at its own resolution,
    then repeated up to the finest grid (32x32) so that every block shares one grid; repeating
    keeps each cell's value and its argmax. stretch=True rescales each map to [0, 1] (min to max)
    so the nearly flat gates show their shape; layer names then say so.
    """
    from ..capture import capture_modules
    from ..record import AttentionRecord

    gates = model.gates("spatial")
    if not gates:
        raise ValueError(f"this is a {model.kind} CNN: it has no spatial gates (only CBAM does).")
    x, maps, names = _one(image), [], []
    for name, _ in gates:
        rec = capture_modules(model, x, modules=[name], kind="spatial", weights_from=lambda out: out.flatten(1)[:, None, None, :])
        side = int(round(math.sqrt(rec.n_keys)))
        m = rec.weights[0, 0, 0].reshape(side, side)
        lo, hi = float(m.min()), float(m.max())
        if stretch:
            m = (m - lo) / (hi - lo) if hi > lo else np.zeros_like(m)
        maps.append(m.repeat(32 // side, 0).repeat(32 // side, 1))
        names.append(f"block {len(names) + 1}: {side}x{side} gate" + (f", stretched from {lo:.3f}..{hi:.3f}" if stretch else f", {lo:.3f}..{hi:.3f}"))
    weights = np.stack(maps).reshape(len(maps), 1, 1, 32 * 32)
    keys = [f"r{r}c{c}" for r in range(32) for c in range(32)]
    return AttentionRecord(weights, ("image",), keys, kind="spatial", grid=(32, 32), layer_names=names, model_name=f"shapes-cnn-{model.kind}",
                           meta={"stretched": stretch})


def capture_channel(model: ShapesCNN, image, block: int = -1, reference=None) -> "AttentionRecord":
    """One block's channel gates (SE, or CBAM's channel half) on one image, as a 'channel' AttentionRecord.

    With reference images, a second layer holds the mean gate over them: the view's layer menu
    then switches between "this image" and "on average".
    """
    from ..capture import capture_modules
    from ..record import AttentionRecord

    gates = model.gates("channel")
    if not gates:
        raise ValueError("the plain CNN has no channel gates (SE and CBAM do).")
    name = gates[block][0]
    rec = capture_modules(model, _one(image), modules=[name], kind="channel", weights_from=lambda out: out[:, None, None, :])
    layers, names = [rec.weights[0, 0, 0]], [f"{name}: this image"]
    if reference is not None:
        layers.append(gate_values(model, reference, "channel")[block].mean(0))
        names.append(f"{name}: mean over {len(reference)} images")
    w = np.stack(layers)[:, None, None, :]
    return AttentionRecord(w, ("image",), [f"ch{i}" for i in range(w.shape[-1])], kind="channel", layer_names=names, model_name=f"shapes-cnn-{model.kind}")


def outlined(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The image [3, 64, 64] as [64, 64, 3] with a white outline one pixel outside the mask, for display only."""
    m = np.asarray(mask, bool)
    grown = m.copy()
    grown[1:] |= m[:-1]; grown[:-1] |= m[1:]; grown[:, 1:] |= m[:, :-1]; grown[:, :-1] |= m[:, 1:]
    pic = np.asarray(image).transpose(1, 2, 0).copy()
    pic[grown & ~m] = 1.0
    return pic


def explorer(model: ShapesCNN, images, labels=None, targets=None, index: int = 0, stretch: bool = True, layer: int = 1, opacity: float = 0.6):
    """An image slider above aw.ImageAttention: moving it re-captures the spatial gates of that image.

    The target is outlined in white (display only; the model saw the image without it).
    """
    import ipywidgets as widgets
    from ..views import ImageAttention

    images = np.asarray(images)
    slider = widgets.IntSlider(value=index, min=0, max=len(images) - 1, description="image", continuous_update=False)
    caption = widgets.HTML()
    box = widgets.VBox([slider, caption])

    def draw(i: int, keep=None) -> None:
        with torch.no_grad():
            probs = torch.softmax(model.eval()(_one(images[i])), -1)[0].numpy()
        guess = int(probs.argmax())
        text = f"model says <b>{CLASSES[guess]}</b> ({probs[guess]:.0%})"
        if labels is not None:
            text = f"target: <b>{CLASSES[int(labels[i])]}</b> (outlined in white); " + text
        caption.value = f"<span style='font-family:sans-serif'>image {i}: {text}</span>"
        pic = outlined(images[i], targets[i]) if targets is not None else images[i].transpose(1, 2, 0)
        view = ImageAttention(capture_spatial(model, images[i], stretch=stretch), pic,
                              layer=keep.layer if keep else layer, opacity=keep.opacity if keep else opacity)
        box.children = [slider, caption, view]
        if keep is not None:
            keep.close()

    slider.observe(lambda change: draw(change["new"], box.children[-1]), names="value")
    draw(index)
    box.slider = slider
    box.view = lambda: box.children[-1]
    return box




# ---- what the notebook shows ---------------------------------------------------------------------


def load_all() -> dict[str, ShapesCNN]:
    """The three trained CNNs from data/ by aw.load_model: {'plain': ..., 'se': ..., 'cbam': ...}."""
    from ..models import load_model

    return {kind: load_model(f"shapes-cnn-{kind}")[0] for kind in KINDS}


def show_scenes(images, labels, targets=None, n: int = 8, title: str = ""):
    """A row of images titled by their label; targets outlined in white."""
    import matplotlib.pyplot as plt

    n = min(n, len(images))
    fig, axes = plt.subplots(1, n, figsize=(1.6 * n, 1.9))
    for i, ax in enumerate(np.atleast_1d(axes)):
        ax.imshow(outlined(images[i], targets[i]) if targets is not None else np.asarray(images[i]).transpose(1, 2, 0))
        ax.set_title(CLASSES[int(labels[i])], fontsize=9)
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def training_curves(models: dict[str, ShapesCNN], window: int = 25):
    """Training loss and batch accuracy (moving average) of each model, from its training.json."""
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3))
    for kind, model in models.items():
        info = model.training_info
        kernel = np.ones(window) / window
        loss = np.convolve(info["loss"], kernel, mode="valid")
        acc = np.convolve(info["train_accuracy"], kernel, mode="valid")
        steps = np.arange(len(loss)) + window
        a1.plot(steps, loss, label=f"{kind} (test {info['test']['accuracy']:.1%})")
        a2.plot(steps, acc, label=kind)
    a1.set(xlabel="step", ylabel="training loss", title=f"loss ({window}-step mean)")
    a2.set(xlabel="step", ylabel="batch accuracy", title="accuracy on each fresh batch", ylim=(0, 1))
    a2.axhline(1 / len(CLASSES), color="grey", lw=0.8, ls=":")
    a1.legend(fontsize=8)
    fig.tight_layout()
    return fig


def map_gallery(model: ShapesCNN, images, targets, n: int = 6, stretch: bool = True):
    """Rows: images (target outlined), then each block's spatial gate at its own resolution (nearest, no smoothing)."""
    import matplotlib.pyplot as plt

    maps = gate_values(model, images[:n], "spatial")
    fig, axes = plt.subplots(len(maps) + 1, n, figsize=(1.5 * n, 1.5 * (len(maps) + 1)))
    for i in range(n):
        axes[0, i].imshow(outlined(images[i], targets[i]))
        for b, m in enumerate(maps):
            g = m[i]
            shown = (g - g.min()) / (g.max() - g.min() + 1e-12) if stretch else g
            axes[b + 1, i].imshow(shown, cmap="viridis", vmin=0, vmax=1, interpolation="nearest")
            side = g.shape[0]
            r, c = divmod(int(g.argmax()), side)
            axes[b + 1, i].plot(c, r, marker="+", color="red", ms=8, mew=2)
            axes[b + 1, i].set_title(f"{g.min():.2f}..{g.max():.2f}", fontsize=7)
    for ax in axes.flat:
        ax.set_xticks([]); ax.set_yticks([])
    for b in range(len(maps)):
        axes[b + 1, 0].set_ylabel(f"block {b + 1}\n{maps[b].shape[1]}x{maps[b].shape[2]}", fontsize=8)
    axes[0, 0].set_ylabel("image", fontsize=8)
    fig.suptitle("CBAM spatial gates" + (" (each stretched to its own min..max; + = argmax)" if stretch else " (+ = argmax)"), fontsize=9)
    fig.tight_layout()
    return fig


def pointing_table(report: dict) -> str:
    """The pointing report as a small text table."""
    lines = [f"{'map':<18}{'on target':>10}{'on a distractor':>17}{'mass on target':>16}{'gate mean':>11}{'varies with image':>19}"]
    for layer in report["spatial"]:
        name = f"block {int(layer['layer'].split('.')[1]) + 1} ({layer['grid'][0]}x{layer['grid'][1]})"
        varies = f"{layer['image_specific']:>19.0%}" if "image_specific" in layer else f"{'-':>19}"
        lines.append(f"{name:<18}{layer['pointing']:>10.1%}{layer['distractor']:>17.1%}{layer['mass_on_target']:>16.1%}{layer['gate_mean']:>11.3f}{varies}")
    lines.append(f"{'baseline: a random pixel (the target area share)':<60}{report['area_share']:>8.1%}")
    if "random_shape" in report:
        lines.append(f"{'baseline: a random shape (1 / number of shapes)':<60}{report['random_shape']:>8.1%}")
    return "\n".join(lines)


def channel_specificity(model: ShapesCNN, images, labels, block: int = -1, gates: np.ndarray | None = None) -> dict:
    """Do the channel gates depend on the class? Nearest-class-mean accuracy of one block's gate vectors (half fit, half test)."""
    g = gate_values(model, images, "channel")[block] if gates is None else gates
    labels = np.asarray(labels)
    half = len(g) // 2
    means = np.stack([g[:half][labels[:half] == c].mean(0) for c in range(len(CLASSES))])
    guess = ((g[half:, None, :] - means[None]) ** 2).sum(-1).argmin(1)
    spread = float(g.std(0).mean())
    return {"nearest_class_mean_accuracy": float((guess == labels[half:]).mean()), "gate_std_across_images": spread,
            "gate_mean": float(g.mean()), "channels": int(g.shape[1])}


def channel_shift_figure(model: ShapesCNN, image, reference, block: int = -1, top: int = 8):
    """Which channels the gates turn up or down for this image compared with their mean over reference images."""
    import matplotlib.pyplot as plt

    mine = gate_values(model, np.asarray(image)[None], "channel")[block][0]
    mean = gate_values(model, reference, "channel")[block].mean(0)
    diff = mine - mean
    order = np.argsort(diff)
    chosen = np.concatenate([order[:top], order[-top:]])
    fig, ax = plt.subplots(figsize=(8, 2.6))
    ax.bar(np.arange(len(chosen)), diff[chosen], color=["#b2182b" if d < 0 else "#2166ac" for d in diff[chosen]])
    ax.set_xticks(np.arange(len(chosen)), [f"ch{c}" for c in chosen], rotation=90, fontsize=7)
    ax.axhline(0, color="black", lw=0.6)
    ax.set_ylabel("gate - mean gate")
    ax.set_title(f"the {top} channels turned down most and up most for this image (block {block % len(model.gates('channel')) + 1}, {len(mean)} channels)", fontsize=9)
    fig.tight_layout()
    return fig


PHOTOS = ("china.jpg", "flower.jpg")


def photo(name: str) -> np.ndarray:
    """One of scikit-learn's sample photos, centre-cropped square and resized to 64x64: float32 [3, 64, 64] in [0, 1]."""
    from PIL import Image
    from sklearn.datasets import load_sample_image

    img = load_sample_image(name)  # uint8 [H, W, 3]; ships with scikit-learn, no download
    h, w = img.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    pic = Image.fromarray(img[top:top + side, left:left + side]).resize((SIZE, SIZE), Image.LANCZOS)
    return (np.asarray(pic, np.float32) / 255).transpose(2, 0, 1).copy()


@torch.no_grad()
def class_probabilities(model: ShapesCNN, images) -> np.ndarray:
    """Softmax over CLASSES: float [n, 5]."""
    model.eval()
    return torch.softmax(model(torch.as_tensor(np.asarray(images, np.float32))), -1).numpy()



def as_channel_weights(gate: torch.Tensor) -> torch.Tensor:
    """weights_from for aw.capture_modules on a channel gate: [B, C] -> [B, heads=1, queries=1, keys=C]."""
    return gate[:, None, None, :]


def model_table(models: dict[str, ShapesCNN], now: dict[str, float] | None = None, n_now: int = 0) -> str:
    """Parameters, training time, stored test accuracy and (if given) accuracy measured now on n_now images."""
    head = f"{'model':<7}{'parameters':>11}{'train s':>9}{'CPU s':>7}{'test acc (2,000, stored)':>26}"
    lines = [head + (f"{'acc now (' + str(n_now) + ')':>16}" if now else "")]
    for kind, model in models.items():
        info = model.training_info
        cpu = f"{info['cpu_seconds']:>7.0f}" if "cpu_seconds" in info else f"{'-':>7}"
        line = f"{kind:<7}{info['parameters']:>11,}{info['train_seconds']:>9.0f}{cpu}{info['test']['accuracy']:>26.1%}"
        if now:
            line += f"{now[kind]:>16.1%}"
        lines.append(line)
    lines.append(f"chance: {1 / len(CLASSES):.0%}")
    return "\n".join(lines)


PLACES = ("on the target", "on a distractor shape", "on the background")


def place_shares(report: dict, block: int) -> dict[str, float]:
    layer = report["spatial"][block]
    return {PLACES[0]: layer["pointing"], PLACES[1]: layer["distractor"], PLACES[2]: 1 - layer["pointing"] - layer["distractor"]}


def brightest_place(report: dict, block: int = 1) -> str:
    """Which of PLACES the argmax of one block's spatial map lands on most often."""
    shares = place_shares(report, block)
    return max(shares, key=shares.get)


def explain_places(report: dict, block: int = 1) -> str:
    shares = place_shares(report, block)
    layer = report["spatial"][block]
    text = (f"Block {block + 1}'s brightest cell lands on the target in {shares[PLACES[0]]:.0%} of the images, on a distractor in "
            f"{shares[PLACES[1]]:.0%}, on the background in {shares[PLACES[2]]:.0%}. A random pixel would hit the target "
            f"{report['area_share']:.0%} of the time, a random shape {report.get('random_shape', float('nan')):.0%}. ")
    if "mean_shapes" in report:
        per_distractor = shares[PLACES[1]] / (report["mean_shapes"] - 1)
        text += (f"There are {report['mean_shapes'] - 1:.1f} distractors per image, so one given distractor is hit {per_distractor:.0%} "
                 f"of the time: the target is preferred about {shares[PLACES[0]] / max(per_distractor, 1e-9):.1f}x over a distractor. ")
    return text + (f"The gates themselves are mostly close to 1 (mean {layer['gate_mean']:.2f}): the view stretches each map "
                   "to its own range so you can see its shape.")


def ablation_table(cbam: dict, se: dict | None = None) -> str:
    rows = [("CBAM as trained", cbam["as_trained"]), ("CBAM, spatial gates = 1", cbam["spatial_gate_1"]),
            ("CBAM, channel gates = 1", cbam["channel_gate_1"])]
    rows += [(f"CBAM, {part} gates = their mean", cbam[f"{part}_gate_mean"]) for part in ("spatial", "channel") if f"{part}_gate_mean" in cbam]
    if se:
        rows += [("SE as trained", se["as_trained"]), ("SE, channel gates = 1", se["channel_gate_1"])]
        if "channel_gate_mean" in se:
            rows.append(("SE, channel gates = their mean", se["channel_gate_mean"]))
    return "\n".join(f"{name:<34}{acc:>7.1%}" for name, acc in rows)


def specificity_table(models: dict[str, ShapesCNN], images, labels) -> str:
    """Nearest-class-mean accuracy of each block's channel gates, for SE and CBAM."""
    lines = [f"{'':<36}" + "".join(f"{'block ' + str(b + 1):>10}" for b in range(len(WIDTHS)))]
    for kind in ("se", "cbam"):
        per_block = gate_values(models[kind], images, "channel")  # one forward pass for all blocks
        cells = [channel_specificity(models[kind], images, labels, gates=g) for g in per_block]
        lines.append(f"{kind + ': class from gates (chance 20%)':<36}" + "".join(f"{c['nearest_class_mean_accuracy']:>10.0%}" for c in cells))
        lines.append(f"{kind + ': gate std across images':<36}" + "".join(f"{c['gate_std_across_images']:>10.3f}" for c in cells))
    return "\n".join(lines)


def summary(models: dict[str, ShapesCNN], acc: dict[str, float], report: dict, ablation: dict, se_ablation: dict, n_images: int) -> str:
    """The notebook's numbers in a few lines."""
    stored = {k: m.training_info["test"]["accuracy"] for k, m in models.items()}
    best = max(report["spatial"], key=lambda layer: layer["pointing"])
    lines = [
        "accuracy, 2,000 fresh images (stored): " + ", ".join(f"{k} {v:.1%}" for k, v in stored.items()),
        f"accuracy, {n_images} fresh images (now):   " + ", ".join(f"{k} {v:.1%}" for k, v in acc.items()),
        f"pointing game, best CBAM map ({best['grid'][0]}x{best['grid'][1]}): on target {best['pointing']:.1%}, "
        f"on a distractor {best['distractor']:.1%}; random pixel {report['area_share']:.1%}, random shape {report['random_shape']:.1%}",
        "mass on target, per block: " + ", ".join(f"{layer['mass_on_target']:.1%}" for layer in report["spatial"])
        + f" (area share {report['area_share']:.1%})",
        f"CBAM with spatial gates = 1: {ablation['spatial_gate_1']:.1%}; with channel gates = 1: {ablation['channel_gate_1']:.1%} "
        f"(as trained {ablation['as_trained']:.1%})",
        f"SE with channel gates = 1: {se_ablation['channel_gate_1']:.1%} (as trained {se_ablation['as_trained']:.1%})",
    ]
    if "spatial_gate_mean" in ablation:
        lines.append(f"gates fixed at their mean: CBAM spatial {ablation['spatial_gate_mean']:.1%}, CBAM channel "
                     f"{ablation['channel_gate_mean']:.1%}, SE channel {se_ablation.get('channel_gate_mean', float('nan')):.1%}")
    return "\n".join(lines)


# ---- exercises ----------------------------------------------------------------------------------


def se_gate_reference(x: torch.Tensor, w1, b1, w2, b2) -> torch.Tensor:
    """SE's gate: x [B, C, H, W] -> [B, C] = sigmoid(W2 relu(W1 mean_hw(x) + b1) + b2)."""
    return torch.sigmoid(F.relu(x.mean(dim=(2, 3)) @ w1.T + b1) @ w2.T + b2)


def check_se_gate(se_gate) -> "Feedback":
    """Exercise 1: the student's se_gate(x, w1, b1, w2, b2) against an SE module's own gate."""
    from . import exercises as ex

    torch.manual_seed(6)
    module = SE(16, reduction=4)
    x = torch.randn(3, 16, 5, 7) * 2 + 0.5
    w1, b1 = module.mlp[0].weight.detach(), module.mlp[0].bias.detach()
    w2, b2 = module.mlp[2].weight.detach(), module.mlp[2].bias.detach()
    with torch.no_grad():
        got, problem = ex.attempt(se_gate, x, w1, b1, w2, b2)
    if problem is not None:
        return problem
    if not isinstance(got, torch.Tensor):
        return ex.wrong(f"se_gate returned {type(got).__name__}; return a torch tensor of shape [3, 16].")
    got = got.detach().float()
    if got.shape == (3, 16, 5, 7) or got.ndim == 4:
        return ex.wrong(f"the gate has shape {tuple(got.shape)}: one value per channel and position.", "Squeeze first: average x over the height and width (dim=(2, 3)) to get [B, C].")
    if got.shape != (3, 16):
        return ex.wrong(f"the gate has shape {tuple(got.shape)}; expected [B, C] = [3, 16].", "x.mean(dim=(2, 3)) is [B, C]; w1 is [C/r, C], so multiply by w1.T.")
    want = se_gate_reference(x, w1, b1, w2, b2)
    if torch.allclose(got, want, atol=1e-5):
        return ex.right("Right: one gate in [0, 1] per channel, from the channel averages through the bottleneck.")
    if got.min() < 0 or got.max() > 1:
        return ex.wrong(f"gates range {got.min():.2f}..{got.max():.2f}: a gate must be in [0, 1].", "End with torch.sigmoid on the second layer's output.")
    if torch.allclose(got.sum(1), torch.ones(3), atol=1e-4):
        return ex.wrong("your gates sum to 1 over the channels (a softmax).", "SE gates are independent: each channel gets its own sigmoid, not a share of a softmax.")
    maxed = torch.sigmoid(F.relu(x.amax(dim=(2, 3)) @ w1.T + b1) @ w2.T + b2)
    if torch.allclose(got, maxed, atol=1e-5):
        return ex.wrong("that squeezes with the maximum.", "SE squeezes with the global AVERAGE over height and width (CBAM adds the max).")
    linear = torch.sigmoid((x.mean(dim=(2, 3)) @ w1.T + b1) @ w2.T + b2)
    if torch.allclose(got, linear, atol=1e-5):
        return ex.wrong("close, but the bottleneck has no nonlinearity.", "Apply ReLU between the two layers.")
    return ex.wrong(f"the gates differ from the module's by up to {float((got - want).abs().max()):.3f}.",
                    "sigmoid(relu(mean @ w1.T + b1) @ w2.T + b2), with mean = x.mean(dim=(2, 3)).")


def _pointing_cases() -> list[tuple[np.ndarray, np.ndarray, bool]]:
    rng = np.random.default_rng(11)
    cases = []
    # a square target around pixel (20, 44); the 8x8 map's argmax cell (2, 5) has its centre (20, 44) inside
    mask = np.zeros((SIZE, SIZE), bool)
    mask[17:24, 41:48] = True
    m = rng.uniform(0, 0.5, (8, 8)); m[2, 5] = 0.9
    cases.append((m, mask, True))
    cases.append((m.T.copy(), mask, False))  # the transposed map points at (44, 20): outside
    # the corner (16, 40) of that cell lies outside this smaller mask, its centre inside
    mask2 = np.zeros((SIZE, SIZE), bool); mask2[18:23, 42:47] = True
    cases.append((m, mask2, True))
    # a 16x16 map, argmax (10, 3): centre pixel (42, 14)
    m16 = rng.uniform(0, 0.5, (16, 16)); m16[10, 3] = 0.8
    mask3 = np.zeros((SIZE, SIZE), bool); mask3[39:46, 11:18] = True
    cases.append((m16, mask3, True))
    cases.append((m16, ~mask3, False))
    # 32x32, argmax (5, 30): centre pixel (11, 61); mask elsewhere
    m32 = rng.uniform(0, 0.5, (32, 32)); m32[5, 30] = 0.99
    mask4 = np.zeros((SIZE, SIZE), bool); mask4[30:40, 30:40] = True
    cases.append((m32, mask4, False))
    mask5 = np.zeros((SIZE, SIZE), bool); mask5[9:14, 58:64] = True
    cases.append((m32, mask5, True))
    return cases


def check_pointing(points_at) -> "Feedback":
    """Exercise 2: the student's points_at(attn_map, mask) -> bool on hand-made maps and masks."""
    from . import exercises as ex

    for i, (m, mask, want) in enumerate(_pointing_cases()):
        got, problem = ex.attempt(points_at, m.copy(), mask.copy())
        if problem is not None:
            return problem
        try:
            got = bool(got)
        except Exception:
            return ex.wrong(f"points_at returned {type(got).__name__}; return True or False.")
        if got != want:
            side = m.shape[0]
            r, c = divmod(int(m.argmax()), side)
            return ex.wrong(f"case {i}: a {side}x{side} map whose largest cell is row {r}, column {c}: expected {want}, got {got}.",
                            "np.argmax of the flattened map gives index = row * width + column; the cell's centre pixel is "
                            "(row * s + s // 2, column * s + s // 2) with s = 64 // width. Did you swap row and column, or use the cell's corner?")
    return ex.right("Right: the argmax cell, at the map's own resolution, and whether its centre lies on the target.")


def check_ablation(hurts_more, ablation: dict) -> "Feedback":
    """Exercise 3: which gate, set to 1, costs CBAM more accuracy: 'spatial' or 'channel'?"""
    from . import exercises as ex

    if ex.is_unanswered(hurts_more):
        return ex.unanswered()
    answer = str(hurts_more).strip().lower()
    if answer not in ("spatial", "channel"):
        return ex.wrong(f"answer 'spatial' or 'channel', not {hurts_more!r}.")
    drop = {p: ablation["as_trained"] - ablation[f"{p}_gate_1"] for p in ("spatial", "channel")}
    truth = max(drop, key=drop.get)
    if answer == truth:
        other = "channel" if truth == "spatial" else "spatial"
        return ex.right(f"Right: opening the {truth} gates costs {drop[truth]:.1%} accuracy, the {other} gates {drop[other]:.1%}.")
    return ex.wrong(f"opening the {answer} gates costs {drop[answer]:.1%}, less than the other part.",
                    "Compare as_trained with each ablated accuracy: the bigger drop marks the part the model relies on.")


def main(argv=None) -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m attnwidgets.course.vision", description="Train the notebook-06 CNNs on synthetic shapes.")
    sub = parser.add_subparsers(dest="command", required=True)
    tr = sub.add_parser("train", help="train one CNN and write data/shapes-cnn-<kind>/")
    tr.add_argument("--kind", choices=KINDS, required=True)
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--steps", type=int, default=RECIPE["steps"])
    tr.add_argument("--out", type=pathlib.Path, default=None, help="default: data/shapes-cnn-<kind> (seed 0) or data/shapes-cnn-<kind>-seed<N>")
    ev = sub.add_parser("evaluate", help="re-measure a trained model's held-out report and update its training.json")
    ev.add_argument("path", type=pathlib.Path)
    args = parser.parse_args(argv)
    if args.command == "evaluate":
        torch.set_num_threads(1)
        model, _ = load(args.path)
        info = model.training_info
        info["test"] = test_report(model, info["test"]["images"])
        save(model, info, args.path)
        print(json.dumps({k: v for k, v in info["test"].items() if k != "spatial"}, indent=1))
        return
    out = args.out or DATA_DIR / (f"shapes-cnn-{args.kind}" + (f"-seed{args.seed}" if args.seed else ""))
    train(args.kind, args.seed, steps=args.steps, out=out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
