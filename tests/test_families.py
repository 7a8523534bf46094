"""capture() on every model family, proven exact against the model's own eager output.

Each family is a tiny randomly initialised Hugging Face model (tests/families.py): no download,
a few seconds for the whole file. The reference is always the same model, loaded with
attn_implementation="eager", called with output_attentions=True; capture() must give exactly
those tensors (np.testing.assert_array_equal), with the right kinds, layer names, padding flags,
key/value heads and (vision) patch grid. Tolerances appear only where two different computations
are compared: generation's cached steps against one full pass (see there), and a padded batch
against the same text run alone.
"""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest
import torch

from attnwidgets import AttentionRecord, EncoderDecoderRecord
from attnwidgets.analysis import entropy, rollout
from attnwidgets.capture import NoAttentionError, capture
from families import BOS, EOS, FAMILIES, LONG, N_FRAMES, N_MELS, SHORT, TARGET, TEXT, tiny_tokenizer

NAMES = list(FAMILIES)
TEXT_NAMES = [n for n, f in FAMILIES.items() if f.text]
DECODERS = [n for n, f in FAMILIES.items() if f.arch == "decoder"]
SEQ2SEQ = [n for n, f in FAMILIES.items() if f.arch in ("encoder-decoder", "audio")]
VISION = [n for n, f in FAMILIES.items() if f.arch == "vision"]
GQA = [n for n, f in FAMILIES.items() if f.kv_heads is not None]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models run several times faster on one thread (no OpenMP hand-offs, and no spinning
    when the 2 cores are busy); the thread count is put back for the other test files."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def built():
    """family name -> its tiny model with eager attention, built once per session."""
    cache: dict[str, torch.nn.Module] = {}

    def get(name: str) -> torch.nn.Module:
        if name not in cache:
            cache[name] = FAMILIES[name].build("eager")
        return cache[name]

    return get


def reference(model: torch.nn.Module, **inputs) -> object:
    """The model's own eager output_attentions on the same inputs."""
    assert model.config._attn_implementation == "eager"
    with torch.no_grad():
        return model(**inputs, output_attentions=True, return_dict=True)


def stacked(attentions, index: int = 0) -> np.ndarray:
    return torch.stack(attentions)[:, index].numpy()


def inputs_for(name: str) -> dict:
    """The family's native inputs without a tokenizer: ids + mask, pixels, or audio features."""
    family = FAMILIES[name]
    generator = torch.Generator().manual_seed(0)
    if family.arch == "vision":
        return {"pixel_values": torch.randn(1, 3, *family.image, generator=generator)}
    if family.arch == "audio":
        return {"input_features": torch.randn(1, N_MELS, N_FRAMES, generator=generator), "decoder_input_ids": torch.tensor([[BOS, 7, 8, 9]])}
    batch = dict(tiny_tokenizer(family.tokenizer)(TEXT, return_tensors="pt"))
    batch.pop("token_type_ids", None)
    if family.arch == "encoder-decoder":
        batch["decoder_input_ids"] = torch.tensor([[model_start(name), 7, 8, 9]])
    return batch


def model_start(name: str) -> int:
    config = FAMILIES[name].config
    return config.get("decoder_start_token_id", BOS)


def check_layer_names(record: AttentionRecord, model: torch.nn.Module, first: str) -> None:
    modules = dict(model.named_modules())
    assert record.layer_names[0] == first
    assert len(set(record.layer_names)) == record.n_layers
    assert all(name in modules for name in record.layer_names), record.layer_names


