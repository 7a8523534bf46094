"""The project's own induction-head model: repeated random tokens, and a tiny GPT-2 trained on them.

A sequence is ``[BOS, x1 .. xn, x1 .. xn]``: n random tokens, then the same n again. The first
copy cannot be predicted (its loss stays near ln(62), chance), the second can, by any model that
learns to look back at the token right after the previous occurrence of the current one: an
induction head (Olsson et al., 2022), measured by ``analysis.induction_score``.

This module is the one place that makes such sequences (``repeated_tokens``) and the one place
that trains the model: ``python -m attnwidgets.induction train`` writes ``data/induction-gpt2/``
deterministically (training runs on one thread: same seed and torch version, same bytes), and
``load_model("induction-gpt2")`` loads it.

Status (2026-11-27): the recipe below does NOT yet give a classic induction head within the
3-4 minute budget, so no weights are committed. What was measured (2 CPU cores, shared):

- Training only on ``[BOS, x, x]`` (copies always the whole sequence): second-copy loss 0.6 vs
  4.4 on the first copy after 3500 steps, but induction score about 0 in every head. Where the
  second copy starts follows from the position, and the model learns position tricks (layer-0
  heads look back to about half the query's position) instead of a previous-token head.
- With a random prefix and the copies filling the sequence (``training_batch``, the defaults):
  after 3500 steps (~4-7 min) the second-copy loss is 1.8 vs 4.6, layer-0 heads look back a
  fixed fraction of the position rather than one token, induction score <= 0.05. 8000 steps
  (10.5 min): loss 1.06 vs 4.47, induction score still <= 0.02. Sinusoidal position init, a
  larger position scale, 2 heads, 4096 tokens per step, learning rates 1e-3..1e-2: no change.
  Next to try: more steps (the loss was still falling), more tokens per step, or a model whose
  previous-token head is cheaper to learn (rotary or relative positions: not GPT-2).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import pathlib
import platform
import string
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any

import torch

from .models import DATA_DIR

NAME = "induction-gpt2"

# The vocabulary: BOS, 62 one-character tokens (what the random sequences are made of), and
# <unk> for anything else the tokenizer is given. One character per token reads well in a view.
BOS = "<bos>"
UNK = "<unk>"
SYMBOLS = tuple(string.ascii_uppercase + string.ascii_lowercase + string.digits)
VOCAB = (BOS, *SYMBOLS, UNK)
BOS_ID = 0
FIRST_SYMBOL_ID = 1
N_SYMBOLS = len(SYMBOLS)  # 62: chance loss is ln(62) = 4.127 nats
VOCAB_SIZE = len(VOCAB)  # 64


@dataclass(frozen=True)
class Settings:
    """What the model is trained on and how; saved in training.json beside the weights."""

    seed: int = 0
    steps: int = 3500
    tokens_per_batch: int = 1024  # sequences per batch: this // length, so every step costs about the same
    min_period: int = 2  # n, the length of one copy (see training_batch)
    max_period: int = 60  # the longest sequences: 1 + 2 * 60 = 121 tokens <= n_positions
    learning_rate: float = 1e-3
    warmup_steps: int = 100
    decay_from: float = 0.8  # the learning rate decays linearly over the last 20% of the steps
    weight_decay: float = 0.01
    n_layer: int = 2
    n_head: int = 4
    n_embd: int = 64
    n_positions: int = 128
    fill: bool = True  # as many copies as fit, after a prefix shorter than one copy
    init_std: float = 0.02  # GPT-2's initializer_range
    position_scale: float = 1.0  # multiplies the sinusoidal init
    sinusoidal_init: bool = True  # position embeddings start as sines and cosines (see make_model)
    threads: int = 1  # one thread: as fast as two for a model this small, and the same bytes on any machine
    eval_period: int = 30  # the held-out measurement: sequences of 1 + 2 * 30 tokens
    eval_sequences: int = 256
    eval_seed: int = 12345  # never a training seed: fresh sequences


# ---- data -------------------------------------------------------------------------------------


def repeated_tokens(period: int, batch: int = 1, *, repeats: int = 2, prefix: int = 0, seed: int | torch.Generator = 0, bos: bool = True) -> torch.Tensor:
    """Token ids [batch, bos + prefix + repeats * period]: ``period`` random symbols, repeated.

    period:  n, the number of random symbols in one copy.
    repeats: how many copies; 2 gives ``[BOS, x1..xn, x1..xn]``; 1 gives a plain random
             sequence (the control: the same kind of tokens with nothing to copy).
    prefix:  this many other random symbols before the first copy (training uses them so the
             copies do not always start at the same position).
    seed:    an int (the same int always gives the same tokens) or a torch.Generator.
    bos:     start with the BOS token (id 0), as the model was trained.
    Symbols are drawn uniformly (with replacement) from the 62 one-character tokens.
    """
    for value, what in ((period, "period"), (batch, "batch"), (repeats, "repeats")):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{what} must be a positive integer, got {value!r}.")
    if isinstance(prefix, bool) or not isinstance(prefix, int) or prefix < 0:
        raise ValueError(f"prefix must be a whole number of tokens (0 or more), got {prefix!r}.")
    if isinstance(seed, torch.Generator):
        generator = seed
    elif isinstance(seed, int) and not isinstance(seed, bool):
        generator = torch.Generator().manual_seed(seed)
    else:
        raise TypeError(f"seed must be an int or a torch.Generator, got {type(seed).__name__}.")
    copy = torch.randint(FIRST_SYMBOL_ID, FIRST_SYMBOL_ID + N_SYMBOLS, (batch, period), generator=generator)
    parts = [copy] * repeats
    if prefix:
        parts.insert(0, torch.randint(FIRST_SYMBOL_ID, FIRST_SYMBOL_ID + N_SYMBOLS, (batch, prefix), generator=generator))
    if bos:
        parts.insert(0, torch.full((batch, 1), BOS_ID, dtype=torch.long))
    return torch.cat(parts, dim=1)


def to_text(ids: Any) -> str:
    """Token ids as the text the tokenizer reads back: "<bos> K q 7 K q 7"."""
    return " ".join(VOCAB[int(i)] for i in torch.as_tensor(ids).flatten())


def make_tokenizer() -> Any:
    """A word-level tokenizer over VOCAB: whitespace-separated symbols, BOS added in front."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.WordLevel({tok: i for i, tok in enumerate(VOCAB)}, unk_token=UNK))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    core.post_processor = processors.TemplateProcessing(single=f"{BOS} $A", special_tokens=[(BOS, BOS_ID)])
    return PreTrainedTokenizerFast(tokenizer_object=core, bos_token=BOS, unk_token=UNK, model_max_length=Settings.n_positions)


