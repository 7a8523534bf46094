"""capture(): run a model once and return its attention as an AttentionRecord.

Hugging Face models give their attention through their own ``output_attentions`` (switched to
eager attention first, because sdpa/flash kernels return none). Any other torch module is
captured by forward hooks on its attention submodules during the real forward pass. Model
family quirks (sdpa, grouped-query heads, encoder-decoder outputs) live here and nowhere else.
"""

from __future__ import annotations

import re
import warnings
import weakref
from contextlib import contextmanager
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import torch

from .record import AttentionRecord, EncoderDecoderRecord


class NoAttentionError(ValueError):
    """The model gave no attention weights (wrong implementation, or no attention at all)."""


# ---- inputs ---------------------------------------------------------------------------------


def _model_name(model: torch.nn.Module) -> str:
    config = getattr(model, "config", None)
    name = getattr(config, "_name_or_path", "") or ""
    # a local folder path says little; keep its last part
    name = name.rstrip("/").split("/")[-1] if name.startswith("/") else name
    return name or type(model).__name__


def _device(model: torch.nn.Module) -> torch.device:
    try:
        return next(model.parameters()).device
    except StopIteration:
        return torch.device("cpu")


def _max_length(model: torch.nn.Module, tokenizer: Any) -> int | None:
    limits = []
    tok_limit = getattr(tokenizer, "model_max_length", None)
    if isinstance(tok_limit, int) and 0 < tok_limit < 1_000_000:
        limits.append(tok_limit)
    config = getattr(model, "config", None)
    for attr in ("max_position_embeddings", "n_positions"):
        value = getattr(config, attr, None)
        if isinstance(value, int) and value > 0:
            limits.append(value)
            break
    return min(limits) if limits else None


def _check_text(text: Any, what: str = "text") -> str:
    if not isinstance(text, str):
        raise TypeError(f"{what} must be a string, got {type(text).__name__}.")
    if not text.strip():
        raise ValueError(f"{what} is empty: give at least one word to attend over.")
    return text


def _encode(model: torch.nn.Module, tokenizer: Any, inputs: Any, truncate: bool, what: str = "text") -> dict:
    """Turn text, a list of texts, ids or a dict of tensors into a batch of tensors."""
    if isinstance(inputs, (str, list, tuple)) and not (isinstance(inputs, (list, tuple)) and inputs and not isinstance(inputs[0], str)):
        if tokenizer is None:
            raise TypeError(f"{what} was given as text but no tokenizer: pass the model's tokenizer, or token ids as a tensor.")
        if not callable(tokenizer):
            raise TypeError(f"tokenizer must be a Hugging Face tokenizer (callable), got {type(tokenizer).__name__}.")
        texts = [inputs] if isinstance(inputs, str) else list(inputs)
        if not texts:
            raise ValueError(f"{what} is an empty list: give at least one text.")
        for t in texts:
            _check_text(t, what)
        limit = _max_length(model, tokenizer)
        lengths = [len(tokenizer(t)["input_ids"]) for t in texts]
        if limit is not None and max(lengths) > limit:
            if not truncate:
                raise ValueError(f"{what} is {max(lengths)} tokens long but {_model_name(model)} reads at most {limit}: shorten it, or pass truncate=True to cut it to {limit} tokens.")
            warnings.warn(f"{what} is {max(lengths)} tokens long; {_model_name(model)} reads at most {limit}, so it was truncated to the first {limit} tokens.", UserWarning, stacklevel=4)
        padding = len(texts) > 1
        if padding and getattr(tokenizer, "pad_token", None) is None:
            tokenizer.pad_token = tokenizer.eos_token  # decoders (GPT-2, LLaMA) ship with no pad token
        batch = tokenizer(texts, return_tensors="pt", padding=padding, truncation=limit is not None, max_length=limit, return_special_tokens_mask=True)
        return dict(batch)
    if isinstance(inputs, torch.Tensor) or (isinstance(inputs, (list, tuple)) and inputs):
        ids = torch.as_tensor(inputs)
        if ids.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8):
            raise TypeError(f"token ids must be integers, got {ids.dtype}.")
        if ids.ndim == 1:
            ids = ids[None]
        if ids.ndim != 2 or ids.shape[1] == 0:
            raise ValueError(f"token ids must be shaped [batch, length] with length >= 1, got {tuple(ids.shape)}.")
        return {"input_ids": ids.long()}
    if isinstance(inputs, dict) or hasattr(inputs, "keys"):
        batch = dict(inputs)
        if not batch:
            raise ValueError("inputs is an empty dict: give input_ids (and attention_mask), pixel_values or input_features.")
        return batch
    raise TypeError(f"inputs must be text, a list of texts, token ids or a dict of tensors; got {type(inputs).__name__}.")


