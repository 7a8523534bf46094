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
    out = rollout(causal, aggregate="max")
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


def test_is_punctuation_knows_marks_from_both_tokenizers():
    from attnwidgets.analysis import is_punctuation

    assert all(is_punctuation(t) for t in [".", ",", "?!", "'", "\"", "##.", "Ġ,", "—", "..."])
    assert not any(is_punctuation(t) for t in ["[SEP]", "dog", "'t", "$", "+", "Ġ", "", "3.5"])


def test_attention_share_sums_the_selected_keys_and_averages_queries():
    from attnwidgets.analysis import attention_share, is_punctuation, key_mask, uniform_share

    tokens = ["[CLS]", "hi", ",", "you", "[SEP]"]
    w = np.zeros((1, 2, 5, 5), np.float32)
    w[0, 0, :, 4] = 1.0  # head 0: everything on [SEP]
    w[0, 1, :, 0] = 0.5  # head 1: half on [CLS], half spread over "hi" and ","
    w[0, 1, :, 1] = 0.25
    w[0, 1, :, 2] = 0.25
    rec = AttentionRecord(w, tokens, query_special=[1, 0, 0, 0, 1])
    np.testing.assert_allclose(attention_share(rec, "[SEP]"), [[1.0, 0.0]])
    np.testing.assert_allclose(attention_share(rec, rec.key_special), [[1.0, 0.5]])
    np.testing.assert_allclose(attention_share(rec, is_punctuation), [[0.0, 0.25]])
    np.testing.assert_allclose(attention_share(rec, {"hi", "you"}), [[0.0, 0.25]])
    assert uniform_share(rec, "[SEP]") == 0.2 and uniform_share(rec, is_punctuation) == 0.2
    assert key_mask(rec, ["[CLS]", "[SEP]"]).tolist() == [True, False, False, False, True]
    with pytest.raises(ValueError, match="one flag per key"):
        attention_share(rec, [True, False])
    with pytest.raises(TypeError, match="booleans"):
        attention_share(rec, np.array([1, 0, 0, 0, 1]))
    with pytest.raises(TypeError, match="AttentionRecord"):
        attention_share(w, "[SEP]")


def test_shares_leave_padding_out_and_causal_baseline_counts_visible_keys():
    from attnwidgets.analysis import attention_share, uniform_share

    w = softmaxed((1, 1, 4, 4), seed=3)
    w[..., 3] = 0.0  # the padded key gets nothing
    w = w / w.sum(-1, keepdims=True)
    padded = AttentionRecord(w, ["a", "b", "a", "<pad>"], query_padding=[0, 0, 0, 1])
    expected = w[0, 0, :3, [0, 2]].sum(0).mean() / 1.0
    np.testing.assert_allclose(attention_share(padded, "a"), [[expected]], rtol=1e-5)
    assert uniform_share(padded, "a") == pytest.approx(2 / 3)
    causal = AttentionRecord(softmaxed((1, 1, 4, 4), causal=True), ["s", "x", "y", "z"], kind="causal")
    # query 0 sees only "s"; query 3 sees 4 keys: (1 + 1/2 + 1/3 + 1/4) / 4
    assert uniform_share(causal, "s") == pytest.approx((1 + 1 / 2 + 1 / 3 + 1 / 4) / 4)


def test_future_share_is_zero_for_causal_and_counts_later_keys():
    from attnwidgets.analysis import future_share

    causal = AttentionRecord(softmaxed((2, 3, 5, 5), causal=True), list("abcde"), kind="causal")
    assert future_share(causal).shape == (2, 3) and future_share(causal).max() == 0.0
    w = np.broadcast_to(np.eye(4, k=1, dtype=np.float32), (1, 1, 4, 4)).copy()
    w[0, 0, 3, 3] = 1.0  # the last token has no next one
    np.testing.assert_allclose(future_share(AttentionRecord(w, list("abcd"))), [[0.75]])


def test_attention_distance_is_total_variation():
    from attnwidgets.analysis import attention_distance

    a = AttentionRecord(softmaxed((2, 2, 3, 3), seed=1), list("abc"))
    assert np.abs(attention_distance(a, a)).max() == 0.0
    left = np.broadcast_to(np.eye(3, dtype=np.float32), (1, 1, 3, 3))
    right = np.broadcast_to(np.eye(3, k=1, dtype=np.float32) + np.eye(3, k=-2, dtype=np.float32), (1, 1, 3, 3))
    np.testing.assert_allclose(attention_distance(AttentionRecord(left, list("abc")), AttentionRecord(right, list("abc"))), [[1.0]])
    half = np.full((1, 1, 3, 3), 0.0, np.float32)
    half[..., 0] = 0.5
    half[0, 0, [0, 1, 2], [0, 1, 2]] += 0.5  # row 0: all on key 0; rows 1 and 2: half on 0, half on self
    d = attention_distance(AttentionRecord(left, list("abc")), AttentionRecord(half, list("abc")))
    np.testing.assert_allclose(d, [[(0 + 0.5 + 0.5) / 3]])
    with pytest.raises(ValueError, match="same shape"):
        attention_distance(a, AttentionRecord(softmaxed((2, 2, 4, 4)), list("abcd")))
