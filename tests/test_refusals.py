"""Issue 17: inputs that used to be silently accepted now raise, saying what to do instead.

One test per refusal, each asserting on what the message says (the way out, not only the
complaint). The models are the tiny ones of tests/families.py: no download, about a second each.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from attnwidgets import AttentionRecord
from attnwidgets.analysis import rollout
from attnwidgets.capture import capture, capture_modules
from conftest import softmaxed
from families import FAMILIES, TARGET, TEXT, tiny_tokenizer


@pytest.fixture(scope="module")
def bert():
    return FAMILIES["BERT"].build(), tiny_tokenizer("bert")


@pytest.fixture(scope="module")
def gpt2():
    return FAMILIES["GPT-2"].build(), tiny_tokenizer("gpt")


@pytest.fixture(scope="module")
def bart():
    return FAMILIES["BART"].build(), tiny_tokenizer("seq2seq")


class TwoLayers(torch.nn.Module):
    """A plain torch module (no Hugging Face config): capture() goes to capture_modules()."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.att1 = torch.nn.MultiheadAttention(8, 2, batch_first=True)
        self.att2 = torch.nn.MultiheadAttention(8, 2, batch_first=True)

    def forward(self, x):
        h, _ = self.att1(x, x, x)
        return self.att2(h, h, h)[0]


@pytest.fixture(scope="module")
def plain():
    return TwoLayers().eval(), torch.randn(3, 5, 8, generator=torch.Generator().manual_seed(1))


# ---- capture(): keywords that do not apply to the model at hand --------------------------------


def test_target_on_an_encoder_only_model_is_refused(bert):
    model, tok = bert
    with pytest.raises(TypeError, match=r"target= is the decoder's text of an encoder-decoder.*BertModel has one stack.*an encoder such as BERT reads inputs alone"):
        capture(model, tok, TEXT, target=TARGET)


def test_target_on_a_decoder_only_model_is_refused_with_the_way_out(gpt2):
    model, tok = gpt2
    with pytest.raises(TypeError, match=r"GPT2LMHeadModel has one stack.*put the prompt and its continuation together in inputs.*generate=N"):
        capture(model, tok, TEXT, target=TARGET)


def test_index_reaches_the_hooks_path(plain):
    model, x = plain
    second = capture(model, None, x, index=1)
    alone = capture_modules(model, x[1:2])
    np.testing.assert_allclose(second.weights, alone.weights, atol=1e-6)
    assert not np.allclose(second.weights, capture(model, None, x).weights)  # not item 0 any more
    with pytest.raises(IndexError, match="index 3 is out of range for a batch of 3"):
        capture(model, None, x, index=3)


def test_a_tokenizer_for_a_plain_module_is_refused(plain, bert):
    model, x = plain
    with pytest.raises(TypeError, match=r"TwoLayers is a plain torch module.*tokenizer= is not used.*Tokenize first and pass the ids.*query_tokens="):
        capture(model, bert[1], x)


@pytest.mark.parametrize("keyword, value, says", [
    ("target", torch.zeros(1, 3, dtype=torch.long), "a plain module takes all its inputs in inputs="),
    ("generate", 3, r"run your own decoding loop"),
    ("truncate", False, "shorten them yourself"),
    ("memory_limit", 1e9, r"keep less instead with layers=, heads=, queries= or dtype='float16'"),
    ("lean", True, "runs its own forward"),
])
def test_hf_only_keywords_for_a_plain_module_are_refused(plain, keyword, value, says):
    model, x = plain
    with pytest.raises(TypeError, match=f"plain torch module.*{keyword}=.*{says}"):
        capture(model, None, x, **{keyword: value})


def test_tokens_is_now_query_tokens(plain):
    model, x = plain
    labelled = capture_modules(model, x, query_tokens=list("abcde"))
    assert list(labelled.query_tokens) == list("abcde") and list(labelled.key_tokens) == list("abcde")
    with pytest.raises(TypeError, match=r"query_tokens= \(and key_tokens="):
        capture_modules(model, x, tokens=list("abcde"))
    with pytest.raises(TypeError, match=r"query_tokens= \(and key_tokens="):
        capture(model, None, x, tokens=list("abcde"))


def test_a_misspelt_keyword_that_the_model_would_ignore_is_refused(bert):
    model, tok = bert
    # BertModel.forward takes **kwargs: head=3 used to vanish there
    with pytest.raises(TypeError, match=r"capture\(\) got head=.*BertModel.forward, which has no such parameter and would ignore it\. Did you mean heads=\?"):
        capture(model, tok, TEXT, head=3)
    with pytest.raises(TypeError, match=r"got attention_masks=.*Did you mean attention_mask=\?"):
        capture(model, tok, TEXT, attention_masks=None)
    # a real forward keyword still goes through
    ids = tok(TEXT, return_tensors="pt")
    record = capture(model, tok, TEXT, token_type_ids=torch.zeros_like(ids["input_ids"]))
    assert record.n_queries == ids["input_ids"].shape[1]


