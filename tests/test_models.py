"""load_model(): offline packs, local folders, and what happens when the hub is out of reach."""

import time

import pytest

from attnwidgets import models
from attnwidgets.models import ModelNotAvailableError, load_model


@pytest.fixture
def hub_offline(monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)


def test_offline_packs_load_ready_for_capture(minilm, smollm2):
    model, tokenizer = minilm
    assert type(model).__name__ == "BertModel" and model.config._attn_implementation == "eager"
    assert model.config.num_hidden_layers == 6 and tokenizer("hi")["input_ids"][0] == tokenizer.cls_token_id
    model, tokenizer = smollm2
    assert type(model).__name__ == "LlamaForCausalLM" and model.config._attn_implementation == "eager"
    assert (model.config.num_attention_heads, model.config.num_key_value_heads) == (9, 3)


def test_smollm2_cache_makes_later_loads_fast(smollm2):
    assert (models.smollm2_cache() / "model.safetensors").exists()
    start = time.perf_counter()
    load_model("SmolLM2-135M-Instruct")  # an alias of the pack
    assert time.perf_counter() - start < 15  # the GGUF conversion takes 20-40 s; the cache a few


def test_hub_name_out_of_reach_names_the_offline_alternative(hub_offline):
    with pytest.raises(ModelNotAvailableError, match=r"load_model\('minilm'\).*offline_fallback=True"):
        load_model("bert-base-uncased")
    with pytest.raises(ModelNotAvailableError, match=r"load_model\('smollm2'\)"):
        load_model("gpt2")


def test_offline_fallback_loads_the_pack_visibly(hub_offline):
    with pytest.warns(UserWarning, match="Loading it now"):
        model, _ = load_model("bert-base-uncased", offline_fallback=True)
    assert type(model).__name__ == "BertModel"


def test_local_folder_loads(tmp_path, minilm):
    model, tokenizer = minilm
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    loaded, _ = load_model(str(tmp_path))
    assert loaded.config._attn_implementation == "eager"
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelNotAvailableError, match="no config.json"):
        load_model(str(empty))


def test_bad_names():
    with pytest.raises(TypeError, match="model name or a folder"):
        load_model("")
    with pytest.raises(TypeError):
        load_model(None)


def test_prepare_command_prints_the_cache(capsys, smollm2):
    assert models.main(["prepare"]) == 0
    assert "smollm2-135m-instruct-f16" in capsys.readouterr().out
    assert models.main([]) == 2


def test_trained_models_are_found_through_their_data_folder(monkeypatch, tmp_path):
    """data/<name>/attnwidgets.json names the course loader; load_model follows it without importing the course itself."""
    import json
    import sys
    import types

    from attnwidgets import models

    folder = tmp_path / "data" / "toy-model"
    folder.mkdir(parents=True)
    (folder / "attnwidgets.json").write_text(json.dumps({"description": "a toy", "recreate": "python -m toy train", "loader": "toy_course_module:load"}))
    module = types.ModuleType("toy_course_module")
    module.load = lambda path: (f"model from {path.name}", None)
    monkeypatch.setitem(sys.modules, "toy_course_module", module)
    monkeypatch.setattr(models, "DATA_DIR", tmp_path / "data")
    assert models.trained_models() == {"toy-model": {"description": "a toy", "recreate": "python -m toy train", "loader": "toy_course_module:load"}}
    assert models.load_model("toy-model") == ("model from toy-model", None)
    # a Hugging Face folder without weights says how to make them
    (tmp_path / "data" / "hf-model").mkdir()
    (tmp_path / "data" / "hf-model" / "attnwidgets.json").write_text(json.dumps({"description": "tiny", "recreate": "python -m make it"}))
    import pytest

    with pytest.raises(models.ModelNotAvailableError, match="python -m make it"):
        models.load_model("hf-model")


def test_bfloat16_halves_the_model_and_keeps_its_attention(smollm2):
    import numpy as np
    import torch

    from attnwidgets import capture

    model, tokenizer = smollm2
    half, _ = load_model("smollm2", dtype="bfloat16")
    assert {p.dtype for p in half.parameters()} == {torch.bfloat16}
    size = lambda m: sum(p.numel() * p.element_size() for p in m.parameters())  # noqa: E731
    assert size(half) * 2 == size(model)
    text = "The capital of France is Paris, and the capital of Italy is Rome. " * 6
    full = capture(model, tokenizer, text, layers=[0, 18]).weights.astype(np.float64)
    approx = capture(half, tokenizer, text, layers=[0, 18]).weights.astype(np.float64)
    assert full.shape == approx.shape
    assert np.abs(full - approx).mean() < 1e-3 and np.abs(full - approx).max() < 0.15
    assert (full.argmax(-1) == approx.argmax(-1)).mean() > 0.95


def test_load_model_refuses_an_unknown_dtype():
    with pytest.raises(ValueError, match=r"float32, bfloat16, float16.*got 'int8'"):
        load_model("minilm", dtype="int8")
    assert next(load_model("minilm", dtype="bfloat16")[0].parameters()).dtype.is_floating_point
