"""Notebook 03: Transformer self-attention from scratch.

Read top to bottom, like nanoGPT's model.py: masks, scaled dot-product attention, multi-head
self-attention (the same weights give the same numbers as torch's), positional encodings, a
tiled attention with an online softmax (the idea behind FlashAttention), then the measuring
tools the notebook and ``benchmarks/attention_scaling.py`` use to time attention against a GRU.

Conventions (torch's SDPA conventions, so the two can be compared number for number):

- a boolean mask says where a query MAY attend (True = keep). torch.nn.MultiheadAttention uses
  the opposite convention (True = block) for both its masks; ``MultiHeadSelfAttention.from_torch``
  and the tests translate;
- "causal" is top-left aligned: query i sees keys 0..i (``torch.ones(T, S).tril()``);
- a query whose keys are ALL masked has nothing to average. A plain softmax over only -inf
  scores gives 0/0 = NaN, which then spreads through every later layer. We return a zero
  weight row and so a zero output for that query, as torch's scaled_dot_product_attention
  does (torch.nn.MultiheadAttention returns NaN there: the tests show both).

Shapes: B batch, T queries, S keys, C model width, nh heads, hs = C // nh head size.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from . import exercises

NEG_INF = float("-inf")


# ---- masks ------------------------------------------------------------------------------------


def causal_mask(n_query: int, n_key: int | None = None) -> torch.Tensor:
    """(T, S) bool, True where query i may see key j: j <= i (no peeking at later tokens)."""
    n_key = n_query if n_key is None else n_key
    return torch.ones(n_query, n_key, dtype=torch.bool).tril()


def padding_mask(lengths: Sequence[int], n: int) -> torch.Tensor:
    """(B, n) bool, True on the real tokens of each sequence, False on the padding after them."""
    lengths = torch.as_tensor(lengths)
    if lengths.ndim != 1 or (lengths < 0).any() or (lengths > n).any():
        raise ValueError(f"lengths must be one length per sequence, each between 0 and {n}; got {lengths.tolist()}.")
    return torch.arange(n)[None, :] < lengths[:, None]


def _check_mask(mask: Any) -> torch.Tensor:
    if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
        raise TypeError(f"mask must be a bool tensor (True = may attend), got {getattr(mask, 'dtype', type(mask).__name__)}. "
                        "Build one with causal_mask(n) or padding_mask(lengths, n).")
    return mask


# ---- scaled dot-product attention ---------------------------------------------------------------


def _check_qkv(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> None:
    for name, x in (("q", q), ("k", k), ("v", v)):
        if not isinstance(x, torch.Tensor) or x.ndim < 2:
            raise TypeError(f"{name} must be a tensor of shape (..., positions, features); got {getattr(x, 'shape', type(x).__name__)}.")
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"queries and keys must have the same feature size to be compared; got q {tuple(q.shape)} and k {tuple(k.shape)}.")
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(f"keys and values come in pairs: k has {k.shape[-2]} positions, v has {v.shape[-2]}.")


def attention_weights(q: torch.Tensor, k: torch.Tensor, mask: torch.Tensor | None = None, causal: bool = False) -> torch.Tensor:
    """softmax(q k^T / sqrt(hs)) over the keys, masked. q (..., T, hs), k (..., S, hs) -> (..., T, S)."""
    _check_qkv(q, k, k)
    scores = q @ k.transpose(-2, -1) / math.sqrt(k.size(-1))  # (..., T, S); sqrt keeps their spread ~1 whatever hs is
    keep = None if mask is None else _check_mask(mask)
    if causal:
        future_hidden = causal_mask(q.size(-2), k.size(-2)).to(q.device)
        keep = future_hidden if keep is None else keep & future_hidden
    if keep is None:
        return torch.softmax(scores, dim=-1)
    scores = scores.masked_fill(~keep, NEG_INF)  # before the softmax: a blocked key gets exactly 0 and the rest still sum to 1
    att = torch.softmax(scores, dim=-1)
    # a query that may see no key: softmax over only -inf is 0/0 = NaN. Make it a zero row (see the module doc).
    return att.masked_fill(~keep.any(dim=-1, keepdim=True), 0.0)


def scaled_dot_product_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None,
                                 causal: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """The Transformer's attention: (output, weights). q (..., T, hs), k and v (..., S, hs*).

    Equals ``torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal)``
    (the tests check it), but also returns the (..., T, S) weights so they can be looked at.
    """
    _check_qkv(q, k, v)
    att = attention_weights(q, k, mask, causal)  # (..., T, S)
    return att @ v, att  # (..., T, hs): each query's weighted average of the values


# ---- multi-head self-attention -------------------------------------------------------------------


IMPLEMENTATIONS = ("naive", "sdpa", "tiled")


class MultiHeadSelfAttention(nn.Module):
    """Multi-head self-attention, nanoGPT style: one Linear makes q, k, v for every head at once.

    impl: "naive" (ours, materialises the (T, T) weights and returns them), "sdpa" (torch's
    fused kernel, no weights), "tiled" (ours, online softmax over blocks, no weights).
    forward returns (output, weights or None), the (output, weights) convention of
    torch.nn.MultiheadAttention, so ``aw.capture_modules`` can record the weights.
    """

    def __init__(self, d_model: int, n_head: int, bias: bool = True, impl: str = "naive", block: int = 128) -> None:
        super().__init__()
        if d_model % n_head:
            raise ValueError(f"d_model ({d_model}) must be a multiple of n_head ({n_head}): every head gets d_model // n_head features.")
        if impl not in IMPLEMENTATIONS:
            raise ValueError(f"impl must be one of {IMPLEMENTATIONS}; got {impl!r}.")
        self.d_model, self.n_head, self.impl, self.block = d_model, n_head, impl, block
        self.qkv = nn.Linear(d_model, 3 * d_model, bias=bias)  # q, k, v projections for all heads, stacked
        self.proj = nn.Linear(d_model, d_model, bias=bias)  # mixes the heads' outputs back together

    def forward(self, x: torch.Tensor, padding: torch.Tensor | None = None, mask: torch.Tensor | None = None,
                causal: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        """x (B, T, C); padding (B, T) bool, True on real tokens; mask bool, broadcastable to (B, nh, T, T)."""
        if x.ndim != 3 or x.size(-1) != self.d_model:
            raise ValueError(f"x must be (batch, tokens, {self.d_model}); got {tuple(x.shape)}.")
        B, T, C = x.size()
        nh, hs = self.n_head, C // self.n_head
        q, k, v = self.qkv(x).split(C, dim=2)  # 3 x (B, T, C)
        q = q.view(B, T, nh, hs).transpose(1, 2)  # (B, nh, T, hs)
        k = k.view(B, T, nh, hs).transpose(1, 2)  # (B, nh, T, hs)
        v = v.view(B, T, nh, hs).transpose(1, 2)  # (B, nh, T, hs)

        keep = None if mask is None else _check_mask(mask)
        if padding is not None:
            padding = _check_mask(padding)
            if padding.shape != (B, T):
                raise ValueError(f"padding must be (batch, tokens) = {(B, T)}, True on real tokens; got {tuple(padding.shape)}.")
            no_pad_keys = padding[:, None, None, :]  # (B, 1, 1, T): every query, every head, hides the padded keys
            keep = no_pad_keys if keep is None else keep & no_pad_keys

        att = None
        if self.impl == "naive":
            y, att = scaled_dot_product_attention(q, k, v, keep, causal)  # (B, nh, T, hs), (B, nh, T, T)
        elif self.impl == "sdpa":
            if keep is not None and causal:  # torch takes either a mask or is_causal, not both
                keep, causal = keep & causal_mask(T).to(keep.device), False
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=keep, is_causal=causal)
        else:
            y = tiled_attention(q, k, v, keep, causal, block=self.block)
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # heads side by side again: (B, T, C)
        return self.proj(y), att

    @classmethod
    def from_torch(cls, mha: nn.MultiheadAttention, impl: str = "naive") -> "MultiHeadSelfAttention":
        """Ours, with the weights of a torch.nn.MultiheadAttention (its in_proj is our qkv, stacked the same way)."""
        if not isinstance(mha, nn.MultiheadAttention):
            raise TypeError(f"from_torch takes a torch.nn.MultiheadAttention, got {type(mha).__name__}.")
        if not mha._qkv_same_embed_dim or mha.bias_k is not None or mha.add_zero_attn:
            raise ValueError("from_torch copies the plain layout only: kdim = vdim = embed_dim, no add_bias_kv, no add_zero_attn.")
        ours = cls(mha.embed_dim, mha.num_heads, bias=mha.in_proj_bias is not None, impl=impl)
        with torch.no_grad():
            ours.qkv.weight.copy_(mha.in_proj_weight)
            ours.proj.weight.copy_(mha.out_proj.weight)
            if mha.in_proj_bias is not None:
                ours.qkv.bias.copy_(mha.in_proj_bias)
                ours.proj.bias.copy_(mha.out_proj.bias)
        return ours

    @classmethod
    def from_bert(cls, attention: nn.Module, n_head: int, impl: str = "naive") -> "MultiHeadSelfAttention":
        """Ours, with the weights of a Hugging Face BertAttention (separate query/key/value Linears)."""
        self_att, dense = attention.self, attention.output.dense
        d_model = dense.in_features
        ours = cls(d_model, n_head, impl=impl)
        with torch.no_grad():
            ours.qkv.weight.copy_(torch.cat([self_att.query.weight, self_att.key.weight, self_att.value.weight]))
            ours.qkv.bias.copy_(torch.cat([self_att.query.bias, self_att.key.bias, self_att.value.bias]))
            ours.proj.weight.copy_(dense.weight)
            ours.proj.bias.copy_(dense.bias)
        return ours.eval()


# ---- positional encodings ------------------------------------------------------------------------


def sinusoidal_positions(n: int, d: int, base: float = 10000.0) -> torch.Tensor:
    """(n, d): position p, pair i gets sin and cos of p / base^(2i/d) (Vaswani et al. 2017).

    Low pairs turn fast, high pairs slowly, like the hands of a clock: every position gets a
    different pattern, and a fixed offset is the same rotation at every position.
    """
    if d % 2:
        raise ValueError(f"d must be even (sin and cos come in pairs); got {d}.")
    pos = torch.arange(n, dtype=torch.float32)[:, None]  # (n, 1)
    freq = base ** (-torch.arange(0, d, 2, dtype=torch.float32) / d)  # (d/2,)
    pe = torch.zeros(n, d)
    pe[:, 0::2] = torch.sin(pos * freq)
    pe[:, 1::2] = torch.cos(pos * freq)
    return pe


class LearnedPositions(nn.Module):
    """One trained vector per position (BERT, GPT-2): an embedding table indexed by position."""

    def __init__(self, max_len: int, d: int) -> None:
        super().__init__()
        self.table = nn.Embedding(max_len, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, T, d) -> x plus the vectors of positions 0..T-1."""
        T = x.size(1)
        if T > self.table.num_embeddings:
            raise ValueError(f"{T} tokens, but only {self.table.num_embeddings} positions were learned: a learned table cannot go past its length.")
        return x + self.table(torch.arange(T, device=x.device))