# ---- losses -----------------------------------------------------------------------------------


def half_losses(model: torch.nn.Module, ids: torch.Tensor, period: int) -> tuple[float, float]:
    """Mean next-token loss (nats) on the first copy and on the second copy of ``[BOS, x, x]``.

    First copy: the targets x1..xn (random, so chance: ln 62 = 4.127).
    Second copy: the targets x2..xn; its x1 is left out because nothing says where the copy
    starts (the model cannot know n), so that one token stays at chance.
    """
    if ids.ndim != 2 or ids.shape[1] != 1 + 2 * period:
        raise ValueError(f"ids must be [batch, 1 + 2 * period] = [*, {1 + 2 * period}] ([BOS, x, x]); got {tuple(ids.shape)}.")
    n = period
    logits = model(input_ids=ids).logits[:, :-1].float()  # position t predicts token t + 1
    losses = torch.nn.functional.cross_entropy(logits.transpose(1, 2), ids[:, 1:], reduction="none")  # [batch, 2n]
    # losses[:, t] is the loss on token t + 1: first copy is tokens 1..n, second copy n+1..2n
    first = losses[:, 0:n].mean()
    second = losses[:, n + 1 : 2 * n].mean() if n > 1 else torch.tensor(float("nan"))
    return float(first), float(second)


@torch.no_grad()
def evaluate(model: torch.nn.Module, period: int = Settings.eval_period, sequences: int = Settings.eval_sequences, seed: int = Settings.eval_seed) -> dict:
    """The half losses on fresh sequences (a seed never used in training)."""
    was_training = model.training
    model.eval()
    try:
        first, second = half_losses(model, repeated_tokens(period, sequences, seed=seed), period)
    finally:
        model.train(was_training)
    return {"period": period, "sequences": sequences, "seed": seed, "loss_first_copy": round(first, 4), "loss_second_copy": round(second, 4), "chance": round(math.log(N_SYMBOLS), 4)}


