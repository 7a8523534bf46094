"""capture() at scale (issue 18): weights streamed layer by layer, layers/heads/query rows kept,
float16 records, and a refusal before a capture that would not fit in memory.

Tiny random models (tests/families.py) prove the streamed path equals the model's own eager
output exactly; SmolLM2 checks the same on a real model. Peak memory is measured by
benchmarks/capture_memory.py (fresh processes), not here.
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest
import torch

from attnwidgets import AttentionRecord
from attnwidgets.analysis import entropy
from attnwidgets.capture import CaptureMemoryError, available_memory, capture, capture_modules
from families import FAMILIES, TEXT, tiny_tokenizer

capture_module = importlib.import_module("attnwidgets.capture")
NAMES = list(FAMILIES)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def built():
    cache: dict[str, torch.nn.Module] = {}

    def get(name: str) -> torch.nn.Module:
        if name not in cache:
            cache[name] = FAMILIES[name].build("eager")
        return cache[name]

    return get


def family_inputs(name: str) -> dict:
    import test_families

    return test_families.inputs_for(name)


# ---- streaming ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_every_family_is_streamed_not_stacked_from_the_output(name, built, monkeypatch):
    """The weights come from the hooks, layer by layer: the path that stacks the model's
    collected output (every layer alive at once) is never taken."""

    def stacked_from_output(*args, **kwargs):
        raise AssertionError("the model's collected attentions were stacked")

    monkeypatch.setattr(capture_module, "_stack", stacked_from_output)
    result = capture(built(name), None, family_inputs(name))
    records = result if isinstance(result, tuple) else (result,)
    assert all(r.weights.dtype == np.float32 for r in records)


def test_the_model_never_holds_every_layer(built):
    """During the forward pass the model's own recorder sees only empty markers: the weights it
    would have collected are in the record already."""
    model = built("LLaMA")
    seen = []
    handle = model.model.layers[1].register_forward_hook(lambda m, a, out: seen.append(out))
    attention = model.model.layers[0].self_attn
    outputs = []
    h2 = attention.register_forward_hook(lambda m, a, out: outputs.append(out[1]))  # runs after capture()'s own hook
    try:
        capture(model, None, family_inputs("LLaMA"))
    finally:
        handle.remove(), h2.remove()
    assert outputs and outputs[0].numel() == 0


# ---- what to keep ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["BERT", "GPT-2", "LLaMA", "Mistral", "OPT", "ViT", "SigLIP (vision)"])
def test_layers_heads_and_rows_equal_the_same_part_of_the_full_capture(name, built):
    model = built(name)
    batch = family_inputs(name)
    full = capture(model, None, batch)
    n_q = full.n_queries
    rows = [0, n_q // 2, n_q - 1]
    part = capture(model, None, batch, layers=[-1], heads=[2, 0], queries=rows)
    np.testing.assert_array_equal(part.weights, full.weights[-1:, [2, 0]][:, :, rows])
    assert part.layer_ids == (full.n_layers - 1,) and part.model_layers == full.n_layers and not part.all_layers
    assert part.layer_names == full.layer_names[-1:]
    assert part.head_ids == (2, 0) and part.query_positions == tuple(rows)
    assert part.query_tokens == tuple(full.query_tokens[r] for r in rows) and part.key_tokens == full.key_tokens
    assert part.kind == full.kind
    if full.kv_heads is not None:
        assert part.kv_heads == (full.kv_heads[2], full.kv_heads[0])
    same = full.select(layers=[-1], heads=[2, 0], queries=rows)
    np.testing.assert_array_equal(same.weights, part.weights)
    assert (same.layer_ids, same.model_layers, same.head_ids, same.query_positions) == (part.layer_ids, part.model_layers, part.head_ids, part.query_positions)


def test_the_last_tokens_row_of_a_decoder(built):
    model = built("Qwen2")
    batch = family_inputs("Qwen2")
    full = capture(model, None, batch)
    last = capture(model, None, batch, queries="last")
    assert last.shape == (full.n_layers, full.n_heads, 1, full.n_keys) and last.query_positions == (full.n_keys - 1,)
    np.testing.assert_array_equal(last.weights[:, :, 0], full.weights[:, :, -1])
    assert last.kind == "causal" and last.query_tokens == full.query_tokens[-1:]
    # an earlier row of a causal record puts nothing on later keys, and the record checks it by position
    early = capture(model, None, batch, queries=[1])
    assert early.kind == "causal" and early.weights[..., 2:].max() == 0
    with pytest.raises(ValueError, match="future tokens"):
        AttentionRecord(last.weights, ["x"], full.key_tokens, kind="causal", query_positions=(0,))


def test_padding_is_left_out_of_selected_rows(built):
    model = built("BERT")
    tokenizer = tiny_tokenizer("bert")
    short = capture(model, tokenizer, ["a cat sat .", "attention is all you need , the quick brown fox said ."], index=0, queries=[0, 2, -1])
    assert short.query_padding.tolist() == [False, False, True]
    shown = short.without_padding()
    assert shown.n_queries == 2 and shown.n_keys == int((~short.key_padding).sum()) and shown.query_positions == (0, 2)


def test_generation_keeps_chosen_layers_and_rows(built):
    model = built("LLaMA")
    tokenizer = tiny_tokenizer("llama")
    prompt = "the quick brown fox"
    full = capture(model, tokenizer, prompt, generate=3)
    part = capture(model, tokenizer, prompt, generate=3, layers=[1], queries=slice(-3, None), dtype="float16")
    n = full.n_keys
    assert part.shape == (1, full.n_heads, 3, n) and part.query_positions == (n - 3, n - 2, n - 1)
    np.testing.assert_array_equal(part.weights, full.weights[1:, :, -3:].astype(np.float16))
    assert part.prompt_length == full.prompt_length and part.meta["generated_tokens"] == full.meta["generated_tokens"]
    assert part.kind == "causal" and part.layer_ids == (1,)


def test_plain_torch_modules_keep_chosen_layers_heads_and_rows():
    torch.manual_seed(0)
    layer = torch.nn.TransformerEncoderLayer(d_model=16, nhead=4, dim_feedforward=32, batch_first=True)
    model = torch.nn.TransformerEncoder(layer, num_layers=3, enable_nested_tensor=False).eval()
    x = torch.randn(1, 5, 16)
    full = capture(model, None, x, query_tokens=list("abcde"))
    part = capture(model, None, x, query_tokens=list("abcde"), layers=[2], heads=[1, 3], queries="last", dtype="float16")
    assert part.shape == (1, 2, 1, 5) and part.weights.dtype == np.float16
    np.testing.assert_array_equal(part.weights, full.weights[2:, [1, 3], -1:].astype(np.float16))
    assert part.layer_names == ("layers.2.self_attn",) and part.layer_ids == (2,) and part.model_layers == 3
    assert part.query_tokens == ("e",) and part.key_tokens == tuple("abcde")
    alone = capture_modules(model, x, layers=[0])
    np.testing.assert_array_equal(alone.weights, full.weights[:1])


def test_bad_selections_say_what_the_model_has(built):
    model = built("LLaMA")
    batch = family_inputs("LLaMA")
    with pytest.raises(IndexError, match="layer 2 is out of range: this record has 2 layers"):
        capture(model, None, batch, layers=[2])
    with pytest.raises(IndexError, match="head 9 is out of range"):
        capture(model, None, batch, heads=[9])
    with pytest.raises(ValueError, match="queries must be an index.*'last'"):
        capture(model, None, batch, queries="first")
    with pytest.raises(ValueError, match="name the same layer twice"):
        capture(model, None, batch, layers=[0, 0])
    with pytest.raises(ValueError, match="dtype must be 'float32'.*'float16'"):
        capture(model, None, batch, dtype="bfloat16")
    with pytest.raises(ValueError, match="encoder-decoder has three"):
        capture(built("BART"), None, family_inputs("BART"), layers=[0])


# ---- what a partial record says ------------------------------------------------------------------


def test_a_partial_record_says_which_layers_it_holds(built):
    model = built("GPT-2")
    batch = family_inputs("GPT-2")
    full = capture(model, None, batch)
    assert full.all_layers and full.layer_ids is None
    full.require_all_layers("rollout")  # nothing to say
    part = capture(model, None, batch, layers=[1])
    assert "layers 1 of 2" in repr(part)
    with pytest.raises(ValueError, match="rollout needs every layer of the model in order, but this record holds layers 1 of the model's 2.*without layers="):
        part.require_all_layers("rollout")
    # heads combined later (aggregate) are no longer the model's single heads
    assert capture(model, None, batch, heads=[0, 1]).aggregate("mean").head_ids is None


def test_selection_survives_save_and_load(built, tmp_path):
    model = built("LLaMA")
    part = capture(model, None, family_inputs("LLaMA"), layers=[1], heads=[4], queries=[0, -1], dtype="float16")
    part.save(tmp_path / "part.safetensors")
    back = AttentionRecord.load(tmp_path / "part.safetensors")
    np.testing.assert_array_equal(back.weights, part.weights)
    assert back.weights.dtype == np.float16
    for field in ("layer_ids", "model_layers", "head_ids", "query_positions", "key_tokens", "query_tokens", "kind"):
        assert getattr(back, field) == getattr(part, field), field


# ---- float16 records ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["BERT", "LLaMA", "BART", "ViT"])
def test_float16_records_are_the_float32_ones_rounded(name, built):
    model = built(name)
    batch = family_inputs(name)
    full, half = capture(model, None, batch), capture(model, None, batch, dtype=np.float16)
    pairs = zip(full, half) if isinstance(full, tuple) else [(full, half)]
    for f, h in pairs:
        assert h.weights.dtype == np.float16 and h.weights.nbytes * 2 == f.weights.nbytes
        np.testing.assert_array_equal(h.weights, f.weights.astype(np.float16))
        assert h.meta["dtype"] == "float16" and h.kind == f.kind
        np.testing.assert_allclose(entropy(h), entropy(f), atol=5e-3)  # analyses take float16 records


def test_float16_rows_are_checked_to_float16_precision():
    rng = np.random.default_rng(0)
    w = rng.random((1, 2, 40, 40)).astype(np.float32)
    w /= w.sum(-1, keepdims=True)
    half = AttentionRecord(w.astype(np.float16), [str(i) for i in range(40)])
    assert half.weights.dtype == np.float16 and half.meta["dtype"] == "float16"
    bad = (w * 1.01).astype(np.float16)
    with pytest.raises(ValueError, match="sum to 1"):
        AttentionRecord(bad, [str(i) for i in range(40)])
    assert half.astype(np.float32).weights.dtype == np.float32


def test_views_draw_float16_and_selected_records(built):
    from attnwidgets.views import HeadView, Heatmap, ModelView

    model = built("LLaMA")
    batch = family_inputs("LLaMA")
    for record in (capture(model, None, batch, dtype="float16"), capture(model, None, batch, layers=[1], heads=[0, 3], queries=[2, 5, -1], dtype="float16")):
        for view_class in (Heatmap, HeadView, ModelView):
            view = view_class(record)
            assert view.error == ""
            assert view._repr_mimebundle_()  # the PNG fallback draws it too
        assert Heatmap(record).layer_names == list(record.layer_names)


# ---- the refusal -------------------------------------------------------------------------------


def test_a_capture_that_would_not_fit_is_refused_before_the_model_runs(built, monkeypatch):
    model = built("LLaMA")
    batch = family_inputs("LLaMA")  # 2 layers x 9 heads x 11 x 11 float32: 8.7 KB
    calls = []
    handle = model.register_forward_pre_hook(lambda m, a: calls.append(1))
    try:
        with pytest.raises(CaptureMemoryError, match=r"would need about \d+ MB but 0 MB is available \(memory_limit\).*2 layers x 9 heads x 11 queries x 11 keys of float32.*layers=.*heads=.*queries='last'.*dtype='float16'.*shorter text.*raise memory_limit") as err:
            capture(model, None, batch, memory_limit=1000)
        assert not calls  # refused before the forward pass
        assert isinstance(err.value, MemoryError)
        record = capture(model, None, batch, memory_limit=1e6)  # the same capture in a budget it fits
        assert record.n_layers == 2 and calls
    finally:
        handle.remove()
    # the free memory is the default budget
    monkeypatch.setattr(capture_module, "available_memory", lambda: 5000)
    with pytest.raises(CaptureMemoryError, match=r"is available \(free memory\)"):
        capture(model, None, batch)


def test_a_model_whose_shapes_are_known_only_when_it_runs_is_refused_at_the_first_layer(built):
    """Vision inputs: the number of positions is known when the first layer returns; the record
    is refused before it is allocated."""
    model = built("ViT")
    with pytest.raises(CaptureMemoryError, match="2 layers x 4 heads x 25 queries x 25 keys"):
        capture(model, None, family_inputs("ViT"), memory_limit=2000)


def test_a_smaller_selection_fits_where_the_whole_record_does_not(built):
    model = built("LLaMA")
    batch = family_inputs("LLaMA")
    whole = capture(model, None, batch).weights.nbytes
    transient = 2 * 9 * 11 * 11 * 4 + 11 * 11 * 4  # a layer's scores and softmax, and the mask, in float32
    budget = whole * 0.6 + transient  # less than the record + a layer's work
    with pytest.raises(CaptureMemoryError):
        capture(model, None, batch, memory_limit=budget)
    assert capture(model, None, batch, memory_limit=budget, layers=[0]).n_layers == 1
    assert capture(model, None, batch, memory_limit=budget, dtype="float16").weights.dtype == np.float16


def test_available_memory_reads_the_machine():
    free = available_memory()
    assert free is None or 0 < free < 1 << 50


def test_bad_memory_limits_are_refused(built):
    with pytest.raises(ValueError, match="memory_limit must be a positive number of bytes"):
        capture(built("BERT"), None, family_inputs("BERT"), memory_limit="2GB")


# ---- SmolLM2 -----------------------------------------------------------------------------------


def test_smollm2_selected_layers_equal_the_full_capture(smollm2):
    model, tokenizer = smollm2
    text = "The quick brown fox jumps over the lazy dog, and the dog does not mind at all."
    full = capture(model, tokenizer, text)
    part = capture(model, tokenizer, text, layers=[3, 18], heads=[6], queries="last", dtype="float16")
    assert part.shape == (2, 1, 1, full.n_keys)
    assert part.layer_names == ("model.layers.3.self_attn", "model.layers.18.self_attn") and part.kv_heads == (2,)
    np.testing.assert_array_equal(part.weights, full.weights[[3, 18]][:, [6]][:, :, -1:].astype(np.float16))
    with pytest.raises(ValueError, match="holds layers 3, 18 of the model's 30"):
        part.require_all_layers("rollout")


def test_smollm2_loads_tensor_by_tensor_to_the_same_weights(smollm2):
    """load_model("smollm2") fills an empty float32 model from the float16 cache one tensor at a
    time (peak near the model's size, not twice it); the weights are those from_pretrained gives."""
    from transformers import AutoModelForCausalLM

    from attnwidgets.models import smollm2_cache

    model, _ = smollm2
    reference = AutoModelForCausalLM.from_pretrained(smollm2_cache(), dtype=torch.float32, attn_implementation="eager")
    ours, theirs = model.state_dict(), reference.state_dict()
    assert set(ours) == set(theirs)
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)
    assert model.lm_head.weight is model.model.embed_tokens.weight  # tied, as the checkpoint says
    assert model.generation_config.eos_token_id == reference.generation_config.eos_token_id
    assert model.config._attn_implementation == "eager" and next(model.parameters()).dtype == torch.float32


