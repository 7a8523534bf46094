import numpy as np
import pytest

from attnwidgets import AttentionRecord
from attnwidgets.analysis import entropy, rollout
from conftest import softmaxed

TOKENS = ["a", "b", "c", "d"]


def test_rollout_matches_the_recurrence_by_hand():
    rec = AttentionRecord(softmaxed((3, 2, 4, 4), seed=1), TOKENS)
    out = rollout(rec)
    assert out.shape == (3, 1, 4, 4) and out.meta["analysis"] == "rollout"
    expected = np.eye(4)
    for layer in range(3):
        a = 0.5 * np.eye(4) + 0.5 * rec.weights[layer].mean(0)
        expected = a @ expected
        np.testing.assert_allclose(out.weights[layer, 0], expected, atol=1e-6)
    np.testing.assert_allclose(out.weights.sum(-1), 1.0, atol=1e-5)  # flows stay distributions


def test_rollout_of_identity_attention_is_identity_and_causal_stays_causal():
    eye = np.broadcast_to(np.eye(4, dtype=np.float32), (2, 3, 4, 4))
    np.testing.assert_allclose(rollout(AttentionRecord(eye, TOKENS)).weights[-1, 0], np.eye(4), atol=1e-7)
    causal = AttentionRecord(softmaxed((2, 2, 4, 4), causal=True), TOKENS, kind="causal")
    out = rollout(causal, head="max")
    assert out.kind == "causal" and np.triu(out.weights[-1, 0], 1).max() == 0


def test_rollout_refuses_what_it_cannot_roll():
    cross = AttentionRecord(softmaxed((1, 1, 2, 4)), ["x", "y"], TOKENS, kind="cross")
    with pytest.raises(ValueError, match="square self-attention"):
        rollout(cross)
    with pytest.raises(TypeError, match="AttentionRecord"):
        rollout(np.eye(3))
    with pytest.raises(ValueError, match="residual"):
        rollout(AttentionRecord(softmaxed((1, 1, 4, 4)), TOKENS), residual=1.0)


def test_entropy_in_bits():
    uniform = np.full((1, 1, 4, 4), 0.25, np.float32)
    sharp = np.broadcast_to(np.eye(4, dtype=np.float32), (1, 1, 4, 4))
    both = AttentionRecord(np.concatenate([uniform, sharp], axis=1), TOKENS)
    np.testing.assert_allclose(entropy(both), [[2.0, 0.0]], atol=1e-6)


def test_offset_score_finds_previous_and_next_token_heads():
    import numpy as np
    import pytest

    from attnwidgets import AttentionRecord
    from attnwidgets.analysis import offset_score

    w = np.zeros((1, 2, 4, 4), np.float32)
    w[0, 0] = np.eye(4, k=-1)
    w[0, 0, 0, 0] = 1  # the first token has no previous one: it looks at itself
    w[0, 1] = np.eye(4, k=1)
    w[0, 1, 3, 3] = 1
    record = AttentionRecord(w, list("abcd"))
    assert offset_score(record, -1).tolist() == [[1.0, 0.0]]
    assert offset_score(record, 1).tolist() == [[0.0, 1.0]]
    with pytest.raises(TypeError, match="non-zero"):
        offset_score(record, 0)
    with pytest.raises(ValueError, match="out of range"):
        offset_score(record, 4)