# ---- model and training -----------------------------------------------------------------------


def make_model(settings: Settings = Settings()) -> Any:
    """A fresh GPT-2 (attention + MLP blocks; GPT-2 has no attention-only variant), no dropout."""
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(
        vocab_size=VOCAB_SIZE,
        n_positions=settings.n_positions,
        n_embd=settings.n_embd,
        n_layer=settings.n_layer,
        n_head=settings.n_head,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        bos_token_id=BOS_ID,
        eos_token_id=BOS_ID,
        pad_token_id=None,
        initializer_range=settings.init_std,
    )
    model = GPT2LMHeadModel(config)
    if settings.sinusoidal_init:
        # Learned positions start random, and a previous-token head then has to be learned for
        # each position on its own: a long plateau. Sines and cosines (Vaswani et al.) make "one
        # position back" the same rotation everywhere, learned once. They are only the starting
        # point: the embeddings still train. Scaled to the size of the token embeddings.
        position = torch.arange(settings.n_positions, dtype=torch.float32)[:, None]
        frequency = 10000.0 ** (-torch.arange(0, settings.n_embd, 2, dtype=torch.float32) / settings.n_embd)
        table = torch.zeros(settings.n_positions, settings.n_embd)
        table[:, 0::2] = torch.sin(position * frequency)
        table[:, 1::2] = torch.cos(position * frequency)
        with torch.no_grad():
            model.transformer.wpe.weight.copy_(table * config.initializer_range * math.sqrt(2) * settings.position_scale)
    return model


