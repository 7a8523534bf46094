"""Notebook 07: a tiny vision transformer on the shapes of notebook 06, and is its attention an explanation?

The model is a Hugging Face ``ViTForImageClassification`` with a small config (patch 8 -> an
8x8 grid of 64 patches + [CLS], width 64, 4 pre-LayerNorm layers of 4 heads, MLP ratio 2),
trained from scratch on ``vision.make_images``. Using the transformers class rather than a
hand-written ViT means ``aw.capture(model, None, {"pixel_values": x})`` records its attention
with the patch grid and [CLS] flagged, exactly as for any hub ViT, and the teaching code here
only adds what the library lacks: batched maps, the scores that ask whether a map explains the
prediction, and attention swapped at inference.

    python -m attnwidgets.course.vit train --seed 0     # data/shapes-vit-0/, about 5-8 minutes
    python -m attnwidgets.course.vit evaluate           # data/shapes-vit-evaluation/results.json

Maps are [n, 8, 8] over the patches (the [CLS] row, [CLS] itself left out):
    raw       last layer's [CLS] attention, mean of heads
    rollout   attention rollout (Abnar and Zuidema 2020), heads averaged, (A + I) / 2 per layer
    gradxattn gradient-weighted attention over layers (Chefer, Gur and Wolf 2021):
              R <- R + mean_h[(dy/dA * A)+] @ R, from R = I, y the predicted class's logit
    random    uniform noise: the floor every score is read against
"""

from __future__ import annotations

import argparse
import json
import math
import os
import pathlib
import platform
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any, Iterator, Sequence

import numpy as np
import torch

from .. import analysis
from ..capture import capture
from ..record import AttentionRecord
from . import exercises
from .vision import CLASSES, SIZE, make_images

DATA_DIR = pathlib.Path(__file__).resolve().parents[2] / "data"
SEEDS = (0, 1, 2)
PATCH = 8
PATCH_EPS = 0.01  # added to each patch's spread in preprocess: a flat patch stays near zero instead of amplified noise
GRID = SIZE // PATCH  # 8 patches a side, 64 in all
TRAIN_DATA_SEED = 1_000_000  # training images: seeds TRAIN_DATA_SEED + chunk index
TEST_SEED = 999_999  # the 2,000 held-out images of training.json and results.json: the same ones notebook 06 scores its CNNs on
NOTEBOOK_SEED = 7_100_001  # the few hundred images the notebook scores (also never trained on)
MAPS = ("raw", "rollout", "gradxattn", "random")
MAP_NAMES = {"raw": "raw attention (last layer)", "rollout": "rollout", "gradxattn": "gradient x attention", "random": "random map",
             "gradxattn_last": "gradient x attention (last layer only)", "coverage": "target coverage (knows the mask)"}


def name(seed: int) -> str:
    return f"shapes-vit-{int(seed)}"


@dataclass(frozen=True)
class Settings:
    """The recipe (vision-recipe.md): about 260 s of training on one thread, plus the images."""

    steps: int = 1700
    batch: int = 128
    lr: float = 2e-3
    weight_decay: float = 0.05
    warmup: int = 170
    clip: float = 1.0
    pool: int = 48_000  # training images, made once and kept as uint8 (590 MB, not 2.4 GB of float32)
    chunk: int = 2_000
    n_test: int = 2_000
    log_every: int = 20


# ---- the model ---------------------------------------------------------------------------------


def config() -> Any:
    from transformers import ViTConfig

    return ViTConfig(
        image_size=SIZE, patch_size=PATCH, num_channels=3, hidden_size=64, num_hidden_layers=4, num_attention_heads=4,
        intermediate_size=128, hidden_act="gelu", hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
        num_labels=len(CLASSES), id2label=dict(enumerate(CLASSES)), label2id={c: i for i, c in enumerate(CLASSES)},
        attn_implementation="eager",  # the implementation that hands back its weights
    )


def build(seed: int) -> Any:
    """A freshly initialised tiny ViT (151k parameters)."""
    from transformers import ViTForImageClassification

    torch.manual_seed(seed)
    model = ViTForImageClassification(config())
    # PyTorch's own initialisation, as a hand-written ViT (nn.Linear, nn.MultiheadAttention) gets it:
    # with transformers' std-0.02 init the attention scores start near zero and the model stayed
    # at chance longer here
    for module in model.modules():
        if isinstance(module, (torch.nn.Linear, torch.nn.Conv2d)):
            module.reset_parameters()
    for layer in model.vit.layers:
        for proj in (layer.attention.q_proj, layer.attention.k_proj, layer.attention.v_proj):
            torch.nn.init.xavier_uniform_(proj.weight)
            torch.nn.init.zeros_(proj.bias)
    return model


def load(path: pathlib.Path) -> tuple[Any, None]:
    """The loader data/shapes-vit-S/attnwidgets.json names: (model in eval mode, no tokenizer)."""
    from transformers import ViTForImageClassification

    path = pathlib.Path(path)
    if not (path / "model.safetensors").exists():
        raise FileNotFoundError(f"{path} holds no model.safetensors: re-make it with `python -m attnwidgets.course.vit train --seed {path.name.rsplit('-', 1)[-1]}`.")
    from transformers.utils import logging as hf_logging

    quiet = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # a 72-tensor "Loading weights" bar is noise in a notebook
    try:
        model = ViTForImageClassification.from_pretrained(path, attn_implementation="eager")
    finally:
        if quiet:
            hf_logging.enable_progress_bar()
    model.config._name_or_path = path.name
    return model.eval(), None


def load_seed(seed: int) -> Any:
    """The trained model of one seed (data/shapes-vit-S/)."""
    return load(DATA_DIR / name(seed))[0]


def training_info(seed: int) -> dict | None:
    """data/shapes-vit-S/training.json, or None when that seed is not trained."""
    path = DATA_DIR / name(seed) / "training.json"
    return json.loads(path.read_text()) if path.exists() else None


@contextmanager
def _fast(model: Any) -> Iterator[None]:
    """sdpa for passes that need no weights (twice as fast here), then back to eager."""
    before = model.config._attn_implementation
    model.set_attn_implementation("sdpa")
    try:
        yield
    finally:
        model.set_attn_implementation(before)


def _pixels(images: Any) -> torch.Tensor:
    x = torch.as_tensor(images)
    if x.dtype == torch.uint8:
        x = x.float() / 255
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4 or tuple(x.shape[1:]) != (3, SIZE, SIZE):
        raise ValueError(f"images must be [n, 3, {SIZE}, {SIZE}] (as vision.make_images gives); got {tuple(x.shape)}.")
    return x.float()


