"""Notebook 04's teaching code: the seed snippet's two failures, the survey numbers the notebook
states, the norm/rollout/shuffle experiments, the sentence explorer and the exercise checks."""

import base64

import numpy as np
import pytest
import torch

from attnwidgets import AttentionRecord, analysis, capture
from attnwidgets.course import bert
from conftest import softmaxed


@pytest.fixture(scope="module")
def sentences():
    return bert.load_sentences()


@pytest.fixture(scope="module")
def records(minilm, sentences):
    model, tok = minilm
    return bert.capture_all(model, tok, sentences)


@pytest.fixture(scope="module")
def heads(records):
    return bert.survey(records)


def test_sentence_set_is_forty_distinct_sentences(sentences, minilm):
    _, tok = minilm
    assert len(sentences) == 40 and len(set(sentences)) == 40
    assert not any(s.startswith("#") for s in sentences)
    lengths = [len(tok(s)["input_ids"]) for s in sentences]
    assert 8 <= min(lengths) and max(lengths) <= 30
    assert sum(any(c in s for c in ",;?!\"") for s in sentences) >= 20  # punctuation beyond the full stop


def test_the_seed_snippet_fails_for_both_reasons_and_the_fix_equals_capture():
    from transformers import BertModel, BertTokenizer

    folder = bert.minilm_folder()
    assert (folder / "config.json").exists()
    tok = BertTokenizer.from_pretrained(folder)
    ids = torch.tensor([tok.encode("The quick brown fox jumps.", add_special_tokens=True)])
    sdpa = BertModel.from_pretrained(folder).eval()
    assert sdpa.config._attn_implementation == "sdpa"
    with torch.no_grad():
        out = sdpa(ids)
        assert len(out) == 2  # reason 1: only last_hidden_state and pooler_output
        with pytest.raises(IndexError):
            out[2]
        assert sdpa(ids, output_attentions=True).attentions == ()  # reason 2: sdpa forms no weights
    eager = BertModel.from_pretrained(folder, attn_implementation="eager").eval()
    with torch.no_grad():
        weights = torch.stack(eager(ids, output_attentions=True).attentions).squeeze(1)
    assert tuple(weights.shape) == (6, 12, 8, 8)
    assert np.array_equal(capture(eager, tok, "The quick brown fox jumps.").weights, weights.numpy())


def test_survey_numbers_the_notebook_states(heads):
    assert heads.n_sentences == 40 and 13 < heads.mean_tokens < 18
    cls = heads.per_layer("[CLS]")
    # [CLS] is MiniLM's sink: about half of the attention in layers 1-4, many times an even spread
    assert cls[1:5].min() > 0.45 and cls[1:5].mean() > 6 * heads.uniform["[CLS]"]
    assert heads.per_layer("[SEP]")[1:5].max() < heads.uniform["[SEP]"]
    assert heads.per_layer("punctuation").max() < heads.uniform["punctuation"]
    assert heads.most_attended_middle() == "[CLS]"  # the Predict's answer
    (pl, ph, ps), (nl, nh, ns) = bert.top_heads(heads.previous, 1)[0], bert.top_heads(heads.next, 1)[0]
    assert (pl, ph) == (0, 2) and ps > 0.99 and heads.previous_each[:, 0, 2].min() > 0.99
    assert (nl, nh) == (1, 8) and 0.5 < ns < 0.75
    assert heads.entropy.min() < 0.05 and heads.entropy.max() < heads.uniform_entropy
    focused = bert.focused_heads(heads)
    assert focused[0][:2] == (0, 2) and {f[3] for f in focused} <= {"[CLS]", "previous token", "next token"}
    table = bert.share_table(heads).splitlines()
    assert len(table) == 8 and table[-1].startswith("even")


def test_survey_averages_by_hand():
    w = softmaxed((2, 3, 5, 5), seed=4)
    rec = AttentionRecord(w, ["[CLS]", "a", ",", "b", "[SEP]"])
    s = bert.survey([rec, rec])
    np.testing.assert_allclose(s.share["[SEP]"], w[..., 4].mean(-1), rtol=1e-6)
    np.testing.assert_allclose(s.share["punctuation"], w[..., 2].mean(-1), rtol=1e-6)
    np.testing.assert_allclose(s.share["itself"], np.diagonal(w, axis1=2, axis2=3).mean(-1), rtol=1e-6)
    assert s.uniform["[CLS]"] == pytest.approx(0.2) and s.uniform_entropy == pytest.approx(np.log2(5))
    assert bert.top_heads(np.array([[0.1, 0.9], [0.5, 0.2]]), 2) == [(0, 1, 0.9), (1, 0, 0.5)]
    with pytest.raises(ValueError):
        bert.survey([])