# ---- exact equality, kinds, names: every family ----------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_capture_equals_eager_output_attentions(name, built):
    family, model = FAMILIES[name], built(name)
    batch = inputs_for(name)
    out = reference(model, **batch)
    result = capture(model, None, batch)
    if family.arch in ("encoder-decoder", "audio"):
        assert isinstance(result, EncoderDecoderRecord)
        np.testing.assert_array_equal(result.encoder.weights, stacked(out.encoder_attentions))
        np.testing.assert_array_equal(result.decoder.weights, stacked(out.decoder_attentions))
        np.testing.assert_array_equal(result.cross.weights, stacked(out.cross_attentions))
        assert (result.encoder.kind, result.decoder.kind, result.cross.kind) == ("self", "causal", "cross")
        check_layer_names(result.encoder, model, family.layer)
        check_layer_names(result.decoder, model, family.decoder_layer)
        check_layer_names(result.cross, model, family.cross_layer)
        assert result.cross.key_tokens == result.encoder.query_tokens
        assert result.cross.query_tokens == result.decoder.query_tokens == tuple(str(int(i)) for i in batch["decoder_input_ids"][0])
        return
    assert isinstance(result, AttentionRecord)
    np.testing.assert_array_equal(result.weights, stacked(out.attentions))
    assert result.kind == family.self_kind
    assert result.n_heads == model.config.num_attention_heads  # one map per query head
    check_layer_names(result, model, family.layer)
    assert result.kv_heads == family.kv_heads
    assert result.model_name == type(model).__name__
    if family.arch == "vision":
        assert result.grid == family.grid
        n_extra = len(family.prefix)
        assert result.query_tokens[:n_extra] == family.prefix
        assert result.query_tokens[n_extra] == "patch 0,0" and result.query_tokens[-1] == f"patch {family.grid[0] - 1},{family.grid[1] - 1}"
        assert result.query_special.tolist() == [True] * n_extra + [False] * (result.n_queries - n_extra)
    else:
        assert result.query_tokens == tuple(str(int(i)) for i in batch["input_ids"][0])  # ids, no tokenizer needed
        assert not result.query_padding.any()


@pytest.mark.parametrize("name", NAMES)
def test_a_model_loaded_with_sdpa_is_switched_to_eager_with_the_same_result(name, built):
    """transformers 5 loads sdpa, which returns no weights: capture() switches and says so."""
    eager = built(name)
    model = FAMILIES[name].build(attn_implementation=None)
    assert model.config._attn_implementation == "sdpa"
    model.load_state_dict(eager.state_dict())
    batch = inputs_for(name)
    with pytest.warns(UserWarning, match=f"switched {type(model).__name__} from 'sdpa' to eager"):
        result = capture(model, None, batch)
    out = reference(eager, **batch)
    records = result if isinstance(result, EncoderDecoderRecord) else (result,)
    references = (out.encoder_attentions, out.decoder_attentions, out.cross_attentions) if isinstance(result, EncoderDecoderRecord) else (out.attentions,)
    for record, expected in zip(records, references):
        np.testing.assert_array_equal(record.weights, stacked(expected))


# ---- text with a tokenizer, token ids, padded batches -----------------------------------------


@pytest.mark.parametrize("name", TEXT_NAMES)
def test_text_with_a_tokenizer(name, built):
    family, model = FAMILIES[name], built(name)
    tokenizer = tiny_tokenizer(family.tokenizer)
    encoded = tokenizer(TEXT, return_tensors="pt", return_special_tokens_mask=True)
    tokens = tuple(tokenizer.convert_ids_to_tokens(encoded["input_ids"][0]))
    special = encoded["special_tokens_mask"][0].bool().tolist()
    if family.arch == "encoder-decoder":
        target = tokenizer(TARGET, return_tensors="pt")["input_ids"]
        result = capture(model, tokenizer, TEXT, target=TARGET)
        out = reference(model, input_ids=encoded["input_ids"], attention_mask=encoded["attention_mask"], decoder_input_ids=target)
        np.testing.assert_array_equal(result.encoder.weights, stacked(out.encoder_attentions))
        np.testing.assert_array_equal(result.decoder.weights, stacked(out.decoder_attentions))
        np.testing.assert_array_equal(result.cross.weights, stacked(out.cross_attentions))
        assert result.encoder.query_tokens == tokens == result.cross.key_tokens
        assert result.decoder.query_tokens == tuple(TARGET.split()) + ("</s>",)
        assert result.encoder.query_special.tolist() == special
        return
    result = capture(model, tokenizer, TEXT)
    out = reference(model, input_ids=encoded["input_ids"], attention_mask=encoded["attention_mask"])
    np.testing.assert_array_equal(result.weights, stacked(out.attentions))
    assert result.query_tokens == tokens
    assert result.query_special.tolist() == special and any(special) == (family.tokenizer != "gpt")
    assert result.kind == family.self_kind