def test_capture_modules_keywords_for_a_hf_model_are_refused(bert):
    model, tok = bert
    with pytest.raises(TypeError, match=r"query_tokens= belongs to capture_modules\(\).*capture\(\) reads the tokens"):
        capture(model, tok, TEXT, query_tokens=["a"])


def test_lean_for_an_encoder_decoder_or_generation_is_refused(bart, gpt2):
    model, tok = bart
    with pytest.raises(ValueError, match=r"BartForConditionalGeneration is an encoder-decoder.*capture with lean=False"):
        capture(model, tok, TEXT, target=TARGET, lean=True)
    model, tok = gpt2
    with pytest.raises(ValueError, match=r"generate= runs one pass per new token.*leave lean out"):
        capture(model, tok, TEXT, generate=2, lean=True)
    with pytest.raises(TypeError, match="lean must be True, False or None"):
        capture(model, tok, TEXT, lean="yes")


# ---- analysis.rollout(): "head" was an aggregation ----------------------------------------------


def test_rollout_aggregate_refuses_a_head_index():
    record = AttentionRecord(softmaxed((2, 3, 4, 4)), list("abcd"))
    assert rollout(record, aggregate="max").meta["aggregate"] == "max"
    with pytest.raises(ValueError, match=r"aggregate must be 'mean' or 'max'.*got 2 \(a head index is not what rollout takes.*record\.select\(heads=\[\.\.\.\]\)"):
        rollout(record, aggregate=2)
    with pytest.raises(TypeError, match="unexpected keyword argument 'head'"):  # the old name is not silently taken
        rollout(record, head="max")


# ---- views: a 2-D array that is not attention ----------------------------------------------------

from attnwidgets.views import AlignmentView, HeadView, Heatmap, ImageAttention, ModelView, explore  # noqa: E402

SCORES = np.random.default_rng(3).normal(size=(4, 4))  # raw scores: negative values, rows not summing to 1


@pytest.mark.parametrize("view", [Heatmap, HeadView, ModelView])
def test_raw_scores_are_refused_with_the_softmax_to_apply(view):
    with pytest.raises(ValueError, match=rf"{view.__name__} draws attention weights.*row 0 has negative values.*as raw scores do.*torch\.softmax\(scores, dim=-1\)"):
        view(SCORES)


@pytest.mark.parametrize("view", [Heatmap, HeadView, ModelView])
def test_zeros_are_refused_saying_the_rows_must_sum_to_1(view):
    with pytest.raises(ValueError, match=r"every row sums to something other than 1 \(row 0 sums to 0, all zeros\)"):
        view(np.zeros((3, 3)))


def test_gates_in_a_plain_array_are_refused_with_kind():
    gates = np.full((2, 5), 0.3)  # values in [0, 1], rows summing to 1.5: used to become a "spatial" record silently
    with pytest.raises(ValueError, match=r"every row sums to something other than 1 \(row 0 sums to 1\.5\).*AttentionRecord\.from_matrix\(m, kind='spatial'\)"):
        Heatmap(gates)


def test_show_of_raw_scores_is_refused_in_the_widget_too():
    view = Heatmap(softmaxed((4, 4)))
    with pytest.raises(ValueError, match="softmax"):
        view.show(SCORES)
    assert "torch.softmax(scores, dim=-1)" in view.error  # the same message, shown in the view


def test_alignment_of_raw_scores_is_refused():
    with pytest.raises(ValueError, match=r"AlignmentView draws attention weights.*negative values.*softmax"):
        AlignmentView(SCORES[:3], query_tokens=list("xyz"), key_tokens=list("abcd"))


def test_a_distribution_still_draws():
    view = Heatmap(softmaxed((3, 5)), query_tokens=list("abc"), key_tokens=list("vwxyz"))
    assert view.kind == "self" and view.key_tokens == list("vwxyz")


# ---- views: names a view does not have ------------------------------------------------------------


def record4():
    return AttentionRecord(softmaxed((2, 3, 4, 4)), list("abcd"))


def test_setting_head_on_a_headview_is_refused_with_did_you_mean_heads():
    view = HeadView(record4())
    with pytest.raises(AttributeError, match=r"HeadView has no attribute 'head', so it would do nothing\. Did you mean 'heads'\? What it takes: .*heads, layer, pinned"):
        view.head = 2
    assert "Did you mean 'heads'" in view.error
    view.heads = [2]  # the real name works, and clears the message
    assert view.heads == [2] and view.error == ""


