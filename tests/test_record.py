import numpy as np
import pytest

from attnwidgets import AttentionRecord
from conftest import softmaxed

TOKENS = ["[CLS]", "the", "cat", "sat", "[SEP]"]


def make(shape=(2, 3, 5, 5), **kw):
    return AttentionRecord(softmaxed(shape), kw.pop("tokens", TOKENS), **kw)


def test_valid_record_is_float32_and_read_only():
    rec = make(query_special=[1, 0, 0, 0, 1])
    assert rec.weights.dtype == np.float32 and rec.shape == (2, 3, 5, 5)
    assert rec.key_tokens == tuple(TOKENS) and rec.key_special.tolist() == [True, False, False, False, True]
    assert rec.layer_names == ("layer 0", "layer 1")
    with pytest.raises(ValueError):
        rec.weights[0, 0, 0, 0] = 1.0


def test_torch_tensor_in_any_dtype_becomes_float32_numpy():
    import torch

    w = torch.tensor(softmaxed((1, 2, 5, 5)), dtype=torch.float16)
    rec = AttentionRecord(w, TOKENS)
    assert isinstance(rec.weights, np.ndarray) and rec.weights.dtype == np.float32


@pytest.mark.parametrize(
    "weights, tokens, message",
    [
        (softmaxed((3, 5, 5)), TOKENS, "4 dimensions"),
        (softmaxed((5, 5)), TOKENS, "from_matrix"),
        (softmaxed((1, 1, 5, 5)), TOKENS[:4], "query_tokens has 4 tokens but the weights have 5"),
        (softmaxed((1, 1, 5, 5)), "the cat", "not one string"),
        (np.zeros((1, 0, 5, 5)), TOKENS, "empty"),
        (np.full((1, 1, 5, 5), 0.2, np.float32) * np.array([1, 1, 1, 1, np.nan], np.float32), TOKENS, "NaN"),
        (np.full((1, 1, 5, 5), 0.3, np.float32), TOKENS, "sums to 1.5000"),
        (np.full((1, 1, 5, 5), -0.2, np.float32), TOKENS, "negative"),
        (np.array([[[["a"]]]]), ["x"], "numeric"),
    ],
)
def test_bad_weights_are_refused_with_a_reason(weights, tokens, message):
    with pytest.raises((ValueError, TypeError), match=message):
        AttentionRecord(weights, tokens)


def test_other_bad_fields():
    with pytest.raises(ValueError, match="kind must be one of"):
        make(kind="global")
    with pytest.raises(ValueError, match="give key_tokens"):
        AttentionRecord(softmaxed((1, 1, 2, 5)), ["a", "b"])
    with pytest.raises(ValueError, match="one flag per token"):
        make(query_special=[True, False])
    with pytest.raises(ValueError, match="layer_names has 1 names for 2 layers"):
        make(layer_names=["only one"])
    with pytest.raises(ValueError, match="future tokens"):
        make(kind="causal")
    with pytest.raises(ValueError, match="gates in"):
        AttentionRecord(np.full((1, 1, 1, 4), 2.0), ["img"], ["a", "b", "c", "d"], kind="channel")


def test_causal_and_gates_accepted():
    causal = AttentionRecord(softmaxed((1, 2, 5, 5), causal=True), TOKENS, kind="causal")
    assert causal.matrix(0, 1)[0, 1:].max() == 0
    gates = AttentionRecord(np.random.default_rng(0).random((2, 1, 1, 12)), ["image"], [f"px{i}" for i in range(12)], kind="spatial", grid=(3, 4))
    assert gates.grid == (3, 4)


def test_selection_and_aggregates():
    rec = make()
    np.testing.assert_array_equal(rec.matrix(1, 2), rec.weights[1, 2])
    np.testing.assert_array_equal(rec.matrix(-1, -1), rec.weights[1, 2])
    np.testing.assert_allclose(rec.matrix(0, aggregate="mean"), rec.weights[0].mean(0))
    np.testing.assert_allclose(rec.matrix(0, aggregate="max"), rec.weights[0].max(0))
    with pytest.raises(IndexError, match="layer 2 is out of range: this record has 2 layers"):
        rec.matrix(2, 0)
    with pytest.raises(IndexError, match="head 3 is out of range"):
        rec.matrix(0, 3)
    with pytest.raises(ValueError, match="mean"):
        rec.matrix(0, aggregate="median")
    with pytest.raises(TypeError, match="integer"):
        rec.matrix(0.5, 0)
    sub = rec.select(layers=1, heads=[0, 2])
    assert sub.shape == (1, 2, 5, 5) and sub.layer_names == ("layer 1",)
    np.testing.assert_array_equal(sub.weights[0, 1], rec.weights[1, 2])
    mean = rec.aggregate("mean")
    assert mean.shape == (2, 1, 5, 5) and np.allclose(mean.weights.sum(-1), 1)
    assert rec.aggregate("max").meta["aggregate"] == "max"


def test_without_padding_drops_padded_positions():
    w = softmaxed((1, 2, 5, 5))
    w[..., 4] = 0  # padded key gets no weight, as a model's mask gives
    w /= w.sum(-1, keepdims=True)
    rec = AttentionRecord(w, TOKENS[:4] + ["[PAD]"], query_padding=[0, 0, 0, 0, 1], query_special=[1, 0, 0, 1, 1])
    clean = rec.without_padding()
    assert clean.shape == (1, 2, 4, 4) and clean.key_tokens == tuple(TOKENS[:4])
    np.testing.assert_allclose(clean.weights, w[:, :, :4, :4], atol=1e-6)
    assert not clean.key_padding.any() and clean.key_special.tolist() == [True, False, False, True]


def test_save_and_load_round_trip(tmp_path):
    rec = make(query_special=[1, 0, 0, 0, 1], model_name="m", meta={"note": "x"}, kv_heads=[0, 0, 1])
    path = tmp_path / "r.safetensors"
    rec.save(path)
    back = AttentionRecord.load(path)
    np.testing.assert_array_equal(back.weights, rec.weights)
    for field in ("query_tokens", "key_tokens", "kind", "model_name", "layer_names", "kv_heads", "meta"):
        assert getattr(back, field) == getattr(rec, field)
    np.testing.assert_array_equal(back.key_special, rec.key_special)
    with pytest.raises(FileNotFoundError):
        AttentionRecord.load(tmp_path / "missing.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"not a record")
    with pytest.raises(ValueError, match="not a record file"):
        AttentionRecord.load(tmp_path / "junk.safetensors")


def test_from_matrix_for_a_single_map():
    rec = AttentionRecord.from_matrix(softmaxed((3, 4)), ["q0", "q1", "q2"], ["a", "b", "c", "d"], kind="cross")
    assert rec.shape == (1, 1, 3, 4) and rec.key_tokens == ("a", "b", "c", "d")


def test_to_bertviz_is_what_head_view_takes():
    from bertviz import head_view, model_view

    rec = make()
    args = rec.to_bertviz()
    assert len(args["attention"]) == 2 and tuple(args["attention"][0].shape) == (1, 3, 5, 5)
    html = head_view(**args, html_action="return").data
    assert '"the"' in html and "require" in html  # bertviz's own page, built from our record
    assert model_view(**args, html_action="return").data


def test_readable_tokens_for_display():
    from attnwidgets.record import readable_token

    assert [readable_token(t) for t in ["Ġquick", "Ċ", "▁the", "##s", "[CLS]"]] == [" quick", "\\n", " the", "##s", "[CLS]"]