def training_batch(settings: Settings, generator: torch.Generator) -> torch.Tensor:
    """One batch: a length L per batch, and per sequence an n and a random prefix filling it.

    ``[BOS, r1..rm, x1..xn, x1..xn, ...]``: with ``fill`` as many copies as fit after a prefix
    shorter than one copy, else two copies after m = L - 1 - 2n random symbols. Were the copies
    always the whole sequence, where the second copy starts would follow from the position
    alone, and the model learns position tricks instead of induction heads (measured: low loss,
    induction score near 0). With n and m varying inside every batch, the position says less.
    """
    # L log-uniform: short sequences are common. A head spreading its attention evenly already
    # puts 1/L on the right token, so the signal that starts the circuit is strong there.
    low, high = math.log(1 + 2 * settings.min_period), math.log(2 + 2 * settings.max_period)
    length = min(1 + 2 * settings.max_period, int(math.exp(low + float(torch.rand((), generator=generator)) * (high - low))))
    rows = []
    for _ in range(max(1, settings.tokens_per_batch // length)):
        n = int(torch.randint(settings.min_period, (length - 1) // 2 + 1, (1,), generator=generator))
        if settings.fill:
            copies = (length - 1) // n
            rows.append(repeated_tokens(n, repeats=copies, prefix=length - 1 - copies * n, seed=generator))
        else:
            rows.append(repeated_tokens(n, prefix=length - 1 - 2 * n, seed=generator))
    return torch.cat(rows)


def train(out_dir: str | os.PathLike | None = None, settings: Settings = Settings(), *, progress: bool = True) -> dict:
    """Train the induction model and save it (safetensors, config, tokenizer, training.json).

    out_dir: where to save; default data/induction-gpt2 in the repository. None of the
             folder's old files survive: it is written beside and swapped in at the end.
    Returns what training.json holds.
    """
    if 1 + 2 * settings.max_period > settings.n_positions or not 1 <= settings.min_period <= settings.max_period:
        raise ValueError(f"periods must satisfy 1 <= min_period <= max_period and 1 + 2 * max_period <= n_positions; got {settings}.")
    out = pathlib.Path(out_dir) if out_dir is not None else DATA_DIR / NAME  # DATA_DIR: models.py, where load_model looks
    threads = torch.get_num_threads()
    torch.set_num_threads(settings.threads)
    try:
        info = _train(settings, progress)
    finally:
        torch.set_num_threads(threads)
    model = info.pop("model")
    _save(model, out, info)
    return info


def _train(settings: Settings, progress: bool) -> dict:
    from tqdm.auto import tqdm

    torch.manual_seed(settings.seed)
    model = make_model(settings)
    model.train()
    data = torch.Generator().manual_seed(settings.seed)
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": settings.weight_decay}, {"params": no_decay, "weight_decay": 0.0}], lr=settings.learning_rate)
    warmup = max(1, settings.warmup_steps)
    # linear warm-up, constant (a high rate shortens the plateau before induction heads form),
    # then a linear decay to a tenth of the peak over the last steps
    decay_start = int(settings.decay_from * settings.steps)
    schedule = lambda s: min(1.0, (s + 1) / warmup) * (1.0 - 0.9 * max(0, s - decay_start) / max(1, settings.steps - decay_start))  # noqa: E731
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)

    history = []
    start = time.perf_counter()
    bar = tqdm(range(settings.steps), desc=f"training {NAME}", disable=not progress, unit="step")
    for step in bar:
        ids = training_batch(settings, data)
        logits = model(input_ids=ids).logits[:, :-1]
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, VOCAB_SIZE), ids[:, 1:].reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        if step % 100 == 0 or step == settings.steps - 1:
            ev = evaluate(model, period=settings.eval_period, sequences=32)
            history.append({"step": step, "loss": round(float(loss.detach()), 4), "loss_first_copy": ev["loss_first_copy"], "loss_second_copy": ev["loss_second_copy"]})
            bar.set_postfix(first=f"{ev['loss_first_copy']:.2f}", second=f"{ev['loss_second_copy']:.3f}")
    seconds = time.perf_counter() - start

    model.eval()
    final = evaluate(model, period=settings.eval_period, sequences=settings.eval_sequences, seed=settings.eval_seed)
    info = {
        "name": NAME,
        "what": "2-layer GPT-2 trained on [BOS, x1..xn, x1..xn]: n random symbols, repeated; it learns induction heads",
        "recreate": "python -m attnwidgets.induction train",
        "settings": asdict(settings),
        "data": {
            "vocab": list(VOCAB),
            "bos_id": BOS_ID,
            "symbols": f"ids {FIRST_SYMBOL_ID}..{FIRST_SYMBOL_ID + N_SYMBOLS - 1}, uniform, with replacement",
            "training_sequence": "[BOS, r1..rm, x1..xn, x1..xn]: one length L per batch, uniform in [1 + 2 min_period, 1 + 2 max_period]; per sequence n uniform in [min_period, (L - 1) // 2] and m = L - 1 - 2n random symbols before the copies",
            "batch": "tokens_per_batch // L sequences",
            "measured_on": "[BOS, x1..xn, x1..xn] with n = eval_period, no prefix, seed eval_seed (never a training seed)",
        },
        "final": final,
        "history": history,
        "seconds": round(seconds, 1),
        "parameters": sum(p.numel() for p in model.parameters()),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "machine": platform.machine(),
        "model": model,
    }
    return info


def _save(model: Any, out: pathlib.Path, info: dict) -> None:
    import shutil

    partial = out.with_name(out.name + ".partial")
    if partial.exists():
        shutil.rmtree(partial)
    partial.mkdir(parents=True)
    model.config._name_or_path = NAME
    model.save_pretrained(partial, safe_serialization=True)
    make_tokenizer().save_pretrained(partial)
    (partial / "training.json").write_text(json.dumps(info, indent=1) + "\n")
    if out.exists():
        shutil.rmtree(out)
    partial.rename(out)  # a half-written folder never looks complete


# ---- command line -----------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m attnwidgets.induction", description="Train the induction-head GPT-2 and save it to data/induction-gpt2/.")
    sub = parser.add_subparsers(dest="command")
    t = sub.add_parser("train", help="train and save (3500 steps: 3-7 minutes on 2 shared CPU cores)")
    t.add_argument("--out", default=None, help=f"output folder (default: {DATA_DIR / NAME})")
    t.add_argument("--steps", type=int, default=Settings.steps)
    t.add_argument("--seed", type=int, default=Settings.seed)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.command != "train":
        parser.print_help(sys.stderr)
        return 2
    info = train(args.out, Settings(seed=args.seed, steps=args.steps))
    final = info["final"]
    print(f"{NAME}: {info['seconds']} s, loss first copy {final['loss_first_copy']} (chance {final['chance']}), second copy {final['loss_second_copy']}; saved to {args.out or DATA_DIR / NAME}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
