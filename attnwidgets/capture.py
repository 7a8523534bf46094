"""capture(): run a model once and return its attention as an AttentionRecord.

Hugging Face models give their attention through their own ``output_attentions`` (switched to
eager attention first, because sdpa/flash kernels return none). Any other torch module is
captured by forward hooks on its attention submodules during the real forward pass. Model
family quirks (sdpa, grouped-query heads, encoder-decoder outputs) live here and nowhere else.
"""

from __future__ import annotations

import contextvars
import difflib
import inspect
import re
import sys
import warnings
import weakref
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import torch

from .record import AttentionRecord, EncoderDecoderRecord, select_indices


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


def _check_attentions(attentions: Any, model: torch.nn.Module, what: str) -> None:
    """The model's own output must name every layer; say why when it does not."""
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


def _stack(attentions: Any, index: int, model: torch.nn.Module, what: str) -> np.ndarray:
    _check_attentions(attentions, model, what)
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


def _is_causal(weights: np.ndarray, padding: np.ndarray | None = None, sample: bool = False, positions: Any = None) -> bool:
    """True if no weight falls on a later key. Row by row over views: a boolean mask of the upper
    triangle copies half the weights (0.8 s for 30 layers x 9 heads at 512 tokens, against
    0.08 s), and a bidirectional model stops at its first row. sample=True looks at four rows
    only, for callers whose AttentionRecord then checks every row (see _checked_record).
    positions: each query row's position among the keys (default: the last positions);
    padding: one flag per key position."""
    n_q, n_k = weights.shape[-2:]
    if n_k < 2:
        return False
    pos = np.arange(n_k - n_q, n_k) if positions is None else np.asarray(positions)  # queries are the last positions
    live = None
    if padding is not None and len(padding) == n_k and np.any(padding):
        # padding says nothing: with left padding a query whose every key is masked comes back uniform
        live = ~np.asarray(padding, dtype=bool)
    checked = False
    rows = range(n_q)
    if sample:
        candidates = np.arange(n_q) if live is None else np.flatnonzero(live[pos])
        candidates = candidates[pos[candidates] + 1 < n_k]
        rows = sorted({int(candidates[i]) for i in (0, 1, len(candidates) // 2, -1) if -len(candidates) <= i < len(candidates)})
    for q in rows:
        first = int(pos[q]) + 1
        if first >= n_k:
            continue
        if live is None:
            row = weights[..., q, first:]
        elif live[pos[q]]:
            row = weights[..., q, first:][..., live[first:]]
        else:
            continue
        if row.size:
            checked = True
            if row.any():
                return False
    return checked


def _self_kind(weights: np.ndarray, padding: np.ndarray | None, positions: Any = None) -> str:
    """"causal" or "self". Padded query rows are ignored: with left padding every key of such a
    row is masked and the softmax comes back uniform over all keys. The record skips those rows
    too, so every row stays the model's own output; views and analyses leave padding out."""
    return "causal" if _is_causal(weights, padding, sample=True, positions=positions) else "self"


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


# ---- what to keep, and what it costs --------------------------------------------------------


class CaptureMemoryError(MemoryError):
    """capture() would need more memory than there is: refused before the model runs."""


GB = 1e9
_DTYPES = {"float32": np.float32, "float": np.float32, "float16": np.float16, "half": np.float16}


def _record_dtype(dtype: Any) -> np.dtype:
    """float32 (the default) or float16, given as a name, a numpy or a torch dtype."""
    if dtype is None:
        return np.dtype(np.float32)
    name = str(dtype).replace("torch.", "").replace("numpy.", "")
    name = {"<class 'float32'>": "float32", "<class 'float16'>": "float16"}.get(name, name)
    try:
        name = np.dtype(dtype).name if not isinstance(dtype, (str, torch.dtype)) else name
    except TypeError:
        pass
    if name not in _DTYPES:
        raise ValueError(f"dtype must be 'float32' (the default) or 'float16' (half the memory, about 3 significant digits); got {dtype!r}.")
    return np.dtype(_DTYPES[name])


def available_memory() -> int | None:
    """Bytes this process can still take: the smaller of the machine's available memory and what
    is left under the container's limit (cgroup v2 or v1; Binder and JupyterHub set one). None if
    neither can be read (not Linux)."""
    found = []
    try:
        with open("/proc/meminfo") as f:
            info = {line.split(":")[0]: int(line.split()[1]) * 1024 for line in f if line.split()}
        if "MemAvailable" in info:
            found.append(info["MemAvailable"])
    except (OSError, ValueError, IndexError):
        pass
    for limit_file, usage_file, inactive in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current", "inactive_file"),
                                             ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes", "total_inactive_file")):
        try:
            with open(limit_file) as f:
                text = f.read().strip()
            if text == "max" or int(text) >= 1 << 60:
                continue
            with open(usage_file) as f:
                used = int(f.read().strip())
            stat_file = limit_file.rsplit("/", 1)[0] + "/memory.stat"
            try:
                with open(stat_file) as f:
                    stat = dict(line.split() for line in f if len(line.split()) == 2)
                used -= int(stat.get(inactive, 0))  # page cache the kernel drops before killing
            except (OSError, ValueError):
                pass
            found.append(max(0, int(text) - used))
        except (OSError, ValueError):
            continue
    return min(found) if found else None


def _size(n: float) -> str:
    return f"{n / GB:.2f} GB" if n >= 0.1 * GB else f"{n / 1e6:.0f} MB"


@dataclass
class _Keep:
    """What capture() keeps (layers, heads, query rows, precision) and the memory it may use."""

    layers: Any = None
    heads: Any = None
    queries: Any = None
    dtype: np.dtype = np.dtype(np.float32)
    limit: float | None = None

    @property
    def selects(self) -> bool:
        return self.layers is not None or self.heads is not None or self.queries is not None

    def budget(self) -> tuple[float | None, str]:
        if self.limit is not None:
            return float(self.limit), "memory_limit"
        free = available_memory()
        return (None, "") if free is None else (float(free), "free memory")

    def fits(self, need: float) -> bool:
        budget, _ = self.budget()
        return budget is None or need <= budget

    def check(self, record: float, transient: float, shape: str) -> None:
        """Refuse, with the number and the way out, when the record and the work of one layer
        would not fit: before anything large is allocated, so nothing is killed."""
        budget, source = self.budget()
        need = record + transient
        if budget is None or need <= budget:
            return
        per = shape.split(" = ")[0]
        raise CaptureMemoryError(
            f"capture() would need about {_size(need)} but {_size(budget)} is available ({source}): the record is {per} "
            f"= {_size(record)}, and computing one layer's attention takes {_size(transient)} more. Nothing was run. Keep less: "
            "layers=[...] (only some layers), heads=[...], queries='last' (only the last token's row, e.g. for generation), "
            "dtype='float16' (half the record), or a shorter text (memory grows with the square of its length); "
            "a model loaded with load_model(name, dtype='bfloat16') also leaves half its own memory free"
            + ("; or raise memory_limit." if source == "memory_limit" else ".")
        )


def _n_heads(model: torch.nn.Module, part: str = "all") -> int | None:
    config = getattr(model, "config", None)
    config = getattr(config, "text_config", None) or config
    keys = {"encoder": ("encoder_attention_heads",), "decoder": ("decoder_attention_heads",), "cross": ("decoder_attention_heads",)}.get(part, ())
    for key in keys + ("num_attention_heads", "n_head", "num_heads", "n_heads"):
        value = getattr(config, key, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def _plan_size(keep: "_Keep", n_layers: int, n_heads: int | None, n_q: int | None, n_k: int | None, batch: int) -> tuple[float, float, str] | None:
    """(record bytes, transient bytes, description) before running, when the shapes are known."""
    if not (n_layers and n_heads and n_q and n_k):
        return None
    try:
        n_l = len(select_indices(keep.layers, n_layers, "layer") or range(n_layers))
        n_h = len(select_indices(keep.heads, n_heads, "head") or range(n_heads))
        n_r = len(select_indices(keep.queries, n_q, "query") or range(n_q))
    except (IndexError, ValueError, TypeError):
        return None  # the sink says what is wrong with the selection, with the model's real sizes
    record = n_l * n_h * n_r * n_k * keep.dtype.itemsize
    # eager attention holds a layer's scores and their softmax at once (float32, the whole batch),
    # beside its float32 mask; the record's copy is taken from the softmax
    layer = batch * n_heads * n_q * n_k * 4
    transient = 2 * layer + batch * n_q * n_k * 4
    shape = f"{n_l} layers x {n_h} heads x {n_r} queries x {n_k} keys of {keep.dtype.name} = {_size(record)}"
    return record, transient, shape


# ---- streaming: each layer's weights copied out as its attention module returns them ----------


class _Sink:
    """Where the hooks put one part's attention (a decoder's self-attention, an encoder's, the
    cross-attention): the record's own array, allocated when the first layer arrives (its shape is
    known then) and filled one layer at a time, so the model never holds every layer at once.

    The module's output keeps a marker in place of its weights; the model's own recorder collects
    the markers, and capture() reads back from them which layers, in which order, the model
    reports (the same tensors output_attentions would have returned)."""

    def __init__(self, n_layers: int, index: int, keep: _Keep, layers: list[int] | None):
        self.n_layers, self.index, self.keep, self.layers = n_layers, index, keep, layers
        self.slot = None if layers is None else {layer: i for i, layer in enumerate(layers)}
        self.calls = 0
        self.array: np.ndarray | None = None
        self.heads: list[int] | None = None
        self.rows: list[int] | None = None
        self.shape: tuple[int, ...] | None = None  # the model's [heads, queries, keys]
        self.markers: dict[int, int] = {}
        self._alive: list[torch.Tensor] = []
        self.names: list[str] = []
        self.probe: tuple[np.ndarray, np.ndarray] | None = None  # a few full rows of the first layer: (weights, positions)
        self.stored = -1  # the call whose weights the lean engine stored itself
        self._probe_rows: dict[int, np.ndarray] = {}

    def _take_probe(self, src: torch.Tensor) -> None:
        """Four whole rows of the first layer, all heads: enough to tell causal from
        bidirectional attention when only some rows are kept (the last row alone cannot)."""
        n_q = src.shape[1]
        rows = sorted({0, min(1, n_q - 1), n_q // 2, max(n_q - 2, 0)})
        self.probe = (src[:, rows].to("cpu", torch.float32).numpy()[None], np.array(rows))

    def call_of(self, marker: Any) -> int | None:
        return self.markers.get(id(marker)) if isinstance(marker, torch.Tensor) and marker.numel() == 0 else None

    def _allocate(self, w: torch.Tensor) -> None:
        self._allocate_shape(*w.shape[1:])

    def _allocate_shape(self, n_heads: int, n_q: int, n_k: int) -> None:
        self.shape = (n_heads, n_q, n_k)
        self.heads = select_indices(self.keep.heads, n_heads, "head")
        self.rows = select_indices(self.keep.queries, n_q, "query")
        n_h = n_heads if self.heads is None else len(self.heads)
        n_r = n_q if self.rows is None else len(self.rows)
        n_l = self.n_layers if self.layers is None else len(self.layers)
        record = n_l * n_h * n_r * n_k * self.keep.dtype.itemsize
        self.keep.check(record, 0, f"{n_l} layers x {n_h} heads x {n_r} queries x {n_k} keys of {self.keep.dtype.name} = {_size(record)}")
        self.array = np.empty((max(n_l, 1), n_h, n_r, n_k), dtype=self.keep.dtype)

    def take(self, w: torch.Tensor, name: str) -> torch.Tensor:
        call = self.calls
        self.calls += 1
        self.names.append(name)
        marker = torch.empty(0)
        self.markers[id(marker)] = call
        self._alive.append(marker)  # ids stay unique while the markers live
        if self.stored == call or w.numel() == 0:  # the lean engine wrote this layer block by block already (or kept nothing)
            return marker
        if self.probe is None and self.keep.queries is not None:
            self._take_probe(w[self.index].detach())
        if self.slot is not None and call not in self.slot:
            return marker
        if self.array is None:
            self._allocate(w)
        if tuple(w.shape[1:]) != self.shape:
            raise NoAttentionError(f"{name} gave weights of shape {tuple(w.shape[1:])}, but the first layer gave {self.shape}; capture layers of different shapes with capture_modules().")
        slot = call if self.slot is None else self.slot[call]
        if slot >= self.array.shape[0]:  # more calls than modules (a layer run twice): grow, rarely
            self.array = np.concatenate([self.array, np.empty_like(self.array)])
        self._copy(w, slot)
        return marker

    def _copy(self, w: torch.Tensor, slot: int, row_at: int | None = None) -> None:
        """w[index] -> the record's slot, heads and rows picked and the dtype converted by one
        copy_ (which also brings a GPU tensor to the host)."""
        src = w[self.index].detach()  # [heads, queries, keys]
        dst = torch.from_numpy(self.array[slot])  # [kept heads, kept rows, keys], shares memory
        rows = None if self.rows is None else torch.as_tensor(self.rows, device=src.device)
        if self.heads is None and rows is None:
            dst.copy_(src)
            return
        for j, h in enumerate(self.heads or range(src.shape[0])):
            dst[j].copy_(src[h] if rows is None else src[h].index_select(0, rows))

    def wants(self, call: int) -> bool:
        return self.slot is None or call in self.slot

    def store(self, w: torch.Tensor, first_row: int, n_q: int) -> None:
        """The lean engine's block of query rows [batch, heads, rows, keys], starting at row
        first_row of n_q, into the current call's slot: kept heads and rows only."""
        call = self.calls
        src = w[self.index].detach()  # [heads, block rows, keys]
        n_block = src.shape[1]
        if self.probe is None and self.keep.queries is not None:  # whole rows, to tell the kind
            wanted = {0, min(1, n_q - 1), n_q // 2, max(n_q - 2, 0)}
            for r in wanted:
                if first_row <= r < first_row + n_block:
                    self._probe_rows[r] = src[:, r - first_row].to("cpu", torch.float32).numpy()
            if len(self._probe_rows) == len(wanted):
                rows = sorted(self._probe_rows)
                self.probe = (np.stack([self._probe_rows[r] for r in rows], axis=1)[None], np.array(rows))
        if self.array is None:
            self._allocate_shape(src.shape[0], n_q, src.shape[2])
        slot = call if self.slot is None else self.slot[call]
        if slot >= self.array.shape[0]:
            self.array = np.concatenate([self.array, np.empty_like(self.array)])
        dst = torch.from_numpy(self.array[slot])
        if self.rows is None:
            pairs_src, pairs_dst = slice(0, n_block), slice(first_row, first_row + n_block)
        else:
            pairs = [(r - first_row, j) for j, r in enumerate(self.rows) if first_row <= r < first_row + n_block]
            if not pairs:
                return
            pairs_src = torch.as_tensor([i for i, _ in pairs], device=src.device)
            pairs_dst = torch.as_tensor([j for _, j in pairs])
        for j, h in enumerate(self.heads or range(src.shape[0])):
            part = src[h][pairs_src] if isinstance(pairs_src, slice) else src[h].index_select(0, pairs_src)
            if isinstance(pairs_dst, slice):
                dst[j, pairs_dst].copy_(part)
            else:
                dst[j, pairs_dst] = part.to("cpu", dst.dtype)

    def result(self) -> np.ndarray:
        if self.array is None:
            raise NoAttentionError("no layer's attention weights reached capture() (the layers asked for were never run).")
        n = self.calls if self.layers is None else len(self.layers)
        return self.array[:n]


def _hook_targets(model: torch.nn.Module) -> list[tuple[str, torch.nn.Module, int, str]]:
    """(name, module, output index, part) for every module whose output the model's own
    recorder collects as "attentions" or "cross_attentions" (transformers >= 5 models declare
    them in _can_record_outputs). part: "all" for one stack, "encoder"/"decoder"/"cross" for an
    encoder-decoder. Empty for a model that declares none (its output is read instead)."""
    try:
        from transformers.modeling_utils import PreTrainedModel
        from transformers.utils.output_capturing import _CAN_RECORD_REGISTRY, OutputRecorder
    except ImportError:
        return []

    def tasks_of(owner: torch.nn.Module) -> list[tuple[str, Any]]:
        flags = _CAN_RECORD_REGISTRY.get(owner) if isinstance(owner, PreTrainedModel) else {}
        tasks = []
        for key in ("attentions", "cross_attentions"):
            specs = flags.get(key)
            for spec in (specs if isinstance(specs, list) else [specs] if specs is not None else []):
                if not isinstance(spec, OutputRecorder):
                    spec = OutputRecorder(target_class=None if isinstance(spec, str) else spec, index=1, class_name=spec if isinstance(spec, str) else None)
                tasks.append((key, spec))
        return tasks

    found = []

    def walk(module: torch.nn.Module, name: str, tasks: list) -> None:
        # the same matching as transformers' own recursively_install_hooks (names start with ".")
        for child_name, child in module.named_children():
            full = f"{name}.{child_name}"
            walk(child, full, tasks_of(child) if isinstance(child, PreTrainedModel) else tasks)
        for key, spec in tasks:
            match = (spec.target_class is not None and isinstance(module, spec.target_class)) or (spec.class_name is not None and name.endswith(spec.class_name))
            if match and spec.layer_name is not None:
                match = "." + spec.layer_name.strip(".") + "." in name + "."
            if match:
                found.append((name.lstrip("."), module, spec.index, key))

    walk(model, "", tasks_of(model))
    encoder_name = None
    if getattr(getattr(model, "config", None), "is_encoder_decoder", False) and hasattr(model, "get_encoder"):
        encoder = model.get_encoder()
        encoder_name = next((n for n, m in model.named_modules() if m is encoder), None)
    targets = []
    for name, module, index, key in found:
        if key == "cross_attentions":
            part = "cross"
        elif encoder_name is None:
            part = "all"
        else:
            part = "encoder" if (name + ".").startswith(encoder_name + ".") else "decoder"
        targets.append((name, module, index, part))
    return targets


@contextmanager
def _streaming(targets: list, sinks: dict[str, "_Sink"], model: torch.nn.Module, on_forward: Callable[[], None] | None = None):
    """Hooks on the attention modules: each call's weights go to its part's sink and a marker
    takes their place (prepended, so the model's own recorder sees only the marker)."""
    handles = []

    def hook_for(name: str, index: int, sink: _Sink):
        def hook(module, args, output):
            if not isinstance(output, tuple) or not -len(output) <= index < len(output):
                return None
            w = output[index]
            if not isinstance(w, torch.Tensor) or w.ndim != 4:
                return None  # no weights (sdpa, or a kernel that never forms them): the model's output says so
            out = list(output)
            out[index] = sink.take(w, name)
            return tuple(out)
        return hook

    try:
        for name, module, index, part in targets:
            if part in sinks:
                handles.append(module.register_forward_hook(hook_for(name, index, sinks[part]), prepend=True))
        if on_forward is not None:
            handles.append(model.register_forward_pre_hook(lambda module, args: on_forward()))
        yield
    finally:
        for h in handles:
            h.remove()


def _streamed(attentions: Any, sink: _Sink, index: int, model: torch.nn.Module, what: str) -> tuple[np.ndarray, "_Selected"]:
    """The record's weights after the forward pass, and which layers, heads and rows they are:
    the streamed array when the model reported exactly the markers, in call order; the model's
    own tensors, stacked and then selected, when no hook fired (a model that declares no recorder)."""
    _check_attentions(attentions, model, what)
    calls = [sink.call_of(a) for a in attentions]
    if all(c is None for c in calls):
        full = _stack(attentions, index, model, what)
        keep = sink.keep
        chosen = _Selected(select_indices(keep.layers, full.shape[0], "layer"), full.shape[0], select_indices(keep.heads, full.shape[1], "head"), full.shape[1],
                           select_indices(keep.queries, full.shape[2], "query"))
        return _select_array(full, keep), chosen
    if calls != list(range(len(attentions))) or sink.calls != len(attentions):
        raise NoAttentionError(
            f"{type(model).__name__} reported {len(attentions)} layers of {what} but its attention modules were called {sink.calls} times in another order; "
            "capture them with capture_modules(model, inputs, modules=[...])."
        )
    return sink.result(), _Selected(sink.layers, len(attentions), sink.heads, sink.shape[0] if sink.shape else None, sink.rows, sink.probe)


def _select_array(full: np.ndarray, keep: _Keep) -> np.ndarray:
    ls = select_indices(keep.layers, full.shape[0], "layer")
    hs = select_indices(keep.heads, full.shape[1], "head")
    rs = select_indices(keep.queries, full.shape[2], "query")
    if ls is not None:
        full = full[ls]
    if hs is not None:
        full = full[:, hs]
    if rs is not None:
        full = full[:, :, rs]
    return np.ascontiguousarray(full, dtype=keep.dtype)


# ---- the lean engine: long inputs -----------------------------------------------------------

LEAN = "attnwidgets_lean"
LEAN_BLOCK_BYTES = 32_000_000  # a block of query rows' scores, all heads, float32
_LEAN_SINK: contextvars.ContextVar = contextvars.ContextVar("attnwidgets_lean_sink", default=None)


def _eager_function(module: torch.nn.Module) -> Callable | None:
    """The eager attention function of the module's own modeling file (softcaps, sinks and all)."""
    return getattr(sys.modules.get(type(module).__module__), "eager_attention_forward", None)


def _lean_attention(module, query, key, value, attention_mask, dropout: float = 0.0, scaling: float | None = None, is_causal: bool | None = None, **kwargs):
    """The lean engine's attention function. A layer whose weights are not kept runs PyTorch's
    fused kernel (sdpa: no [queries, keys] matrix is formed); a kept layer runs the model's own
    eager function on blocks of query rows, each block's weights copied into the record at once,
    so at most one block of scores exists at a time instead of a whole layer."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    kwargs.pop("output_attentions", None)  # asked of the model as a whole; sdpa would only warn that it gives none
    sink = _LEAN_SINK.get()
    if sink is None or not sink.wants(sink.calls):
        out, _ = sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, is_causal=is_causal, **kwargs)
        return out, query.new_empty((0, 0, 0, 0))
    eager = _eager_function(module)
    if eager is None:
        raise NoAttentionError(f"{type(module).__name__} has no eager attention function to compute its weights in blocks; capture with lean=False.")
    n_batch, n_heads, n_q, _ = query.shape
    n_k = key.shape[-2]
    # what sdpa would do with no mask: causal for a decoder's layer reading more than one query
    causal = attention_mask is None and n_q > 1 and (is_causal if is_causal is not None else getattr(module, "is_causal", True))
    rows = max(1, int(LEAN_BLOCK_BYTES // max(1, n_batch * n_heads * n_k * 4)))
    low = torch.finfo(query.dtype).min
    outs = []
    for first in range(0, n_q, rows):
        last = min(n_q, first + rows)
        if attention_mask is None:
            mask = None
            if causal:  # the additive mask eager attention gets: 0 where a key is visible, the dtype's minimum elsewhere
                visible = torch.arange(n_k, device=query.device)[None, :] <= torch.arange(first, last, device=query.device)[:, None] + (n_k - n_q)
                mask = torch.where(visible, 0.0, low).to(query.dtype)[None, None]
        elif attention_mask.dtype == torch.bool:
            mask = torch.where(attention_mask[:, :, first:last], 0.0, low).to(query.dtype)
        else:
            mask = attention_mask[:, :, first:last]
        out, weights = eager(module, query[:, :, first:last], key, value, mask, dropout=dropout, scaling=scaling, **kwargs)
        sink.store(weights, first, n_q)
        del weights, mask
        outs.append(out)  # [batch, block rows, heads, head dim]
    sink.stored = sink.calls
    return torch.cat(outs, dim=1), query.new_empty((0, 0, 0, 0))


def _register_lean() -> bool:
    try:
        from transformers import AttentionInterface
        from transformers.masking_utils import AttentionMaskInterface, sdpa_mask
    except ImportError:
        return False
    AttentionInterface.register(LEAN, _lean_attention)
    AttentionMaskInterface.register(LEAN, sdpa_mask)  # the masks sdpa gets: boolean, or none when causal alone says it
    return True


def _supports_lean(model: torch.nn.Module, targets: list) -> bool:
    """Models whose attention modules call transformers' attention interface, with an eager
    function in their modeling file to compute kept layers in blocks."""
    modules = [m for _, m, _, part in targets if part == "all"]
    return bool(modules) and bool(getattr(model, "_supports_attention_backend", False)) and all(_eager_function(m) is not None for m in modules)


@contextmanager
def _lean(model: torch.nn.Module, sink: "_Sink"):
    if not _register_lean():
        raise NoAttentionError("the lean engine needs transformers >= 5 (its attention interface); capture with lean=False.")
    _large_blocks_mapped()
    token = _LEAN_SINK.set(sink)
    model.set_attn_implementation(LEAN)
    try:
        yield
    finally:
        model.set_attn_implementation("eager")
        _LEAN_SINK.reset(token)


_MAPPED = False


def _large_blocks_mapped() -> None:
    """glibc keeps freed blocks below a threshold that rises with every freed block (up to 32 MB)
    in its heaps, one per thread, where they fragment: a long input's blocks, MLP activations and
    sdpa buffers then pile up (measured: 0.3-1 GB over a 4096-token capture, varying run to run).
    A fixed 1 MB threshold maps every larger block and returns it when freed. Process-wide, once,
    set by the first capture of a long input; harmless elsewhere (no effect off glibc)."""
    global _MAPPED
    if _MAPPED:
        return
    _MAPPED = True
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 1 << 20)  # M_MMAP_THRESHOLD
    except (OSError, AttributeError):
        pass


def _lean_transient(n_heads: int, n_k: int, batch: int) -> float:
    block = max(LEAN_BLOCK_BYTES, batch * n_heads * n_k * 4)  # at least one row of every head
    return 3 * block  # scores, softmax and the block's mask


# ---- keywords that do not apply to the model at hand ------------------------------------------

_CAPTURE_KEYWORDS = ("tokenizer", "inputs", "index", "target", "generate", "truncate", "layers", "heads", "queries", "dtype", "memory_limit", "lean")
_HOOK_KEYWORDS = ("modules", "query_tokens", "key_tokens", "kind", "weights_from")  # capture_modules' own


def _refuse_for_hooks(model: torch.nn.Module, tokenizer: Any, target: Any, generate: Any, truncate: Any, memory_limit: Any, lean: Any) -> None:
    """A plain torch module goes to capture_modules(), which has no use for these: say so
    instead of dropping them."""
    name = type(model).__name__
    problems = []
    if tokenizer is not None:
        problems.append(f"tokenizer= is not used: {name} is called with inputs exactly as given. Tokenize first and pass the ids, e.g. "
                        "ids = tokenizer(text, return_tensors='pt')['input_ids']; capture(model, None, ids, query_tokens=tokenizer.convert_ids_to_tokens(ids[0])).")
    if target is not None:
        problems.append("target= feeds the decoder of a Hugging Face encoder-decoder; a plain module takes all its inputs in inputs= (a tuple of arguments or a dict of keyword arguments).")
    if generate is not None:
        problems.append("generate= needs a Hugging Face model's .generate(); for a plain module, run your own decoding loop and capture each step.")
    if truncate is not None:
        problems.append("truncate= cuts text the tokenizer makes; a plain module's inputs are not tokenized here: shorten them yourself.")
    if memory_limit is not None:
        problems.append("memory_limit= plans a Hugging Face model's capture from its config; for a plain module keep less instead with layers=, heads=, queries= or dtype='float16'.")
    if lean is not None:
        problems.append("lean= is a way of running a Hugging Face model's attention; a plain module runs its own forward.")
    if problems:
        raise TypeError(f"{name} is a plain torch module (no Hugging Face config), so capture() records it by hooks, as capture_modules() does. " + " ".join(problems))


def _model_keywords(model: torch.nn.Module) -> tuple[set[str], bool]:
    """The keyword arguments the model's forward reads (its own, its inner models', and the
    TransformersKwargs every attention layer is handed), and whether it takes **kwargs at all."""
    def params(fn: Any) -> list[inspect.Parameter]:
        try:
            return list(inspect.signature(fn).parameters.values())
        except (TypeError, ValueError):
            return []

    own = params(model.forward)
    open_ended = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in own)  # unreadable signature: refuse nothing
    names = {p.name for p in own if p.kind is not inspect.Parameter.VAR_KEYWORD}
    for module in model.modules():  # a task head hands **kwargs to its base model, an encoder-decoder to its parts
        if module is not model and type(module).__name__.endswith(("Model", "Encoder", "Decoder", "Transformer")):
            inner = {p.name for p in params(module.forward) if p.kind is not inspect.Parameter.VAR_KEYWORD}
            names |= inner | {f"decoder_{n}" for n in inner}
    try:
        from transformers.utils import TransformersKwargs

        names |= set(getattr(TransformersKwargs, "__annotations__", {}))
    except ImportError:
        pass
    return names, open_ended


def _refuse_for_model(model: torch.nn.Module, encoder_decoder: bool, target: Any, generate: Any, lean: Any, forward_kwargs: dict) -> None:
    """Keywords of capture() that do not apply to this Hugging Face model, and keywords meant for
    capture() that would reach the model's forward, which takes **kwargs and ignores them."""
    name = type(model).__name__
    if target is not None and not encoder_decoder:
        raise TypeError(
            f"target= is the decoder's text of an encoder-decoder (T5, BART, Marian, Whisper); {name} has one stack of layers, so there is no decoder to feed. "
            "For a decoder-only model such as GPT-2 or SmolLM2 put the prompt and its continuation together in inputs (or let it write with generate=N); "
            "an encoder such as BERT reads inputs alone."
        )
    if lean and encoder_decoder:
        raise ValueError(f"lean=True computes one stack of layers in blocks; {name} is an encoder-decoder, which it does not cover: capture with lean=False (or leave lean out), and dtype='float16' to halve the record.")
    if lean and generate is not None:
        raise ValueError("lean=True covers one forward pass over a long input; generate= runs one pass per new token, which it does not cover: "
                         "leave lean out, and keep less with queries='last', layers=[...] or dtype='float16' if memory is short.")
    if not forward_kwargs or generate is not None:  # generate() checks its own keywords
        return
    accepted, open_ended = _model_keywords(model)
    for key in forward_kwargs:
        if key in accepted:
            continue
        if key in _HOOK_KEYWORDS:
            raise TypeError(f"{key}= belongs to capture_modules() (plain torch modules captured by hooks); for {name}, capture() reads the tokens, layers and kind from the model and its tokenizer itself.")
        if key == "tokens":
            raise TypeError(f"capture() takes no tokens=: {name}'s tokens come from the tokenizer and the inputs. (Labels for a plain torch module are query_tokens=.)")
        if not open_ended:
            continue  # the model's own forward raises for a keyword it does not take
        close = difflib.get_close_matches(key, list(_CAPTURE_KEYWORDS) + sorted(accepted), n=1)
        hint = f" Did you mean {close[0]}=?" if close else ""
        raise TypeError(f"capture() got {key}=, which is none of its own keywords, so it would go on to {name}.forward, which has no such parameter and would ignore it.{hint}")


# ---- the public entry point -----------------------------------------------------------------


def capture(
    model: torch.nn.Module,
    tokenizer: Any = None,
    inputs: Any = None,
    *,
    index: int = 0,
    target: Any = None,
    generate: int | None = None,
    truncate: bool | None = None,
    layers: Any = None,
    heads: Any = None,
    queries: Any = None,
    dtype: Any = None,
    memory_limit: float | None = None,
    lean: bool | None = None,
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
    truncate:  cut text longer than the model's limit (with a warning; the default); False
               raises instead.

    What to keep, when memory matters (each an int, a list of ints or a slice; negative numbers
    count from the end). The record says what it holds (layer_ids, head_ids, query_positions):
    layers:    the model's layers to keep, e.g. [3, 18].
    heads:     the query heads to keep in every kept layer.
    queries:   the query rows to keep, e.g. "last" (the last token's row: what the next token is
               predicted from) or slice(-64, None); with generate=, rows of the whole sequence.
    dtype:     "float32" (default) or "float16": half the memory, about 3 significant digits.
    memory_limit: bytes capture() may use for the record and one layer's work; default: the
               memory free now (the container's limit on Binder/JupyterHub). A capture that
               would not fit raises CaptureMemoryError before the model runs, saying how much
               it needs and what to keep instead.
    lean:      how a long input is computed. False: the model's own eager attention in every
               layer (exactly what output_attentions gives; a layer's scores and softmax exist
               at once, 1.2 GB for SmolLM2 at 4096 tokens). True: layers not kept run PyTorch's
               fused attention (no weights formed) and kept layers run the model's eager
               function on blocks of query rows (32 MB at a time); the kept weights then differ
               from eager's by float rounding (about 1e-7). None (default): eager when it fits
               memory_limit, lean when only lean fits (the record's meta says "engine": "lean").
               Decoders and encoders whose attention uses transformers' attention interface.

    Any other keyword goes on to the model's forward (e.g. interpolate_pos_encoding=True); one
    the model would ignore is refused, as is a keyword above that does not apply to the model
    at hand (target= on a model with no decoder, a tokenizer for a plain torch module, ...).
    A plain torch module is captured by capture_modules(): index=, layers=, heads=, queries=,
    dtype= and its query_tokens=/key_tokens=/kind=/modules=/weights_from= apply to it.

    Weights are copied out layer by layer as the model's attention modules return them, so
    the model never holds every layer at once: peak memory is about the model, the record and
    one layer's attention. Returns an AttentionRecord (weights [layers, heads, queries, keys]
    on the CPU), or an EncoderDecoderRecord(encoder, decoder, cross) for encoder-decoder models.
    """
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module (e.g. a Hugging Face model), got {type(model).__name__}. Did you swap model and tokenizer?")
    if inputs is None:
        raise ValueError("inputs is missing: capture(model, tokenizer, 'some text') or capture(model, None, {'input_ids': ...}).")
    if memory_limit is not None and (isinstance(memory_limit, bool) or not isinstance(memory_limit, (int, float)) or memory_limit <= 0):
        raise ValueError(f"memory_limit must be a positive number of bytes (e.g. 1.5e9), got {memory_limit!r}.")
    if lean is not None and not isinstance(lean, bool):
        raise TypeError(f"lean must be True, False or None (choose by memory), got {lean!r}.")
    keep = _Keep(layers, heads, queries, _record_dtype(dtype), memory_limit)
    if not hasattr(model, "config") or not hasattr(model, "set_attn_implementation"):
        _refuse_for_hooks(model, tokenizer, target, generate, truncate, memory_limit, lean)
        return capture_modules(model, inputs, index=index, layers=layers, heads=heads, queries=queries, dtype=dtype, **forward_kwargs)
    if generate is not None and (not isinstance(generate, int) or isinstance(generate, bool) or generate < 1):
        raise ValueError(f"generate must be a positive number of new tokens, got {generate!r}.")
    encoder_decoder = bool(getattr(model.config, "is_encoder_decoder", False))
    _refuse_for_model(model, encoder_decoder, target, generate, lean, forward_kwargs)
    truncate = True if truncate is None else truncate

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

    if encoder_decoder:
        if keep.selects:
            raise ValueError("layers=, heads= and queries= choose from one stack of layers; an encoder-decoder has three (encoder, decoder, cross): "
                             "capture it whole (dtype='float16' halves it) and use .encoder.select(...), .decoder.select(...) or .cross.select(...).")
        return _capture_encoder_decoder(model, tokenizer, batch, index, target, generate, special_given, truncate, forward_kwargs, keep)
    if generate is not None:
        return _capture_generation(model, tokenizer, batch, index, generate, special_given, forward_kwargs, keep)

    targets = _hook_targets(model)
    n_modules = sum(1 for t in targets if t[3] == "all")
    ids = batch.get("input_ids")
    n_tokens = ids.shape[1] if isinstance(ids, torch.Tensor) and ids.ndim == 2 else None
    layer_sel = select_indices(layers, n_modules, "layer") if n_modules else None
    n_heads = _n_heads(model)
    planned = _plan_size(keep, n_modules, n_heads, n_tokens, n_tokens, size)
    lean_ok = lean is not False and _supports_lean(model, targets)
    if lean and not lean_ok:
        raise ValueError(f"lean=True needs a model whose attention modules use transformers' attention interface and an eager_attention_forward; {type(model).__name__} does not: capture with lean=False.")
    use_lean = bool(lean)
    if planned is not None:
        record_bytes, eager_bytes, shape = planned
        lean_bytes = _lean_transient(n_heads, n_tokens, size)
        if lean is None and lean_ok and not keep.fits(record_bytes + eager_bytes) and keep.fits(record_bytes + lean_bytes):
            use_lean = True
        keep.check(record_bytes, lean_bytes if use_lean else eager_bytes, shape)
        if eager_bytes > 64e6:  # long inputs: large freed blocks go back to the system (see _large_blocks_mapped)
            _large_blocks_mapped()
    sink = _Sink(n_modules, index, keep, layer_sel)
    if "logits_to_keep" not in forward_kwargs and _takes(model, "logits_to_keep"):
        # a language model's logits are [length, vocabulary]: 0.8 GB for SmolLM2 at 4096 tokens, and capture() reads none
        forward_kwargs = {**forward_kwargs, "logits_to_keep": 1}
    if "use_cache" not in forward_kwargs and _takes(model, "use_cache"):
        # one pass reads no cache: a decoder would keep every layer's keys and values (190 MB for SmolLM2 at 4096 tokens)
        forward_kwargs = {**forward_kwargs, "use_cache": False}
    with (_lean(model, sink) if use_lean else _nothing()), _streaming(targets, {"all": sink}, model), _inference(model):
        out = model(**batch, **forward_kwargs, output_attentions=True, return_dict=True)
    weights, chosen = _streamed(getattr(out, "attentions", None), sink, index, model, "attentions")
    del out
    return _record(model, tokenizer, weights, batch, index, special_given, part="all", select=chosen, meta={"engine": "lean"} if use_lean else None)


@contextmanager
def _nothing():
    yield


def _takes(model: torch.nn.Module, argument: str) -> bool:
    import inspect

    try:
        return argument in inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        return False


@dataclass
class _Selected:
    """Which of the model's layers, heads and query rows a streamed array holds (None: all)."""

    layers: list[int] | None = None
    n_layers: int | None = None
    heads: list[int] | None = None
    n_heads: int | None = None
    rows: list[int] | None = None
    probe: tuple[np.ndarray, np.ndarray] | None = None  # full rows of the first layer, to tell the kind


def _axis_info(tokenizer: Any, batch: dict, index: int, special_given: Any) -> tuple[list[str], np.ndarray, np.ndarray | None]:
    ids = _pick(batch.get("input_ids"), index)
    mask = _pick(batch.get("attention_mask"), index)
    padding = None if mask is None else mask == 0
    if ids is None:
        return None, None, padding  # type: ignore[return-value]
    special = _special_mask(tokenizer, ids, None if special_given is None else _pick(special_given, index))
    return _tokens(tokenizer, ids), special, padding


def _record(model, tokenizer, weights, batch, index, special_given, part, meta=None, select: _Selected | None = None, **extra) -> AttentionRecord:
    select = select or _Selected()
    n_layers, n_heads, n_q, n_k = weights.shape
    tokens, special, padding = _axis_info(tokenizer, batch, index, special_given)
    grid = None
    if tokens is None:  # vision or audio inputs: positions, not tokens
        tokens, special, grid = _positions(model, n_k if select.rows is not None else n_q, batch)
    rows = select.rows
    if rows is not None and select.probe is not None:  # the kept rows may hold no future keys: look at whole rows
        kind = _self_kind(select.probe[0], padding, select.probe[1])
    else:
        kind = _self_kind(weights, padding, rows)
    total_layers = select.n_layers or n_layers
    names = _layer_names(model, part, total_layers)
    kv_heads = _kv_heads(model, select.n_heads or n_heads)
    fields: dict[str, Any] = {}
    if select.layers is not None:
        names = [names[i] for i in select.layers]
        fields.update(layer_ids=tuple(select.layers), model_layers=total_layers)
    if select.heads is not None:
        kv_heads = None if kv_heads is None else tuple(kv_heads[h] for h in select.heads)
        fields["head_ids"] = tuple(select.heads)
    query_tokens, query_special, query_padding = tokens, special, padding
    if rows is not None:
        query_tokens = [tokens[r] for r in rows]
        query_special = None if special is None else np.asarray(special)[rows]
        query_padding = None if padding is None else np.asarray(padding)[rows]
        fields.update(key_tokens=tokens, key_special=special, key_padding=padding, query_positions=tuple(rows))
    return _checked_record(
        weights,
        query_tokens,
        kind=kind,
        query_special=query_special,
        query_padding=query_padding,
        model_name=_model_name(model),
        layer_names=names,
        kv_heads=kv_heads,
        grid=grid,
        meta={**_dtype_meta(model), **(meta or {})},
        **fields,
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


class _StepSink(_Sink):
    """Generation: step 0 reads the prompt ([heads, P, P]); step s >= 1 reads one new token, row
    P + s - 1 of the record, over the keys so far (or a sliding window's last few). The record is
    allocated for the longest generation and filled as the steps come."""

    def __init__(self, n_layers: int, keep: _Keep, layers: list[int] | None, prompt_length: int, n_max: int):
        super().__init__(n_layers, 0, keep, layers)
        self.prompt_length, self.n_max = prompt_length, n_max
        self.step, self.per_step = -1, []  # forward passes so far; attention calls in each

    def next_step(self) -> None:
        self.step += 1
        self.per_step.append(0)

    def call_of(self, marker: Any) -> Any:
        return self.markers.get(id(marker)) if isinstance(marker, torch.Tensor) and marker.numel() == 0 else None

    def take(self, w: torch.Tensor, name: str) -> torch.Tensor:
        if self.step < 0:
            self.next_step()
        layer = self.per_step[-1]
        self.per_step[-1] += 1
        self.calls += 1
        marker = torch.empty(0)
        self.markers[id(marker)] = (self.step, layer)
        self._alive.append(marker)
        if self.slot is not None and layer not in self.slot:
            return marker
        src = w[0].detach()  # [heads, new queries, keys so far]
        if self.probe is None and self.keep.queries is not None and self.step == 0:
            self._take_probe(src)
        if self.array is None:
            n_heads = src.shape[0]
            self.shape = (n_heads, self.n_max, self.n_max)
            self.heads = select_indices(self.keep.heads, n_heads, "head")
            self.rows = select_indices(self.keep.queries, self.n_max, "query")
            n_h = n_heads if self.heads is None else len(self.heads)
            n_r = self.n_max if self.rows is None else len(self.rows)
            n_l = self.n_layers if self.layers is None else len(self.layers)
            record = n_l * n_h * n_r * self.n_max * self.keep.dtype.itemsize
            self.keep.check(record, 0, f"{n_l} layers x {n_h} heads x {n_r} queries x {self.n_max} keys of {self.keep.dtype.name} = {_size(record)}")
            self.array = np.zeros((n_l, n_h, n_r, self.n_max), dtype=self.keep.dtype)  # calloc: untouched pages cost nothing
            self.row_slot = {r: i for i, r in enumerate(self.rows if self.rows is not None else range(self.n_max))}
        slot = layer if self.slot is None else self.slot[layer]
        if slot >= self.array.shape[0]:
            raise NoAttentionError(f"{name} was called more often in one generation step than the model has attention layers ({self.n_layers}).")
        if self.heads is not None:
            src = src.index_select(0, torch.as_tensor(self.heads, device=src.device))
        dst = torch.from_numpy(self.array[slot])  # [kept heads, kept rows, n_max keys]
        n_new, n_keys = src.shape[1:]
        first = 0 if self.step == 0 else self.prompt_length + self.step - 1  # the position of this step's first query
        if self.step > 0:
            src, n_new = src[:, -1:], 1  # a step reads one new token
        pairs = [(i, self.row_slot[first + i]) for i in range(n_new) if first + i in self.row_slot]
        if not pairs:
            return marker
        end = first + n_new  # keys up to the last query's own position; a sliding window keeps the last n_keys
        start = end - n_keys if self.step > 0 else 0
        if len(pairs) == n_new and self.rows is None:
            dst[:, first : first + n_new, start:end].copy_(src)
        else:
            src_rows = torch.as_tensor([i for i, _ in pairs], device=src.device)
            dst_rows = torch.as_tensor([r for _, r in pairs])
            dst[:, dst_rows, start:end] = src.index_select(1, src_rows).to(device="cpu", dtype=dst.dtype)
        return marker


def _capture_generation(model, tokenizer, batch, index, new_tokens, special_given, forward_kwargs, keep: _Keep) -> AttentionRecord:
    """Greedy generation, recording each step's attention: row t is what token t attended to."""
    if not hasattr(model, "generate") or not model.can_generate():
        raise TypeError(f"{type(model).__name__} cannot generate; load it with AutoModelForCausalLM (a language-model head) to step through generation.")
    batch = {k: v[index : index + 1] for k, v in batch.items()}
    prompt_len = batch["input_ids"].shape[1]
    pad_id = getattr(tokenizer, "pad_token_id", None) or getattr(tokenizer, "eos_token_id", None)
    n_max = prompt_len + new_tokens - 1  # the last generated token is never read by the model
    targets = _hook_targets(model)
    n_modules = sum(1 for t in targets if t[3] == "all")
    layer_sel = select_indices(keep.layers, n_modules, "layer") if n_modules else None
    planned = _plan_size(keep, n_modules, _n_heads(model), n_max, n_max, 1)
    if planned is not None:
        keep.check(*planned)
    sink = _StepSink(n_modules, keep, layer_sel, prompt_len, n_max)
    with _streaming(targets, {"all": sink}, model, on_forward=sink.next_step), _inference(model):
        out = model.generate(**batch, **forward_kwargs, max_new_tokens=new_tokens, do_sample=False, output_attentions=True, return_dict_in_generate=True, pad_token_id=pad_id)
    steps = out.attentions  # one tuple of per-layer [1, heads, new queries, keys so far] (or markers) per step
    if not steps:
        raise NoAttentionError(f"{type(model).__name__}.generate returned no attentions; load it with attn_implementation='eager'.")
    sequence = out.sequences[0]
    n = prompt_len + len(steps) - 1
    for step in steps:
        _check_attentions(step, model, "attentions")  # says so if a step came back empty
    marks = [[sink.call_of(a) for a in step] for step in steps]
    if all(m is None for step in marks for m in step):  # the model's own tensors: no hook fired
        weights = _generation_from_steps(steps, model, prompt_len, n)
        chosen = _Selected(select_indices(keep.layers, weights.shape[0], "layer"), weights.shape[0], select_indices(keep.heads, weights.shape[1], "head"),
                           weights.shape[1], select_indices(keep.queries, n, "query"))
        weights = _select_array(weights, keep)
    else:
        if any(m != (s, layer) for s, step in enumerate(marks) for layer, m in enumerate(step)):
            raise NoAttentionError(f"{type(model).__name__}.generate reported its layers in another order than its attention modules ran; capture one forward pass at a time instead.")
        weights, rows = sink.result(), sink.rows
        if n < n_max:  # stopped early (an end-of-text token): cut to the tokens read
            keep_rows = [i for i, r in enumerate(rows or range(n_max)) if r < n]
            if not keep_rows:
                raise ValueError(f"generation stopped after {len(steps)} tokens, so none of the query rows asked for ({keep.queries!r}) was computed.")
            weights = np.ascontiguousarray(weights[:, :, keep_rows, :n])
            rows = None if rows is None else [rows[i] for i in keep_rows]
        chosen = _Selected(sink.layers, n_modules, sink.heads, sink.shape[0], rows, sink.probe)
    full = {"input_ids": sequence[None, :n]}
    if "attention_mask" in batch:
        mask = torch.ones(1, n, dtype=batch["attention_mask"].dtype)
        mask[0, :prompt_len] = batch["attention_mask"][0].cpu()
        full["attention_mask"] = mask
    generated = _tokens(tokenizer, sequence[prompt_len:].cpu().numpy())
    given = None if special_given is None else torch.cat([special_given[index : index + 1].cpu(), torch.zeros(1, n - prompt_len, dtype=special_given.dtype)], 1)
    return _record(model, tokenizer, weights, full, 0, given, part="all", prompt_length=prompt_len, meta={"generated_tokens": generated, "next_token": generated[-1]}, select=chosen)


def _generation_from_steps(steps: Any, model: torch.nn.Module, prompt_len: int, n: int) -> np.ndarray:
    """The whole generation from the model's own per-step tensors (a model without a recorder)."""
    first = _stack(steps[0], 0, model, "attentions")
    weights = np.zeros(first.shape[:2] + (n, n), dtype=np.float32)
    weights[:, :, :prompt_len, :prompt_len] = first
    for t, step in enumerate(steps[1:], start=prompt_len):
        for layer, a in enumerate(step):
            # [heads, keys]: the t + 1 keys so far, or a sliding-window layer's last few (Mistral, Gemma 2)
            row = a[0, :, -1].detach().float().cpu().numpy()
            weights[layer, :, t, t + 1 - row.shape[-1] : t + 1] = row
    return weights


def _capture_encoder_decoder(model, tokenizer, batch, index, target, generate, special_given, truncate, forward_kwargs, keep: _Keep) -> EncoderDecoderRecord:
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

    targets = _hook_targets(model)
    count = lambda part: sum(1 for t in targets if t[3] == part)  # noqa: E731
    src_ids, tgt_ids = batch.get("input_ids"), batch.get("decoder_input_ids")
    n_src = src_ids.shape[1] if isinstance(src_ids, torch.Tensor) and src_ids.ndim == 2 else None
    n_tgt = tgt_ids.shape[1] if isinstance(tgt_ids, torch.Tensor) and tgt_ids.ndim == 2 else None
    plans = [_plan_size(keep, count("encoder"), _n_heads(model, "encoder"), n_src, n_src, n_inputs),
             _plan_size(keep, count("decoder"), _n_heads(model, "decoder"), n_tgt, n_tgt, n_inputs),
             _plan_size(keep, count("cross"), _n_heads(model, "cross"), n_tgt, n_src, n_inputs)]
    if all(p is not None for p in plans):
        keep.check(sum(p[0] for p in plans), max(p[1] for p in plans), " + ".join(p[2].split(" = ")[0] for p in plans) + " = ")
    sinks = {"encoder": _Sink(count("encoder"), index, keep, None), "decoder": _Sink(count("decoder"), dec_index, keep, None), "cross": _Sink(count("cross"), dec_index, keep, None)}
    with _streaming(targets, sinks, model), _inference(model):
        out = model(**batch, **forward_kwargs, output_attentions=True, return_dict=True)
    enc, _ = _streamed(out.encoder_attentions, sinks["encoder"], index, model, "encoder attentions")
    dec, _ = _streamed(out.decoder_attentions, sinks["decoder"], dec_index, model, "decoder attentions")
    cross, _ = _streamed(out.cross_attentions, sinks["cross"], dec_index, model, "cross attentions")
    del out

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
    query_tokens: Sequence[str] | None = None,
    key_tokens: Sequence[str] | None = None,
    kind: str | None = None,
    weights_from: Callable[[Any], torch.Tensor | None] = _weights_from_output,
    index: int = 0,
    layers: Any = None,
    heads: Any = None,
    queries: Any = None,
    dtype: Any = None,
    **forward_kwargs: Any,
) -> AttentionRecord:
    """Capture attention from any torch module by forward hooks, during its real forward pass.

    modules:      the attention modules to record (names or modules), one layer each. Default:
                  every torch.nn.MultiheadAttention, which is asked for per-head weights.
    inputs:       what to call the model with: a tensor, a tuple of arguments, or a dict of
                  keyword arguments.
    weights_from: how to read the weights from a module's output; the default takes the second
                  element of a (output, weights) tuple.
    query_tokens / key_tokens: labels for the query positions (the rows) and the key positions
                  (the columns); default: position numbers. For self-attention, query_tokens
                  alone labels both. Same names as AttentionRecord and the views.
    kind:         "self", "causal" or "cross"; default: causal if no weight is on future keys,
                  cross if queries and keys differ in length, else self.
    layers / heads / queries / dtype: what to keep, as in capture(); layers pick among the
                  modules. Each module's weights are copied out (kept part only) as it returns them.
    """
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}.")
    if "tokens" in forward_kwargs:
        raise TypeError("capture_modules labels positions with query_tokens= (and key_tokens= when the keys differ), "
                        "the names AttentionRecord and the views use; tokens= would be passed on to the model.")
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

    record_dtype = _record_dtype(dtype)
    n_modules = len(chosen)
    picked = select_indices(layers, n_modules, "layer")
    chosen = chosen if picked is None else [chosen[i] for i in picked]
    seen: dict[str, list[np.ndarray]] = {name: [] for name, _ in chosen}
    full_shape: dict[str, tuple[int, int, int]] = {}  # [heads, queries, keys] as the module gave them
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
            w = weights.detach()
            if w.ndim == 3:  # unbatched input, or weights averaged over heads
                w = w[None] if isinstance(module, torch.nn.MultiheadAttention) and w.shape[0] == module.num_heads else w[:, None]
            if w.ndim != 4:
                raise ValueError(f"{name} gave weights of shape {tuple(w.shape)}; expected [batch, heads, queries, keys].")
            if not -w.shape[0] <= index < w.shape[0]:
                raise IndexError(f"index {index} is out of range for a batch of {w.shape[0]}.")
            full_shape[name] = tuple(w.shape[1:])
            w = w[index]
            hs, rs = select_indices(heads, w.shape[0], "head"), select_indices(queries, w.shape[1], "query")
            if hs is not None:
                w = w[hs]
            if rs is not None:
                w = w[:, rs]
            # only the last call is kept, and only its kept part in the record's precision
            seen[name][:] = [w.to("cpu", torch.float32).numpy().astype(record_dtype, copy=False)]
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

    kept = []
    for name, _ in chosen:
        if not seen[name]:
            raise NoAttentionError(f"{name} was never called during the forward pass, so it recorded nothing; check the module names.")
        kept.append(seen[name][-1])
    shapes = {tuple(w.shape) for w in kept}
    if len(shapes) != 1:
        raise ValueError(f"the modules gave weights of different shapes {sorted(shapes)}; capture them in separate calls.")
    weights = np.stack(kept)
    del kept, seen
    n_heads_seen, full_q, n_k = full_shape[chosen[0][0]]
    rows = select_indices(queries, full_q, "query")
    positions = None if rows is None else np.asarray(rows)
    if kind is None:
        kind = "cross" if full_q != n_k and key_tokens is not None else ("causal" if _is_causal(weights, positions=positions) else "self")
    q_tokens = list(query_tokens) if query_tokens is not None else [str(i) for i in range(full_q)]
    k_tokens = list(key_tokens) if key_tokens is not None else (None if full_q == n_k and query_tokens is not None else [str(j) for j in range(n_k)])
    fields: dict[str, Any] = {}
    if rows is not None:
        if len(q_tokens) != full_q:
            raise ValueError(f"query_tokens has {len(q_tokens)} labels but the weights have {full_q} queries.")
        k_tokens = q_tokens if k_tokens is None else k_tokens
        q_tokens = [q_tokens[r] for r in rows]
        fields["query_positions"] = tuple(rows)
    if picked is not None:
        fields.update(layer_ids=tuple(picked), model_layers=n_modules)
    hs = select_indices(heads, n_heads_seen, "head")
    if hs is not None:
        fields["head_ids"] = tuple(hs)
    return AttentionRecord(weights, q_tokens, k_tokens, kind=kind, model_name=type(model).__name__, layer_names=[n for n, _ in chosen], meta=_dtype_meta(model), **fields)