def position_similarity(pe: torch.Tensor) -> torch.Tensor:
    """(n, n) cosine similarity between the position vectors: how alike two positions look."""
    unit = F.normalize(pe.float(), dim=-1)
    return unit @ unit.T


def permutation_gap(layer: nn.Module, x: torch.Tensor, perm: torch.Tensor, positions: torch.Tensor | None = None) -> float:
    """max |layer(shuffled input) - shuffled layer(input)|: 0 (to rounding) means shuffling the words
    only shuffles the outputs. positions (T, C) are added after the shuffle, as a model would."""
    pe = 0 if positions is None else positions
    with torch.no_grad():
        y, _ = layer(x + pe)
        y_shuffled, _ = layer(x[:, perm] + pe)
    return float((y_shuffled - y[:, perm]).abs().max())


# ---- a real sentence through our layer, with MiniLM's weights ----------------------------------------


def load_minilm() -> tuple[Any, Any]:
    """aw.load_model("minilm") without the weight-loading progress bar in the notebook."""
    from transformers.utils import logging as hf_logging

    from ..models import load_model

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        return load_model("minilm")
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


def bert_inputs(model: Any, tokenizer: Any, text: str, pad: int = 0, positions: bool = True) -> tuple[torch.Tensor, list[str], torch.Tensor]:
    """What BERT's first layer reads: (x (1, T, C), tokens, padding (1, T) True on real tokens).

    pad adds that many [PAD] tokens at the end (as in a batch of sentences of different lengths).
    positions=False leaves BERT's learned position vectors out (word + segment vectors only).
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError("text must be a non-empty sentence.")
    enc = tokenizer(text, return_tensors="pt")
    n = enc["input_ids"].shape[1]
    if pad:
        enc = tokenizer(text, return_tensors="pt", padding="max_length", max_length=n + pad)
    ids, types = enc["input_ids"], enc["token_type_ids"]
    emb = model.embeddings
    with torch.no_grad():
        if positions:
            x = emb(input_ids=ids, token_type_ids=types)
        else:
            x = emb.LayerNorm(emb.word_embeddings(ids) + emb.token_type_embeddings(types))
    return x, tokenizer.convert_ids_to_tokens(ids[0]), enc["attention_mask"].bool()


MASKS = ("none", "padding", "causal", "padding + causal")


def mask_records(model: Any, tokenizer: Any, text: str, pad: int = 3) -> dict[str, Any]:
    """One AttentionRecord per mask setting, captured from our layer holding MiniLM's layer-0 weights.

    The [PAD] tokens are not flagged as padding in the records, so the views draw them: with no
    mask they soak up attention, with the padding mask their columns are zero.
    """
    from ..capture import capture_modules

    x, tokens, real = bert_inputs(model, tokenizer, text, pad=pad)
    layer = MultiHeadSelfAttention.from_bert(model.encoder.layer[0].attention, model.config.num_attention_heads)
    records = {}
    for name in MASKS:
        kwargs = {"padding": real if "padding" in name else None, "causal": "causal" in name}
        rec = capture_modules(layer, (x,), modules=[layer], query_tokens=tokens, kind="causal" if kwargs["causal"] else "self", **kwargs)
        records[name] = rec
    return records


class MaskExplorer:
    """A Heatmap and a HeadView of one layer, with a mask toggle and a head menu (ipywidgets).

    ``explorer.widget`` is what the notebook shows; ``explorer.mask`` / ``explorer.head`` are the
    controls' values (set them from code too). Switching the mask shows that mask's record in the
    same views (``view.show``), keeping the head and the pinned token.
    """

    def __init__(self, records: dict[str, Any], mask: str = "none", head: int = 0) -> None:
        import ipywidgets as widgets

        from ..views import HeadView, Heatmap, link_views

        self.records = records
        first = records[mask]
        self.heatmap = Heatmap(first, head=head, size=380, title=f"mask: {mask}")
        self.headview = HeadView(first, heads=[head], title=f"mask: {mask}")
        link_views(self.heatmap, self.headview, traits=("aggregate", "pinned"))
        options = [(f"head {h}", h) for h in range(first.n_heads)] + [("mean of heads", "mean")]
        self.mask_control = widgets.ToggleButtons(options=list(records), value=mask, description="mask")
        self.head_control = widgets.Dropdown(options=options, value=head, description="head")
        self.note = widgets.HTML()
        self.mask_control.observe(lambda change: self._show(), "value")
        self.head_control.observe(lambda change: self._show(), "value")
        self.widget = widgets.VBox([widgets.HBox([self.mask_control, self.head_control]), widgets.HBox([self.heatmap, self.headview]), self.note])
        self._show()

    @property
    def mask(self) -> str:
        return self.mask_control.value

    @mask.setter
    def mask(self, value: str) -> None:
        self.mask_control.value = value

    @property
    def head(self) -> int | str:
        return self.head_control.value

    @head.setter
    def head(self, value: int | str) -> None:
        self.head_control.value = value

    def _show(self) -> None:
        rec = self.records[self.mask]
        for view in (self.heatmap, self.headview):
            view.show(rec)
            view.title = f"mask: {self.mask}"
        if self.head == "mean":
            self.heatmap.aggregate = "mean"
        else:
            self.heatmap.aggregate = ""
            self.heatmap.head = self.head
            self.headview.heads = [self.head]
        on_pads, future = self.shares()
        self.note.value = (f"<b>{self.mask}</b>, {'mean of heads' if self.head == 'mean' else f'head {self.head}'}: a real (not [PAD]) "
                           f"query puts on average <b>{on_pads:.1%}</b> of its attention on the [PAD] tokens and <b>{future:.1%}</b> on later tokens.")

    def shares(self) -> tuple[float, float]:
        """(share of attention on [PAD] keys, share on later keys), averaged over the real queries shown."""
        rec = self.records[self.mask]
        pads = np.array([tok == "[PAD]" for tok in rec.key_tokens])
        shown = (rec.matrix(0, aggregate="mean") if self.head == "mean" else rec.matrix(0, int(self.head)))[~pads]  # real queries only
        return float(shown[:, pads].sum(axis=1).mean()), float(np.triu(shown, k=1).sum(axis=1).mean())


# ---- tiled attention with an online softmax (FlashAttention's idea) --------------------------------


def online_softmax_update(m: torch.Tensor, l: torch.Tensor, acc: torch.Tensor, scores: torch.Tensor,
                          values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Fold one block of keys into running softmax statistics. Shapes: m, l (..., T); acc (..., T, hs);
    scores (..., T, Sb) for this block's keys; values (..., Sb, hs).

    m is the largest score seen so far, l the sum of exp(score - m), acc the sum of
    exp(score - m) * value. When a block brings a larger maximum, the old sums were taken against
    a smaller m: multiply them by exp(m_old - m_new) and they are as if taken against m_new.
    After the last block, acc / l is softmax(scores) @ values, without ever holding all scores.
    """
    m_new = torch.maximum(m, scores.amax(dim=-1))  # (..., T)
    # rows that have seen only masked (-inf) scores keep m = -inf; shift them by 0 so exp gives 0, not NaN
    shift = m_new.masked_fill(m_new == NEG_INF, 0.0)
    p = torch.exp(scores - shift[..., None])  # (..., T, Sb)
    rescale = torch.exp(m - shift)  # (..., T): how much the old sums shrink against the new maximum
    l = l * rescale + p.sum(dim=-1)
    acc = acc * rescale[..., None] + p @ values  # (..., T, hs)
    return m_new, l, acc


