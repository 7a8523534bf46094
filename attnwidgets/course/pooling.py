"""Notebook 01: attention as a weighted average (kernel-regression pooling), scoring functions,
softmax temperature and the 1/sqrt(d) scale.

Attention pools values: out(q) = sum_i w_i(q) v_i with weights w(q) = softmax(score(q, k_i)) that
are positive and sum to 1. Nadaraya-Watson kernel regression (1964) is the oldest instance: the
score is minus the squared distance between the query and each key, divided by 2 width^2.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch

from ..record import AttentionRecord
from . import exercises as ex

SCORINGS = ("dot", "scaled dot", "additive")


# ---- 1-D kernel regression -------------------------------------------------------------------


def true_function(x: np.ndarray) -> np.ndarray:
    """The curve the toy data is drawn from (smooth, with a bump: a weighted average must follow it)."""
    return 2 * np.sin(x) + x**0.8


def make_regression(n: int = 40, noise: float = 0.5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Noisy samples (keys x, values y) of true_function on [0, 5], sorted by x."""
    if n < 2:
        raise ValueError(f"make_regression needs at least 2 points, got n={n}.")
    rng = np.random.default_rng(seed)
    x = np.sort(rng.uniform(0, 5, n))
    return x, true_function(x) + rng.normal(0, noise, n)