def test_setting_heads_on_a_heatmap_is_refused_with_did_you_mean_head():
    with pytest.raises(AttributeError, match=r"Heatmap has no attribute 'heads'.*Did you mean 'head'\?"):
        Heatmap(record4()).heads = [1]


def test_a_misspelt_keyword_at_construction_is_refused():
    with pytest.raises(TypeError, match=r"HeadView has no keyword argument 'head'.*Did you mean 'heads'\?"):
        HeadView(record4(), head=1)
    with pytest.raises(TypeError, match=r"ModelView has no keyword argument 'layers'.*Did you mean 'layer'\?"):
        ModelView(record4(), layers=1)


def test_views_keep_working_with_their_own_names_and_methods():
    view = Heatmap(record4(), layer=1, head=2, pinned=0, title="t")
    view.layout.width = "300px"  # ipywidgets' own traits and their children stay settable
    view.aggregate = "mean"
    assert view.shown_name().endswith("mean of heads")
    view._private_note = 1  # private names are the implementation's: not checked
    ex = explore(record4())  # the explorer links views and observes them: nothing refused
    ex.views["heatmap"].layer = 1
    assert ex.views["model view"].layer == 1


# ---- one argument order and one vocabulary -----------------------------------------------------------


def test_image_attention_takes_the_record_first():
    gates = AttentionRecord(np.full((1, 1, 1, 4), 0.5, np.float32), ["image"], list("abcd"), kind="spatial", grid=(2, 2))
    image = np.zeros((2, 2, 3), np.uint8)
    assert ImageAttention(gates, image).n_layers == 1
    with pytest.raises(TypeError, match=r"ImageAttention takes the record first, then the image: ImageAttention\(record, image\)"):
        ImageAttention(image, gates)


def test_alignment_view_takes_query_and_key_tokens():
    m = softmaxed((3, 4))
    view = AlignmentView(m, query_tokens=list("xyz"), key_tokens=list("abcd"))
    assert view.query_tokens == list("xyz") and view.key_tokens == list("abcd")
    with pytest.raises(TypeError, match=r"query_tokens= \(the target tokens: rows\) and key_tokens= \(the source tokens: columns\)"):
        AlignmentView(m, source_tokens=list("abcd"), target_tokens=list("xyz"))


def test_explore_refuses_an_image_or_channel_it_would_not_draw():
    text = record4()
    channels = AttentionRecord(np.full((1, 1, 1, 3), 0.5, np.float32), ["image"], list("abc"), kind="channel")
    with pytest.raises(ValueError, match=r"channel= .* goes with a spatial record and its image: explore\(spatial_record, image, channel=channel_record\)"):
        explore(text, channel=channels)
    cross = AttentionRecord(softmaxed((1, 1, 2, 4)), ["x", "y"], list("abcd"), kind="cross")
    with pytest.raises(ValueError, match=r"an encoder-decoder's attention is drawn over its tokens: explore\(record\)"):
        explore(cross, np.zeros((4, 4, 3), np.uint8))


def test_image_attention_refuses_two_channel_records():
    channels = AttentionRecord(np.full((1, 1, 1, 3), 0.5, np.float32), ["image"], list("abc"), kind="channel")
    assert ImageAttention(channels).n_layers == 1
    with pytest.raises(ValueError, match="two channel records"):
        ImageAttention(channels, channel=channels)


# ---- relatives: the same names in record.matrix, plot.alignment and link_views ----------------------


def test_record_matrix_takes_aggregate_by_name_like_the_views():
    rec = record4()
    np.testing.assert_allclose(rec.matrix(0, aggregate="mean"), rec.weights[0].mean(0))
    with pytest.raises(TypeError, match=r"head is a head's index .* matrix\(0, aggregate='mean'\)"):
        rec.matrix(0, "mean")
    with pytest.raises(ValueError, match="aggregate must be one of"):
        rec.matrix(0, aggregate="median")


def test_plot_alignment_is_query_first_like_the_views():
    from attnwidgets import plot

    fig = plot.alignment(softmaxed((3, 4)), query_tokens=list("xyz"), key_tokens=list("abcd"))
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == list("xyz") and [t.get_text() for t in ax.get_xticklabels()] == list("abcd")


def test_link_views_refuses_a_trait_no_view_has():
    from attnwidgets.views import link_views

    heads, heat = HeadView(record4()), Heatmap(record4())
    with pytest.raises(ValueError, match=r"none of the views \(HeadView, Heatmap\) has a trait 'pined'.*Did you mean 'pinned'\?"):
        link_views(heads, heat, traits=("layer", "pined"))
    with pytest.raises(TypeError, match="a list of names"):
        link_views(heads, heat, traits="pinned")
    assert len(link_views(HeadView(record4()), HeadView(record4()))) == 4  # HeadView has no head: the rest link
