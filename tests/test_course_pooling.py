"""Notebook 01's teaching code: kernel pooling, scoring functions, the scale experiment, the exercise checks."""

import math

import numpy as np
import pytest
import torch

from attnwidgets.course import pooling


def test_kernel_weights_are_distributions_peaked_at_the_nearest_key():
    keys = np.array([0.0, 1.0, 2.0, 4.0])
    w = pooling.kernel_weights([1.2, 3.9], keys, width=0.5)
    assert w.shape == (2, 4)
    np.testing.assert_allclose(w.sum(-1), 1.0, atol=1e-12)
    assert (w > 0).all() and w[0].argmax() == 1 and w[1].argmax() == 3
    # a tiny width is a nearest-neighbour lookup; a huge one is the plain mean
    assert pooling.kernel_weights(1.2, keys, 1e-3)[0, 1] == pytest.approx(1.0)
    np.testing.assert_allclose(pooling.kernel_weights(1.2, keys, 1e4)[0], 0.25, atol=1e-6)


def test_nadaraya_watson_recovers_the_curve_at_a_sensible_width():
    keys, values = pooling.make_regression(n=200, noise=0.3, seed=1)
    grid = np.linspace(0.5, 4.5, 50)
    pred, w = pooling.nadaraya_watson(grid, keys, values, width=0.25)
    assert w.shape == (50, 200)
    assert np.mean((pred - pooling.true_function(grid)) ** 2) < 0.05


def test_bad_inputs_are_refused_with_a_reason():
    with pytest.raises(ValueError, match="width must be > 0"):
        pooling.kernel_weights(1.0, np.arange(3.0), 0)
    with pytest.raises(ValueError, match="temperature"):
        pooling.softmax(np.zeros(3), temperature=-1)
    with pytest.raises(ValueError, match="kind must be one of"):
        pooling.Scorer(4)(torch.zeros(1, 4), torch.zeros(2, 4), "cosine")
    with pytest.raises(ValueError, match="features"):
        pooling.Scorer(4)(torch.zeros(1, 3), torch.zeros(2, 4), "dot")


def test_attention_equals_torch_sdpa_and_scorers_agree_with_their_formulas():
    g = torch.Generator().manual_seed(0)
    q, k, v = torch.randn(3, 8, generator=g), torch.randn(5, 8, generator=g), torch.randn(5, 4, generator=g)
    out, w = pooling.attention(q, k, v)
    ref = torch.nn.functional.scaled_dot_product_attention(q[None], k[None], v[None])[0]
    assert torch.allclose(out, ref, atol=1e-6) and torch.allclose(w.sum(-1), torch.ones(3))
    scorer = pooling.Scorer(8, hidden=6, seed=2)
    assert torch.allclose(scorer(q, k, "scaled dot") * math.sqrt(8), scorer(q, k, "dot"), atol=1e-5)
    additive = scorer(q, k, "additive")
    by_hand = torch.stack([torch.stack([scorer.v @ torch.tanh(scorer.w_q @ qi + scorer.w_k @ kj) for kj in k]) for qi in q])
    assert additive.shape == (3, 5) and torch.allclose(additive, by_hand, atol=1e-5)


def test_scale_experiment_shows_saturation_without_the_scale():
    s = pooling.scale_experiment(dims=(4, 64, 1024), n_keys=32, trials=300)
    assert s["entropy_raw"][0] > s["entropy_raw"][1] > s["entropy_raw"][2] and s["entropy_raw"][2] < 0.5
    assert np.ptp(s["entropy_scaled"]) < 0.1 and s["entropy_scaled"].min() > 4.0
    assert s["grad_raw"][2] < 0.5 * s["grad_scaled"][2]
    np.testing.assert_allclose(s["score_std_scaled"], 1.0, atol=0.05)
    np.testing.assert_allclose(s["score_std_raw"], np.sqrt([4, 64, 1024]), rtol=0.05)


def test_entropy_bits_of_one_hot_and_uniform():
    assert pooling.entropy_bits(np.array([0.0, 1.0, 0.0])) == 0.0
    assert pooling.entropy_bits(np.full(8, 1 / 8)) == pytest.approx(3.0)


def test_widgets_build_and_the_record_is_a_heatmap_input():
    keys, values = pooling.make_regression()
    box = pooling.pooling_explorer(keys, values)
    query, width = box.children[0].children
    query.value = 1.0
    width.value = 0.1  # redraws without error
    assert pooling.scoring_explorer(d=8) is not None
    record = pooling.kernel_record(np.linspace(0, 5, 7), keys, 0.3)
    assert record.shape == (1, 1, 7, 40) and record.kind == "cross"


# ---- exercise checks: right passes, unanswered says so, typical mistakes get their hint ----------


def _unanswered(*args):
    raise NotImplementedError


def test_check_kernel_weights():
    right = lambda q, keys, w: pooling.kernel_weights(q, keys, w)[0]
    assert pooling.check_kernel_weights(right)
    assert pooling.check_kernel_weights(_unanswered).status == "unanswered"
    assert pooling.check_kernel_weights(None).status == "unanswered"
    unnormalised = lambda q, keys, w: np.exp(-((q - keys) ** 2) / (2 * w**2))
    assert "sum to" in pooling.check_kernel_weights(unnormalised).message
    plus_sign = lambda q, keys, w: pooling.softmax((q - keys) ** 2 / (2 * w**2))
    assert "farthest" in pooling.check_kernel_weights(plus_sign).message
    no_two = lambda q, keys, w: pooling.softmax(-((q - keys) ** 2) / w**2)
    assert "width" in pooling.check_kernel_weights(no_two).message
    crashing = lambda q, keys, w: q.nope
    feedback = pooling.check_kernel_weights(crashing)
    assert feedback.status == "wrong" and "AttributeError" in feedback.message


def test_check_scaled_scores():
    assert pooling.check_scaled_scores(lambda q, k: q @ k.T / math.sqrt(q.shape[-1]))
    assert pooling.check_scaled_scores(_unanswered).status == "unanswered"
    assert "scale is missing" in pooling.check_scaled_scores(lambda q, k: q @ k.T).message
    assert "square root" in pooling.check_scaled_scores(lambda q, k: q @ k.T / q.shape[-1]).message
    assert "softmax" in pooling.check_scaled_scores(lambda q, k: torch.softmax(q @ k.T / 4, -1)).message
    assert "shape" in pooling.check_scaled_scores(lambda q, k: k @ q.T / 4).message


def test_check_temperature():
    assert pooling.check_temperature(16) and pooling.check_temperature(16.0)
    assert pooling.check_temperature(None).status == "unanswered"
    assert "sqrt" in pooling.check_temperature(256).hint
    assert not pooling.check_temperature(1 / 16) and not pooling.check_temperature(4)
    assert "number" in pooling.check_temperature("sixteen").message