def softmax(scores: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Softmax over the last axis; a higher temperature flattens the weights, a lower one sharpens them."""
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}.")
    z = np.asarray(scores, dtype=np.float64) / temperature
    z = z - z.max(axis=-1, keepdims=True)  # exp of large scores would overflow
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def kernel_weights(queries: Any, keys: np.ndarray, width: float) -> np.ndarray:
    """Gaussian-kernel attention weights [queries, keys]: softmax(-(q - k)^2 / (2 width^2))."""
    if not width > 0:
        raise ValueError(f"width must be > 0, got {width}.")
    q = np.atleast_1d(np.asarray(queries, dtype=np.float64))
    return softmax(-((q[:, None] - np.asarray(keys)[None, :]) ** 2) / (2 * width**2))


def nadaraya_watson(queries: Any, keys: np.ndarray, values: np.ndarray, width: float) -> tuple[np.ndarray, np.ndarray]:
    """Kernel regression as attention pooling: (predictions [queries], weights [queries, keys])."""
    w = kernel_weights(queries, keys, width)
    return w @ np.asarray(values), w


def kernel_record(queries: np.ndarray, keys: np.ndarray, width: float) -> AttentionRecord:
    """The weights of a grid of queries as a one-head record, labelled by position, for aw.Heatmap."""
    w = kernel_weights(queries, keys, width)
    return AttentionRecord.from_matrix(w, [f"q={q:.2f}" for q in queries], [f"x={k:.2f}" for k in keys], kind="cross")


# ---- scoring functions -----------------------------------------------------------------------


@dataclass
class Scorer:
    """The three classic scoring functions with fixed, seeded parameters for the additive one.

    dot:        q . k
    scaled dot: q . k / sqrt(d)                                (Vaswani et al., 2017)
    additive:   v . tanh(W_q q + W_k k)                        (Bahdanau et al., 2015)
    """

    d: int
    hidden: int = 16
    seed: int = 0

    def __post_init__(self) -> None:
        g = torch.Generator().manual_seed(self.seed)
        self.w_q = torch.randn(self.hidden, self.d, generator=g) / math.sqrt(self.d)  # [hidden, d]
        self.w_k = torch.randn(self.hidden, self.d, generator=g) / math.sqrt(self.d)
        self.v = torch.randn(self.hidden, generator=g)

    def __call__(self, queries: torch.Tensor, keys: torch.Tensor, kind: str) -> torch.Tensor:
        """Scores [queries, keys] of queries [Q, d] against keys [K, d]."""
        if kind not in SCORINGS:
            raise ValueError(f"kind must be one of {SCORINGS}, got {kind!r}.")
        if queries.shape[-1] != self.d or keys.shape[-1] != self.d:
            raise ValueError(f"queries and keys need {self.d} features, got {tuple(queries.shape)} and {tuple(keys.shape)}.")
        if kind == "dot":
            return queries @ keys.T
        if kind == "scaled dot":
            return queries @ keys.T / math.sqrt(self.d)
        hidden = torch.tanh((queries @ self.w_q.T)[:, None, :] + (keys @ self.w_k.T)[None, :, :])  # [Q, K, hidden]
        return hidden @ self.v


def attention(queries: torch.Tensor, keys: torch.Tensor, values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Scaled dot-product attention: (outputs [Q, d_v], weights [Q, K]). The one-line core of every Transformer."""
    weights = torch.softmax(queries @ keys.T / math.sqrt(queries.shape[-1]), dim=-1)
    return weights @ values, weights


# ---- focus: entropy, temperature and the scale -------------------------------------------------


def entropy_bits(weights: np.ndarray) -> np.ndarray:
    """Entropy of each row in bits: 0 = all weight on one key, log2(n) = spread evenly over n keys."""
    p = np.asarray(weights, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return -np.where(p > 0, p * np.log2(p), 0.0).sum(axis=-1)


def scale_experiment(dims: tuple[int, ...] = (4, 16, 64, 256, 1024), n_keys: int = 32, trials: int = 500, seed: int = 0) -> dict[str, np.ndarray]:
    """Why 1/sqrt(d): random queries and keys with unit-variance entries, softmax with and without the scale.

    Dot products of d such entries have variance d, so unscaled scores grow like sqrt(d), the softmax
    saturates (one key takes nearly everything) and its gradient vanishes. Returns, per d: mean
    entropy (bits), mean largest weight and mean gradient size (Frobenius norm of the softmax
    Jacobian), unscaled and scaled, plus the spread (std) of the scores.
    """
    rng = np.random.default_rng(seed)
    out: dict[str, list] = {k: [] for k in ("entropy_raw", "entropy_scaled", "max_raw", "max_scaled", "grad_raw", "grad_scaled", "score_std_raw", "score_std_scaled")}
    for d in dims:
        q = rng.standard_normal((trials, 1, d))
        k = rng.standard_normal((trials, n_keys, d))
        raw = (q * k).sum(-1)  # [trials, keys]
        for name, s in (("raw", raw), ("scaled", raw / math.sqrt(d))):
            w = softmax(s)
            out[f"entropy_{name}"].append(entropy_bits(w).mean())
            out[f"max_{name}"].append(w.max(-1).mean())
            # Jacobian of softmax: diag(w) - w w^T; its norm says how much a score change moves the weights
            jac = w[:, :, None] * (np.eye(n_keys)[None] - w[:, None, :])
            out[f"grad_{name}"].append(np.sqrt((jac**2).sum((1, 2))).mean())
            out[f"score_std_{name}"].append(s.std())
    result = {k: np.array(v) for k, v in out.items()}
    result["dims"] = np.array(dims)
    result["uniform_bits"] = np.array(math.log2(n_keys))
    return result


# ---- widgets ---------------------------------------------------------------------------------


def pooling_explorer(keys: np.ndarray, values: np.ndarray, query: float = 2.5, width: float = 0.5) -> Any:
    """Sliders for the query and the kernel width; the data, the weights as bars and the prediction redraw live."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    q_slider = widgets.FloatSlider(value=query, min=0.0, max=5.0, step=0.05, description="query x", continuous_update=True)
    w_slider = widgets.FloatLogSlider(value=width, base=10, min=-1.7, max=0.7, step=0.05, description="width", readout_format=".2f")
    out = widgets.Output(layout=widgets.Layout(min_height="330px"))
    grid = np.linspace(0, 5, 200)

    def draw(*_: Any) -> None:
        pred, w = nadaraya_watson(q_slider.value, keys, values, w_slider.value)
        curve, _ = nadaraya_watson(grid, keys, values, w_slider.value)
        with out:
            out.clear_output(wait=True)
            fig, (top, bottom) = plt.subplots(2, 1, figsize=(7.5, 4.6), sharex=True, gridspec_kw={"height_ratios": [2, 1]})
            top.plot(grid, true_function(grid), color="0.6", lw=1, label="true curve")
            top.plot(grid, curve, color="C0", lw=2, label=f"attention pooling, width {w_slider.value:.2f}")
            top.scatter(keys, values, s=15 + 400 * w[0], color="C1", alpha=0.8, label="(key, value) pairs, size = weight", zorder=3)
            top.axvline(q_slider.value, color="C3", ls="--", lw=1)
            top.scatter([q_slider.value], pred, marker="*", s=220, color="C3", zorder=4, label=f"prediction at the query: {pred[0]:.2f}")
            top.legend(fontsize=8, loc="upper left")
            top.set_ylabel("value")
            bottom.bar(keys, w[0], width=0.08, color="C1")
            bottom.axvline(q_slider.value, color="C3", ls="--", lw=1)
            bottom.set_ylabel("weight")
            bottom.set_xlabel(f"key x  (weights sum to {w[0].sum():.3f}; largest {w[0].max():.2f})")
            fig.tight_layout()
            plt.show()

    q_slider.observe(draw, "value")
    w_slider.observe(draw, "value")
    draw()
    return widgets.VBox([widgets.HBox([q_slider, w_slider]), out])


def scoring_explorer(d: int = 8, n_keys: int = 10, seed: int = 1) -> Any:
    """The same query and keys under each scoring function; a temperature slider sharpens or flattens."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    g = torch.Generator().manual_seed(seed)
    keys = torch.randn(n_keys, d, generator=g)
    query = keys[3] + 0.5 * torch.randn(d, generator=g)  # close to key 3, so every scorer has a favourite
    scorer = Scorer(d, seed=seed)
    temperature = widgets.FloatLogSlider(value=1.0, base=10, min=-1, max=1, step=0.05, description="temperature", readout_format=".2f")
    out = widgets.Output(layout=widgets.Layout(min_height="250px"))

    def draw(*_: Any) -> None:
        with out:
            out.clear_output(wait=True)
            fig, axes = plt.subplots(1, len(SCORINGS), figsize=(10, 2.6), sharey=True)
            for ax, kind in zip(axes, SCORINGS):
                w = softmax(scorer(query[None], keys, kind).numpy(), temperature.value)[0]
                ax.bar(range(n_keys), w, color="C0")
                ax.set_title(f"{kind}: entropy {entropy_bits(w):.2f} bits", fontsize=9)
                ax.set_xticks(range(n_keys), [f"k{i}" for i in range(n_keys)], fontsize=7)
            axes[0].set_ylabel("weight")
            fig.tight_layout()
            plt.show()

    temperature.observe(draw, "value")
    draw()
    return widgets.VBox([temperature, out])


# ---- exercises -------------------------------------------------------------------------------


def check_kernel_weights(fn: Callable[..., Any]) -> ex.Feedback:
    """Exercise 1: the student's kernel_weights(query, keys, width) for one query -> weights [keys]."""
    keys, width = np.array([0.0, 1.0, 2.0, 4.0]), 0.7
    got, problem = ex.attempt(fn, 1.2, keys, width)
    if problem is not None:
        return problem
    got = np.asarray(got, dtype=np.float64).reshape(-1)
    want = kernel_weights(1.2, keys, width)[0]
    if got.shape != want.shape:
        return ex.wrong(f"expected one weight per key ({len(keys)}), got shape {got.shape}.", "Compute one score per key, then one softmax over all of them.")
    if np.allclose(got, want, atol=1e-6):
        return ex.right(f"Correct: weights {np.round(got, 3).tolist()} sum to 1, and the nearest key (x=1) gets the most.")
    if not np.isclose(got.sum(), 1, atol=1e-6):
        return ex.wrong(f"your weights sum to {got.sum():.3f}, not 1.", "Attention weights are a softmax: exponentiate the scores and divide by their sum.")
    if np.argmax(got) != np.argmax(want):
        return ex.wrong("the farthest key gets the most weight.", "The score is MINUS the squared distance: closer keys must score higher.")
    if np.allclose(got, kernel_weights(1.2, keys, width * math.sqrt(2))[0], atol=1e-6) or np.allclose(got, softmax(-((1.2 - keys) ** 2) / width**2), atol=1e-6):
        return ex.wrong("close, but the width enters the wrong way.", "The score is -(q - k)^2 / (2 * width^2): square the width and keep the 2.")
    return ex.wrong(f"expected {np.round(want, 3).tolist()}, got {np.round(got, 3).tolist()}.", "score_i = -(query - key_i)^2 / (2 * width^2); weights = softmax(scores).")


def check_scaled_scores(fn: Callable[..., Any]) -> ex.Feedback:
    """Exercise 2: the student's scaled_dot_scores(queries [Q, d], keys [K, d]) -> [Q, K]."""
    g = torch.Generator().manual_seed(7)
    q, k = torch.randn(3, 16, generator=g), torch.randn(5, 16, generator=g)
    got, problem = ex.attempt(fn, q, k)
    if problem is not None:
        return problem
    got = torch.as_tensor(got, dtype=torch.float32)
    want = q @ k.T / 4.0
    if got.shape != want.shape:
        hint = "keys.T (or keys.transpose(0, 1)) lines the feature axes up: [Q, d] @ [d, K] -> [Q, K]." if got.shape == (5, 3) or got.numel() != 15 else "One score per (query, key) pair."
        return ex.wrong(f"expected shape {tuple(want.shape)} (queries x keys), got {tuple(got.shape)}.", hint)
    if torch.allclose(got, want, atol=1e-5):
        return ex.right("Correct: scores = Q K^T / sqrt(d), one row per query.")
    if torch.allclose(got, q @ k.T, atol=1e-5):
        return ex.wrong("these are the raw dot products: the scale is missing.", "Divide by sqrt(d), where d = queries.shape[-1] (here sqrt(16) = 4).")
    if torch.allclose(got, q @ k.T / 16, atol=1e-5):
        return ex.wrong("you divided by d, not by its square root.", "Use math.sqrt(d): the dot product's spread grows like sqrt(d).")
    if torch.allclose(got.sum(-1), torch.ones(3), atol=1e-4):
        return ex.wrong("these rows sum to 1: you applied the softmax.", "Return the scores before the softmax; the softmax comes next.")
    return ex.wrong("the values differ from Q K^T / sqrt(d).", "queries @ keys.T / math.sqrt(queries.shape[-1])")


def check_temperature(value: Any) -> ex.Feedback:
    """Exercise 3: the temperature that makes unscaled dot-product attention at d = 256 behave like scaled."""
    if ex.is_unanswered(value):
        return ex.unanswered()
    try:
        t = float(value)
    except (TypeError, ValueError):
        return ex.wrong(f"expected a number, got {value!r}.", "A temperature is one positive number.")
    if math.isclose(t, 16, rel_tol=0.02):
        return ex.right("Correct: dividing by a temperature of sqrt(256) = 16 is exactly the 1/sqrt(d) scale.")
    if math.isclose(t, 256, rel_tol=0.02):
        return ex.wrong("256 is d itself: that over-flattens the weights.", "The scores' spread grows like sqrt(d), not d.")
    if math.isclose(t, 1 / 16, rel_tol=0.02):
        return ex.wrong("that sharpens the weights further.", "softmax(scores / T): a temperature above 1 flattens them.")
    return ex.wrong(f"{t:g} is not it.", "The unscaled scores have standard deviation sqrt(d); which T brings it back to 1?")
