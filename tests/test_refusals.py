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