def tiled_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None,
                    causal: bool = False, block: int = 128) -> torch.Tensor:
    """Scaled dot-product attention one (block x block) tile of scores at a time.

    Same result as scaled_dot_product_attention (within float rounding), but the largest
    temporary is (..., block, block) instead of (..., T, S): memory grows with T, not T^2.
    """
    _check_qkv(q, k, v)
    if block < 1:
        raise ValueError(f"block must be at least 1; got {block}.")
    T, S, hs = q.size(-2), k.size(-2), q.size(-1)
    if mask is not None:
        mask = _check_mask(mask)
        mask = mask.expand(*mask.shape[:-2], T, S)  # a view: broadcast dims can now be sliced by tile
    lead = torch.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    out = q.new_empty(*lead, T, v.size(-1))
    for t0 in range(0, T, block):
        t1 = min(t0 + block, T)
        qb = q[..., t0:t1, :] / math.sqrt(hs)  # (..., bq, hs)
        m = q.new_full((*lead, t1 - t0), NEG_INF)  # running max per query
        l = q.new_zeros((*lead, t1 - t0))  # running sum of exp
        acc = q.new_zeros((*lead, t1 - t0, v.size(-1)))  # running weighted sum of values
        for s0 in range(0, S, block):
            if causal and s0 > t1 - 1:
                break  # this key block (and every later one) lies in the future of every query here
            s1 = min(s0 + block, S)
            scores = qb @ k[..., s0:s1, :].transpose(-2, -1)  # (..., bq, bk): the only scores held
            keep = None if mask is None else mask[..., t0:t1, s0:s1]
            if causal and s1 - 1 > t0:  # the tile crosses the diagonal
                tile = torch.arange(t0, t1)[:, None] >= torch.arange(s0, s1)[None, :]
                keep = tile if keep is None else keep & tile
            if keep is not None:
                scores = scores.masked_fill(~keep, NEG_INF)
            m, l, acc = online_softmax_update(m, l, acc, scores, v[..., s0:s1, :])
        # l == 0: the query could see no key at all; a zero output, as in scaled_dot_product_attention
        out[..., t0:t1, :] = torch.where(l[..., None] > 0, acc / l.clamp_min(1e-30)[..., None], 0.0)
    return out


