"""ablate_heads(model, heads): switch attention heads off, for a ``with`` block.

A head's output is the weighted sum of values it hands to the layer's output projection; all
heads' outputs are concatenated there, ``[..., heads * head_dim]``. A forward pre-hook on that
projection zeroes the chosen heads' slices, so the rest of the model runs as it is, as if those
heads had never written to the residual stream. The hooks are removed when the block ends, even
on an error: the model is the same object, with the same weights, afterwards.

Works on Hugging Face decoders and encoders whose attention module (or its parent) holds the
output projection as a Linear/Conv1D: LLaMA/SmolLM2/Mistral/Qwen (``o_proj``), GPT-2
(``c_proj``), BART/OPT/ViT-style (``out_proj``), GPT-NeoX/Phi/BERT (``dense``), DistilBERT
(``out_lin``). Grouped-query models share keys and values between query heads, but each query
head still has its own output slice: heads are numbered by query head, as in capture().
"""

from __future__ import annotations

import operator
import re
from contextlib import contextmanager
from typing import Any, Iterable, Iterator, Mapping

import torch

from .capture import attention_module_names

_PROJECTIONS = ("o_proj", "c_proj", "out_proj", "dense", "out_lin", "wo")
_CROSS = re.compile(r"cross|encoder_attn|encdec", re.IGNORECASE)


def _in_features(module: torch.nn.Module) -> int | None:
    if isinstance(module, torch.nn.Linear):
        return module.in_features
    weight = getattr(module, "weight", None)
    if type(module).__name__ == "Conv1D" and isinstance(weight, torch.Tensor):  # GPT-2: weight is [in, out]
        return int(weight.shape[0])
    return None


def _projection(model: torch.nn.Module, name: str) -> torch.nn.Module | None:
    """The output projection of the attention module called name: inside it, or beside it (BERT)."""
    modules = dict(model.named_modules())
    attention = modules[name]
    for attr in _PROJECTIONS:
        found = getattr(attention, attr, None)
        if isinstance(found, torch.nn.Module) and _in_features(found):
            return found
    parent = modules.get(name.rpartition(".")[0])
    output = getattr(parent, "output", None)  # BertAttention: .self computes, .output.dense projects
    found = getattr(output, "dense", None)
    return found if isinstance(found, torch.nn.Module) and _in_features(found) else None


def _heads_of(model: torch.nn.Module, attention: torch.nn.Module, width: int) -> int:
    head_dim = getattr(attention, "head_dim", None) or getattr(attention, "attention_head_size", None)
    if isinstance(head_dim, int) and head_dim > 0 and width % head_dim == 0:
        return width // head_dim
    config = getattr(model, "config", None)
    config = getattr(config, "text_config", None) or config
    for attr in ("num_attention_heads", "n_head", "n_heads", "num_heads"):
        n = getattr(config, attr, None) or getattr(attention, attr, None)
        if isinstance(n, int) and n > 0 and width % n == 0:
            return n
    raise ValueError(f"cannot tell how many heads {type(attention).__name__} has (its output projection reads {width} features).")


def _layers(model: torch.nn.Module) -> list[tuple[str, torch.nn.Module, torch.nn.Module, int]]:
    """(name, attention module, output projection, heads) for every self-attention layer, in order."""
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}.")
    modules = dict(model.named_modules())
    names = [n for n in attention_module_names(model) if not _CROSS.search(n)]
    if not names:
        raise ValueError(f"{type(model).__name__} has no attention module (no submodule whose class name says Attention): nothing to ablate.")
    layers = []
    for name in names:
        attention = modules[name]
        if isinstance(attention, torch.nn.MultiheadAttention):
            raise TypeError(f"{name} is a torch.nn.MultiheadAttention, whose forward uses its out_proj weights without calling it, so a hook cannot reach the heads' outputs; ablate_heads supports Hugging Face attention modules.")
        projection = _projection(model, name)
        if projection is None:
            raise ValueError(f"{name} ({type(attention).__name__}) has no output projection named {', '.join(_PROJECTIONS)}: ablate_heads cannot find where its heads' outputs meet.")
        width = _in_features(projection)
        layers.append((name, attention, projection, _heads_of(model, attention, width)))
    return layers