def _check_batch(model: torch.nn.Module, batch: dict) -> None:
    """Shapes and dtypes of a dict of model inputs, checked before the model sees them."""
    config = getattr(model, "config", None)
    vision = getattr(config, "vision_config", None) or config
    name = type(model).__name__
    for key, value in batch.items():
        if value is None or key not in ("input_ids", "decoder_input_ids", "attention_mask", "decoder_attention_mask", "pixel_values", "input_features"):
            continue
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"{key} must be a torch tensor, got {type(value).__name__}; convert it with torch.as_tensor(...) (or ask the tokenizer/processor for return_tensors='pt').")
        if key in ("input_ids", "decoder_input_ids", "attention_mask", "decoder_attention_mask"):
            if value.is_floating_point() or value.ndim != 2 or value.shape[1] == 0:
                raise ValueError(f"{key} must be integers shaped [batch, length] with length >= 1; got {value.dtype} of shape {tuple(value.shape)}." + (" Add a batch dimension: ids[None]." if value.ndim == 1 else ""))
        elif key == "pixel_values":
            channels = getattr(vision, "num_channels", None)
            if not value.is_floating_point():
                raise TypeError(f"pixel_values must be floating point (normalised as the model expects), got {value.dtype}; use the model's image processor, or pixels.float() / 255 and normalise.")
            if value.ndim != 4:
                hint = " Add a batch dimension: pixels[None]." if value.ndim == 3 else ""
                raise ValueError(f"pixel_values must be shaped [batch, channels, height, width]; got shape {tuple(value.shape)}.{hint}")
            if isinstance(channels, int) and value.shape[1] != channels:
                hint = " The image looks channels-last: pixels.permute(0, 3, 1, 2)." if value.shape[-1] == channels else ""
                raise ValueError(f"{name} reads images with {channels} channels, but pixel_values has {value.shape[1]} (shape {tuple(value.shape)}: [batch, channels, height, width]).{hint}")
        elif key == "input_features":
            mels = getattr(config, "num_mel_bins", None)
            if not value.is_floating_point() or value.ndim != 3:
                raise ValueError(f"input_features must be floating point and shaped [batch, mel bins, frames]; got {value.dtype} of shape {tuple(value.shape)}. Use the model's feature extractor (e.g. WhisperFeatureExtractor) on the audio.")
            if isinstance(mels, int) and value.shape[1] != mels:
                raise ValueError(f"{name} reads {mels} mel bins, but input_features has {value.shape[1]} (shape {tuple(value.shape)}: [batch, mel bins, frames]).")
    for ids, mask in (("input_ids", "attention_mask"), ("decoder_input_ids", "decoder_attention_mask")):
        if isinstance(batch.get(ids), torch.Tensor) and isinstance(batch.get(mask), torch.Tensor) and batch[ids].shape != batch[mask].shape:
            raise ValueError(f"{mask} has shape {tuple(batch[mask].shape)} but {ids} has shape {tuple(batch[ids].shape)}: give one 0/1 flag per token.")


def _tokens(tokenizer: Any, ids: Sequence[int]) -> list[str]:
    if tokenizer is not None and hasattr(tokenizer, "convert_ids_to_tokens"):
        tokens = tokenizer.convert_ids_to_tokens([int(i) for i in ids])
        # an id beyond the tokenizer's vocabulary (models often have spare rows) keeps its number
        return [str(int(i)) if t is None else str(t) for i, t in zip(ids, tokens)]
    return [str(int(i)) for i in ids]


def _special_mask(tokenizer: Any, ids: Sequence[int], given: Any = None) -> np.ndarray:
    if given is not None:
        return np.asarray(given, dtype=bool)
    special = set(getattr(tokenizer, "all_special_ids", []) or [])
    return np.array([int(i) in special for i in ids], dtype=bool)


def _pick(batch_tensor: torch.Tensor | None, index: int) -> np.ndarray | None:
    return None if batch_tensor is None else batch_tensor[index].detach().cpu().numpy()


# ---- attention implementation ---------------------------------------------------------------