# ---- measuring: time and peak memory ------------------------------------------------------------


@contextlib.contextmanager
def _quiet_stderr_fd():
    """Silence file descriptor 2: torch's profiler (kineto) prints start/stop lines there, which
    Jupyter would show under the cell."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def peak_memory(fn: Callable[[], Any]) -> int:
    """Peak bytes torch allocated on the CPU while fn() ran, above what was allocated before it.

    Method: torch's profiler with profile_memory=True records every allocation and free of torch's
    CPU allocator (inside fused kernels and nn.GRU's loop too) as an event with its size; the
    running sum of those events in time order peaks at the answer. (tracemalloc cannot see these
    allocations: torch does not allocate through Python.)
    """
    peak = _profiled_peak(fn)
    _return_freed_memory()
    return peak


def _profiled_peak(fn: Callable[[], Any]) -> int:
    from torch.profiler import ProfilerActivity, profile

    with torch.no_grad(), _quiet_stderr_fd(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    events = [(e.start_ns(), e.nbytes()) for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
    # drop the recorded trace now: the profiler object sits in reference cycles, and a full garbage
    # collection to free it costs ~0.5 s with transformers loaded
    prof.profiler.kineto_results = None
    prof.profiler = None
    events.sort(key=lambda e: e[0])  # stable: events at the same instant keep the order they were recorded in
    live = peak = 0
    for _, nbytes in events:
        live += nbytes
        peak = max(peak, live)
    return peak


def _return_freed_memory() -> None:
    """Hand freed heap pages back to the OS (glibc keeps them): the profiler's bookkeeping of a
    2048-step GRU is hundreds of MB of small blocks, which would otherwise stay in the kernel."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc (macOS, Windows): nothing to do
        pass


def best_time(fn: Callable[[], Any], repeats: int = 3) -> float:
    """Seconds of the fastest of `repeats` runs of fn() after one warm-up (the least disturbed by other jobs)."""
    with torch.no_grad():
        fn()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
    return min(times)


@contextlib.contextmanager
def torch_threads(n: int):
    """Run torch on n threads inside the block (the GRU cannot use more than one core well anyway)."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def flops(n: int, d: int, model: str) -> float:
    """Multiply-adds x 2 of one forward pass over n tokens of width d, batch 1.

    attention: q, k, v and output projections 4 * 2 n d^2, plus q k^T and weights @ v 2 * 2 n^2 d.
    GRU: three gates, each a d x d matrix on the input and one on the hidden state: 12 n d^2.
    Equal at n = d: past that, attention does more arithmetic than the GRU.
    """
    if model == "gru":
        return 12.0 * n * d * d
    return 8.0 * n * d * d + 4.0 * n * n * d


MODELS = {
    "attention (ours, naive)": lambda d, h: MultiHeadSelfAttention(d, h, impl="naive"),
    "attention (torch SDPA)": lambda d, h: MultiHeadSelfAttention(d, h, impl="sdpa"),
    "GRU": lambda d, h: nn.GRU(d, d, batch_first=True),
}


@dataclass
class Scaling:
    """Time and peak memory of each model in MODELS at each sequence length (batch 1)."""

    lengths: list[int]
    d_model: int
    n_head: int
    threads: int
    repeats: int
    seconds: dict[str, list[float]] = field(default_factory=dict)
    peak_bytes: dict[str, list[int]] = field(default_factory=dict)

    def crossover(self, model: str, other: str = "GRU", what: str = "seconds") -> float | None:
        """The length where `model` starts to cost at least `other` (log-interpolated between the
        measured lengths); the first length if it already does there; None if never in the sweep."""
        table = self.seconds if what == "seconds" else self.peak_bytes
        return crossover(self.lengths, table[model], table[other])

    def about_equal(self, model: str, other: str = "GRU", what: str = "seconds", within: float = 0.05) -> bool:
        """True when the two stay within `within` (relative) of each other at every length."""
        table = self.seconds if what == "seconds" else self.peak_bytes
        return all(abs(a / b - 1) <= within for a, b in zip(table[model], table[other]))

    def ratio(self, model: str, other: str = "GRU", what: str = "seconds") -> list[float]:
        """model / other at each length."""
        table = self.seconds if what == "seconds" else self.peak_bytes
        return [a / b for a, b in zip(table[model], table[other])]

    def rows(self) -> list[dict]:
        return [{"n": n, **{f"{m} ms": 1e3 * self.seconds[m][i] for m in self.seconds},
                 **{f"{m} MB": self.peak_bytes[m][i] / 1e6 for m in self.peak_bytes}} for i, n in enumerate(self.lengths)]

    def table(self) -> str:
        names = list(self.seconds)
        head = f"{'n':>6} | " + " | ".join(f"{m[:24]:>24}" for m in names)
        lines = [f"time, ms (best of {self.repeats}; {self.threads} thread{'s' * (self.threads > 1)}; d_model {self.d_model}, {self.n_head} heads, batch 1)", head]
        lines += [f"{n:>6} | " + " | ".join(f"{1e3 * self.seconds[m][i]:>24.2f}" for m in names) for i, n in enumerate(self.lengths)]
        lines += ["", "peak memory, MB (torch CPU allocator, profiler)", head]
        lines += [f"{n:>6} | " + " | ".join(f"{self.peak_bytes[m][i] / 1e6:>24.2f}" for m in names) for i, n in enumerate(self.lengths)]
        return "\n".join(lines)

    def summary(self) -> str:
        """The crossover lengths, in words."""
        out = [f"FLOP count: attention does more arithmetic than the GRU from n = d_model = {self.d_model}."]
        for model in self.seconds:
            if model == "GRU":
                continue
            for what, label in (("seconds", "time"), ("peak_bytes", "peak memory")):
                ratios = self.ratio(model, what=what)
                span = f"(attention / GRU: {ratios[0]:.2g}x at n = {self.lengths[0]}, {ratios[-1]:.2g}x at n = {self.lengths[-1]})"
                if self.about_equal(model, what=what):
                    out.append(f"{model}: {label} about equal to the GRU's at every length, within 5% {span}")
                else:
                    out.append(f"{model}: {label} {describe_crossover(self.lengths, self.crossover(model, what=what))} {span}")
        return "\n".join(out)


def crossover(lengths: Sequence[int], a: Sequence[float], b: Sequence[float]) -> float | None:
    """Where a first reaches b, interpolated in log n between the two measured lengths around it."""
    ratio = [math.log(x / y) for x, y in zip(a, b)]  # >= 0 where a costs at least b
    if ratio[0] >= 0:
        return float(lengths[0])
    for i in range(1, len(lengths)):
        if ratio[i] >= 0:
            lo, hi = math.log(lengths[i - 1]), math.log(lengths[i])
            frac = -ratio[i - 1] / (ratio[i] - ratio[i - 1])
            return float(math.exp(lo + frac * (hi - lo)))
    return None


def describe_crossover(lengths: Sequence[int], x: float | None, other: str = "the GRU's") -> str:
    if x is None:
        return f"stays below {other} up to n = {lengths[-1]}"
    if x <= lengths[0]:
        return f"is above {other} already at the shortest length measured, n = {lengths[0]}"
    below = max(n for n in lengths if n < x)
    above = min(n for n in lengths if n >= x)
    return f"passes {other} at n ≈ {x:.0f} (between the measured {below} and {above})"


def scaling_sweep(lengths: Sequence[int], d_model: int = 256, n_head: int = 4, repeats: int = 3, threads: int = 1,
                  models: Sequence[str] | None = None, seed: int = 0, progress: bool = False) -> Scaling:
    """Time (best of `repeats`) and peak memory of one forward pass at each length, batch 1, no grad."""
    lengths = sorted(int(n) for n in lengths)
    if not lengths or lengths[0] < 1:
        raise ValueError(f"lengths must be positive token counts; got {lengths}.")
    names = list(MODELS) if models is None else list(models)
    torch.manual_seed(seed)
    nets = {name: MODELS[name](d_model, n_head).eval() for name in names}
    result = Scaling(lengths, d_model, n_head, threads, repeats, {m: [] for m in names}, {m: [] for m in names})
    with torch_threads(threads), torch.no_grad():
        for n in lengths:
            x = torch.randn(1, n, d_model)
            for name, net in nets.items():
                call = lambda net=net: net(x)  # noqa: E731  (GRU and attention both take (B, T, C))
                result.seconds[name].append(best_time(call, repeats))
                result.peak_bytes[name].append(peak_memory(call))
            if progress:
                print(f"n = {n}: " + ", ".join(f"{m} {1e3 * result.seconds[m][-1]:.1f} ms" for m in names), flush=True)
    return result


def tiled_memory_sweep(lengths: Sequence[int], n_head: int = 4, head_size: int = 64, block: int = 128,
                       causal: bool = False, seed: int = 0) -> list[dict]:
    """Peak memory (and time of one run) of naive vs tiled attention on (1, n_head, n, head_size) inputs,
    with the largest difference between their outputs."""
    torch.manual_seed(seed)
    rows = []
    with torch_threads(1), torch.no_grad():
        for n in lengths:
            q, k, v = (torch.randn(1, n_head, n, head_size) for _ in range(3))
            naive = lambda: scaled_dot_product_attention(q, k, v, causal=causal)[0]  # noqa: E731
            tiled = lambda: tiled_attention(q, k, v, causal=causal, block=block)  # noqa: E731
            row = {"n": n, "naive_bytes": peak_memory(naive), "tiled_bytes": peak_memory(tiled)}
            start = time.perf_counter()
            y_naive = naive()
            row["naive_s"] = time.perf_counter() - start
            start = time.perf_counter()
            y_tiled = tiled()
            row["tiled_s"] = time.perf_counter() - start
            row["max_diff"] = float((y_naive - y_tiled).abs().max())
            row["scores_bytes"] = n_head * n * n * 4  # one float32 (n x n) matrix per head
            rows.append(row)
            del y_naive, y_tiled
    return rows


def tiled_table(rows: list[dict], block: int = 128) -> str:
    lines = [f"{'n':>6} | {'naive MB':>9} | {'tiled MB':>9} | {'naive / tiled':>13} | {'one n x n per head MB':>21} | {'naive ms':>8} | {'tiled ms':>8} | max |diff|"]
    for r in rows:
        lines.append(f"{r['n']:>6} | {r['naive_bytes'] / 1e6:>9.2f} | {r['tiled_bytes'] / 1e6:>9.2f} | {r['naive_bytes'] / r['tiled_bytes']:>12.1f}x | "
                     f"{r['scores_bytes'] / 1e6:>21.2f} | {1e3 * r['naive_s']:>8.1f} | {1e3 * r['tiled_s']:>8.1f} | {r['max_diff']:.1e}")
    return "\n".join(lines)


# ---- pictures --------------------------------------------------------------------------------------


def _figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def plot_positions(sinusoidal: torch.Tensor, learned: torch.Tensor, learned_name: str = "MiniLM (BERT), learned") -> Any:
    """The two kinds of position vectors (position x feature) and how alike positions are (cosine)."""
    fig = _figure(11, 7.5)
    axes = fig.subplots(2, 2)
    for col, (pe, name) in enumerate(((sinusoidal, "sinusoidal"), (learned, learned_name))):
        pe = pe.detach().float()
        lim = float(pe.abs().flatten().quantile(0.99))  # a few outlier features would wash out the rest
        im = axes[0, col].imshow(pe.numpy(), aspect="auto", cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest")
        axes[0, col].set(title=f"{name}: {pe.shape[0]} positions x {pe.shape[1]} features", xlabel="feature", ylabel="position")
        fig.colorbar(im, ax=axes[0, col], shrink=0.8)
        im = axes[1, col].imshow(position_similarity(pe).numpy(), cmap="viridis", vmin=-1, vmax=1, interpolation="nearest")
        axes[1, col].set(title=f"{name}: cosine similarity of positions", xlabel="position", ylabel="position")
        fig.colorbar(im, ax=axes[1, col], shrink=0.8)
    return fig


def plot_scaling(result: Scaling) -> Any:
    """Time and peak memory against length, log-log, crossovers with the GRU marked."""
    fig = _figure(11, 4.2)
    axes = fig.subplots(1, 2)
    colors = {"attention (ours, naive)": "#0072B2", "attention (torch SDPA)": "#009E73", "GRU": "#D55E00"}
    for ax, table, what, unit, scale in ((axes[0], result.seconds, "seconds", "time of one forward pass, ms", 1e3),
                                         (axes[1], result.peak_bytes, "peak_bytes", "peak memory, MB", 1e-6)):
        for name, values in table.items():
            style = dict(ls="--", marker="s", mfc="none", ms=8) if name == "GRU" else dict(ls="-", marker="o")
            ax.plot(result.lengths, [v * scale for v in values], label=name, color=colors.get(name), **style)
        for name in table:
            if name == "GRU":
                continue
            x = result.crossover(name, what=what)
            if x is not None and x > result.lengths[0] and not result.about_equal(name, what=what):
                ax.axvline(x, color=colors.get(name), ls=":", lw=1)
                ax.text(x, 0.03, f" crosses the GRU at n ≈ {x:.0f}", transform=ax.get_xaxis_transform(), color=colors.get(name), fontsize=8, rotation=90, va="bottom")
        ax.set(xscale="log", yscale="log", xlabel="sequence length n (tokens)", ylabel=unit)
        ax.set_xticks(result.lengths, [str(n) for n in result.lengths])
        ax.set_xticks([], minor=True)
        ax.grid(True, which="major", alpha=0.3)
    axes[0].set_title(f"time (best of {result.repeats}, {result.threads} thread, d_model {result.d_model}, batch 1)")
    hidden = [m for m in result.peak_bytes if m != "GRU" and result.about_equal(m, what="peak_bytes")]
    axes[1].set_title("peak memory (torch allocator, profiler)" + (f"\n{', '.join(hidden)}: under the GRU's line" if hidden else ""))
    axes[0].legend(fontsize=8)
    return fig


def plot_tiled_memory(rows: list[dict], block: int = 128) -> Any:
    fig = _figure(6, 4)
    ax = fig.subplots()
    n = [r["n"] for r in rows]
    ax.plot(n, [r["naive_bytes"] / 1e6 for r in rows], "o-", color="#0072B2", label="naive: holds the (n x n) scores")
    ax.plot(n, [r["tiled_bytes"] / 1e6 for r in rows], "o-", color="#009E73", label=f"tiled: one ({block} x {block}) tile at a time")
    ax.plot(n, [r["scores_bytes"] / 1e6 for r in rows], ":", color="grey", label="one n x n float32 matrix per head")
    ax.set(xscale="log", yscale="log", xlabel="sequence length n", ylabel="peak memory, MB", title="attention's peak memory, naive vs tiled")
    ax.set_xticks(n, [str(x) for x in n])
    ax.set_xticks([], minor=True)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def figure_widget(fig: Any, width: int = 900) -> Any:
    """A matplotlib figure as an ipywidgets Image (so it can sit inside a Predict's reveal)."""
    import io

    import ipywidgets as widgets

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    return widgets.Image(value=buf.getvalue(), format="png", layout=widgets.Layout(width=f"{width}px", max_width="100%"))


def crossover_bucket(x: float | None) -> str:
    """The option of the notebook's timing prediction (a sweep up to 2048 tokens) that a measured crossover falls in."""
    if x is None:
        return CROSSOVER_OPTIONS[-1]
    return CROSSOVER_OPTIONS[0] if x < 256 else CROSSOVER_OPTIONS[1]


# wide buckets: a measured crossover moves by tens of percent between runs on a shared machine
CROSSOVER_OPTIONS = ("below 256 tokens (where the arithmetic becomes equal)", "between 256 and 2048 tokens", "never: attention stays faster up to 2048 tokens")


# ---- exercises -----------------------------------------------------------------------------------


def _close(a: Any, b: torch.Tensor, tol: float = 1e-5) -> bool:
    return isinstance(a, torch.Tensor) and a.shape == b.shape and bool(torch.allclose(a.float(), b, atol=tol, rtol=0))


def check_attention(fn: Callable) -> exercises.Feedback:
    """Exercise 1: fn(q, k, v, mask=None) -> output, equal to torch's scaled_dot_product_attention."""
    g = torch.Generator().manual_seed(3)
    q, k, v = (torch.randn(2, 3, 5, 8, generator=g) for _ in range(3))
    ref = F.scaled_dot_product_attention(q, k, v)
    out, problem = exercises.attempt(fn, q, k, v)
    if problem is not None:
        return problem
    if not isinstance(out, torch.Tensor):
        return exercises.wrong(f"expected a tensor, got {type(out).__name__}.", "Return the output (weights @ v), not the weights or a tuple.")
    if out.shape != ref.shape:
        hint = "Return weights @ v, shaped like q." if out.shape == (2, 3, 5, 5) else "softmax over the keys (dim=-1), then multiply by v: the result has q's shape."
        return exercises.wrong(f"the output has shape {tuple(out.shape)}; expected {tuple(ref.shape)} (the shape of q).", hint)
    if torch.isnan(out).any():
        return exercises.wrong("the output contains NaN without any mask.", "Did you divide by zero, or take the softmax of -inf everywhere?")
    if not _close(out, ref):
        guesses = (
            (F.scaled_dot_product_attention(q, k, v, scale=1.0), "did you divide the scores by sqrt(d)? Without it they grow with d and the softmax turns nearly one-hot."),
            (F.scaled_dot_product_attention(q, k, v, scale=1.0 / 8), "you divided by d; divide by sqrt(d) (d = q.shape[-1])."),
            (torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(8), dim=-2) @ v, "softmax over the keys: dim=-1 (each query's weights sum to 1), not over the queries."),
            (torch.softmax(k @ q.transpose(-2, -1) / math.sqrt(8), dim=-1) @ v, "the scores are q @ k^T (queries in rows, keys in columns), not k @ q^T."),
        )
        for wrong_answer, hint in guesses:
            if _close(out, wrong_answer):
                return exercises.wrong(f"not equal to torch's (max difference {float((out - ref).abs().max()):.3g}).", hint)
        return exercises.wrong(f"not equal to torch's scaled_dot_product_attention (max difference {float((out - ref).abs().max()):.3g}).",
                               "scores = q @ k^T / sqrt(d); weights = softmax(scores, dim=-1); output = weights @ v.")
    keep = torch.rand(5, 5, generator=g) > 0.4
    keep[:, 0] = True  # every query can see at least one key
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=keep)
    out, problem = exercises.attempt(fn, q, k, v, keep)
    if problem is not None:
        return problem
    if not _close(out, ref):
        scores = q @ k.transpose(-2, -1) / math.sqrt(8)
        after = (torch.softmax(scores, dim=-1) * keep) @ v
        inverted = scaled_dot_product_attention(q, k, v, ~keep)[0]
        if _close(out, after):
            return exercises.wrong("right without a mask, wrong with one: the mask is applied after the softmax, so the kept weights no longer sum to 1.",
                                   "mask before the softmax: scores.masked_fill(~mask, float('-inf')), then softmax.")
        if _close(torch.nan_to_num(out), inverted):
            return exercises.wrong("the mask is inverted.", "True in the mask means the query MAY attend to that key (torch's SDPA convention); hide the False positions.")
        return exercises.wrong(f"right without a mask, wrong with one (max difference {float((out - ref).abs().max()):.3g}).",
                               "set the scores of blocked keys (mask False) to -inf before the softmax; True means keep.")
    keep = keep.clone()
    keep[2] = False  # query 2 may see nothing at all
    out, problem = exercises.attempt(fn, q, k, v, keep)
    if problem is not None:
        return problem
    if isinstance(out, torch.Tensor) and torch.isnan(out).any():
        return exercises.wrong("a query whose keys are all masked gives a row of NaN (softmax of only -inf is 0/0).",
                               "rows of NaN after masking? Zero the weights of rows with no allowed key, e.g. weights.masked_fill(~mask.any(-1, keepdim=True), 0).")
    if not _close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=keep)):
        return exercises.wrong("a query that may see no key should give a zero output (torch's SDPA does).",
                               "set that row's weights to 0 after the softmax instead of leaving NaN or a uniform row.")
    return exercises.right("Correct: equal to torch's scaled_dot_product_attention, with a mask, and no NaN for a fully masked row.")