# ---- the lean engine (long inputs) ---------------------------------------------------------------

LEAN_FAMILIES = ["BERT", "GPT-2", "LLaMA", "Mistral", "Gemma", "Phi-3", "GPT-NeoX", "ViT", "SigLIP (vision)"]


@pytest.mark.parametrize("name", LEAN_FAMILIES)
def test_lean_engine_gives_eagers_weights(name, built, monkeypatch):
    """Kept layers run the model's own eager function on blocks of query rows: with every layer
    kept and one block, the weights are eager's bit for bit; blocks of fewer rows (another matrix
    product shape) and layers not kept (fused sdpa) differ from eager's by float rounding only.
    The model is eager again afterwards."""
    model = built(name)
    batch = family_inputs(name)
    full = capture(model, None, batch)
    lean = capture(model, None, batch, lean=True)  # tiny inputs: one block per layer
    np.testing.assert_array_equal(lean.weights, full.weights)
    assert lean.meta["engine"] == "lean" and "engine" not in full.meta
    monkeypatch.setattr(capture_module, "LEAN_BLOCK_BYTES", 1)  # one query row per block
    rows = capture(model, None, batch, lean=True)
    np.testing.assert_allclose(rows.weights, full.weights, rtol=0, atol=1e-6)
    part = capture(model, None, batch, lean=True, layers=[-1], heads=[1], queries=[0, -1])
    np.testing.assert_allclose(part.weights, full.weights[-1:, [1]][:, :, [0, -1]], rtol=0, atol=1e-6)
    assert part.kind == full.kind and part.query_positions == (0, full.n_queries - 1)
    assert model.config._attn_implementation == "eager"


