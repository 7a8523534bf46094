"""Shared fixtures: the offline pretrained models, loaded once per test session."""

import numpy as np
import pytest


@pytest.fixture(scope="session")
def minilm():
    from attnwidgets.models import load_model

    return load_model("minilm")


@pytest.fixture(scope="session")
def smollm2():
    from attnwidgets.models import load_model

    return load_model("smollm2")


def softmaxed(shape, seed=0, causal=False):
    """Random attention weights whose rows are distributions."""
    rng = np.random.default_rng(seed)
    scores = rng.normal(size=shape).astype(np.float32)
    if causal:
        n_q, n_k = shape[-2:]
        scores = np.where(np.triu(np.ones((n_q, n_k), bool), k=n_k - n_q + 1), -np.inf, scores)
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    return weights / weights.sum(-1, keepdims=True)
