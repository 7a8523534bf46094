"""Notebook 05: induction heads, found in SmolLM2, ablated, and formed in a tiny model.

Three parts, one module:

- Sequences. ``repeated_tokens`` writes ``[BOS, x1..xn, x1..xn]`` over the tiny model's 62
  symbols; ``repeated_ids`` does the same with a real tokenizer's vocabulary (SmolLM2, GPT-2).
  The first copy is unpredictable; the second is predictable by a model that looks at the token
  right after the previous occurrence of the current one: an induction head (Olsson et al., 2022).
- Measurements on a real decoder: every head's induction and previous-token score
  (``head_scores``), next-token accuracy on each copy (``copy_accuracy``), the same with heads
  removed (``ablation_effect``, through ``attnwidgets.ablation.ablate_heads``), attention sinks.
- The tiny model. Two attention-only layers, four heads each, trained on in-context bigrams
  (``bigram_batch``) with the loss on copied tokens only: ``python -m attnwidgets.course.induction
  train --seed S`` writes ``data/induction-tiny/`` (seed 0) or ``data/induction-tiny-seedS/``
  and ``aw.load_model("induction-tiny")`` loads it (data/README.md has the recipe and the
  three seeds' scores). What did not work before: two long copies with the loss on the
  second (the model matches whole windows, no previous-token head), loss on every token (drowned
  by unpredictable tokens), many short copies (fixed-offset copying).

The tiny model is a ``transformers`` GPT2LMHeadModel whose MLPs are switched off (output
projection zero and frozen, so each block adds nothing but attention): a GPT-2 object means
``capture()``, ``generate()``, ``ablate_heads`` and ``from_pretrained`` all work on it unchanged,
with no hook code of its own.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import pathlib
import platform
import random
import string
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any, Sequence

import ipywidgets
import numpy as np
import torch

from .. import analysis
from ..ablation import ablate_heads, attention_layout
from ..capture import capture
from ..models import DATA_DIR
from ..record import AttentionRecord
from . import exercises

NAME = "induction-tiny"

# The vocabulary: BOS, 62 one-character symbols, and <unk> (the spare). One character per token
# reads well in a view.
BOS = "<bos>"
UNK = "<unk>"
SYMBOLS = tuple(string.ascii_uppercase + string.ascii_lowercase + string.digits)
VOCAB = (BOS, *SYMBOLS, UNK)
BOS_ID = 0
FIRST_SYMBOL_ID = 1
N_SYMBOLS = len(SYMBOLS)  # 62
VOCAB_SIZE = len(VOCAB)  # 64


@dataclass(frozen=True)
class Settings:
    """How the tiny model is made; saved in training.json beside the weights."""

    seed: int = 0
    steps: int = 2000  # the heads are formed by ~1000 (recipe: 3000; 2000 keeps it under 10 min on a busy machine)
    batch: int = 64
    length: int = 64  # BOS + 63 symbols
    copy_probability: float = 0.5  # a token seen before is followed by its earlier follower this often
    learning_rate: float = 3e-3
    betas: tuple[float, float] = (0.9, 0.98)
    warmup_steps: int = 100
    decay_from: float = 0.8  # linear decay to a tenth over the last 20% of the steps
    clip: float = 1.0
    n_layer: int = 2
    n_head: int = 4
    n_embd: int = 64
    n_positions: int = 128
    init_std: float = 0.02
    threads: int = 1  # one thread: as fast as two for a model this small, and the same bytes anywhere
    score_every: int = 25  # steps between the head scores kept in training.json
    eval_period: int = 30  # held-out measurement on [BOS, x (30), x]
    eval_sequences: int = 256
    eval_seed: int = 12345  # never a training seed


# ---- sequences ---------------------------------------------------------------------------------


def _generator(seed: int | torch.Generator) -> torch.Generator:
    if isinstance(seed, torch.Generator):
        return seed
    if isinstance(seed, int) and not isinstance(seed, bool):
        return torch.Generator().manual_seed(seed)
    raise TypeError(f"seed must be an int or a torch.Generator, got {type(seed).__name__}.")


def _positive(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{what} must be a positive integer, got {value!r}.")
    return int(value)


def _draw(pool: torch.Tensor, batch: int, period: int, distinct: bool, generator: torch.Generator) -> torch.Tensor:
    """[batch, period] entries of pool: uniform with replacement, or without (no symbol twice)."""
    if distinct:
        if period > len(pool):
            raise ValueError(f"a copy of {period} distinct tokens needs at least {period} to choose from; there are {len(pool)}.")
        picks = torch.stack([torch.randperm(len(pool), generator=generator)[:period] for _ in range(batch)])
    else:
        picks = torch.randint(0, len(pool), (batch, period), generator=generator)
    return pool[picks]


def repeated_tokens(period: int, batch: int = 1, *, repeats: int = 2, distinct: bool = False, seed: int | torch.Generator = 0) -> torch.Tensor:
    """Token ids [batch, 1 + repeats * period] for the tiny model: ``[BOS, x1..xn, x1..xn]``.

    period:   n, the symbols in one copy.
    repeats:  copies; 1 gives a plain random sequence (the control: nothing to copy).
    distinct: no symbol twice within a copy. With replacement (the default), about a third of
              the symbols of a 30-symbol copy occur twice in it; at those the token after the
              *most recent* occurrence is ambiguous, which caps the induction score near 0.64.
    seed:     an int (same int, same tokens) or a torch.Generator.
    """
    period, batch, repeats = (_positive(v, w) for v, w in ((period, "period"), (batch, "batch"), (repeats, "repeats")))
    pool = torch.arange(FIRST_SYMBOL_ID, FIRST_SYMBOL_ID + N_SYMBOLS)
    copy = _draw(pool, batch, period, distinct, _generator(seed))
    return torch.cat([torch.full((batch, 1), BOS_ID, dtype=torch.long)] + [copy] * repeats, dim=1)


def repeated_ids(tokenizer: Any, period: int, batch: int = 1, *, repeats: int = 2, seed: int = 0, vocab_from: int = 1000, vocab_to: int = 20000) -> torch.Tensor:
    """``[BOS, x1..xn, x1..xn]`` in a real tokenizer's vocabulary: [batch, 1 + repeats * period].

    The x are distinct random ids from vocab_from..vocab_to (ordinary word pieces: the first ids
    of BPE vocabularies are bytes and special tokens). The first token is the tokenizer's BOS,
    or its end-of-text token (GPT-2 and SmolLM2 mark a document's start with it).
    """
    period, batch, repeats = (_positive(v, w) for v, w in ((period, "period"), (batch, "batch"), (repeats, "repeats")))
    size = len(tokenizer)
    hi = min(vocab_to, size)
    if not 0 <= vocab_from < hi:
        raise ValueError(f"vocab_from..vocab_to must be a range of ids inside the vocabulary of {size}; got {vocab_from}..{vocab_to}.")
    special = set(getattr(tokenizer, "all_special_ids", []) or [])
    pool = torch.tensor([i for i in range(vocab_from, hi) if i not in special])
    first = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    copy = _draw(pool, batch, period, True, _generator(seed))
    return torch.cat([torch.full((batch, 1), int(first), dtype=torch.long)] + [copy] * repeats, dim=1)


def to_text(ids: Any) -> str:
    """Tiny-model token ids as the text its tokenizer reads back: "<bos> K q 7 K q 7"."""
    return " ".join(VOCAB[int(i)] for i in torch.as_tensor(ids).flatten())


def bigram_batch(batch: int, length: int, generator: torch.Generator, copy_probability: float = 0.5) -> tuple[torch.Tensor, torch.Tensor]:
    """In-context bigrams: (ids [batch, length], copied [batch, length - 1]).

    After BOS, each next token is, when the current token occurred before, with probability
    copy_probability the token that followed its most recent earlier occurrence; otherwise a
    uniform symbol. copied[:, t] says that target t + 1 was such a copy: the only targets the
    loss sees (about a fifth of them). Here "one back, then look after my previous occurrence"
    is the only rule that helps, and it helps at any distance.
    """
    ids = torch.empty(batch, length, dtype=torch.long)
    ids[:, 0] = BOS_ID
    ids[:, 1] = torch.randint(FIRST_SYMBOL_ID, FIRST_SYMBOL_ID + N_SYMBOLS, (batch,), generator=generator)
    follower = torch.full((batch, VOCAB_SIZE), -1, dtype=torch.long)  # follower[b, s]: what came after s last time
    copied = torch.zeros(batch, length - 1, dtype=torch.bool)
    rows = torch.arange(batch)
    for t in range(1, length - 1):
        current = ids[:, t]
        earlier = follower[rows, current]
        copy = (earlier >= 0) & (torch.rand(batch, generator=generator) < copy_probability)
        fresh = torch.randint(FIRST_SYMBOL_ID, FIRST_SYMBOL_ID + N_SYMBOLS, (batch,), generator=generator)
        ids[:, t + 1] = torch.where(copy, earlier, fresh)
        copied[:, t] = copy
        follower[rows, current] = ids[:, t + 1]
    return ids, copied


def make_tokenizer() -> Any:
    """A word-level tokenizer over VOCAB: whitespace-separated symbols, BOS added in front."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.WordLevel({tok: i for i, tok in enumerate(VOCAB)}, unk_token=UNK))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    core.post_processor = processors.TemplateProcessing(single=f"{BOS} $A", special_tokens=[(BOS, BOS_ID)])
    return PreTrainedTokenizerFast(tokenizer_object=core, bos_token=BOS, unk_token=UNK, model_max_length=Settings.n_positions)


# ---- the tiny model ----------------------------------------------------------------------------


def make_model(settings: Settings = Settings()) -> Any:
    """A fresh attention-only GPT-2: 2 layers x 4 heads, d 64, tied embeddings, no dropout.

    GPT-2 always has an MLP; a one-unit MLP whose output projection is zero and frozen adds
    exactly nothing (``residual + 0``), so the blocks are attention only. Positions start as
    sines and cosines (scaled to GPT-2's init) and stay trainable: "one position back" is then
    the same rotation everywhere, learned once instead of once per position.
    """
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(
        vocab_size=VOCAB_SIZE, n_positions=settings.n_positions, n_embd=settings.n_embd, n_layer=settings.n_layer,
        n_head=settings.n_head, n_inner=1, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
        bos_token_id=BOS_ID, eos_token_id=BOS_ID, pad_token_id=None, initializer_range=settings.init_std,
        attn_implementation="eager",
    )
    torch.manual_seed(settings.seed)
    model = GPT2LMHeadModel(config)
    position = torch.arange(settings.n_positions, dtype=torch.float32)[:, None]
    frequency = 10000.0 ** (-torch.arange(0, settings.n_embd, 2, dtype=torch.float32) / settings.n_embd)
    table = torch.zeros(settings.n_positions, settings.n_embd)  # [positions, d]
    table[:, 0::2] = torch.sin(position * frequency)
    table[:, 1::2] = torch.cos(position * frequency)
    with torch.no_grad():
        model.transformer.wpe.weight.copy_(table * settings.init_std * math.sqrt(2))
        for block in model.transformer.h:
            block.mlp.c_proj.weight.zero_()
            block.mlp.c_proj.bias.zero_()
    _freeze_mlps(model)
    return model


def _freeze_mlps(model: Any) -> None:
    for block in model.transformer.h:
        for p in (*block.mlp.parameters(), *block.ln_2.parameters()):
            p.requires_grad_(False)


def load(path: pathlib.Path) -> tuple[Any, Any]:
    """The loader data/<name>/attnwidgets.json names: (model in eval mode, tokenizer)."""
    from transformers import GPT2LMHeadModel

    path = pathlib.Path(path)
    if not (path / "model.safetensors").exists():
        raise FileNotFoundError(f"{path} holds no model.safetensors: re-make it with `python -m attnwidgets.course.induction train`.")
    model = GPT2LMHeadModel.from_pretrained(path, attn_implementation="eager")
    model.config._name_or_path = path.name
    _freeze_mlps(model)
    return model.eval(), make_tokenizer()


# ---- measurements on any decoder ---------------------------------------------------------------


def records(model: Any, tokenizer: Any, ids: torch.Tensor) -> list[AttentionRecord]:
    """One AttentionRecord per row of ids (capture runs the model once per row)."""
    return [capture(model, tokenizer, row[None]) for row in torch.as_tensor(ids)]


def head_scores(model: Any, tokenizer: Any, ids: torch.Tensor, period: int) -> dict[str, np.ndarray]:
    """Mean induction and previous-token score of every head over the rows of ids: [layers, heads] each.

    ids are ``[BOS, x, x]`` rows (repeated_tokens / repeated_ids).
    """
    ind, prev = [], []
    for record in records(model, tokenizer, ids):
        ind.append(analysis.induction_score(record, period))
        prev.append(analysis.offset_score(record, -1))
    return {"induction": np.mean(ind, axis=0), "previous": np.mean(prev, axis=0)}


def top_heads(scores: np.ndarray, k: int = 5) -> list[tuple[int, int, float]]:
    """The k highest entries of a [layers, heads] grid: [(layer, head, score)], best first."""
    scores = np.asarray(scores)
    order = np.argsort(scores, axis=None)[::-1][:k]
    return [(int(i // scores.shape[1]), int(i % scores.shape[1]), float(scores.flat[i])) for i in order]


@torch.no_grad()
def copy_accuracy(model: Any, ids: torch.Tensor, period: int) -> dict[str, float]:
    """Greedy next-token accuracy on the first and on the second copy of ``[BOS, x, x]`` rows.

    First copy: targets x2..xn (random: chance). Second copy: targets x2..xn again (its x1
    is left out: nothing says where the copy starts).
    """
    ids = torch.as_tensor(ids)
    if ids.ndim != 2 or ids.shape[1] != 1 + 2 * period:
        raise ValueError(f"ids must be [batch, 1 + 2 * period] = [*, {1 + 2 * period}] ([BOS, x, x]); got {tuple(ids.shape)}.")
    was_training = model.training
    model.eval()
    try:
        guess = model(input_ids=ids).logits.argmax(-1)  # [batch, length]: position t guesses token t + 1
    finally:
        model.train(was_training)
    right = guess[:, :-1] == ids[:, 1:]  # right[:, t]: token t + 1 guessed
    first = right[:, 1:period]  # tokens 2..n
    second = right[:, period + 1 : 2 * period]  # tokens n + 2 .. 2n
    return {"first_copy": float(first.float().mean()), "second_copy": float(second.float().mean())}


def ablation_effect(model: Any, ids: torch.Tensor, period: int, heads: Sequence[tuple[int, int]], *, random_draws: int = 3, seed: int = 0) -> dict[str, Any]:
    """Second-copy accuracy with no head removed, with ``heads`` removed, and with as many random heads removed.

    The random heads are drawn (seeded) from all heads except ``heads``; each draw is one run.
    """
    heads = [(int(l), int(h)) for l, h in heads]
    n_layers, n_heads, _ = attention_layout(model)
    everyone = [(l, h) for l in range(n_layers) for h in range(n_heads) if (l, h) not in heads]
    rng = random.Random(seed)
    draws = [sorted(rng.sample(everyone, len(heads))) for _ in range(random_draws)]
    base = copy_accuracy(model, ids, period)
    with ablate_heads(model, heads):
        chosen = copy_accuracy(model, ids, period)
    randoms = []
    for draw in draws:
        with ablate_heads(model, draw):
            randoms.append(copy_accuracy(model, ids, period)["second_copy"])
    return {"heads": heads, "none": base["second_copy"], "first_copy": base["first_copy"], "ablated": chosen["second_copy"], "random": randoms, "random_heads": draws}


def sink_share(record: AttentionRecord) -> np.ndarray:
    """Per layer, the mean share of attention on the first token, over heads and queries 1..n-1.

    Query 0 is left out: it can only look at itself.
    """
    w = record.without_padding().weights  # [layers, heads, queries, keys]
    return w[:, :, 1:, 0].astype(np.float64).mean(axis=(1, 2))


def upper_triangle_max(record: AttentionRecord) -> float:
    """The largest weight any query puts on a later key (0.0 exactly for a causal decoder)."""
    w = record.weights
    n = min(w.shape[-2:])
    upper = np.triu(np.ones((w.shape[-2], w.shape[-1]), dtype=bool), k=1)
    return float(w[..., upper].max()) if upper.any() and n > 1 else 0.0



def uniform_sink_share(n: int) -> float:
    """The first token's share if every query 1..n-1 spread its attention evenly: mean of 1/(q+1)."""
    return float(np.mean([1.0 / (q + 1) for q in range(1, n)]))


def grouped_query_shapes(model: Any) -> dict[str, Any]:
    """A LLaMA-style layer's projection shapes and head counts (grouped-query attention)."""
    attn = model.model.layers[0].self_attn
    config = model.config
    return {
        "hidden": config.hidden_size,
        "query_heads": config.num_attention_heads,
        "kv_heads": config.num_key_value_heads,
        "head_dim": attn.head_dim,
        **{name: tuple(getattr(attn, name).weight.shape) for name in ("q_proj", "k_proj", "v_proj", "o_proj")},
    }


def group_similarity(record: AttentionRecord) -> dict[str, float]:
    """Mean total-variation distance between two heads' attention rows, for head pairs that share
    a key/value head and for pairs that do not (0: same pattern, 1: no overlap)."""
    if record.kv_heads is None:
        raise ValueError("this record has no kv_heads: it is not grouped-query attention.")
    w = record.without_padding().weights.astype(np.float64)  # [layers, heads, q, k]
    kv = np.asarray(record.kv_heads)
    same, other = [], []
    for i in range(record.n_heads):
        for j in range(i + 1, record.n_heads):
            d = 0.5 * np.abs(w[:, i] - w[:, j]).sum(-1).mean()
            (same if kv[i] == kv[j] else other).append(d)
    return {"same_kv_head": float(np.mean(same)), "different_kv_head": float(np.mean(other))}


# ---- pictures and widgets for the notebook -----------------------------------------------------


def score_grids_figure(grids: dict[str, np.ndarray], marks: int = 3) -> Any:
    """Layers x heads grids side by side (one per score), the top ``marks`` heads of each boxed."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    fig = Figure(figsize=(3.2 * len(grids) + 0.6, 5.2), layout="constrained")
    axes = fig.subplots(1, len(grids), squeeze=False)[0]
    for ax, (title, grid) in zip(axes, grids.items()):
        grid = np.asarray(grid)
        im = ax.imshow(grid, cmap="viridis", vmin=0, vmax=1, aspect="auto", interpolation="nearest")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("head")
        ax.set_ylabel("layer")
        ax.set_xticks(range(grid.shape[1]))
        ax.set_yticks(range(0, grid.shape[0], max(1, grid.shape[0] // 10)))
        for layer, head, value in top_heads(grid, marks):
            ax.add_patch(Rectangle((head - 0.5, layer - 0.5), 1, 1, fill=False, edgecolor="red", linewidth=1.5))
            ax.annotate(f"{value:.2f}", (head, layer), color="white" if value < 0.6 else "black", fontsize=7, ha="center", va="center")
    fig.colorbar(im, ax=axes, shrink=0.8, label="score")
    return fig


def ablation_figure(result: dict[str, Any], what: str = "top induction heads") -> Any:
    """Bars: second-copy accuracy with nothing removed, the chosen heads removed, random heads removed."""
    from matplotlib.figure import Figure

    k = len(result["heads"])
    labels = ["nothing removed", f"{k} {what}\nremoved"] + [f"{k} random heads\n(draw {i + 1})" for i in range(len(result["random"]))]
    values = [result["none"], result["ablated"], *result["random"]]
    fig = Figure(figsize=(1.5 * len(values) + 1, 3.2), layout="constrained")
    ax = fig.subplots()
    bars = ax.bar(range(len(values)), values, color=["#888888", "#D55E00"] + ["#0072B2"] * len(result["random"]))
    for bar, v in zip(bars, values):
        ax.annotate(f"{v:.2f}", (bar.get_x() + bar.get_width() / 2, v), ha="center", va="bottom", fontsize=9)
    ax.axhline(result["first_copy"], color="black", linestyle=":", linewidth=1, label=f"first copy, nothing removed ({result['first_copy']:.2f})")
    ax.legend(loc="upper right", fontsize=8)
    ax.set_xticks(range(len(values)), labels, fontsize=8)
    ax.set_ylim(0, 1.08)
    ax.set_ylabel("next-token accuracy,\nsecond copy")
    return fig


def sink_figure(shares: np.ndarray, uniform: float) -> Any:
    """Share of attention on the first token, per layer, against what even attention would give."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 2.8), layout="constrained")
    ax = fig.subplots()
    ax.bar(range(len(shares)), shares, color="#0072B2")
    ax.axhline(uniform, color="#D55E00", linestyle="--", linewidth=1.2, label=f"if attention were spread evenly ({uniform:.2f})")
    ax.set_xlabel("layer")
    ax.set_ylabel("attention on token 0")
    ax.set_ylim(0, 1)
    ax.legend(loc="upper left", fontsize=8)
    return fig


def training_runs(seeds: Sequence[int] = (0, 1, 2)) -> dict[int, dict]:
    """training.json of each shipped tiny model, by seed (the seeds whose folders exist)."""
    runs = {}
    for seed in seeds:
        path = DATA_DIR / folder_name(seed) / "training.json"
        if path.exists():
            runs[seed] = json.loads(path.read_text())
    return runs


def training_figure(runs: dict[int, dict]) -> Any:
    """Per seed: the best previous-token head (layer 0) and induction head (layer 1) during training, and the loss."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 3.2), layout="constrained")
    ax, loss_ax = fig.subplots(1, 2, width_ratios=[2, 1])
    styles = ["-", "--", ":", "-."]
    for i, (seed, info) in enumerate(sorted(runs.items())):
        steps = [h["step"] for h in info["history"]]
        style = styles[i % len(styles)]
        ax.plot(steps, [h["previous_token"] for h in info["history"]], style, color="#0072B2", label=f"previous-token head, seed {seed}")
        ax.plot(steps, [h["induction"] for h in info["history"]], style, color="#D55E00", label=f"induction head, seed {seed}")
        loss_ax.plot(steps, [h["loss"] for h in info["history"]], style, color="#333333", label=f"seed {seed}")
    ax.set_xlabel("training step")
    ax.set_ylabel("best head's score")
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=7, ncol=2, loc="center right")
    loss_ax.set_xlabel("training step")
    loss_ax.set_ylabel("loss on copied tokens (nats)")
    loss_ax.legend(fontsize=7)
    return fig


def _escape(token: str) -> str:
    import html

    from ..record import readable_token

    return html.escape(readable_token(token)).replace(" ", "&nbsp;") or "&nbsp;"


class GenerationStepper(ipywidgets.VBox):
    """A slider over the steps of a generation: at step s the model reads the text so far, its
    attention (chosen layer and head) colours every earlier token, and it writes token s.

    A VBox: controls, the coloured text, a Heatmap of the record with the reading row pinned.
    ``stepper.step``, ``.layer``, ``.head`` are its ipywidgets controls, ``.heatmap`` the view.
    """

    def __init__(self, record: AttentionRecord, layer: int = 0, head: int | str = "mean") -> None:
        import ipywidgets as W

        from ..views import Heatmap

        if not isinstance(record, AttentionRecord) or record.prompt_length is None or "generated_tokens" not in record.meta:
            raise ValueError("GenerationStepper needs a record from capture(model, tokenizer, prompt, generate=N).")
        self.record = record
        self.generated = list(record.meta["generated_tokens"])
        self.prompt_length = int(record.prompt_length)
        n = len(self.generated)
        self.step = W.IntSlider(1, min=1, max=n, description="step", continuous_update=True)
        self.layer = W.IntSlider(layer, min=0, max=record.n_layers - 1, description="layer", continuous_update=False)
        options = [("mean of heads", "mean")] + [(f"head {h}", str(h)) for h in range(record.n_heads)]
        self.head = W.Dropdown(options=options, value=str(head), description="head", layout=W.Layout(width="190px"))
        self.text = W.HTML()
        self.heatmap = Heatmap(record, layer=layer, size=420)
        W.link((self.layer, "value"), (self.heatmap, "layer"))
        self.head.observe(self._head_changed, "value")
        self._head_changed({"new": self.head.value})
        for control in (self.step, self.layer, self.head):
            control.observe(lambda _: self._draw(), "value")
        self._draw()
        super().__init__([W.HBox([self.step, self.layer, self.head]), self.text, self.heatmap])

    def query(self, step: int) -> int:
        """The position the model reads at ``step`` (1-based) to write generated token ``step``."""
        return self.prompt_length + step - 2

    def row(self, step: int) -> np.ndarray:
        """What the read token attended to at ``step`` (chosen layer and head): [positions so far]."""
        q = self.query(step)
        key = self.head.value
        matrix = self.record.matrix(self.layer.value, aggregate="mean") if key == "mean" else self.record.matrix(self.layer.value, int(key))
        return matrix[q, : q + 1]

    def _head_changed(self, change: Any) -> None:
        if change["new"] == "mean":
            self.heatmap.aggregate = "mean"
        else:
            self.heatmap.aggregate, self.heatmap.head = "", int(change["new"])

    def _draw(self) -> None:
        s = self.step.value
        q = self.query(s)
        weights = self.row(s)
        top = weights.max()
        spans = []
        for i, (token, w) in enumerate(zip(self.record.query_tokens[: q + 1], weights)):
            alpha = 0.85 * w / top if top > 0 else 0.0
            border = "border-bottom:2px solid #c00;" if i == q else ""
            prompt = "" if i < self.prompt_length else "font-style:italic;"
            spans.append(f"<span title='{w:.3f}' style='background:rgba(213,94,0,{alpha:.2f});{border}{prompt}padding:1px 0'>{_escape(token)}</span>")
        best = int(weights.argmax())
        self.text.value = (
            "<div style='font-family:monospace;line-height:1.9'>" + "".join(spans)
            + f" &nbsp;→ writes <b style='background:#e9f7ee;padding:1px 3px'>{_escape(self.generated[s - 1])}</b></div>"
            + f"<div style='font-size:90%;color:#444'>step {s} of {len(self.generated)}: reading position {q} "
            + f"(<b>{_escape(self.record.query_tokens[q])}</b>); most attention on position {best} "
            + f"(<b>{_escape(self.record.query_tokens[best])}</b>, {weights[best]:.2f}). Darker = more attention; italics = generated.</div>"
        )
        self.heatmap.pinned = q

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        bundle = super()._repr_mimebundle_(**kwargs)
        data = bundle[0] if isinstance(bundle, tuple) else bundle
        if data is not None:
            try:  # where no kernel runs (GitHub, nbviewer) the heatmap's picture stands in
                data["image/png"] = self.heatmap._repr_mimebundle_()[0]["image/png"]
            except Exception:  # noqa: BLE001  (a picture must never stop the live widget)
                pass
        return bundle


# ---- exercises -----------------------------------------------------------------------------------

EX1_PERIOD = 6


def ex1_example() -> tuple[np.ndarray, int]:
    """A small causal weights matrix of one made-up head over [BOS, x (6), x]: (matrix [13, 13], period)."""
    return _ex1_cases()[0]


def _ex1_cases() -> list[tuple[np.ndarray, int]]:
    rng = np.random.default_rng(5)
    cases = []
    for period, sharp in ((EX1_PERIOD, 3.0), (4, 1.0), (9, 6.0)):
        n = 1 + 2 * period
        scores = rng.normal(size=(n, n))
        for q in range(1 + period, n):
            scores[q, q - period + 1] += sharp  # a noisy induction head
        scores[np.triu_indices(n, 1)] = -np.inf
        w = np.exp(scores - scores.max(-1, keepdims=True))
        cases.append(((w / w.sum(-1, keepdims=True)).astype(np.float32), period))
    return cases


def _reference_induction(weights: np.ndarray, period: int) -> float:
    record = AttentionRecord(np.asarray(weights)[None, None], [str(i) for i in range(len(weights))], kind="causal")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # labels are positions, not repeated tokens
        return float(analysis.induction_score(record, period)[0, 0])


def check_induction_by_hand(function: Any) -> exercises.Feedback:
    """Exercise 1: function(weights [n, n], period) -> the head's induction score (a float)."""
    for weights, period in _ex1_cases():
        result, failed = exercises.attempt(function, weights.copy(), period)
        if failed is not None:  # a Feedback is falsy unless right
            return failed
        try:
            got = float(result)
        except (TypeError, ValueError):
            return exercises.wrong(f"return one number (a float); got {type(result).__name__}.", "Take the mean of the stripe's weights: float(np.mean(...)).")
        want = _reference_induction(weights, period)
        if abs(got - want) < 1e-4:
            continue
        n = len(weights)
        second = np.arange(1 + period, n)
        near = {
            "q - period (the earlier copy of the same token, not the one after it)": weights[second, second - period].mean(),
            "every query of both copies": np.mean([weights[q, q - period + 1] for q in range(period, n)]),
            "q - 1 (the previous token)": weights[second, second - 1].mean(),
            "the sum instead of the mean": weights[second, second - period + 1].sum(),
        }
        for what, value in near.items():
            if abs(got - value) < 1e-4:
                return exercises.wrong(f"for period {period} you returned {got:.4f}, the score over {what}; expected {want:.4f}.",
                                       "Query q of the second copy (q = 1 + period .. 2 * period) should look at key q - period + 1: the token right AFTER the earlier occurrence of its own token.")
        return exercises.wrong(f"for period {period} you returned {got:.4f}; expected {want:.4f}.",
                               "Average weights[q, q - period + 1] over the queries of the second copy only (q = 1 + period .. 2 * period; position 0 is BOS).")
    return exercises.right(f"Your score matches analysis.induction_score on {len(_ex1_cases())} heads (e.g. {_reference_induction(*_ex1_cases()[0]):.3f} for the example).")


def check_previous_token_head(guess: Any, record: AttentionRecord) -> exercises.Feedback:
    """Exercise 2: the head (in layer 0) of the tiny model whose previous-token score is highest."""
    if exercises.is_unanswered(guess):
        return exercises.unanswered()
    scores = analysis.offset_score(record, -1)
    best = int(scores[0].argmax())
    if isinstance(guess, (tuple, list)) and len(guess) == 2:
        layer, head = guess
        if layer != 0:
            return exercises.wrong(f"layer {layer}: the question is about layer 0.", "The previous-token head sits in the first layer: layer 1's heads use what it wrote.")
        guess = head
    if isinstance(guess, bool) or not isinstance(guess, (int, np.integer)):
        return exercises.wrong(f"give a head index (an int from 0 to {record.n_heads - 1}); got {guess!r}.", "e.g. prev_head = 2")
    guess = int(guess)
    if not 0 <= guess < record.n_heads:
        return exercises.wrong(f"head {guess} does not exist: layer 0 has heads 0 to {record.n_heads - 1}.")
    if guess == best:
        return exercises.right(f"Head 0.{best}: {scores[0, best]:.3f} of its attention goes to the token just before.")
    ind = analysis.induction_score(record, (record.n_queries - 1) // 2)
    if ind[0, guess] > scores[0, guess]:
        return exercises.wrong(f"head 0.{guess} scores only {scores[0, guess]:.2f} on the previous token.", "Use analysis.offset_score(record, -1): the head whose weights sit on the diagonal just below the main one.")
    return exercises.wrong(f"head 0.{guess} puts {scores[0, guess]:.2f} of its attention on the previous token; another head of layer 0 puts more.",
                           "Compare analysis.offset_score(tiny_record, -1)[0] across the four heads and take the largest.")


def _ablation_ids(period: int = Settings.eval_period, sequences: int = 64, seed: int = 11) -> torch.Tensor:
    return repeated_tokens(period, sequences, distinct=True, seed=seed)


def previous_heads(record: AttentionRecord, threshold: float = 0.5) -> list[tuple[int, int]]:
    """Layer 0's heads whose previous-token score on ``record`` is above threshold."""
    scores = analysis.offset_score(record, -1)
    return [(0, h) for h in range(record.n_heads) if scores[0, h] > threshold]


def without_heads(model: Any, heads: Sequence[tuple[int, int]], period: int = Settings.eval_period, sequences: int = 64, seed: int = 11) -> float:
    """The tiny model's second-copy accuracy (distinct-symbol copies) with ``heads`` ablated."""
    ids = _ablation_ids(period, sequences, seed)
    with ablate_heads(model, heads):
        return copy_accuracy(model, ids, period)["second_copy"]


def tiny_ablations(model: Any, record: AttentionRecord, period: int = Settings.eval_period, sequences: int = 64, seed: int = 11) -> dict[str, Any]:
    """Second-copy accuracy of the tiny model (distinct-symbol copies) with heads removed:
    layer 0's previous-token heads (offset score > 0.5 on ``record``), each layer-1 head alone,
    and all of layer 1."""
    previous = previous_heads(record)
    cut = lambda heads: without_heads(model, heads, period, sequences, seed)  # noqa: E731
    return {
        "all_heads": cut([]),
        "previous_heads": previous,
        "without_previous": cut(previous),
        "without_one_induction": {h: cut([(1, h)]) for h in range(record.n_heads)},
        "without_layer_1": cut([(1, h) for h in range(record.n_heads)]),
    }


def check_ablation_prediction(guess: Any, model: Any, record: AttentionRecord) -> exercises.Feedback:
    """Exercise 3: a number in [0, 1], the predicted second-copy accuracy of the tiny model once
    layer 0's previous-token heads are removed (measured here, on distinct-symbol copies)."""
    if exercises.is_unanswered(guess):
        return exercises.unanswered()
    if isinstance(guess, bool) or not isinstance(guess, (int, float, np.floating, np.integer)) or not 0 <= float(guess) <= 1:
        return exercises.wrong(f"give an accuracy between 0 and 1 (e.g. 0.5); got {guess!r}.")
    guess = float(guess)
    actual, before = without_heads(model, previous_heads(record)), without_heads(model, [])
    if abs(guess - actual) <= 0.15:
        return exercises.right(f"Measured: {actual:.3f} (was {before:.2f} with every head). Your guess {guess:.2f} is within 0.15.")
    if guess > actual:
        return exercises.wrong(f"you guessed {guess:.2f}; the measured accuracy is far lower.",
                               "The layer-1 heads find 'the token after my previous occurrence' by what the previous-token head wrote into it. Without that, what is left to match?")
    return exercises.wrong(f"you guessed {guess:.2f}; the measured accuracy is higher.", "Is there another head that could do part of the job?")


# ---- training ----------------------------------------------------------------------------------


def tiny_scores(model: Any, sequences: int = 16, *, period: int = Settings.eval_period, distinct: bool = True, seed: int = Settings.eval_seed) -> dict[str, Any]:
    """The tiny model's heads on fresh ``[BOS, x, x]``: the best previous-token head of layer 0,
    the best induction head of layer 1, every head's scores, and copy accuracy."""
    tokenizer = make_tokenizer()
    ids = repeated_tokens(period, sequences, distinct=distinct, seed=seed)
    scores = head_scores(model, tokenizer, ids, period)
    return {
        "previous_token": round(float(scores["previous"][0].max()), 4),
        "induction": round(float(scores["induction"][1].max()), 4),
        "previous_grid": np.round(scores["previous"], 4).tolist(),
        "induction_grid": np.round(scores["induction"], 4).tolist(),
        **{k: round(v, 4) for k, v in copy_accuracy(model, ids, period).items()},
    }


def folder_name(seed: int) -> str:
    """data/ folder of the tiny model trained with this seed."""
    return NAME if seed == 0 else f"{NAME}-seed{seed}"


def train(out_dir: str | os.PathLike | None = None, settings: Settings = Settings(), *, progress: bool = True, save: bool = True) -> dict:
    """Train the tiny model and save it (safetensors, config, training.json, attnwidgets.json).

    out_dir: default data/induction-tiny for seed 0, data/induction-tiny-seed<S> for others.
    save:    False trains and returns without writing (a smoke test).
    Returns what training.json holds, plus "model".
    """
    out = pathlib.Path(out_dir) if out_dir is not None else DATA_DIR / folder_name(settings.seed)
    threads = torch.get_num_threads()
    torch.set_num_threads(settings.threads)
    try:
        info = _train(settings, progress)
    finally:
        torch.set_num_threads(threads)
    if save:
        _save(info["model"], out, {k: v for k, v in info.items() if k != "model"}, settings)
    return info


def _train(settings: Settings, progress: bool) -> dict:
    from tqdm.auto import tqdm

    model = make_model(settings)  # seeds torch with settings.seed
    model.train()
    data = torch.Generator().manual_seed(settings.seed)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=settings.learning_rate, betas=settings.betas, weight_decay=0.0)
    warmup = max(1, settings.warmup_steps)
    decay_start = int(settings.decay_from * settings.steps)
    # warm up, hold (a high rate shortens the plateau before the heads form), then decay to 0.1x
    schedule = lambda s: min(1.0, (s + 1) / warmup) * (1.0 - 0.9 * max(0, s - decay_start) / max(1, settings.steps - decay_start))  # noqa: E731
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)

    history = []
    start = time.perf_counter()
    bar = tqdm(range(settings.steps), desc=f"training {NAME} (seed {settings.seed})", disable=not progress, unit="step")
    for step in bar:
        ids, copied = bigram_batch(settings.batch, settings.length, data, settings.copy_probability)
        logits = model(input_ids=ids).logits[:, :-1]  # [batch, length - 1, vocab]
        loss = torch.nn.functional.cross_entropy(logits[copied], ids[:, 1:][copied])  # copied targets only
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, settings.clip)
        optimizer.step()
        scheduler.step()
        if step % settings.score_every == 0 or step == settings.steps - 1:
            s = tiny_scores(model, sequences=8, seed=settings.eval_seed + 1)
            history.append({"step": step, "loss": round(loss.item(), 4), "previous_token": s["previous_token"], "induction": s["induction"], "second_copy": s["second_copy"]})
            bar.set_postfix(loss=f"{loss.item():.2f}", prev=f"{s['previous_token']:.2f}", ind=f"{s['induction']:.2f}")
    seconds = time.perf_counter() - start

    model.eval()
    gen = torch.Generator().manual_seed(settings.eval_seed)
    ids, copied = bigram_batch(settings.eval_sequences, settings.length, gen, settings.copy_probability)
    with torch.no_grad():
        guess = model(input_ids=ids).logits[:, :-1].argmax(-1)
    bigram_accuracy = float((guess[copied] == ids[:, 1:][copied]).float().mean())
    held_out = {
        "distinct": tiny_scores(model, settings.eval_sequences, distinct=True),
        "with_replacement": tiny_scores(model, settings.eval_sequences, distinct=False),
        "random_control": _control_scores(model, settings),
        "bigram_copied_accuracy": round(bigram_accuracy, 4),
    }
    formed = next((h["step"] for h in history if h["induction"] > 0.3), None)
    return {
        "name": folder_name(settings.seed),
        "what": "attention-only 2-layer, 4-head GPT-2 (d 64) trained on in-context bigrams with the loss on copied tokens; it forms a previous-token head in layer 0 and induction heads in layer 1",
        "recreate": f"python -m attnwidgets.course.induction train --seed {settings.seed}",
        "settings": asdict(settings),
        "data": {
            "vocab": list(VOCAB),
            "training": "in-context bigrams (bigram_batch): BOS, then each token seen before is followed, with probability copy_probability, by what followed its most recent earlier occurrence, else by a uniform symbol; loss on the copied targets only",
            "measured_on": "[BOS, x (eval_period symbols), x], eval_sequences rows, seed eval_seed (never a training seed); 'distinct' copies have no symbol twice, 'with_replacement' ones do (score ceiling about 0.64)",
        },
        "held_out": held_out,
        "induction_above_0.3_at_step": formed,
        "history": history,
        "seconds": round(seconds, 1),
        "parameters_trained": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "machine": platform.machine(),
        "model": model,
    }


def _control_scores(model: Any, settings: Settings) -> dict[str, float]:
    """The same stripes on random sequences with nothing repeated (one copy of 2n symbols)."""
    import warnings

    tokenizer = make_tokenizer()
    n = settings.eval_period
    ids = repeated_tokens(2 * n, 32, repeats=1, distinct=True, seed=settings.eval_seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # induction_score says the tokens do not repeat: that is the control
        scores = head_scores(model, tokenizer, ids, n)
    return {"induction_max": round(float(scores["induction"].max()), 4), "previous_token_max": round(float(scores["previous"][0].max()), 4)}


def _save(model: Any, out: pathlib.Path, info: dict, settings: Settings) -> None:
    import shutil

    partial = out.with_name(out.name + ".partial")
    if partial.exists():
        shutil.rmtree(partial)
    partial.mkdir(parents=True)
    model.config._name_or_path = out.name
    model.save_pretrained(partial, safe_serialization=True)
    make_tokenizer().save_pretrained(partial)  # so the folder also loads by path: load_model("data/induction-tiny")
    (partial / "training.json").write_text(json.dumps(info, indent=1) + "\n")
    described = {
        "description": f"attention-only 2-layer, 4-head GPT-2 (d 64, MLPs off) trained on in-context bigrams, seed {settings.seed}: a previous-token head in layer 0, induction heads in layer 1 (notebook 05)",
        "recreate": info["recreate"],
        "loader": "attnwidgets.course.induction:load",
    }
    (partial / "attnwidgets.json").write_text(json.dumps(described, indent=1) + "\n")
    if out.exists():
        shutil.rmtree(out)
    partial.rename(out)  # a half-written folder never looks complete


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m attnwidgets.course.induction", description="Train the tiny induction model and save it to data/induction-tiny[-seedS]/.")
    sub = parser.add_subparsers(dest="command")
    t = sub.add_parser("train", help="train and save (2000 steps: 1-6 min on one thread, depending on what else runs)")
    t.add_argument("--seed", type=int, default=Settings.seed)
    t.add_argument("--steps", type=int, default=Settings.steps)
    t.add_argument("--out", default=None, help="output folder (default: data/induction-tiny for seed 0, data/induction-tiny-seed<S> otherwise)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.command != "train":
        parser.print_help(sys.stderr)
        return 2
    info = train(args.out, Settings(seed=args.seed, steps=args.steps))
    d, r = info["held_out"]["distinct"], info["held_out"]["with_replacement"]
    print(f"{info['name']}: {info['seconds']} s; held out, distinct copies: previous-token {d['previous_token']}, induction {d['induction']}, "
          f"accuracy 2nd/1st copy {d['second_copy']}/{d['first_copy']}; with replacement: induction {r['induction']}, 2nd copy {r['second_copy']}; "
          f"copied bigrams {info['held_out']['bigram_copied_accuracy']}; induction > 0.3 at step {info['induction_above_0.3_at_step']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