_SWITCHED: "weakref.WeakSet[torch.nn.Module]" = weakref.WeakSet()  # warn once per model


def ensure_eager(model: torch.nn.Module) -> None:
    """Switch a Hugging Face model to eager attention, which is the one that returns weights."""
    config = getattr(model, "config", None)
    impl = getattr(config, "_attn_implementation", None)
    sub_impls = [getattr(getattr(config, key, None), "_attn_implementation", None) for key in ("text_config", "vision_config", "encoder", "decoder")]
    if impl in (None, "eager") and all(s in (None, "eager") for s in sub_impls):
        return
    try:
        model.set_attn_implementation("eager")
    except Exception as err:
        raise NoAttentionError(
            f"{type(model).__name__} uses {impl!r} attention, which returns no weights, and cannot switch to eager ({err}). "
            "Load it with attn_implementation='eager'; a model that has only a fused (flash) kernel never forms the weights, "
            "so capture modules that compute them with capture_modules(model, inputs, modules=[...])."
        ) from None
    if model not in _SWITCHED:
        _SWITCHED.add(model)
        warnings.warn(f"attnwidgets switched {type(model).__name__} from {impl!r} to eager attention: {impl} kernels return no attention weights. Results are the same; eager is slower on long inputs. Load with attn_implementation='eager' to skip this.", UserWarning, stacklevel=3)


# ---- names of the attention modules ---------------------------------------------------------

_CROSS = re.compile(r"cross|encoder_attn|encdec", re.IGNORECASE)


def attention_module_names(model: torch.nn.Module) -> list[str]:
    """Names of the innermost modules whose class name says Attention, in forward order."""
    found = []
    for name, module in model.named_modules():
        if "attention" in type(module).__name__.lower() and not any("attention" in type(c).__name__.lower() for c in module.children()):
            found.append(name)
    return found


_NAMES: "weakref.WeakKeyDictionary[torch.nn.Module, list[str]]" = weakref.WeakKeyDictionary()


def _layer_names(model: torch.nn.Module, part: str, n: int, cached: bool = True) -> list[str]:
    if not cached or model not in _NAMES:  # walking every module and its children costs milliseconds
        _NAMES[model] = attention_module_names(model)
    names = _NAMES[model]
    is_cross = lambda s: bool(_CROSS.search(s))  # noqa: E731
    if part == "cross":
        names = [s for s in names if is_cross(s)]
    else:
        names = [s for s in names if not is_cross(s)]
        if part in ("encoder", "decoder"):
            names = [s for s in names if re.search(rf"(^|\.){part}", s)]
    if len(names) != n:  # a pooling head's attention (SigLIP) is not a layer: layers sit in a numbered list
        names = [s for s in names if re.search(r"\.\d+(\.|$)", s)]
    if len(names) != n and cached:  # the model may have changed since its names were cached
        return _layer_names(model, part, n, cached=False)
    return names if len(names) == n else [f"{part} layer {i}" if part != "all" else f"layer {i}" for i in range(n)]


# ---- stacking the model's outputs -----------------------------------------------------------


def _stack(attentions: Any, index: int, model: torch.nn.Module, what: str) -> np.ndarray:
    if attentions is None or len(attentions) == 0 or any(a is None for a in attentions):
        impl = getattr(getattr(model, "config", None), "_attn_implementation", "?")
        got = "None" if attentions is None else ("an empty tuple" if len(attentions) == 0 else "None for some layers")
        if not attention_module_names(model):
            raise NoAttentionError(
                f"{type(model).__name__} has no attention layers (no submodule is an attention module), so it has no {what} to capture "
                f"(it gave {got}): state-space models such as Mamba and plain CNNs such as ResNet mix positions without attention weights. "
                "Capture a model that has attention, or, for gates such as SE/CBAM in a CNN, name those modules: capture_modules(model, inputs, modules=[...])."
            )
        if impl == "eager":
            raise NoAttentionError(
                f"{type(model).__name__} returned no {what} ({got}) although it runs eager attention: its forward does not hand the weights back. "
                "Capture its attention modules by hooks instead: capture_modules(model, inputs, modules=[...], weights_from=...)."
            )
        raise NoAttentionError(
            f"{type(model).__name__} returned no {what} (attention implementation {impl!r}). "
            "Load it with attn_implementation='eager' or call model.set_attn_implementation('eager'); "
            "models without attention layers (state-space models, plain CNNs) have nothing to capture."
        )
    layers = [a[index].detach() for a in attentions]
    shapes = {tuple(a.shape) for a in layers}
    if len(shapes) != 1:
        raise NoAttentionError(f"{type(model).__name__}'s {what} have different shapes per layer {sorted(shapes)}; capture them one layer at a time with capture_modules().")
    # one copy into a preallocated array: a quarter of torch.stack's time on a busy 2-core machine
    stacked = np.empty((len(layers), *shapes.pop()), dtype=np.float32)
    for i, a in enumerate(layers):
        stacked[i] = a.float().cpu().numpy()
    return stacked