@pytest.mark.parametrize("name", TEXT_NAMES)
def test_padded_batch_is_flagged_and_left_out(name, built):
    """Padding is flagged in the record, carries no attention, and no view or analysis sees it."""
    family, model = FAMILIES[name], built(name)
    tokenizer = tiny_tokenizer(family.tokenizer)
    texts = [SHORT, LONG]
    target = {"target": TARGET} if family.arch == "encoder-decoder" else {}
    short = capture(model, tokenizer, texts, index=0, **target)
    long = capture(model, tokenizer, texts, index=1, **target)
    batch = tokenizer(texts, return_tensors="pt", padding=True)
    assert tokenizer.pad_token is not None  # decoders' tokenizers get their eos as the pad token
    pad = (batch["attention_mask"][0] == 0).numpy()
    assert pad.sum() == len(LONG.split()) - len(SHORT.split())
    inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
    if family.arch == "encoder-decoder":
        inputs["decoder_input_ids"] = tokenizer(TARGET, return_tensors="pt")["input_ids"].expand(2, -1)
        out = reference(model, **inputs)
        np.testing.assert_array_equal(short.encoder.weights, stacked(out.encoder_attentions, 0))
        np.testing.assert_array_equal(long.encoder.weights, stacked(out.encoder_attentions, 1))
        np.testing.assert_array_equal(short.cross.weights, stacked(out.cross_attentions, 0))  # one target for both texts
        np.testing.assert_array_equal(long.decoder.weights, stacked(out.decoder_attentions, 1))
        assert short.cross.key_padding.tolist() == pad.tolist() and not short.cross.query_padding.any()
        assert short.cross.weights[..., pad].max() == 0.0  # padded source tokens get no attention
        assert short.cross.without_padding().n_keys == (~pad).sum()
        short, long = short.encoder, long.encoder
    else:
        out = reference(model, **inputs)
        expected = stacked(out.attentions, 0)
        # a padded query whose every key is masked (Mistral's sliding window past the text) comes back
        # uniform over all keys; the record keeps it verbatim, flagged as padding
        np.testing.assert_array_equal(short.weights, expected)
        np.testing.assert_array_equal(long.weights, stacked(out.attentions, 1))
    assert short.query_padding.tolist() == short.key_padding.tolist() == pad.tolist()
    assert short.query_tokens[-1] == tokenizer.pad_token
    assert not long.query_padding.any()
    live = ~pad
    assert short.weights[:, :, live][..., pad].max() == 0.0  # no live token attends to padding
    # views and analyses read without_padding(): the short text alone, as if never padded
    shown = short.without_padding()
    assert shown.query_tokens == tuple(t for t, p in zip(short.query_tokens, pad) if not p) and tokenizer.pad_token not in shown.query_tokens
    alone = capture(model, tokenizer, SHORT, **target)
    alone = alone.encoder if family.arch == "encoder-decoder" else alone
    np.testing.assert_allclose(shown.weights, alone.weights, atol=1e-6)  # right padding moves no position
    assert rollout(short).n_queries == live.sum() and rollout(short).query_tokens == shown.query_tokens
    np.testing.assert_allclose(entropy(short), entropy(alone), atol=1e-5)


@pytest.mark.parametrize("name, part", [("BERT", None), ("LLaMA", None), ("BART", "cross")])
def test_views_never_draw_padding(name, part, built):
    from attnwidgets.views import HeadView, Heatmap, ModelView

    family, model = FAMILIES[name], built(name)
    tokenizer = tiny_tokenizer(family.tokenizer)
    result = capture(model, tokenizer, [SHORT, LONG], index=0, **({"target": TARGET} if part else {}))
    record = getattr(result, part) if part else result
    assert record.key_padding.any()
    pad = tokenizer.pad_token
    live_keys = int((~record.key_padding).sum())
    for view_class in (Heatmap, HeadView) + (() if part else (ModelView,)):
        view = view_class(record)
        assert pad not in view.query_tokens and pad not in view.key_tokens, view_class.__name__
        assert len(view.key_tokens) == live_keys