def preprocess(images: Any) -> torch.Tensor:
    """The model's image processor: each 8x8 patch standardised over its 192 numbers.

    images [n, 3, 64, 64] in [0, 1] -> pixel_values of the same shape. A patch keeps its pattern
    (edges, relative colour) and loses its offset and contrast, as a LayerNorm in front of the
    patch projection would do (many hand-written ViTs have one). Without it the tiny ViT sat at
    chance for over 1,000 steps here; with it, it starts learning after a few hundred. A patch
    painted one flat colour becomes all zeros: deletion then leaves an empty patch.
    """
    x = _pixels(images)
    n = len(x)
    p = x.reshape(n, 3, GRID, PATCH, GRID, PATCH).permute(0, 2, 4, 1, 3, 5).reshape(n, GRID, GRID, 3 * PATCH * PATCH)
    p = (p - p.mean(-1, keepdim=True)) / (p.std(-1, keepdim=True) + PATCH_EPS)
    return p.reshape(n, GRID, GRID, 3, PATCH, PATCH).permute(0, 3, 1, 4, 2, 5).reshape(n, 3, SIZE, SIZE).contiguous()


@torch.no_grad()
def probabilities(model: Any, images: Any, batch: int = 500) -> np.ndarray:
    """Softmax over the classes for images in [0, 1]: float32 [n, classes]."""
    x = preprocess(images)
    model.eval()
    with _fast(model):
        out = [model(pixel_values=x[i:i + batch]).logits.softmax(-1) for i in range(0, len(x), batch)]
    return torch.cat(out).numpy()


def accuracy(model: Any, images: Any, labels: Any) -> float:
    return float((probabilities(model, images).argmax(-1) == np.asarray(labels)).mean())


# ---- training ----------------------------------------------------------------------------------


def training_pool(settings: Settings = Settings(), progress: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """The training images (uint8 [pool, 3, 64, 64]) and labels; the same for every model seed."""
    from tqdm.auto import tqdm

    images = torch.empty((settings.pool, 3, SIZE, SIZE), dtype=torch.uint8)
    labels = torch.empty(settings.pool, dtype=torch.int64)
    chunks = range(math.ceil(settings.pool / settings.chunk))
    for c in tqdm(chunks, desc="making training images", disable=not progress, unit="chunk"):
        lo, hi = c * settings.chunk, min(settings.pool, (c + 1) * settings.chunk)
        x, y, _, _ = make_images(hi - lo, TRAIN_DATA_SEED + c)
        images[lo:hi] = torch.from_numpy(np.rint(x * 255).astype(np.uint8))
        labels[lo:hi] = torch.from_numpy(y)
    return images, labels


def mean_colour(images: torch.Tensor, chunk: int = 2000) -> list[float]:
    """The training-mean colour (deletion paints with it), summed chunk by chunk: the whole pool as float32 would be 2.4 GB."""
    total = torch.zeros(3, dtype=torch.float64)
    for i in range(0, len(images), chunk):
        total += images[i:i + chunk].double().sum(dim=(0, 2, 3))
    return (total / (len(images) * images.shape[2] * images.shape[3] * 255)).tolist()


def _lr(step: int, settings: Settings) -> float:
    if step < settings.warmup:
        return settings.lr * (step + 1) / settings.warmup
    t = (step - settings.warmup) / max(1, settings.steps - settings.warmup)
    return settings.lr * 0.5 * (1 + math.cos(math.pi * t))


def train(seed: int, out_dir: str | os.PathLike | None = None, settings: Settings = Settings(), *, progress: bool = True,
          pool: tuple[torch.Tensor, torch.Tensor] | None = None) -> dict:
    """Train one seed (init, batch order and flips; the images are shared) and save it to data/shapes-vit-S/."""
    from tqdm.auto import tqdm

    torch.set_num_threads(1)
    out = pathlib.Path(out_dir) if out_dir is not None else DATA_DIR / name(seed)
    start = time.time()
    images, labels = pool if pool is not None else training_pool(settings, progress)
    made = time.time() - start
    fill = mean_colour(images)

    model = build(seed)
    model.set_attn_implementation("sdpa")  # training needs no weights
    model.train()
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "position" not in n and "cls_token" not in n]
    rest = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "position" not in n and "cls_token" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": settings.weight_decay}, {"params": rest, "weight_decay": 0.0}], lr=settings.lr)
    gen = torch.Generator().manual_seed(seed)
    losses, accs, history = [], [], []
    bar = tqdm(range(settings.steps), desc=f"training {name(seed)}", disable=not progress, unit="step")
    for step in bar:
        idx = torch.randint(0, len(images), (settings.batch,), generator=gen)
        x = images[idx].float() / 255  # [B, 3, 64, 64]
        flip = torch.rand(settings.batch, generator=gen) < 0.5
        x[flip] = x[flip].flip(-1)  # a mirrored shape keeps its kind
        x, y = preprocess(x), labels[idx]
        for g in opt.param_groups:
            g["lr"] = _lr(step, settings)
        logits = model(pixel_values=x).logits
        loss = torch.nn.functional.cross_entropy(logits, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), settings.clip)
        opt.step()
        losses.append(loss.item())
        accs.append((logits.argmax(-1) == y).float().mean().item())
        if (step + 1) % settings.log_every == 0:
            history.append({"step": step + 1, "loss": float(np.mean(losses[-settings.log_every:])), "train_accuracy": float(np.mean(accs[-settings.log_every:]))})
            bar.set_postfix(loss=f"{history[-1]['loss']:.3f}", acc=f"{history[-1]['train_accuracy']:.2f}")
    trained = time.time() - start - made
    del images, labels

    model.set_attn_implementation("eager")
    model.eval()
    tx, ty, _, _ = make_images(settings.n_test, TEST_SEED)
    test_acc = accuracy(model, tx, ty)
    print(f"{name(seed)}: test accuracy {test_acc:.1%} on {settings.n_test} fresh images (seed {TEST_SEED}), chance {1 / len(CLASSES):.0%}")

    out.mkdir(parents=True, exist_ok=True)
    model.config._name_or_path = out.name
    model.save_pretrained(out, safe_serialization=True)
    info = {
        "model": name(seed), "seed": seed, "settings": asdict(settings), "parameters": sum(p.numel() for p in model.parameters()),
        "train_data_seed": TRAIN_DATA_SEED, "test_seed": TEST_SEED, "fill": fill,
        "test_accuracy": test_acc, "test_images": settings.n_test,
        "seconds_making_images": round(made, 1), "seconds_training": round(trained, 1),
        "torch": torch.__version__, "threads": torch.get_num_threads(), "machine": platform.machine(),
        "history": history,
    }
    (out / "training.json").write_text(json.dumps(info, indent=1) + "\n")
    (out / "attnwidgets.json").write_text(json.dumps({
        "description": f"tiny ViT (patch 8, 4 layers x 4 heads, width 64) trained on notebook 06's shapes, seed {seed}; test accuracy {test_acc:.1%}",
        "recreate": f"python -m attnwidgets.course.vit train --seed {seed}",
        "loader": "attnwidgets.course.vit:load",
    }, indent=1) + "\n")
    return info