def test_internals_decompose_the_attention_output_by_head(minilm):
    """Sum over heads of a_h @ f_h plus the output bias must equal the model's own attention output."""
    model, tok = minilm
    text = "The animal didn't cross the street because it was too tired."
    parts = bert.internals(model, tok, text)
    n = len(tok(text)["input_ids"])
    assert parts.value_norms.shape == (6, 12, n) and parts.head_norms.shape == (6, 12) and parts.residual_ratio.shape == (6,)
    layer = model.encoder.layer[2]
    got = {}
    hooks = [layer.attention.self.value.register_forward_hook(lambda m, a, o: got.setdefault("v", o[0])),
             layer.attention.output.dense.register_forward_hook(lambda m, a, o: got.setdefault("out", o[0]))]
    try:
        with torch.no_grad():
            out = model(**tok(text, return_tensors="pt"), output_attentions=True)
    finally:
        for h in hooks:
            h.remove()
    with torch.no_grad():
        v = got["v"].view(n, 12, 32).transpose(0, 1)
        f = v @ layer.attention.output.dense.weight.T.reshape(12, 32, 384)
        rebuilt = (out.attentions[2][0] @ f).sum(0) + layer.attention.output.dense.bias
    torch.testing.assert_close(rebuilt, got["out"], atol=1e-4, rtol=1e-4)
    np.testing.assert_allclose(parts.value_norms[2], f.norm(dim=-1).numpy(), rtol=1e-5)
    assert 0.1 < parts.residual_ratio.min() and parts.residual_ratio.max() < 1.0


def test_norm_weighted_scales_weights_by_value_size():
    w = np.full((1, 1, 3, 3), 1 / 3, np.float32)
    rec = AttentionRecord(w, ["[CLS]", "x", "[SEP]"])
    parts = bert.Internals(np.array([[[1.0, 2.0, 1.0]]]), np.ones((1, 1)), np.ones(1))
    np.testing.assert_allclose(bert.norm_weighted(rec, parts).weights[0, 0], [[0.25, 0.5, 0.25]] * 3, rtol=1e-6)
    with pytest.raises(ValueError, match="do not match"):
        bert.norm_weighted(rec, bert.Internals(np.ones((1, 1, 4)), np.ones((1, 1)), np.ones(1)))


def test_norm_rollout_and_shuffle_surveys(minilm, sentences, records, heads):
    model, tok = minilm
    texts, recs = sentences[:12], records[:12]
    sizes = bert.norm_survey(model, tok, texts, recs)
    # [CLS]'s value vectors are small: its share of what is moved is far below its share of the weight
    assert (sizes.norm_share["[CLS]"][1:5] < 0.5 * sizes.weight_share["[CLS]"][1:5]).all()
    assert (sizes.head_norm_spread > 1.5).all() and (sizes.residual_ratio < 1).all()
    roll = bert.rollout_survey(recs)
    np.testing.assert_allclose(roll.rollout_itself[0], 0.5 + 0.5 * roll.raw_itself[0], atol=1e-5)
    assert (np.diff(roll.rollout_cls) > 0).all() and roll.rollout_cls[-1] > roll.raw_cls[-1]
    moved = bert.adaptation(model, tok, texts, recs)
    assert moved.distance[0, 2] < 0.01 and moved.previous_shuffled[0, 2] > 0.99  # positional, not textual
    assert 0.15 < moved.distance.mean() < 0.5 and moved.distance.max() > 0.4
    np.testing.assert_allclose(moved.cls_shuffled[1:5], heads.per_layer("[CLS]")[1:5], atol=0.06)


def test_shuffled_record_keeps_the_tokens_and_the_ends(minilm):
    model, tok = minilm
    text = "The dog chased the ball into the garden."
    a, b = bert.shuffled_record(model, tok, text, seed=3), bert.shuffled_record(model, tok, text, seed=3)
    original = capture(model, tok, text).query_tokens
    assert a.query_tokens == b.query_tokens != original
    assert a.query_tokens[0] == "[CLS]" and a.query_tokens[-1] == "[SEP]" and sorted(a.query_tokens) == sorted(original)


def test_directions_of_an_encoder_and_a_decoder():
    enc = AttentionRecord(softmaxed((2, 2, 4, 4), seed=1), ["[CLS]", "a", "b", "[SEP]"])
    dec = AttentionRecord(softmaxed((3, 2, 5, 5), seed=2, causal=True), list("vwxyz"), kind="causal")
    d = bert.directions(enc, dec)
    assert d["decoder_future_max"] == 0.0 and d["encoder_future"].min() > 0.1
    assert d["decoder_first_uniform"] == pytest.approx((1 + 1 / 2 + 1 / 3 + 1 / 4 + 1 / 5) / 5)
    row = bert.side_by_side(enc, AttentionRecord(softmaxed((3, 2, 2, 2), causal=True), ["Ġthe", "Ġcat"], kind="causal"), 1, 2)
    assert [v.layer for v in row.children] == [1, 2] and all(v.aggregate == "mean" for v in row.children)
    assert row.children[1].query_tokens == [" the", " cat"]  # readable, not byte-level BPE marks
    assert base64.b64decode(row._repr_mimebundle_()["image/png"])[:4] == b"\x89PNG"