@pytest.mark.parametrize("name", DECODERS)
def test_left_padded_decoder_stays_causal(name, built):
    """Left padding (how decoders batch for generation): the padded queries see no key at all,
    and the model fills their rows uniformly over every key. The record stays causal, flags the
    padding, and keeps every row as the model gave it."""
    family, model = FAMILIES[name], built(name)
    ids = torch.tensor([[EOS, EOS, 6, 7, 8, 9, 10], [6, 7, 8, 9, 10, 11, 12]])
    mask = torch.tensor([[0, 0, 1, 1, 1, 1, 1], [1] * 7])
    record = capture(model, None, {"input_ids": ids, "attention_mask": mask}, index=0)
    expected = stacked(reference(model, input_ids=ids, attention_mask=mask).attentions, 0)
    pad = np.array([True, True] + [False] * 5)
    assert record.kind == "causal" and record.query_padding.tolist() == pad.tolist()
    np.testing.assert_array_equal(record.weights[:, :, ~pad], expected[:, :, ~pad])
    np.testing.assert_array_equal(record.weights, expected)  # padded rows too, verbatim
    assert record.without_padding().n_queries == 5


# ---- generation --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", DECODERS)
def test_decoder_generation_records_each_step(name, built):
    """Step t's row is what the new token attended to. The cached step computes that one row with
    a one-query product over the cached keys, a different summation order from a full pass, so the
    rows agree to float32 rounding (measured here: a few 1e-8); 1e-6 is far below any visible
    difference (views send float16, eps 1e-3). The prompt block is the first step itself: exact."""
    family, model = FAMILIES[name], built(name)
    tokenizer = tiny_tokenizer(family.tokenizer)
    prompt = "the quick brown fox"
    record = capture(model, tokenizer, prompt, generate=3)
    n_prompt = len(tokenizer(prompt)["input_ids"])
    assert record.prompt_length == n_prompt and record.n_queries == n_prompt + 2
    assert record.kind == "causal" and len(record.meta["generated_tokens"]) == 3
    assert list(record.query_tokens[n_prompt:]) == record.meta["generated_tokens"][:2]
    ids = torch.tensor([tokenizer.convert_tokens_to_ids(list(record.query_tokens))])
    full = stacked(reference(model, input_ids=ids).attentions)
    np.testing.assert_array_equal(record.weights[:, :, :n_prompt, :n_prompt], full[:, :, :n_prompt, :n_prompt])
    np.testing.assert_allclose(record.weights, full, rtol=0, atol=1e-6)


@pytest.mark.parametrize("name", SEQ2SEQ)
def test_encoder_decoder_generation_equals_the_teacher_forced_pass(name, built):
    family, model = FAMILIES[name], built(name)
    batch = inputs_for(name)
    batch.pop("decoder_input_ids")
    result = capture(model, None, batch, generate=3)
    decoded = torch.tensor([[int(t) for t in result.decoder.query_tokens]])
    start = model.generation_config.decoder_start_token_id
    assert decoded[0, 0] == start  # the decoder's start token is kept (Whisper's generate drops it)
    assert 1 <= decoded.shape[1] <= 3  # the last new token was never read by the model
    out = reference(model, **batch, decoder_input_ids=decoded)
    np.testing.assert_array_equal(result.decoder.weights, stacked(out.decoder_attentions))
    np.testing.assert_array_equal(result.cross.weights, stacked(out.cross_attentions))
    assert (result.encoder.kind, result.decoder.kind, result.cross.kind) == ("self", "causal", "cross")


# ---- grouped-query attention -------------------------------------------------------------------