def attention_layout(model: torch.nn.Module) -> tuple[int, int, list[str]]:
    """(layers, query heads per layer, attention module names) as ablate_heads numbers them."""
    layers = _layers(model)
    counts = {n for *_, n in layers}
    if len(counts) != 1:
        raise ValueError(f"{type(model).__name__}'s layers have different numbers of heads ({sorted(counts)}).")
    return len(layers), counts.pop(), [name for name, *_ in layers]


def _parse(heads: Any, n_layers: int, n_heads: int) -> dict[int, list[int]]:
    """{layer: [heads]} from pairs [(layer, head), ...] or a mapping {layer: [heads]}."""
    if isinstance(heads, Mapping):
        pairs = [(layer, h) for layer, hs in heads.items() for h in ([hs] if isinstance(hs, int) else hs)]
    elif isinstance(heads, Iterable) and not isinstance(heads, (str, bytes)):
        pairs = list(heads)
    else:
        raise TypeError(f"heads must be (layer, head) pairs, e.g. [(5, 2), (7, 0)], or a dict {{layer: [heads]}}; got {type(heads).__name__}.")
    chosen: dict[int, list[int]] = {}
    for pair in pairs:
        try:
            if isinstance(pair, (str, bytes)) or len(pair) != 2 or any(isinstance(v, bool) for v in pair):
                raise TypeError
            layer, head = operator.index(pair[0]), operator.index(pair[1])
        except TypeError:
            raise TypeError(f"each head must be a (layer, head) pair of integers, got {pair!r}.") from None
        if not 0 <= layer < n_layers:
            raise ValueError(f"layer {layer} is out of range: the model has layers 0 to {n_layers - 1}.")
        if not 0 <= head < n_heads:
            raise ValueError(f"head {head} is out of range: layer {layer} has heads 0 to {n_heads - 1}.")
        chosen.setdefault(layer, [])
        if head not in chosen[layer]:
            chosen[layer].append(head)
    return chosen


@contextmanager
def ablate_heads(model: torch.nn.Module, heads: Any) -> Iterator[dict[int, list[int]]]:
    """Zero the outputs of the chosen attention heads inside a ``with`` block.

        with aw.ablate_heads(model, [(5, 2), (7, 0)]):   # (layer, query head) pairs
            logits = model(ids).logits

    heads: (layer, head) pairs, or a dict {layer: [heads]}; numbered as capture() numbers them
           (query heads, from 0). An empty list ablates nothing.
    Yields the {layer: [heads]} it switched off. On exit every hook is removed.
    """
    layers = _layers(model)
    counts = [n for *_, n in layers]
    chosen = _parse(heads, len(layers), max(counts))
    handles = []

    def zero(head_list: list[int], n_heads: int):
        index = torch.tensor(head_list)

        def hook(module, args):
            x = args[0]  # [..., heads * head_dim]: the heads' outputs side by side
            x = x.reshape(*x.shape[:-1], n_heads, x.shape[-1] // n_heads).clone()  # [..., heads, head_dim]
            x[..., index.to(x.device), :] = 0
            return (x.flatten(-2), *args[1:])

        return hook

    try:
        for layer, head_list in sorted(chosen.items()):
            name, _, projection, n_heads = layers[layer]
            if max(head_list) >= n_heads:
                raise ValueError(f"head {max(head_list)} is out of range: layer {layer} has heads 0 to {n_heads - 1}.")
            handles.append(projection.register_forward_pre_hook(zero(head_list, n_heads)))
        yield chosen
    finally:
        for handle in handles:
            handle.remove()