def fill_colour(seed: int = 0) -> np.ndarray:
    """The training-mean colour (float32 [3]) that deletion paints over a patch."""
    info = training_info(seed)
    if info is None:
        raise FileNotFoundError(f"{name(seed)} is not trained: `python -m attnwidgets.course.vit train --seed {seed}`.")
    return np.asarray(info["fill"], dtype=np.float32)


# ---- maps ----------------------------------------------------------------------------------------


def record(model: Any, image: Any) -> AttentionRecord:
    """aw.capture of one image: [layers, heads, 65, 65] with the 8x8 patch grid and [CLS] flagged."""
    return capture(model, None, {"pixel_values": preprocess(image)})


def rollout_cls(attentions: np.ndarray, residual: float = 0.5) -> np.ndarray:
    """Batched attention rollout, [CLS] row over the patches: [n, layers, heads, T, T] -> [n, T - 1].

    The same recursion as aw.analysis.rollout (heads averaged, residual * I + (1 - residual) * A):
    a batch costs one matrix product per layer instead of one record per image.
    """
    a = np.asarray(attentions, dtype=np.float64).mean(axis=2)  # [n, L, T, T]
    eye = np.eye(a.shape[-1])
    flow = np.broadcast_to(eye, a.shape[:1] + a.shape[2:]).copy()
    for layer in range(a.shape[1]):
        flow = (residual * eye + (1 - residual) * a[:, layer]) @ flow
    return flow[:, 0, 1:]


def maps(model: Any, images: Any, *, batch: int = 50, seed: int = 0) -> dict[str, np.ndarray]:
    """Every map of MAPS (plus 'gradxattn_last') for a batch of images: each float32 [n, 8, 8].

    Also 'probs' [n, classes] and 'heads' [n, layers, heads, 8, 8] ([CLS] row of every head).
    One forward and one backward pass per batch: the attention the model used, captured by its
    own output_attentions, and the gradient of the predicted class's logit with respect to it.
    """
    x = _pixels(images)
    model.eval()
    out = {k: [] for k in ("raw", "rollout", "gradxattn", "gradxattn_last", "probs", "heads")}
    for i in range(0, len(x), batch):
        xb = preprocess(x[i:i + batch])
        res = model(pixel_values=xb, output_attentions=True)
        att = res.attentions  # L x [B, H, T, T]
        logits = res.logits
        chosen = logits.gather(1, logits.argmax(-1, keepdim=True)).sum()
        grads = torch.autograd.grad(chosen, att)
        a = torch.stack([t.detach() for t in att], 1)  # [B, L, H, T, T]
        g = torch.stack(grads, 1)
        cam = (g * a).clamp(min=0).mean(2)  # [B, L, T, T]: Chefer's A-bar per layer
        rel = torch.eye(a.shape[-1], dtype=a.dtype).expand(len(xb), -1, -1).clone()
        for layer in range(a.shape[1]):
            rel = rel + cam[:, layer] @ rel
        # copies, not views: a view would keep each batch's whole [B, L, H, T, T] tensor alive
        out["gradxattn"].append(rel[:, 0, 1:].numpy().copy())
        out["gradxattn_last"].append(cam[:, -1, 0, 1:].numpy().copy())
        out["raw"].append(a[:, -1, :, 0, 1:].mean(1).numpy())
        out["rollout"].append(rollout_cls(a.numpy()))
        out["heads"].append(a[:, :, :, 0, 1:].numpy().copy())
        out["probs"].append(logits.detach().softmax(-1).numpy())
    result = {k: np.concatenate(v).astype(np.float32) for k, v in out.items()}
    for k in ("raw", "rollout", "gradxattn", "gradxattn_last"):
        result[k] = result[k].reshape(-1, GRID, GRID)
    result["heads"] = result["heads"].reshape(*result["heads"].shape[:3], GRID, GRID)
    result["random"] = np.random.default_rng(seed).random((len(x), GRID, GRID), dtype=np.float32)
    return result


# ---- is the map where the evidence is? ------------------------------------------------------------