@pytest.mark.parametrize("name", GQA)
def test_grouped_query_heads_say_which_key_value_head_they_share(name, built):
    """One map per query head, and kv_heads says which key/value head each reads: blank the
    keys of one key/value head and exactly the query heads that kv_heads names go uniform."""
    family, model = FAMILIES[name], built(name)
    config = model.config
    n_heads, n_kv = config.num_attention_heads, config.num_key_value_heads
    ids = torch.tensor([[6, 7, 8, 9, 10]])
    record = capture(model, None, ids)
    assert record.n_heads == n_heads and record.kv_heads == family.kv_heads and max(record.kv_heads) == n_kv - 1
    blank = n_kv - 1
    probe = copy.deepcopy(model)
    attention = dict(probe.named_modules())[family.layer]
    head_dim = getattr(attention, "head_dim", config.hidden_size // n_heads)
    # the keys' rows of the projection: k_proj, or the middle block of a fused qkv_proj (Phi-3)
    proj, first = (attention.k_proj, 0) if hasattr(attention, "k_proj") else (attention.qkv_proj, n_heads * head_dim)
    rows = slice(first + blank * head_dim, first + (blank + 1) * head_dim)
    with torch.no_grad():
        proj.weight[rows] = 0
        if proj.bias is not None:
            proj.bias[rows] = 0
    blanked = capture(probe, None, ids)
    uniform = np.tril(np.ones((5, 5))) / np.arange(1, 6)[:, None]
    for head in range(n_heads):
        flat = np.allclose(blanked.weights[0, head], uniform, atol=1e-6)
        assert flat == (record.kv_heads[head] == blank), (head, record.kv_heads)


# ---- vision transformers -----------------------------------------------------------------------


def embeddings_module(model: torch.nn.Module) -> torch.nn.Module:
    """The module that turns the image into the token sequence ([CLS], registers, patches)."""
    found = [(n, m) for n, m in model.named_modules() if type(m).__name__.endswith("Embeddings") and "Patch" not in type(m).__name__]
    return min(found, key=lambda nm: len(nm[0]))[1]


@pytest.mark.parametrize("name", VISION)
def test_patch_labels_sit_where_the_patch_is(name, built):
    """Light up one patch of a black image: the one sequence position that changes is the one the
    record labels with that patch's row and column (so a map lands on the right place)."""
    family, model = FAMILIES[name], built(name)
    rows, cols = family.grid
    r, c = rows - 2, cols - 1  # off the diagonal so rows and columns cannot be swapped unseen
    black = torch.zeros(1, 3, *family.image)
    lit = black.clone()
    lit[:, :, r * family.patch : (r + 1) * family.patch, c * family.patch : (c + 1) * family.patch] = torch.randn(3, family.patch, family.patch)
    seen = []
    handle = embeddings_module(model).register_forward_hook(lambda m, a, out: seen.append(out[0] if isinstance(out, tuple) else out))
    try:
        with torch.no_grad():
            model(pixel_values=black)
            model(pixel_values=lit)
    finally:
        handle.remove()
    changed = torch.nonzero((seen[1] - seen[0]).abs().amax(-1)[0] > 0).flatten().tolist()
    record = capture(model, None, {"pixel_values": lit})
    assert len(changed) == 1 and record.query_tokens[changed[0]] == f"patch {r},{c}"
    assert changed[0] == len(family.prefix) + r * cols + c


@pytest.mark.parametrize("name", VISION)
def test_image_attention_lays_cls_to_patch_maps_on_the_grid(name, built):
    family, model = FAMILIES[name], built(name)
    record = capture(model, None, inputs_for(name))
    n_extra = len(family.prefix)
    flow = rollout(record)
    assert flow.grid == record.grid
    from attnwidgets.views import ImageAttention

    image = np.zeros((*family.image, 3), dtype=np.uint8)
    for rec, heads in ((record, (0, 3, "mean")), (flow, (0,))):
        view = ImageAttention(rec, image, query=0)  # query 0: [CLS] (SigLIP: the first patch)
        last = rec.n_layers - 1
        for head in heads:
            matrix = rec.matrix(last, aggregate=head) if isinstance(head, str) else rec.matrix(last, head)
            expected = matrix[0, n_extra:].reshape(family.grid)  # row-major patches after the prefix
            np.testing.assert_array_equal(view.map_of(last, head), expected)


def test_an_image_of_another_size_gets_its_own_grid(built):
    """Models that interpolate position embeddings take other sizes; the grid follows the image."""
    dino = built("DINOv2 with registers")
    record = capture(dino, None, {"pixel_values": torch.randn(1, 3, 48, 64)})
    assert record.grid == (6, 8) and record.n_queries == 5 + 48 and record.query_tokens[5] == "patch 0,0"
    clip = built("CLIP (vision)")
    pixels = torch.randn(1, 3, 40, 56)
    record = capture(clip, None, {"pixel_values": pixels}, interpolate_pos_encoding=True)
    assert record.grid == (5, 7) and record.query_tokens[-1] == "patch 4,6"
    np.testing.assert_array_equal(record.weights, stacked(reference(clip, pixel_values=pixels, interpolate_pos_encoding=True).attentions))


# ---- audio -------------------------------------------------------------------------------------


def test_whisper_audio_features_with_decoder_ids_or_a_target(built):
    model = built("Whisper")
    features = inputs_for("Whisper")["input_features"]
    decoder_ids = torch.tensor([[BOS, 7, 8, 9]])
    given = capture(model, None, {"input_features": features, "decoder_input_ids": decoder_ids})
    as_target = capture(model, None, {"input_features": features}, target=decoder_ids)
    tokenizer = tiny_tokenizer("seq2seq")
    with_text = capture(model, tokenizer, {"input_features": features}, target="<s> the cat")
    out = reference(model, input_features=features, decoder_input_ids=decoder_ids)
    for result in (given, as_target):
        np.testing.assert_array_equal(result.cross.weights, stacked(out.cross_attentions))
    assert given.encoder.n_queries == N_FRAMES // 2 and given.encoder.query_tokens[:2] == ("frame 0", "frame 1")
    assert given.cross.key_tokens == given.encoder.query_tokens and given.encoder.grid is None
    assert with_text.decoder.query_tokens[:3] == ("<s>", "the", "cat")


# ---- what cannot be captured is said -----------------------------------------------------------


def test_a_state_space_model_has_no_attention_to_capture():
    from transformers import MambaConfig, MambaForCausalLM

    torch.manual_seed(0)
    model = MambaForCausalLM(MambaConfig(vocab_size=64, hidden_size=32, state_size=4, num_hidden_layers=2, expand=2, conv_kernel=4)).eval()
    with pytest.raises(NoAttentionError, match="MambaForCausalLM has no attention layers.*state-space"):
        capture(model, None, torch.tensor([[6, 7, 8]]))


def test_a_cnn_has_no_attention_to_capture():
    from transformers import ResNetConfig, ResNetModel

    model = ResNetModel(ResNetConfig(num_channels=3, embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], layer_type="basic")).eval()
    with pytest.raises(NoAttentionError, match="ResNetModel has no attention layers.*CNN"):
        capture(model, None, {"pixel_values": torch.randn(1, 3, 32, 32)})
    plain = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU())
    with pytest.raises(NoAttentionError, match="Sequential has no torch.nn.MultiheadAttention.*nothing to capture"):
        capture(plain, None, torch.randn(1, 3, 8, 8))