def _dtype_meta(model: torch.nn.Module) -> dict:
    """Half-precision models give rows that sum to 1 less exactly; the record allows for it."""
    try:
        dtype = str(next(model.parameters()).dtype).replace("torch.", "")
    except StopIteration:
        return {}
    return {"dtype": dtype} if dtype in ("float16", "bfloat16") else {}


def _kv_heads(model: torch.nn.Module, n_heads: int) -> tuple[int, ...] | None:
    config = getattr(model, "config", None)
    config = getattr(config, "text_config", None) or config
    n_kv = getattr(config, "num_key_value_heads", None)
    if not n_kv or n_kv == n_heads or n_heads % n_kv:
        return None
    group = n_heads // n_kv
    return tuple(h // group for h in range(n_heads))


def _is_causal(weights: np.ndarray, padding: np.ndarray | None = None, sample: bool = False) -> bool:
    """True if no weight falls on a later key. Row by row over views: a boolean mask of the upper
    triangle copies half the weights (0.8 s for 30 layers x 9 heads at 512 tokens, against
    0.08 s), and a bidirectional model stops at its first row. sample=True looks at four rows
    only, for callers whose AttentionRecord then checks every row (see _checked_record)."""
    n_q, n_k = weights.shape[-2:]
    if n_k < 2:
        return False
    offset = n_k - n_q  # queries are the last positions
    live = None
    if padding is not None and n_q == n_k and np.any(padding):
        # padding says nothing: with left padding a query whose every key is masked comes back uniform
        live = ~np.asarray(padding, dtype=bool)
    checked = False
    rows = range(n_q)
    if sample:
        candidates = np.arange(n_q) if live is None else np.flatnonzero(live)
        candidates = candidates[candidates + offset + 1 < n_k]
        rows = sorted({int(candidates[i]) for i in (0, 1, len(candidates) // 2, -1) if -len(candidates) <= i < len(candidates)})
    for q in rows:
        first = q + offset + 1
        if first >= n_k:
            break
        if live is None:
            row = weights[..., q, first:]
        elif live[q]:
            row = weights[..., q, first:][..., live[first:]]
        else:
            continue
        if row.size:
            checked = True
            if row.any():
                return False
    return checked


def _self_kind(weights: np.ndarray, padding: np.ndarray | None) -> str:
    """"causal" or "self". Padded query rows are ignored: with left padding every key of such a
    row is masked and the softmax comes back uniform over all keys. The record skips those rows
    too, so every row stays the model's own output; views and analyses leave padding out."""
    return "causal" if _is_causal(weights, padding, sample=True) else "self"


def _checked_record(weights: np.ndarray, tokens: Any, kind: str, **fields: Any) -> AttentionRecord:
    """The record of a kind _self_kind found on sampled rows. The record checks every row; if one
    it did not look at attends ahead, the attention is bidirectional after all."""
    try:
        return AttentionRecord(weights, tokens, kind=kind, **fields)
    except ValueError as err:
        if kind != "causal" or "future tokens" not in str(err):
            raise
        return AttentionRecord(weights, tokens, kind="self", **fields)


@contextmanager
def _inference(model: torch.nn.Module):
    # eval() walks and sets every module (milliseconds on a 1000-module model): only when needed,
    # and afterwards exactly the modules that were training train again
    training = [m for m in model.modules() if m.training]
    if training:
        model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        for m in training:
            m.training = True


# ---- the public entry point -----------------------------------------------------------------


def capture(
    model: torch.nn.Module,
    tokenizer: Any = None,
    inputs: Any = None,
    *,
    index: int = 0,
    target: Any = None,
    generate: int | None = None,
    truncate: bool = True,
    **forward_kwargs: Any,
) -> AttentionRecord | EncoderDecoderRecord:
    """Run ``model`` on ``inputs`` once and return its attention.

    model:     a Hugging Face model (encoder, decoder, encoder-decoder, vision) or any torch
               module with attention submodules (see capture_modules).
    tokenizer: the model's tokenizer (or None when inputs are ids or a dict of tensors).
    inputs:    a text, a list of texts (a padded batch; ``index`` picks the one to keep),
               token ids [batch, length], or a dict of model inputs (input_ids and
               attention_mask, pixel_values, input_features, ...).
    target:    for encoder-decoders, the decoder's text or ids (teacher forcing).
    generate:  generate this many new tokens greedily and record the attention of each step
               (decoders and encoder-decoders).
    truncate:  cut text longer than the model's limit (with a warning); False raises instead.

    Returns an AttentionRecord (weights float32 [layers, heads, queries, keys] on the CPU), or an
    EncoderDecoderRecord(encoder, decoder, cross) for encoder-decoder models.
    """
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module (e.g. a Hugging Face model), got {type(model).__name__}. Did you swap model and tokenizer?")
    if inputs is None:
        raise ValueError("inputs is missing: capture(model, tokenizer, 'some text') or capture(model, None, {'input_ids': ...}).")
    if not hasattr(model, "config") or not hasattr(model, "set_attn_implementation"):
        return capture_modules(model, inputs, **forward_kwargs)
    if generate is not None and (not isinstance(generate, int) or isinstance(generate, bool) or generate < 1):
        raise ValueError(f"generate must be a positive number of new tokens, got {generate!r}.")

    ensure_eager(model)
    batch = _encode(model, tokenizer, inputs, truncate)
    _check_batch(model, batch)
    special_given = batch.pop("special_tokens_mask", None)
    first = next(iter(batch.values()))
    size = first.shape[0] if hasattr(first, "shape") else 1
    if not isinstance(index, int) or not -size <= index < size:
        raise IndexError(f"index {index} is out of range for a batch of {size} inputs.")
    device = _device(model)
    batch = {k: v.to(device) if hasattr(v, "to") else v for k, v in batch.items()}

    if getattr(model.config, "is_encoder_decoder", False):
        return _capture_encoder_decoder(model, tokenizer, batch, index, target, generate, special_given, truncate, forward_kwargs)
    if generate is not None:
        return _capture_generation(model, tokenizer, batch, index, generate, special_given, forward_kwargs)

    with _inference(model):
        out = model(**batch, **forward_kwargs, output_attentions=True, return_dict=True)
    weights = _stack(getattr(out, "attentions", None), index, model, "attentions")
    return _record(model, tokenizer, weights, batch, index, special_given, part="all")


def _axis_info(tokenizer: Any, batch: dict, index: int, special_given: Any) -> tuple[list[str], np.ndarray, np.ndarray | None]:
    ids = _pick(batch.get("input_ids"), index)
    mask = _pick(batch.get("attention_mask"), index)
    padding = None if mask is None else mask == 0
    if ids is None:
        return None, None, padding  # type: ignore[return-value]
    special = _special_mask(tokenizer, ids, None if special_given is None else _pick(special_given, index))
    return _tokens(tokenizer, ids), special, padding


def _record(model, tokenizer, weights, batch, index, special_given, part, meta=None, **extra) -> AttentionRecord:
    n_layers, n_heads, n_q, n_k = weights.shape
    tokens, special, padding = _axis_info(tokenizer, batch, index, special_given)
    grid = None
    if tokens is None:  # vision or audio inputs: positions, not tokens
        tokens, special, grid = _positions(model, n_q, batch)
    kind = _self_kind(weights, padding)
    return _checked_record(
        weights,
        tokens,
        kind=kind,
        query_special=special,
        query_padding=padding,
        model_name=_model_name(model),
        layer_names=_layer_names(model, part, n_layers),
        kv_heads=_kv_heads(model, n_heads),
        grid=grid,
        meta={**_dtype_meta(model), **(meta or {})},
        **extra,
    )


def _pair(value: Any) -> tuple[int, int] | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return (value, value)
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(isinstance(v, int) for v in value):
        return (int(value[0]), int(value[1]))
    return None


def _positions(model: torch.nn.Module, n: int, batch: dict | None = None) -> tuple[list[str], np.ndarray, tuple[int, int] | None]:
    """Labels for vision-transformer positions ([CLS], DeiT's distillation token and register tokens
    first, then the patches row by row) or audio frames. The patch grid follows the image given,
    not only the config: models that interpolate position embeddings take other sizes."""
    config = getattr(model, "config", None)
    config = getattr(config, "vision_config", None) or config
    patch = _pair(getattr(config, "patch_size", None))
    pixels = None if batch is None else batch.get("pixel_values")
    size = tuple(pixels.shape[-2:]) if getattr(pixels, "ndim", 0) == 4 else _pair(getattr(config, "image_size", None))
    if patch is not None and size is not None and min(patch) > 0:
        rows, cols = size[0] // patch[0], size[1] // patch[1]
        n_extra = n - rows * cols
        if rows * cols > 0 and 0 <= n_extra <= 16:
            labels = ["[CLS]"] if n_extra else []
            if getattr(config, "model_type", "") == "deit" and n_extra >= 2:
                labels.append("[DIST]")  # DeiT's distillation token
            labels += [f"[REG{i}]" for i in range(1, n_extra - len(labels) + 1)]
            labels += [f"patch {r},{c}" for r in range(rows) for c in range(cols)]
            special = np.arange(n) < n_extra
            return labels, special, (rows, cols)
    return [f"frame {i}" for i in range(n)], np.zeros(n, dtype=bool), None


def _capture_generation(model, tokenizer, batch, index, new_tokens, special_given, forward_kwargs) -> AttentionRecord:
    """Greedy generation, recording each step's attention: row t is what token t attended to."""
    if not hasattr(model, "generate") or not model.can_generate():
        raise TypeError(f"{type(model).__name__} cannot generate; load it with AutoModelForCausalLM (a language-model head) to step through generation.")
    batch = {k: v[index : index + 1] for k, v in batch.items()}
    prompt_len = batch["input_ids"].shape[1]
    pad_id = getattr(tokenizer, "pad_token_id", None) or getattr(tokenizer, "eos_token_id", None)
    with _inference(model):
        out = model.generate(**batch, **forward_kwargs, max_new_tokens=new_tokens, do_sample=False, output_attentions=True, return_dict_in_generate=True, pad_token_id=pad_id)
    steps = out.attentions  # one tuple of per-layer [1, heads, new queries, keys so far] per step
    if not steps:
        raise NoAttentionError(f"{type(model).__name__}.generate returned no attentions; load it with attn_implementation='eager'.")
    sequence = out.sequences[0]
    n = prompt_len + len(steps) - 1  # the last generated token was never read by the model
    first = _stack(steps[0], 0, model, "attentions")
    weights = np.zeros(first.shape[:2] + (n, n), dtype=np.float32)
    weights[:, :, :prompt_len, :prompt_len] = first
    for t, step in enumerate(steps[1:], start=prompt_len):
        _stack(step[:1], 0, model, "attentions")  # says so if a step came back empty
        for layer, a in enumerate(step):
            # [heads, keys]: the t + 1 keys so far, or a sliding-window layer's last few (Mistral, Gemma 2)
            row = a[0, :, -1].detach().float().cpu().numpy()
            weights[layer, :, t, t + 1 - row.shape[-1] : t + 1] = row
    full = {"input_ids": sequence[None, :n]}
    if "attention_mask" in batch:
        mask = torch.ones(1, n, dtype=batch["attention_mask"].dtype)
        mask[0, :prompt_len] = batch["attention_mask"][0].cpu()
        full["attention_mask"] = mask
    generated = _tokens(tokenizer, sequence[prompt_len:].cpu().numpy())
    given = None if special_given is None else torch.cat([special_given[index : index + 1].cpu(), torch.zeros(1, n - prompt_len, dtype=special_given.dtype)], 1)
    return _record(model, tokenizer, weights, full, 0, given, part="all", prompt_length=prompt_len, meta={"generated_tokens": generated, "next_token": generated[-1]})


def _capture_encoder_decoder(model, tokenizer, batch, index, target, generate, special_given, truncate, forward_kwargs) -> EncoderDecoderRecord:
    if generate is not None and target is not None:
        raise ValueError("give either target (teacher forcing) or generate (greedy decoding), not both.")
    if generate is not None:
        with _inference(model):
            # the dict's sequences keep the decoder's start token (Whisper's plain output drops it)
            seq = model.generate(**{k: v[index : index + 1] for k, v in batch.items()}, max_new_tokens=generate, do_sample=False, return_dict_in_generate=True).sequences
        target_batch = {"decoder_input_ids": seq[:, :-1] if seq.shape[1] > 1 else seq}
        batch = {k: v[index : index + 1] for k, v in batch.items()}
        special_given = None if special_given is None else special_given[index : index + 1]
        index = 0
    elif target is None:
        if "decoder_input_ids" not in batch and "decoder_inputs_embeds" not in batch:
            raise ValueError(f"{type(model).__name__} is an encoder-decoder: give target= (the decoder's text or ids) or generate=N to decode N tokens.")
        target_batch = {}
    else:
        encoded = _encode(model, tokenizer, target, truncate, what="target")
        encoded.pop("special_tokens_mask", None)
        target_batch = {"decoder_input_ids": encoded["input_ids"]}
        if "attention_mask" in encoded:
            target_batch["decoder_attention_mask"] = encoded["attention_mask"]
    device = _device(model)
    batch = {**batch, **{k: v.to(device) for k, v in target_batch.items()}}
    size = batch["decoder_input_ids"].shape[0] if "decoder_input_ids" in batch else None
    n_inputs = next(iter(batch.values())).shape[0]
    if size is not None and size not in (1, n_inputs):
        raise ValueError("target must have one text per input text.")
    if size == 1 and n_inputs > 1:  # one target for every input: the model needs it once per input
        for key in ("decoder_input_ids", "decoder_attention_mask"):
            if key in batch:
                batch[key] = batch[key].expand(n_inputs, -1)
        size = n_inputs
    dec_index = index if size is None or size > 1 else 0

    with _inference(model):
        out = model(**batch, **forward_kwargs, output_attentions=True, return_dict=True)
    enc = _stack(out.encoder_attentions, index, model, "encoder attentions")
    dec = _stack(out.decoder_attentions, dec_index, model, "decoder attentions")
    cross = _stack(out.cross_attentions, dec_index, model, "cross attentions")

    source_inputs = {k: v for k, v in batch.items() if not k.startswith("decoder_")}
    encoder = _record(model, tokenizer, enc, source_inputs, index, special_given, part="encoder")
    target_inputs = {"input_ids": batch["decoder_input_ids"]} if "decoder_input_ids" in batch else {}
    if "decoder_attention_mask" in batch:
        target_inputs["attention_mask"] = batch["decoder_attention_mask"]
    if target_inputs:
        dec_tokens, dec_special, dec_padding = _axis_info(tokenizer, target_inputs, dec_index, None)
    else:
        n = dec.shape[2]
        dec_tokens, dec_special, dec_padding = [f"t{i}" for i in range(n)], None, None
    name = _model_name(model)
    dec_kind = _self_kind(dec, dec_padding)
    dec_kind = "causal" if dec.shape[-1] == 1 else dec_kind  # a decoder is causal, even over its start token alone
    decoder = _checked_record(dec, dec_tokens, kind=dec_kind, query_special=dec_special, query_padding=dec_padding, model_name=name, layer_names=_layer_names(model, "decoder", dec.shape[0]), kv_heads=_kv_heads(model, dec.shape[1]), meta=_dtype_meta(model))
    cross_record = AttentionRecord(
        cross,
        dec_tokens,
        encoder.key_tokens,
        kind="cross",
        query_special=dec_special,
        key_special=encoder.key_special,
        query_padding=dec_padding,
        key_padding=encoder.key_padding,
        model_name=name,
        layer_names=_layer_names(model, "cross", cross.shape[0]),
        grid=encoder.grid,
        meta=_dtype_meta(model),
    )
    return EncoderDecoderRecord(encoder, decoder, cross_record)


# ---- any torch module, by hooks -------------------------------------------------------------


def _weights_from_output(output: Any) -> torch.Tensor | None:
    """PyTorch's convention: attention modules return (output, weights)."""
    if isinstance(output, (tuple, list)) and len(output) >= 2 and isinstance(output[1], torch.Tensor):
        return output[1]
    return None


def capture_modules(
    model: torch.nn.Module,
    inputs: Any,
    *,
    modules: Iterable[str | torch.nn.Module] | None = None,
    tokens: Sequence[str] | None = None,
    key_tokens: Sequence[str] | None = None,
    kind: str | None = None,
    weights_from: Callable[[Any], torch.Tensor | None] = _weights_from_output,
    index: int = 0,
    **forward_kwargs: Any,
) -> AttentionRecord:
    """Capture attention from any torch module by forward hooks, during its real forward pass.

    modules:      the attention modules to record (names or modules), one layer each. Default:
                  every torch.nn.MultiheadAttention, which is asked for per-head weights.
    inputs:       what to call the model with: a tensor, a tuple of arguments, or a dict of
                  keyword arguments.
    weights_from: how to read the weights from a module's output; the default takes the second
                  element of a (output, weights) tuple.
    tokens / key_tokens: labels for the query and key positions (default: positions).
    kind:         "self", "causal" or "cross"; default: causal if no weight is on future keys,
                  cross if queries and keys differ in length, else self.
    """
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}.")
    named = dict(model.named_modules())
    if modules is None:
        chosen = [(n, m) for n, m in named.items() if isinstance(m, torch.nn.MultiheadAttention)]
        if not chosen:
            raise NoAttentionError(f"{type(model).__name__} has no torch.nn.MultiheadAttention submodule. Name the modules that compute attention with modules=[...] (they must return (output, weights)); a model with no attention layer has nothing to capture.")
    else:
        by_id = {id(m): n for n, m in named.items()}
        chosen = []
        for m in modules:
            if isinstance(m, str):
                if m not in named:
                    raise ValueError(f"{type(model).__name__} has no submodule named {m!r}; names look like {list(named)[1:4]}.")
                chosen.append((m, named[m]))
            elif isinstance(m, torch.nn.Module) and id(m) in by_id:
                chosen.append((by_id[id(m)] or type(m).__name__, m))
            else:
                raise ValueError(f"{m!r} is not a submodule of {type(model).__name__}.")
        if not chosen:
            raise ValueError("modules is empty: name at least one attention module.")

    seen: dict[str, list[torch.Tensor]] = {name: [] for name, _ in chosen}
    handles = []

    def ask_for_weights(module, args, kwargs):
        kwargs["need_weights"] = True
        kwargs["average_attn_weights"] = False
        return args, kwargs

    def record_weights(name):
        def hook(module, args, output):
            weights = weights_from(output)
            if weights is None:
                raise NoAttentionError(f"{name} ({type(module).__name__}) returned no attention weights; its output is {type(output).__name__}. Give weights_from=... to read them, or make the module return (output, weights).")
            seen[name].append(weights.detach().float().cpu())
        return hook

    try:
        for name, module in chosen:
            if isinstance(module, torch.nn.MultiheadAttention):
                handles.append(module.register_forward_pre_hook(ask_for_weights, with_kwargs=True))
            handles.append(module.register_forward_hook(record_weights(name)))
        with _inference(model):
            if isinstance(inputs, dict):
                model(**inputs, **forward_kwargs)
            elif isinstance(inputs, tuple):
                model(*inputs, **forward_kwargs)
            else:
                model(inputs, **forward_kwargs)
    finally:
        for h in handles:
            h.remove()

    layers = []
    for name, _ in chosen:
        calls = seen[name]
        if not calls:
            raise NoAttentionError(f"{name} was never called during the forward pass, so it recorded nothing; check the module names.")
        w = calls[-1]
        if w.ndim == 3:  # unbatched input, or weights averaged over heads
            w = w[None] if isinstance(named[name], torch.nn.MultiheadAttention) and w.shape[0] == named[name].num_heads else w[:, None]
        if w.ndim != 4:
            raise ValueError(f"{name} gave weights of shape {tuple(w.shape)}; expected [batch, heads, queries, keys].")
        if not -w.shape[0] <= index < w.shape[0]:
            raise IndexError(f"index {index} is out of range for a batch of {w.shape[0]}.")
        layers.append(w[index])
    shapes = {tuple(w.shape) for w in layers}
    if len(shapes) != 1:
        raise ValueError(f"the modules gave weights of different shapes {sorted(shapes)}; capture them in separate calls.")
    weights = torch.stack(layers).numpy()
    n_q, n_k = weights.shape[2:]
    if kind is None:
        kind = "cross" if n_q != n_k and key_tokens is not None else ("causal" if _is_causal(weights) else "self")
    q_tokens = list(tokens) if tokens is not None else [str(i) for i in range(n_q)]
    k_tokens = list(key_tokens) if key_tokens is not None else (None if n_q == n_k and tokens is not None else [str(j) for j in range(n_k)])
    return AttentionRecord(weights, q_tokens, k_tokens, kind=kind, model_name=type(model).__name__, layer_names=[n for n, _ in chosen], meta=_dtype_meta(model))