def test_lean_is_chosen_when_only_it_fits(built, monkeypatch):
    model = built("LLaMA")
    batch = family_inputs("LLaMA")
    monkeypatch.setattr(capture_module, "LEAN_BLOCK_BYTES", 9 * 11 * 4)  # a block of one row of every head
    record = 9 * 11 * 11 * 4  # one layer kept, float32
    eager_work = 2 * 9 * 11 * 11 * 4 + 11 * 11 * 4  # a layer's scores and softmax, and the mask
    roomy = capture(model, None, batch, layers=[1], memory_limit=record + eager_work)
    assert "engine" not in roomy.meta  # eager fits: eager, exact
    tight = capture(model, None, batch, layers=[1], memory_limit=record + eager_work - 1)
    assert tight.meta["engine"] == "lean"  # only lean fits
    np.testing.assert_allclose(tight.weights, roomy.weights, rtol=0, atol=1e-6)
    with pytest.raises(CaptureMemoryError):  # lean=False: eager or nothing
        capture(model, None, batch, layers=[1], memory_limit=record + eager_work - 1, lean=False)


def test_lean_is_refused_where_the_model_cannot_take_it(built, monkeypatch):
    model = built("LLaMA")
    monkeypatch.setattr(model, "_supports_attention_backend", False)  # as a model with its own attention code
    with pytest.raises(ValueError, match="lean=True needs a model whose attention modules use transformers' attention interface"):
        capture(model, None, family_inputs("LLaMA"), lean=True)