def test_a_flash_only_model_says_it_cannot_switch(built, monkeypatch):
    model = copy.deepcopy(built("LLaMA"))
    model.config._attn_implementation = "flash_attention_2"

    def refuse(*args, **kwargs):
        raise ValueError("this model supports only flash_attention_2")

    monkeypatch.setattr(model, "set_attn_implementation", refuse)
    with pytest.raises(NoAttentionError, match="LlamaForCausalLM uses 'flash_attention_2' attention.*cannot switch to eager.*only flash_attention_2.*capture_modules"):
        capture(model, None, torch.tensor([[6, 7, 8]]))


def test_a_kernel_that_stays_sdpa_is_named(built, monkeypatch):
    """If the switch does not take (a model whose set_attn_implementation does nothing), sdpa's
    real output, an empty tuple, is reported with the implementation and the fix."""
    model = FAMILIES["BERT"].build(attn_implementation=None)
    monkeypatch.setattr(model, "set_attn_implementation", lambda *a, **k: None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(NoAttentionError, match="BertModel returned no attentions \\(attention implementation 'sdpa'\\).*attn_implementation='eager'"):
            capture(model, None, torch.tensor([[2, 6, 7, 3]]))


@pytest.mark.parametrize("empty, said", [((), "an empty tuple"), (None, "None"), ("per-layer", "None for some layers")])
def test_an_empty_output_is_an_error_not_an_empty_record(built, monkeypatch, empty, said):
    model = copy.deepcopy(built("GPT-2"))
    original = model.forward

    def forward(*args, **kwargs):
        out = original(*args, **kwargs)
        out.attentions = (None,) * len(out.attentions) if empty == "per-layer" else empty
        return out

    monkeypatch.setattr(model, "forward", forward)
    with pytest.raises(NoAttentionError, match=f"GPT2LMHeadModel returned no attentions \\({said}\\) although it runs eager attention.*capture_modules"):
        capture(model, None, torch.tensor([[6, 7, 8]]))


def test_missing_cross_attentions_are_an_error(built, monkeypatch):
    model = copy.deepcopy(built("BART"))
    original = model.forward

    def forward(*args, **kwargs):
        out = original(*args, **kwargs)
        out.cross_attentions = None
        return out

    monkeypatch.setattr(model, "forward", forward)
    with pytest.raises(NoAttentionError, match="BartForConditionalGeneration returned no cross attentions"):
        capture(model, None, inputs_for("BART"))


def test_wrong_input_kinds_raise_clear_errors(built):
    vit, whisper, bert, bart = built("ViT"), built("Whisper"), built("BERT"), built("BART")
    pixels = torch.randn(3, 32, 48)
    with pytest.raises(ValueError, match=r"pixel_values must be shaped \[batch, channels, height, width\].*pixels\[None\]"):
        capture(vit, None, {"pixel_values": pixels})
    with pytest.raises(ValueError, match="reads images with 3 channels.*channels-last.*permute"):
        capture(vit, None, {"pixel_values": pixels.permute(1, 2, 0)[None]})
    with pytest.raises(TypeError, match="pixel_values must be floating point"):
        capture(vit, None, {"pixel_values": (pixels[None] * 255).to(torch.uint8)})
    with pytest.raises(TypeError, match="pixel_values must be a torch tensor.*torch.as_tensor"):
        capture(vit, None, {"pixel_values": pixels[None].numpy()})
    with pytest.raises(ValueError, match="WhisperForConditionalGeneration reads 8 mel bins, but input_features has 80"):
        capture(whisper, None, {"input_features": torch.randn(1, 80, N_FRAMES)}, target=torch.tensor([[BOS]]))
    with pytest.raises(ValueError, match=r"input_features must be floating point and shaped \[batch, mel bins, frames\]"):
        capture(whisper, None, {"input_features": torch.randn(N_MELS, N_FRAMES)}, target=torch.tensor([[BOS]]))
    with pytest.raises(ValueError, match=r"input_ids must be integers shaped \[batch, length\].*ids\[None\]"):
        capture(bert, None, {"input_ids": torch.tensor([2, 6, 3])})
    with pytest.raises(ValueError, match="attention_mask has shape \\(1, 2\\) but input_ids has shape \\(1, 3\\)"):
        capture(bert, None, {"input_ids": torch.tensor([[2, 6, 3]]), "attention_mask": torch.tensor([[1, 1]])})
    with pytest.raises(ValueError, match="is an encoder-decoder: give target="):
        capture(bart, None, {"input_ids": torch.tensor([[6, 7, EOS]])})
    with pytest.raises(TypeError, match="no tokenizer"):
        capture(vit, None, "a picture of a cat")


def test_kind_is_read_from_a_sample_of_rows_and_the_record_checks_them_all():
    """capture() looks at four rows to call attention causal (a full scan is 3% of SmolLM2's
    forward at 512 tokens, and the record scans every row anyway); a row it skipped that looks
    ahead makes the record refuse "causal", and the attention is recorded as bidirectional."""
    from attnwidgets.capture import _checked_record, _is_causal, _self_kind

    n = 8
    causal = np.tril(np.ones((n, n), np.float32))
    causal /= causal.sum(-1, keepdims=True)
    weights = np.repeat(causal[None, None], 2, axis=1)
    assert _is_causal(weights) and _is_causal(weights, sample=True)
    assert _checked_record(weights, list("abcdefgh"), kind=_self_kind(weights, None)).kind == "causal"
    leaky = weights.copy()
    leaky[0, 1, 4] = np.full(n, 1 / n)  # head 1, row 4: not one of the sampled rows 0, 1, 3, 6
    assert _is_causal(leaky, sample=True) and not _is_causal(leaky)
    kind = _self_kind(leaky, None)
    assert _checked_record(leaky, list("abcdefgh"), kind=kind).kind == "self"


def test_a_model_in_training_mode_is_captured_in_eval_and_left_training(built):
    model = copy.deepcopy(built("BERT")).train()
    model.encoder.layer[0].eval()  # a mixed state comes back exactly as it was
    batch = inputs_for("BERT")
    record = capture(model, None, batch)  # dropout off: the same weights every time
    np.testing.assert_array_equal(record.weights, capture(built("BERT"), None, batch).weights)
    assert model.training and not model.encoder.layer[0].training and model.encoder.layer[1].training