def test_figures(heads):
    fig = bert.plot_shares(heads)
    assert len(fig.axes[0].lines) == 6  # three shares and their three even-spread lines
    assert len(bert.plot_offsets(heads).axes) == 3
    assert len(bert.plot_entropy(heads).axes[0].patches) == 72
    assert bert.figure_widget(fig).value[:4] == b"\x89PNG"


def test_sentence_views_show_own_text_and_refuse_bad_text(minilm, sentences):
    model, tok = minilm
    views = bert.SentenceViews(model, tok, sentences[:3], max_tokens=20)
    assert views.head_view.query_tokens[1] == "the"
    assert views.show_text("   ") is False and "empty" in views.message.value
    assert views.show_text("word " * 30) is False and "32 tokens" in views.message.value and "at most 20" in views.message.value
    assert views.head_view.query_tokens[1] == "the"  # the old sentence stays
    views.text.value = "Hello there, my friend."
    assert views.head_view.query_tokens == ["[CLS]", "hello", "there", ",", "my", "friend", ".", "[SEP]"]
    assert views.model_view.query_tokens == views.head_view.query_tokens
    views.examples.value = sentences[2]
    assert views.head_view.query_tokens[1:3] == tok.tokenize(sentences[2])[:2]
    views.head_view.layer = 4
    assert views.model_view.layer == 4  # linked
    views.rollout.value = True
    assert views.head_view.rollout and views.model_view.rollout
    assert base64.b64decode(views._repr_mimebundle_()["image/png"])[:4] == b"\x89PNG"


def test_check_batch(minilm):
    model, tok = minilm
    batch = tok(bert.BATCH, return_tensors="pt", padding=True)
    with torch.no_grad():
        stacked = torch.stack(model(**batch, output_attentions=True).attentions)  # [layers, batch, heads, T, T]
    n = int(batch["attention_mask"][1].sum())
    assert n < stacked.shape[-1]  # the second sentence is padded
    assert bert.check_batch(stacked[:, 1, :, :n, :n], model, tok)
    assert bert.check_batch(None, model, tok).status == "unanswered"
    five = bert.check_batch(stacked, model, tok)
    assert five.status == "wrong" and "[:, 1]" in five.hint
    padded = bert.check_batch(stacked[:, 1], model, tok)
    assert padded.status == "wrong" and "attention_mask[1].sum()" in padded.hint
    first = bert.check_batch(stacked[:, 0], model, tok)
    assert first.status == "wrong" and "second sentence" in first.hint
    assert "eager" in bert.check_batch((), model, tok).hint


def test_check_sep_share(minilm):
    model, tok = minilm

    def right(record, layer):
        return float(record.weights[layer, :, :, -1].mean())

    def stub(record, layer):
        raise NotImplementedError

    assert bert.check_sep_share(right, model, tok)
    assert bert.check_sep_share(stub, model, tok).status == "unanswered"
    cls = bert.check_sep_share(lambda r, layer: float(r.weights[layer, :, :, 0].mean()), model, tok)
    assert cls.status == "wrong" and "[CLS]" in cls.message
    summed = bert.check_sep_share(lambda r, layer: float(r.weights[layer, :, :, -1].mean(0).sum()), model, tok)
    assert summed.status == "wrong" and "sum" in summed.message
    per_head = bert.check_sep_share(lambda r, layer: r.weights[layer, :, :, -1].mean(-1), model, tok)
    assert per_head.status == "wrong" and "one number" in per_head.message
    row = bert.check_sep_share(lambda r, layer: float(r.weights[layer, :, -1, :].mean()), model, tok)
    assert row.status == "wrong" and "row" in row.message
    broken = bert.check_sep_share(lambda r, layer: r.weights[layer, 99], model, tok)
    assert broken.status == "wrong" and "IndexError" in broken.message


def test_check_previous(minilm):
    model, tok = minilm

    def right(record):
        return np.diagonal(record.weights, offset=-1, axis1=2, axis2=3).mean(-1)

    def stub(record):
        raise NotImplementedError

    assert bert.check_previous(right, model, tok)
    assert bert.check_previous(stub, model, tok).status == "unanswered"
    nxt = bert.check_previous(lambda r: np.diagonal(r.weights, offset=1, axis1=2, axis2=3).mean(-1), model, tok)
    assert nxt.status == "wrong" and "next-token" in nxt.message

    def wrapped(r):
        n = r.n_queries
        return np.stack([r.weights[:, :, q, q - 1] for q in range(n)], -1).mean(-1)

    wrap = bert.check_previous(wrapped, model, tok)
    assert wrap.status == "wrong" and "wraps" in wrap.message
    itself = bert.check_previous(lambda r: np.diagonal(r.weights, axis1=2, axis2=3).mean(-1), model, tok)
    assert itself.status == "wrong" and "itself" in itself.message
    shape = bert.check_previous(lambda r: np.diagonal(r.weights, offset=-1, axis1=2, axis2=3), model, tok)
    assert shape.status == "wrong" and "shape" in shape.message
    assert bert.check_previous(right, model, tok).message == bert.check_previous(right, model, tok).message  # no state
    assert np.allclose(right(capture(model, tok, "a b c")), analysis.offset_score(capture(model, tok, "a b c"), -1))