def check_causal_mask(fn: Callable) -> exercises.Feedback:
    """Exercise 2: fn(n) -> (n, n) bool, True where query i may attend to key j (j <= i)."""
    out, problem = exercises.attempt(fn, 5)
    if problem is not None:
        return problem
    if not isinstance(out, torch.Tensor):
        return exercises.wrong(f"expected a torch tensor, got {type(out).__name__}.", "torch.ones(n, n) and .tril() build it.")
    if out.shape != (5, 5):
        return exercises.wrong(f"causal_mask(5) has shape {tuple(out.shape)}; expected (5, 5).", "one row per query, one column per key.")
    ref = causal_mask(5)
    if out.dtype != torch.bool:
        if torch.equal(out.bool(), ref) and set(out.unique().tolist()) <= {0, 1}:
            return exercises.wrong(f"the right pattern, but dtype {out.dtype}.", "return a bool tensor (True = may attend): a float 0/1 mask would be ADDED to the scores by torch, not used to hide them.")
        return exercises.wrong(f"expected a bool tensor, got dtype {out.dtype}.", "True where query i may attend to key j, False elsewhere.")
    if torch.equal(out, ref):
        big, problem = exercises.attempt(fn, 7)
        if problem is not None or not (isinstance(big, torch.Tensor) and torch.equal(big, causal_mask(7))):
            return exercises.wrong("right for n = 5 but not for n = 7.", "use n, not a fixed size.")
        return exercises.right("Correct: query i sees keys 0..i, itself included.")
    if torch.equal(out, ref.T):
        return exercises.wrong("this mask lets every query see the FUTURE tokens (the upper triangle).", "rows are queries, columns keys: query i may see keys j <= i, the lower triangle (tril).")
    if torch.equal(out, ~ref):
        return exercises.wrong("you marked the positions to BLOCK.", "True means the query may attend (torch SDPA's convention; nn.MultiheadAttention uses the opposite, a classic bug).")
    if torch.equal(out, ref.tril(-1)):
        return exercises.wrong("a token cannot see itself here: the diagonal is False, so the first row is empty (a NaN row after the softmax).", "keep the diagonal: tril(), not tril(-1).")
    return exercises.wrong("not the causal mask.", "True at [i, j] exactly when j <= i.")