def patch_coverage(masks: Any, grid: int = GRID) -> np.ndarray:
    """Fraction of each patch a mask covers: bool [n, H, W] -> float32 [n, grid, grid]."""
    m = np.asarray(masks, dtype=np.float32)
    n, h, w = m.shape
    return m.reshape(n, grid, h // grid, grid, w // grid).mean(axis=(2, 4))


def pointing_hits(maps_: Any, masks: Any) -> np.ndarray:
    """Pointing game at the map's own resolution: is the centre pixel of the map's highest cell inside the mask? bool [n]."""
    m = np.asarray(maps_)
    masks = np.asarray(masks, dtype=bool)
    n, rows, cols = m.shape
    best = m.reshape(n, -1).argmax(-1)
    r, c = best // cols, best % cols
    cy = (r * masks.shape[1] + masks.shape[1] // 2) // rows  # the pixel just below-right of the cell's centre
    cx = (c * masks.shape[2] + masks.shape[2] // 2) // cols
    return masks[np.arange(n), cy, cx]


def mass_in(maps_: Any, masks: Any) -> np.ndarray:
    """Share of each map's (non-negative) mass that falls on the mask's pixels: float [n]."""
    m = np.clip(np.asarray(maps_, dtype=np.float64), 0, None)
    cover = patch_coverage(masks, m.shape[-1])
    total = m.sum(axis=(1, 2))
    return (m * cover).sum(axis=(1, 2)) / np.where(total > 0, total, 1)


def pointing_table(maps_: dict[str, np.ndarray], target: Any, distractor: Any, names: Sequence[str] = MAPS) -> dict[str, dict[str, float]]:
    """Per map: pointing (argmax on the target), distractor (argmax on another shape), mass in the target."""
    return {k: {"pointing": float(pointing_hits(maps_[k], target).mean()), "distractor": float(pointing_hits(maps_[k], distractor).mean()),
                "mass": float(mass_in(maps_[k], target).mean())} for k in names}


# ---- deletion ------------------------------------------------------------------------------------


def deletion_order(map_: Any, seed: int = 0) -> np.ndarray:
    """Patch indices (row-major) from most to least important, [n, 64]; ties broken at random (seeded)."""
    flat = np.asarray(map_, dtype=np.float64).reshape(len(map_), -1)
    jitter = np.random.default_rng(seed).random(flat.shape)
    return np.lexsort((jitter, -flat), axis=-1)


def delete_patches(images: Any, order: np.ndarray, k: int, fill: Any) -> torch.Tensor:
    """Images with their first k patches of `order` painted in the fill colour."""
    x = _pixels(images).clone()
    n = len(x)
    gone = np.zeros((n, GRID * GRID), dtype=bool)
    gone[np.arange(n)[:, None], order[:, :k]] = True
    pix = torch.from_numpy(gone.reshape(n, GRID, GRID)).repeat_interleave(PATCH, 1).repeat_interleave(PATCH, 2)  # [n, 64, 64]
    colour = torch.as_tensor(np.asarray(fill, dtype=np.float32)).view(1, 3, 1, 1)
    return torch.where(pix[:, None], colour, x)


def deletion_curve(model: Any, images: Any, map_: Any, fill: Any, *, step: int = 4, seed: int = 0, cls: Any = None, chunk: int = 250) -> tuple[np.ndarray, np.ndarray]:
    """Probability of the class predicted on the intact image as patches go, most important first.

    Returns (fraction of patches deleted [K], probabilities [n, K]) with K = 64 / step + 1.
    """
    order = deletion_order(map_, seed)
    ks = list(range(0, GRID * GRID + 1, step))
    if ks[-1] != GRID * GRID:
        ks.append(GRID * GRID)
    if cls is None:
        cls = probabilities(model, images).argmax(-1)
    x = _pixels(images)
    probs = np.empty((len(x), len(ks)), dtype=np.float32)
    for lo in range(0, len(x), chunk):  # chunks of images: 17 masked copies of 2,000 images at once would take gigabytes
        sl = slice(lo, lo + chunk)
        rows = np.arange(len(x[sl]))
        for j, k in enumerate(ks):
            probs[sl, j] = probabilities(model, delete_patches(x[sl], order[sl], k, fill))[rows, np.asarray(cls)[sl]]
    return np.array(ks) / (GRID * GRID), probs


def deletion_auc(fractions: Any, probs: Any) -> float:
    """Area under the mean deletion curve (trapezoid rule over the fraction deleted, 0..1): lower = the map found what the prediction needs."""
    p = np.asarray(probs, dtype=np.float64)
    p = p.mean(axis=0) if p.ndim == 2 else p
    f = np.asarray(fractions, dtype=np.float64)
    return float(np.sum((p[1:] + p[:-1]) / 2 * np.diff(f)))


def deletion_curves(model: Any, images: Any, maps_: dict[str, np.ndarray], target: Any, fill: Any, *, names: Sequence[str] = MAPS + ("coverage",),
                    step: int = 4) -> dict[str, dict[str, Any]]:
    """Deletion curves for several maps ('coverage' = deleting in order of the target's share of each patch)."""
    cls = probabilities(model, images).argmax(-1)
    result = {}
    for k in names:
        m = patch_coverage(target) if k == "coverage" else maps_[k]
        f, p = deletion_curve(model, images, m, fill, step=step, cls=cls)
        result[k] = {"fractions": f.tolist(), "mean": p.mean(0).tolist(), "auc": deletion_auc(f, p)}
    return result


# ---- attention swapped at inference ----------------------------------------------------------------


def _swap_attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
    """Eager attention whose weights can be replaced: module._aw_swap = ('uniform' | 'permuted', generator)."""
    scores = query @ key.transpose(2, 3) * (scaling if scaling is not None else query.shape[-1] ** -0.5)  # [B, H, T, T]
    if attention_mask is not None:
        scores = scores + attention_mask
    weights = scores.softmax(-1)
    swap = getattr(module, "_aw_swap", None)
    if swap is not None:
        mode, gen = swap
        if mode == "uniform":
            weights = torch.full_like(weights, 1.0 / weights.shape[-1])
        else:  # each row's weights shuffled over the keys (Jain and Wallace 2019)
            shuffle = torch.rand(weights.shape, generator=gen).argsort(-1)
            weights = weights.gather(-1, shuffle)
    return (weights @ value).transpose(1, 2).contiguous(), weights


def _register() -> None:
    from transformers import AttentionInterface

    AttentionInterface.register("aw_swap", _swap_attention)


@contextmanager
def swapped_attention(model: Any, mode: str, layers: Sequence[int] | None = None, seed: int = 0) -> Iterator[Any]:
    """Inside the block, the chosen layers' attention is uniform or a random permutation of itself.

    mode: 'uniform' (every key 1/65) or 'permuted' (each query's weights shuffled over the keys).
    layers: layer indices; None = every layer.
    """
    if mode not in ("uniform", "permuted"):
        raise ValueError(f"mode must be 'uniform' or 'permuted', got {mode!r}.")
    blocks = model.vit.layers
    layers = range(len(blocks)) if layers is None else [int(l) for l in layers]
    for l in layers:
        if not 0 <= l < len(blocks):
            raise IndexError(f"layer {l} is out of range: the model has layers 0 to {len(blocks) - 1}.")
    _register()
    before = model.config._attn_implementation
    gen = torch.Generator().manual_seed(seed)
    model.set_attn_implementation("aw_swap")
    for l in layers:
        blocks[l].attention._aw_swap = (mode, gen)
    try:
        yield model
    finally:
        for block in blocks:
            block.attention.__dict__.pop("_aw_swap", None)
        model.set_attn_implementation(before)


@torch.no_grad()
def swap_table(model: Any, images: Any, labels: Any, *, seed: int = 0, batch: int = 500) -> dict[str, dict[str, float]]:
    """For each layer alone and all layers: how often the prediction survives, and the accuracy, under uniform and permuted attention."""
    x = preprocess(images)
    labels = np.asarray(labels)
    base = probabilities(model, images).argmax(-1)
    table = {"none": {"survival": 1.0, "accuracy": float((base == labels).mean())}}
    n_layers = len(model.vit.layers)
    for mode in ("uniform", "permuted"):
        for which in [*range(n_layers), None]:
            with swapped_attention(model, mode, None if which is None else [which], seed=seed):
                pred = torch.cat([model(pixel_values=x[i:i + batch]).logits.argmax(-1) for i in range(0, len(x), batch)]).numpy()
            key = f"{mode}, {'all layers' if which is None else f'layer {which}'}"
            table[key] = {"survival": float((pred == base).mean()), "accuracy": float((pred == labels).mean())}
    return table


# ---- seeds ------------------------------------------------------------------------------------------


def _ranks(a: np.ndarray) -> np.ndarray:
    return a.argsort(-1).argsort(-1).astype(np.float64)


def rank_correlation(a: Any, b: Any) -> np.ndarray:
    """Spearman correlation of two maps per image, over the 64 patches: [n]."""
    ra = _ranks(np.asarray(a).reshape(len(a), -1))
    rb = _ranks(np.asarray(b).reshape(len(b), -1))
    ra -= ra.mean(-1, keepdims=True)
    rb -= rb.mean(-1, keepdims=True)
    return (ra * rb).sum(-1) / np.sqrt((ra * ra).sum(-1) * (rb * rb).sum(-1))


def seed_agreement(maps_by_seed: dict[int, dict[str, np.ndarray]], labels: Any, names: Sequence[str] = MAPS) -> dict[str, Any]:
    """Across pairs of seeds: do the predictions agree, and do the maps (rank correlation on the same image)?

    'shuffled' pairs a map with the other seed's map of a different image: what two maps share
    from where things tend to be (borders, centre) rather than from this image.
    """
    seeds = sorted(maps_by_seed)
    labels = np.asarray(labels)
    n = len(labels)
    other = np.roll(np.arange(n), 1)
    pairs = {}
    for i, a in enumerate(seeds):
        for b in seeds[i + 1:]:
            pa, pb = maps_by_seed[a]["probs"].argmax(-1), maps_by_seed[b]["probs"].argmax(-1)
            both = (pa == labels) & (pb == labels)
            row = {"prediction_agreement": float((pa == pb).mean()), "both_right": float(both.mean())}
            for k in names:
                rho = rank_correlation(maps_by_seed[a][k], maps_by_seed[b][k])
                row[k] = {"same_image": float(rho.mean()), "both_right": float(rho[both].mean()) if both.any() else float("nan"),
                          "shuffled": float(rank_correlation(maps_by_seed[a][k], maps_by_seed[b][k][other]).mean())}
            pairs[f"{a}-{b}"] = row
    return pairs


# ---- everything, for results.json and the notebook's summary -----------------------------------------


def evaluate(seeds: Sequence[int] = SEEDS, n: int = 2000, image_seed: int = TEST_SEED, *, step: int = 4, progress: bool = True) -> dict:
    """Every measurement of the notebook, on n held-out images, for each trained seed."""
    from tqdm.auto import tqdm

    torch.set_num_threads(1)
    images, labels, target, distractor, info = make_images(n, image_seed, details=True)
    result = {"images": n, "image_seed": image_seed, "random_shape_rate": float(np.mean(1.0 / info.n_shapes)),
              "target_area": float(target.mean()), "seeds": {}}
    all_maps = {}
    for s in tqdm(seeds, desc="evaluating seeds", disable=not progress):
        model = load_seed(s)
        m = maps(model, images, seed=s)  # each model its own random map
        all_maps[s] = {k: m[k] for k in (*MAPS, "probs")}
        names = MAPS + ("gradxattn_last",)
        result["seeds"][str(s)] = {
            "accuracy": float((m["probs"].argmax(-1) == labels).mean()),
            "pointing": pointing_table(m, target, distractor, names),
            "deletion": {k: v["auc"] for k, v in deletion_curves(model, images, m, target, fill_colour(s), names=names + ("coverage",), step=step).items()},
            "swaps": swap_table(model, images, labels),
        }
    result["agreement"] = seed_agreement(all_maps, labels)
    return result


def save_results(result: dict, path: pathlib.Path | None = None) -> pathlib.Path:
    path = path or DATA_DIR / "shapes-vit-evaluation" / "results.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1) + "\n")
    return path


def stored_results() -> dict | None:
    path = DATA_DIR / "shapes-vit-evaluation" / "results.json"
    return json.loads(path.read_text()) if path.exists() else None


def cnn_accuracies() -> dict[str, float]:
    """Test accuracies of notebook 06's CNNs from data/shapes-cnn-*/training.json ({} when none is trained)."""
    found = {}
    for path in sorted(DATA_DIR.glob("shapes-cnn-*/training.json")):
        try:
            info = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        value = _find_accuracy(info)
        if value is not None:
            found[path.parent.name] = value
    return found


def _find_accuracy(info: Any) -> float | None:
    if isinstance(info, dict):
        for key in ("test_accuracy", "held_out_accuracy", "accuracy"):
            if isinstance(info.get(key), (int, float)):
                return float(info[key])
        for key, value in info.items():
            if isinstance(value, dict) and any(w in key for w in ("test", "held", "eval")):
                found = _find_accuracy(value)
                if found is not None:
                    return found
    return None


# ---- what the notebook shows ----------------------------------------------------------------------

def _table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> str:
    cells = [[str(c) for c in header]] + [[c if isinstance(c, str) else f"{c:.1%}" if isinstance(c, float) else str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    line = lambda r: "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))  # noqa: E731
    return "\n".join([line(cells[0]), "  ".join("-" * w for w in widths)] + [line(r) for r in cells[1:]])


def accuracy_report(models: dict[int, Any], images: Any, labels: Any) -> str:
    """Accuracy of each ViT seed on these images and on its 2,000 held-out ones, beside notebook 06's CNNs."""
    rows = []
    for s, model in models.items():
        info = training_info(s) or {}
        rows.append([name(s), accuracy(model, images, labels), info.get("test_accuracy", float("nan")), f"{info.get('seconds_training', float('nan')):.0f} s"])
    text = _table(rows, ["model", f"these {len(labels)} images", "2,000 test images", "training"])
    cnns = cnn_accuracies()
    if cnns:
        text += "\n\n" + _table([[k, v] for k, v in cnns.items()], ["notebook 06 CNN", "test accuracy"])
    else:
        text += "\n\nNotebook 06's CNNs are not trained yet (no data/shapes-cnn-*/training.json): nothing to compare with."
    return text + f"\nChance: {1 / len(CLASSES):.0%} (five balanced classes)."


def plot_training(seeds: Sequence[int] = SEEDS) -> Any:
    """Loss and training-batch accuracy of each seed, from its training.json."""
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3), constrained_layout=True)
    for s in seeds:
        info = training_info(s)
        if info is None:
            continue
        steps = [h["step"] for h in info["history"]]
        ax1.plot(steps, [h["loss"] for h in info["history"]], label=f"seed {s}")
        ax2.plot(steps, [h["train_accuracy"] for h in info["history"]], label=f"seed {s} (test {info['test_accuracy']:.1%})")
    ax1.set(xlabel="step", ylabel="cross-entropy", title="training loss")
    ax2.set(xlabel="step", ylabel="accuracy", title="accuracy on training batches", ylim=(0, 1))
    ax2.axhline(1 / len(CLASSES), color="grey", lw=0.8, ls=":")
    ax1.legend(), ax2.legend(fontsize=8)
    return fig


def explorer(model: Any, images: Any, labels: Any, start: int = 0) -> Any:
    """An image slider above two ImageAttention views of the same capture: raw [CLS] attention and rollout, layers linked."""
    import ipywidgets as widgets

    from ..views import ImageAttention

    x = _pixels(images)
    labels = np.asarray(labels)
    slider = widgets.IntSlider(value=start, min=0, max=len(x) - 1, description="image", continuous_update=False)
    caption = widgets.HTML()
    views = widgets.HBox()
    probs = probabilities(model, x)

    def show(change: Any = None) -> None:
        i = slider.value
        rec = record(model, x[i])
        raw = ImageAttention(rec, x[i], aggregate="mean", layer=rec.n_layers - 1, title="raw [CLS] attention (pick layer and head)")
        roll = ImageAttention(analysis.rollout(rec), x[i], layer=rec.n_layers - 1, title="rollout up to that layer")
        widgets.link((raw, "layer"), (roll, "layer"))
        views.children = [raw, roll]
        p = probs[i]
        caption.value = (f"true class <b>{CLASSES[labels[i]]}</b>; the model says <b>{CLASSES[p.argmax()]}</b> ({p.max():.0%})")

    slider.observe(show, "value")
    show()
    return widgets.VBox([widgets.HBox([slider, caption]), views])


def plot_maps(images: Any, maps_: dict[str, np.ndarray], target: Any, indices: Sequence[int], names: Sequence[str] = MAPS) -> Any:
    """Rows of images; each map at its native 8x8 resolution, its top cell boxed, the target outlined."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    x = _pixels(images).numpy()
    fig, axes = plt.subplots(len(indices), len(names) + 1, figsize=(1.9 * (len(names) + 1), 1.9 * len(indices)), squeeze=False, constrained_layout=True)
    for row, i in enumerate(indices):
        axes[row, 0].imshow(x[i].transpose(1, 2, 0))
        axes[row, 0].contour(np.asarray(target[i], float), levels=[0.5], colors="white", linewidths=1.2)
        for col, k in enumerate(names, start=1):
            m = maps_[k][i]
            ax = axes[row, col]
            ax.imshow(m, cmap="viridis", extent=(0, SIZE, SIZE, 0), interpolation="nearest")
            ax.contour(np.asarray(target[i], float), levels=[0.5], colors="white", linewidths=1.2)
            r, c = divmod(int(m.argmax()), GRID)
            ax.add_patch(Rectangle((c * PATCH, r * PATCH), PATCH, PATCH, fill=False, ec="red", lw=2))
            if row == 0:
                ax.set_title(MAP_NAMES[k].replace(" (", "\n("), fontsize=9)
        if row == 0:
            axes[row, 0].set_title("image, target outlined", fontsize=9)
    for ax in axes.flat:
        ax.set_xticks([]), ax.set_yticks([])
    return fig


def pointing_report(table: dict[str, dict[str, float]], target: Any, n_shapes: Any | None = None) -> str:
    rows = [[MAP_NAMES[k], v["pointing"], v["distractor"], v["mass"]] for k, v in table.items()]
    text = _table(rows, ["map", "top cell on target", "on a distractor", "mass in target"])
    text += f"\nTarget area: {np.mean(target):.1%} of the image (what a random map's mass and pointing come to)."
    if n_shapes is not None:
        text += f"\nPicking one shape at random would find the target {np.mean(1 / np.asarray(n_shapes)):.1%} of the time."
    return text


def plot_deletion(curves: dict[str, dict[str, Any]]) -> Any:
    """Mean probability of the predicted class as patches are deleted in each map's order."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.6), constrained_layout=True)
    for k, c in curves.items():
        ax.plot(c["fractions"], c["mean"], marker=".", ls="--" if k in ("random", "coverage") else "-", label=f"{MAP_NAMES[k]}: area {c['auc']:.3f}")
    ax.set(xlabel="fraction of patches deleted, most important first (painted flat)", ylabel="probability of the predicted class",
           ylim=(0, 1))
    ax.set_title("deletion curves: a lower area means the map found what the prediction needs", fontsize=10)
    ax.axhline(1 / len(CLASSES), color="grey", lw=0.8, ls=":")
    ax.legend(fontsize=8)
    return fig


def figure_widget(fig: Any) -> Any:
    """A matplotlib figure as an ipywidgets Image (to reveal it inside aw.Predict), the figure then closed."""
    import io

    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return widgets.Image(value=buf.getvalue(), format="png")


def swap_report(table: dict[str, dict[str, float]]) -> str:
    return _table([[k, v["survival"], v["accuracy"]] for k, v in table.items()], ["attention at inference", "prediction survives", "accuracy"])


def agreement_report(pairs: dict[str, Any], names: Sequence[str] = MAPS) -> str:
    rows = []
    for pair, row in pairs.items():
        for k in names:
            rows.append([f"seeds {pair}, {MAP_NAMES[k]}", f"{row[k]['same_image']:+.2f}", f"{row[k]['both_right']:+.2f}", f"{row[k]['shuffled']:+.2f}"])
    text = _table(rows, ["maps compared", "same image", "both seeds right", "different images"])
    agree = ", ".join(f"{p}: {r['prediction_agreement']:.0%}" for p, r in pairs.items())
    return text + f"\nPredictions agree between seeds ({agree}). Columns: mean Spearman correlation over the 64 patches."


def describe(model: Any) -> str:
    """One paragraph of the model's shape, from its config."""
    c = model.config
    n = sum(p.numel() for p in model.parameters())
    return (f"{c.image_size}x{c.image_size} image -> {GRID}x{GRID} = {GRID * GRID} patches of {c.patch_size}x{c.patch_size}x3 = {3 * c.patch_size ** 2} numbers, "
            f"each projected to {c.hidden_size} dimensions, + [CLS] = {GRID * GRID + 1} tokens; {c.num_hidden_layers} layers x {c.num_attention_heads} heads "
            f"(head size {c.hidden_size // c.num_attention_heads}), MLP {c.intermediate_size}; {n:,} parameters ({4 * n / 1e6:.2f} MB as float32). "
            f"The classifier reads only [CLS]'s final state.")


def subset(maps_: dict[str, np.ndarray], index: Any) -> dict[str, np.ndarray]:
    """The same maps for a subset of the images (maps_[k][index] for every k)."""
    return {k: v[index] for k, v in maps_.items()}


def ranked(curves: dict[str, dict[str, Any]], names: Sequence[str] = MAPS) -> list[str]:
    """Map names from the smallest deletion area (fastest drop) to the largest."""
    return sorted(names, key=lambda k: curves[k]["auc"])


def deletion_explanation(curves: dict[str, dict[str, Any]]) -> str:
    order = ranked(curves)
    parts = ", ".join(f"{MAP_NAMES[k]} {curves[k]['auc']:.3f}" for k in order)
    text = f"Areas under the curve, smallest first: {parts}."
    if "coverage" in curves:
        text += f" Deleting the target's patches first (a map that knows the mask) gives {curves['coverage']['auc']:.3f}."
    return text + " A map that ranks the evidence the model uses first makes the probability fall early and the area small; random deletion is the floor."


def summary(pointing: dict, curves: dict, swaps: dict, pairs: dict, target: Any) -> str:
    """The notebook's measured numbers, one line per question."""
    area = float(np.mean(target))
    lines = ["On this notebook's images (seed 0 unless said):"]
    lines.append("  pointing game (top cell on the target): " + ", ".join(f"{k} {v['pointing']:.0%}" for k, v in pointing.items()) + f"; area share {area:.1%}")
    lines.append("  top cell on a distractor: " + ", ".join(f"{k} {v['distractor']:.0%}" for k, v in pointing.items()))
    lines.append("  mass in the target: " + ", ".join(f"{k} {v['mass']:.1%}" for k, v in pointing.items()))
    lines.append("  deletion area (lower = more faithful): " + ", ".join(f"{k} {curves[k]['auc']:.3f}" for k in curves))
    uni = [k for k in swaps if k.startswith("uniform, layer")]
    lines.append("  uniform attention, one layer at a time: prediction survives " + ", ".join(f"{k.split(', ')[1]} {swaps[k]['survival']:.0%}" for k in uni)
                 + f"; all layers {swaps['uniform, all layers']['survival']:.0%} (accuracy {swaps['none']['accuracy']:.0%} -> {swaps['uniform, all layers']['accuracy']:.0%})")
    lines.append(f"  permuted attention in every layer: survives {swaps['permuted, all layers']['survival']:.0%}")
    for pair, row in pairs.items():
        lines.append(f"  seeds {pair}: predictions agree {row['prediction_agreement']:.0%}; map rank correlation raw {row['raw']['same_image']:+.2f}, rollout {row['rollout']['same_image']:+.2f}, "
                     f"gradient x attention {row['gradxattn']['same_image']:+.2f} (different images: {row['gradxattn']['shuffled']:+.2f})")
    stored = stored_results()
    if stored:
        lines.append(f"On the {stored['images']} held-out images (python -m attnwidgets.course.vit evaluate); a random shape is the target {stored['random_shape_rate']:.1%} of the time:")
        for s, r in stored["seeds"].items():
            p, sw = r["pointing"], r["swaps"]
            lines.append(f"  seed {s}: accuracy {r['accuracy']:.1%}; pointing " + ", ".join(f"{k} {p[k]['pointing']:.0%}" for k in MAPS)
                         + "; on a distractor " + ", ".join(f"{k} {p[k]['distractor']:.0%}" for k in MAPS))
            lines.append("          deletion " + ", ".join(f"{k} {r['deletion'][k]:.3f}" for k in (*MAPS, "coverage"))
                         + "; uniform attention survives " + ", ".join(f"{k.split(', ')[1]} {v['survival']:.0%}" for k, v in sw.items() if k.startswith("uniform, layer")))
        for pair, row in stored["agreement"].items():
            lines.append(f"  seeds {pair}: predictions agree {row['prediction_agreement']:.0%}; rank correlation raw {row['raw']['same_image']:+.2f}, "
                         f"rollout {row['rollout']['same_image']:+.2f}, gradient x attention {row['gradxattn']['same_image']:+.2f}")
    return "\n".join(lines)


# ---- exercises -----------------------------------------------------------------------------------------

EX_A1 = np.array([[0.6, 0.2, 0.2], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4]])
EX_A2 = np.array([[0.1, 0.7, 0.2], [0.5, 0.25, 0.25], [0.2, 0.2, 0.6]])
EX_FRACTIONS = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
EX_PROBS = np.array([0.9, 0.5, 0.3, 0.2, 0.2])


def _stochastic(rng: np.random.Generator, n: int) -> np.ndarray:
    a = rng.random((n, n)) ** 3
    return a / a.sum(-1, keepdims=True)


def check_rollout(rollout_two: Any) -> exercises.Feedback:
    """Exercise 1: rollout_two(a1, a2) -> the rollout after two layers, (A2 + I)/2 @ (A1 + I)/2."""
    rng = np.random.default_rng(7)
    cases = [(EX_A1, EX_A2)] + [(_stochastic(rng, 4), _stochastic(rng, 4)) for _ in range(3)]
    for a1, a2 in cases:
        got, failed = exercises.attempt(rollout_two, a1.copy(), a2.copy())
        if failed is not None:  # a Feedback that is not "right" is falsy
            return failed
        try:
            got = np.asarray(got, dtype=np.float64)
        except (TypeError, ValueError):
            return exercises.wrong(f"expected a {a1.shape} array, got {type(got).__name__}.", "Return the matrix, e.g. m2 @ m1.")
        eye = np.eye(len(a1))
        want = (0.5 * eye + 0.5 * a2) @ (0.5 * eye + 0.5 * a1)
        if got.shape != want.shape:
            return exercises.wrong(f"expected shape {want.shape}, got {got.shape}.", "Rollout of a T x T attention is T x T: a matrix product, not an element-wise one.")
        if np.allclose(got, want, atol=1e-8):
            continue
        for wrong_value, hint in (
            (a2 @ a1, "Did you add the residual? Each layer's matrix is (A + I) / 2: half the token stays itself."),
            ((0.5 * eye + 0.5 * a1) @ (0.5 * eye + 0.5 * a2), "The order matters: the later layer goes on the left, (A2 + I)/2 @ (A1 + I)/2."),
            ((eye + a2) @ (eye + a1), "Rows must stay distributions: average, (A + I) / 2, do not just add I."),
            ((0.5 * eye + 0.5 * a2) * (0.5 * eye + 0.5 * a1), "Use the matrix product @, not the element-wise *."),
        ):
            if np.allclose(got, wrong_value, atol=1e-8):
                return exercises.wrong("not the rollout.", hint)
        return exercises.wrong("not the rollout: on the example matrices the answer is different.", "Build m1 = (A1 + I) / 2 and m2 = (A2 + I) / 2, then return m2 @ m1. Every row should sum to 1.")
    return exercises.right("Right: the rollout is the product of the residual-mixed layers, the later one on the left; its rows still sum to 1.")


def check_auc(value: Any) -> exercises.Feedback:
    """Exercise 3 of the notebook: the area under EX_PROBS over EX_FRACTIONS by the trapezoid rule."""
    if exercises.is_unanswered(value):
        return exercises.unanswered()
    try:
        value = float(value)
    except (TypeError, ValueError):
        return exercises.wrong(f"expected a number, got {type(value).__name__}.", "The area is one number: sum over the steps of width x mean height.")
    want = deletion_auc(EX_FRACTIONS, EX_PROBS)
    if abs(value - want) < 1e-6:
        return exercises.right(f"Right: {want:.4f}. A map that deletes the evidence first drives the curve down early and the area small.")
    widths = np.diff(EX_FRACTIONS)
    for wrong_value, hint in (
        (EX_PROBS.mean(), "That is the mean of the five heights: the two end points count half in the trapezoid rule."),
        (float(np.sum((EX_PROBS[1:] + EX_PROBS[:-1]) / 2)), "Multiply each trapezoid's mean height by its width (0.25)."),
        (float(np.sum(EX_PROBS[:-1] * widths)), "That is the left-rectangle sum: use the mean of both ends of each step."),
        (float(np.sum(EX_PROBS[1:] * widths)), "That is the right-rectangle sum: use the mean of both ends of each step."),
    ):
        if abs(value - wrong_value) < 1e-6:
            return exercises.wrong(f"{value:.4f} is not the trapezoid area.", hint)
    return exercises.wrong(f"{value:.4f} is not the area.", "Sum over the four steps of (p[i] + p[i+1]) / 2 * (f[i+1] - f[i]).")


def _pointing_cases() -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(11)
    cases = []
    mask = np.zeros((SIZE, SIZE), bool)
    mask[18:30, 26:36] = True  # covers the centre (20, 28) of cell (2, 3)
    m = rng.random((GRID, GRID)) * 0.5
    m[2, 3] = 1.0
    cases.append((m, mask))  # a hit
    m2 = m.T.copy()  # top cell (3, 2): rows and columns swapped is a miss
    cases.append((m2, mask))
    edge = np.zeros((SIZE, SIZE), bool)
    edge[8:11, 8:16] = True  # only the top edge of cell (1, 1): overlaps it, but not its centre
    m3 = rng.random((GRID, GRID)) * 0.5
    m3[1, 1] = 1.0
    cases.append((m3, edge))
    for _ in range(5):
        mk = np.zeros((SIZE, SIZE), bool)
        r0, c0 = rng.integers(0, 52, 2)
        mk[r0:r0 + 12, c0:c0 + 12] = True
        cases.append((rng.random((GRID, GRID)), mk))
    return cases


def check_pointing(pointing: Any) -> exercises.Feedback:
    """Exercise 2 of the notebook: hits_target(map8, mask64) -> True when the map's top cell has its centre pixel on the mask."""
    for m, mask in _pointing_cases():
        got, failed = exercises.attempt(pointing, m.copy(), mask.copy())
        if failed is not None:  # a Feedback that is not "right" is falsy
            return failed
        want = bool(pointing_hits(m[None], mask[None])[0])
        if not isinstance(got, (bool, np.bool_)) and got not in (0, 1):
            return exercises.wrong(f"expected True or False, got {got!r}.", "Return mask[row, col] at the centre pixel of the top cell.")
        if bool(got) != want:
            r, c = divmod(int(m.argmax()), GRID)
            if want is False and mask[r * PATCH:(r + 1) * PATCH, c * PATCH:(c + 1) * PATCH].any():
                hint = "The top cell touches the target but its centre pixel is off it: test only the centre pixel (8 * row + 4, 8 * col + 4)."
            else:
                hint = "Is the argmax's row index // 8 and its column % 8? Index the mask as mask[row_pixel, col_pixel]."
            return exercises.wrong(f"wrong for a map whose top cell is row {r}, column {c}: expected {want}, got {bool(got)}.", hint)
    return exercises.right("Right: the top cell at the map's own 8x8 resolution, its centre pixel tested against the mask.")


# ---- command line --------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m attnwidgets.course.vit", description="Train the tiny shapes ViT, or measure its maps.")
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train one seed and save it to data/shapes-vit-S/")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--steps", type=int, default=Settings.steps)
    t.add_argument("--out", default=None, help="output folder (default data/shapes-vit-S/)")
    e = sub.add_parser("evaluate", help="measure every map on held-out images; write data/shapes-vit-evaluation/results.json")
    e.add_argument("--images", type=int, default=2000)
    e.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    args = parser.parse_args(argv)
    if args.command == "train":
        train(args.seed, args.out, Settings(steps=args.steps))
    else:
        start = time.time()
        result = evaluate(args.seeds, args.images)
        result["seconds"] = round(time.time() - start, 1)
        print(f"wrote {save_results(result)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