# ---- models split across devices --------------------------------------------------------------


def test_a_model_split_by_device_map_is_captured_like_the_whole_model(built, tmp_path):
    """As far as a machine without a GPU allows: accelerate's device_map places layer 1 on
    "disk" (its weights are brought in by accelerate's hooks only while it runs, as they are
    for a layer on another GPU), and the capture still equals the model held whole."""
    from transformers import AutoModelForCausalLM

    whole = built("LLaMA")
    whole.save_pretrained(tmp_path / "model")
    device_map = {"model.embed_tokens": "cpu", "model.layers.0": "cpu", "model.layers.1": "disk", "model.norm": "cpu", "model.rotary_emb": "cpu", "lm_head": "cpu"}
    split = AutoModelForCausalLM.from_pretrained(tmp_path / "model", device_map=device_map, offload_folder=tmp_path / "offload", attn_implementation="eager")
    assert getattr(split, "hf_device_map", {}).get("model.layers.1") == "disk"
    inputs = family_inputs("LLaMA")
    expected = capture(whole, None, inputs)
    got = capture(split, None, inputs)
    np.testing.assert_allclose(got.weights, expected.weights, atol=1e-6)
    only = capture(split, None, inputs, layers=[1], heads=[0, 4], queries="last")
    np.testing.assert_allclose(only.weights, expected.weights[1:, [0, 4], -1:], atol=1e-6)