def check_online_update(fn: Callable) -> exercises.Feedback:
    """Exercise 3: fn(m, l, acc, scores, values) -> (m, l, acc), the online softmax update."""
    g = torch.Generator().manual_seed(5)
    T, S, d, bk = 4, 12, 3, 4
    scores = 4.0 * torch.randn(T, S, generator=g)
    values = torch.randn(S, d, generator=g)
    ref = torch.softmax(scores, dim=-1) @ values

    def run(scores: torch.Tensor, student: Callable) -> tuple[Any, exercises.Feedback | None]:
        m, l, acc = torch.full((T,), NEG_INF), torch.zeros(T), torch.zeros(T, d)
        for s0 in range(0, S, bk):
            result, problem = exercises.attempt(student, m, l, acc, scores[:, s0:s0 + bk], values[s0:s0 + bk])
            if problem is not None:
                return None, problem
            if not (isinstance(result, (tuple, list)) and len(result) == 3):
                return None, exercises.wrong(f"expected (m, l, acc), got {type(result).__name__}.", "return the three running statistics as a tuple.")
            m, l, acc = result
        return acc / l[:, None], None

    out, problem = run(scores, fn)
    if problem is not None:
        return problem
    if not isinstance(out, torch.Tensor) or out.shape != ref.shape:
        return exercises.wrong("acc / l does not have the shape of softmax(scores) @ values.", "m and l are (T,), acc is (T, d): keep those shapes.")
    if torch.isnan(out).any():
        return exercises.wrong("NaN in the result.", "with m starting at -inf, exp(m_old - m_new) is exp(-inf) = 0, fine; NaN comes from -inf - (-inf): compute m_new first, then exp(m - m_new).")
    if not _close(out, ref, 1e-5):
        def no_rescale_acc(m, l, acc, s, v):
            m_new = torch.maximum(m, s.amax(-1))
            p = torch.exp(s - m_new[:, None])
            return m_new, l * torch.exp(m - m_new) + p.sum(-1), acc + p @ v

        def no_rescale_l(m, l, acc, s, v):
            m_new = torch.maximum(m, s.amax(-1))
            p = torch.exp(s - m_new[:, None])
            return m_new, l + p.sum(-1), acc * torch.exp(m - m_new)[:, None] + p @ v

        for variant, hint in ((no_rescale_acc, "did you rescale acc by exp(m_old - m_new)? The old weighted sum was taken against the old maximum."),
                              (no_rescale_l, "did you rescale l by exp(m_old - m_new)? The old sum of exponentials was taken against the old maximum.")):
            if _close(out, run(scores, variant)[0], 1e-5):
                return exercises.wrong("acc / l differs from softmax(scores) @ values.", hint)
        return exercises.wrong(f"acc / l differs from softmax(scores) @ values (max difference {float((out - ref).abs().max()):.3g}).",
                               "m_new = max(m, block max); p = exp(scores - m_new); l = l * exp(m - m_new) + p.sum(-1); acc = acc * exp(m - m_new) + p @ values.")
    big, problem = run(100.0 * scores, fn)
    if problem is not None:
        return problem
    if not isinstance(big, torch.Tensor) or not torch.isfinite(big).all():
        return exercises.wrong("right for small scores, but scores of a few hundred overflow exp() to inf.", "subtract the running maximum before exp(): that is what m is for.")
    return exercises.right("Correct: block by block, acc / l equals softmax(scores) @ values, without ever holding all the scores.")
