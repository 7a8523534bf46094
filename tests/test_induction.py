"""Notebook 05's teaching code (attnwidgets.course.induction) and the tiny induction models in data/.

The shipped models (seeds 0, 1, 2) are loaded, captured and scored: a previous-token head in
layer 0 and induction heads in layer 1 on every seed, the score's ceiling when symbols repeat
within a copy, the control on sequences with nothing repeated, and the ablations.
"""

import json
import math
import warnings

import numpy as np
import pytest
import torch

from attnwidgets import AttentionRecord, capture, models
from attnwidgets.ablation import attention_layout
from attnwidgets.analysis import induction_score, offset_score
from attnwidgets.course import induction as ind
from attnwidgets.course.induction import BOS_ID, N_SYMBOLS, VOCAB, Settings, repeated_tokens
from attnwidgets.models import load_model

from conftest import softmaxed

SEEDS = (0, 1, 2)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Small models: one thread is as fast, and two threads on a shared machine wait on each other."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tiny():
    return load_model("induction-tiny")


@pytest.fixture(scope="module")
def tiny_record(tiny):
    model, tokenizer = tiny
    return capture(model, tokenizer, repeated_tokens(30, distinct=True, seed=7))


# ---- the shipped models -------------------------------------------------------------------------


def test_three_seeds_shipped_small_and_documented():
    for seed in SEEDS:
        folder = models.DATA_DIR / ind.folder_name(seed)
        assert (folder / "model.safetensors").stat().st_size < 400_000  # 185 KB of float32 weights
        described = json.loads((folder / "attnwidgets.json").read_text())
        assert described["loader"] == "attnwidgets.course.induction:load"
        assert described["recreate"] == f"python -m attnwidgets.course.induction train --seed {seed}"
        info = json.loads((folder / "training.json").read_text())
        assert info["settings"]["seed"] == seed and info["parameters_trained"] == 45_952
        assert info["torch"] and info["seconds"] > 0 and info["held_out"]["bigram_copied_accuracy"] > 0.95
    assert {ind.folder_name(s) for s in SEEDS} <= set(models.trained_models())


def test_loads_by_name_attention_only(tiny):
    model, tokenizer = tiny
    assert type(model).__name__ == "GPT2LMHeadModel" and model.config._attn_implementation == "eager"
    assert (model.config.n_layer, model.config.n_head, model.config.n_embd, model.config.vocab_size) == (2, 4, 64, len(VOCAB))
    assert not model.training
    for block in model.transformer.h:  # the MLPs are switched off: their output is exactly zero
        assert torch.count_nonzero(block.mlp.c_proj.weight) == 0 and torch.count_nonzero(block.mlp.c_proj.bias) == 0
        assert not any(p.requires_grad for p in block.mlp.parameters())
        with torch.no_grad():
            assert torch.count_nonzero(block.mlp(torch.randn(2, 5, 64))) == 0
    ids = repeated_tokens(5, seed=3)[0]
    assert tokenizer(ind.to_text(ids[1:]))["input_ids"] == ids.tolist()  # the text form reads back, BOS first
    assert tokenizer.convert_ids_to_tokens([BOS_ID]) == ["<bos>"]


def test_capture_on_the_model(tiny, tiny_record):
    model, tokenizer = tiny
    assert tiny_record.kind == "causal" and tiny_record.shape == (2, 4, 61, 61)
    assert tiny_record.model_name == "induction-tiny"
    assert tiny_record.query_tokens[0] == "<bos>" and tiny_record.query_tokens[1:31] == tiny_record.query_tokens[31:]
    as_text = capture(model, tokenizer, ind.to_text(repeated_tokens(30, distinct=True, seed=7)[0, 1:]))
    np.testing.assert_allclose(as_text.weights, tiny_record.weights, atol=1e-6)
    generated = capture(model, tokenizer, "A b C d A b", generate=4)
    assert generated.meta["generated_tokens"] == ["C", "d", "A", "b"]  # it continues the pattern


@pytest.mark.parametrize("seed", SEEDS)
def test_every_seed_has_a_previous_token_head_and_induction_heads(seed):
    model, tokenizer = load_model(ind.folder_name(seed))
    ids = repeated_tokens(30, 8, distinct=True, seed=100 + seed)
    scores = ind.head_scores(model, tokenizer, ids, 30)
    prev, induct = scores["previous"], scores["induction"]
    assert prev[0].max() > 0.95  # layer 0: a previous-token head
    assert induct[1].max() > 0.95 and (induct[1] > 0.5).sum() >= 2  # layer 1: induction heads
    assert induct[0].max() < 0.1 and prev[1].max() < 0.3  # and not the other way round
    # with symbols repeated inside a copy, "after my last occurrence" is sometimes the wrong place
    replaced = ind.head_scores(model, tokenizer, repeated_tokens(30, 16, seed=200 + seed), 30)["induction"]
    assert 0.55 < replaced[1].max() < 0.72
    # the control: the same stripe where nothing repeats
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        control = ind.head_scores(model, tokenizer, repeated_tokens(60, 4, repeats=1, distinct=True, seed=seed), 30)["induction"]
    assert control.max() < 0.1
    accuracy = ind.copy_accuracy(model, ids, 30)
    assert accuracy["second_copy"] > 0.98 and accuracy["first_copy"] < 0.05


def test_training_curves_show_the_heads_forming():
    runs = ind.training_runs()
    assert sorted(runs) == list(SEEDS)
    for seed, info in runs.items():
        history = info["history"]
        assert history[0]["step"] == 0 and history[-1]["step"] == info["settings"]["steps"] - 1
        assert history[0]["previous_token"] < 0.2 and history[0]["induction"] < 0.1  # at first: neither head
        assert history[-1]["previous_token"] > 0.95 and history[-1]["induction"] > 0.95
        formed = info["induction_above_0.3_at_step"]
        assert formed is not None and 200 <= formed <= 1500
        assert history[0]["loss"] > 3.5 > 0.2 > history[-1]["loss"]  # from ln 62 = 4.13 to near 0
        held = info["held_out"]
        assert held["distinct"]["induction"] > 0.95 and held["distinct"]["previous_token"] > 0.95
        assert 0.55 < held["with_replacement"]["induction"] < 0.72 and held["random_control"]["induction_max"] < 0.1


def test_copying_reaches_past_the_trained_length(tiny):
    model, _ = tiny
    for period in (5, 45, 62):  # trained on 64 tokens; 62 distinct symbols give 125
        assert ind.copy_accuracy(model, repeated_tokens(period, 8, distinct=True, seed=period), period)["second_copy"] > 0.95


def test_ablations_on_the_tiny_model(tiny, tiny_record):
    model, _ = tiny
    cut = ind.tiny_ablations(model, tiny_record, sequences=16)
    assert cut["all_heads"] > 0.98
    assert len(cut["previous_heads"]) >= 1 and all(layer == 0 for layer, _ in cut["previous_heads"])
    assert cut["without_previous"] < 0.1  # no previous-token head, no copying
    assert min(cut["without_one_induction"].values()) > 0.9  # each induction head alone is redundant
    assert cut["without_layer_1"] < 0.1
    # the helper leaves the model as it was
    assert ind.copy_accuracy(model, repeated_tokens(30, 16, distinct=True, seed=11), 30)["second_copy"] == cut["all_heads"]


def test_ablation_effect_compares_with_random_heads(tiny):
    model, _ = tiny
    ids = repeated_tokens(30, 16, distinct=True, seed=5)
    effect = ind.ablation_effect(model, ids, 30, [(0, 0)], random_draws=3, seed=0)
    assert effect["none"] > 0.98 and effect["ablated"] < 0.1 and effect["first_copy"] < 0.05
    assert len(effect["random"]) == 3 and all((0, 0) not in draw for draw in effect["random_heads"])
    assert effect["random_heads"] == ind.ablation_effect(model, ids, 30, [(0, 0)], random_draws=3, seed=0)["random_heads"]  # seeded


# ---- sequences ----------------------------------------------------------------------------------


def test_repeated_tokens():
    a = repeated_tokens(7, 3, seed=5)
    assert torch.equal(a, repeated_tokens(7, 3, seed=5)) and not torch.equal(a, repeated_tokens(7, 3, seed=6))
    assert a.shape == (3, 15) and a.dtype == torch.long
    assert (a[:, 0] == BOS_ID).all() and torch.equal(a[:, 1:8], a[:, 8:])
    assert 1 <= int(a[:, 1:].min()) and int(a[:, 1:].max()) <= N_SYMBOLS
    d = repeated_tokens(40, 20, distinct=True, seed=1)
    assert all(len(set(row[1:41].tolist())) == 40 for row in d)
    assert repeated_tokens(9, repeats=1).shape == (1, 10)
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="period must be a positive integer"):
            repeated_tokens(bad)
    with pytest.raises(ValueError, match="at least 63 to choose from; there are 62"):
        repeated_tokens(63, distinct=True)
    with pytest.raises(TypeError, match="seed"):
        repeated_tokens(3, seed="x")


def test_repeated_ids_with_a_tokenizer():
    tokenizer = ind.make_tokenizer()
    ids = ind.repeated_ids(tokenizer, 10, 3, seed=2, vocab_from=1, vocab_to=63)
    assert ids.shape == (3, 21) and (ids[:, 0] == tokenizer.bos_token_id).all()
    assert torch.equal(ids[:, 1:11], ids[:, 11:]) and all(len(set(r[1:11].tolist())) == 10 for r in ids)
    assert torch.equal(ids, ind.repeated_ids(tokenizer, 10, 3, seed=2, vocab_from=1, vocab_to=63))
    with pytest.raises(ValueError, match="vocab_from..vocab_to"):
        ind.repeated_ids(tokenizer, 10, vocab_from=100, vocab_to=200)


def test_bigram_batches_follow_their_rule():
    ids, copied = ind.bigram_batch(32, 64, torch.Generator().manual_seed(0))
    again, _ = ind.bigram_batch(32, 64, torch.Generator().manual_seed(0))
    assert torch.equal(ids, again) and ids.shape == (32, 64) and copied.shape == (32, 63)
    assert (ids[:, 0] == BOS_ID).all() and not copied[:, 0].any()
    assert 0.15 < copied.float().mean() < 0.3  # about a fifth of the targets are copies
    for b in range(4):
        row = ids[b].tolist()
        for t in range(1, 63):
            if copied[b, t]:  # target t + 1 repeats what followed the latest earlier occurrence of token t
                earlier = max(s for s in range(1, t) if row[s] == row[t])
                assert row[t + 1] == row[earlier + 1]


def test_copy_accuracy_refuses_other_shapes(tiny):
    with pytest.raises(ValueError, match=r"\[BOS, x, x\]"):
        ind.copy_accuracy(tiny[0], repeated_tokens(5), 6)


# ---- small measurements -------------------------------------------------------------------------


def _record(weights, kv_heads=None):
    n = weights.shape[-1]
    return AttentionRecord(weights, [f"t{i}" for i in range(n)], kind="causal", kv_heads=kv_heads)


def test_sink_share_and_upper_triangle():
    n = 6
    w = np.zeros((2, 1, n, n), np.float32)
    w[0, 0, :, 0] = 1.0  # layer 0: everything on the first token
    w[1, 0] = np.tril(np.ones((n, n))) / np.arange(1, n + 1)[:, None]  # layer 1: even over what it can see
    record = _record(w)
    shares = ind.sink_share(record)
    assert shares[0] == pytest.approx(1.0) and shares[1] == pytest.approx(ind.uniform_sink_share(n))
    assert ind.uniform_sink_share(3) == pytest.approx((1 / 2 + 1 / 3) / 2)
    assert ind.upper_triangle_max(record) == 0.0
    leaky = AttentionRecord(softmaxed((1, 1, 4, 4)), list("abcd"))
    assert ind.upper_triangle_max(leaky) > 0.05


def test_top_heads_and_group_similarity():
    grid = np.array([[0.1, 0.9], [0.5, 0.2]])
    assert ind.top_heads(grid, 2) == [(0, 1, 0.9), (1, 0, 0.5)]
    w = softmaxed((1, 4, 5, 5), causal=True)
    w[0, 1] = w[0, 0]  # heads 0 and 1 share a key/value head and attend the same way
    sim = ind.group_similarity(_record(w, kv_heads=(0, 0, 1, 1)))
    assert sim["same_kv_head"] < sim["different_kv_head"]
    with pytest.raises(ValueError, match="kv_heads"):
        ind.group_similarity(_record(w))


def test_grouped_query_shapes_of_a_llama_layer():
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=50, hidden_size=36, intermediate_size=40, num_hidden_layers=1, num_attention_heads=9, num_key_value_heads=3)
    shapes = ind.grouped_query_shapes(LlamaForCausalLM(config))
    assert (shapes["query_heads"], shapes["kv_heads"], shapes["head_dim"]) == (9, 3, 4)
    assert shapes["q_proj"] == (36, 36) and shapes["k_proj"] == (12, 36) and shapes["v_proj"] == (12, 36)


def test_figures_draw():
    from matplotlib.figure import Figure

    grid = np.random.default_rng(0).random((30, 9))
    assert isinstance(ind.score_grids_figure({"a": grid, "b": grid}), Figure)
    effect = {"heads": [(1, 2)], "none": 0.6, "ablated": 0.0, "first_copy": 0.0, "random": [0.6, 0.1], "random_heads": [[(0, 0)], [(2, 2)]]}
    assert isinstance(ind.ablation_figure(effect), Figure)
    assert isinstance(ind.sink_figure(np.linspace(0, 1, 30), 0.1), Figure)
    assert isinstance(ind.training_figure(ind.training_runs()), Figure)


def test_generation_stepper_follows_the_slider(tiny):
    model, tokenizer = tiny
    record = capture(model, tokenizer, "A b C d A b", generate=4)
    stepper = ind.GenerationStepper(record, layer=1, head=0)
    p = record.prompt_length  # 7 with BOS
    assert stepper.step.max == 4 and stepper.query(1) == p - 1
    for step in (1, 3):
        stepper.step.value = step
        q = stepper.query(step)
        assert stepper.heatmap.pinned == q
        np.testing.assert_allclose(stepper.row(step), record.matrix(1, 0)[q, : q + 1])
        assert f"writes <b style='background:#e9f7ee;padding:1px 3px'>{record.meta['generated_tokens'][step - 1]}" in stepper.text.value
    stepper.head.value = "mean"
    assert stepper.heatmap.aggregate == "mean"
    stepper.layer.value = 0
    assert stepper.heatmap.layer == 0
    bundle = stepper._repr_mimebundle_()
    assert "image/png" in (bundle[0] if isinstance(bundle, tuple) else bundle)  # a picture where no kernel runs
    with pytest.raises(ValueError, match="generate=N"):
        ind.GenerationStepper(capture(model, tokenizer, "A b"))


# ---- exercises ----------------------------------------------------------------------------------


def test_check_induction_by_hand():
    def right(weights, period):
        q = np.arange(1 + period, weights.shape[0])
        return float(weights[q, q - period + 1].mean())

    def same_token(weights, period):  # looks at the earlier copy of itself, not the token after it
        q = np.arange(1 + period, weights.shape[0])
        return float(weights[q, q - period].mean())

    def stub(weights, period):
        raise NotImplementedError

    assert ind.check_induction_by_hand(right).status == "right"
    assert ind.check_induction_by_hand(stub).status == "unanswered"
    assert ind.check_induction_by_hand(None).status == "unanswered"
    wrong = ind.check_induction_by_hand(same_token)
    assert wrong.status == "wrong" and "q - period" in wrong.message and "AFTER" in wrong.hint
    assert ind.check_induction_by_hand(lambda w, p: "high").status == "wrong"
    assert ind.check_induction_by_hand(lambda w, p: 1 / 0).status == "wrong"
    weights, period = ind.ex1_example()
    assert weights.shape == (1 + 2 * period,) * 2 and right(weights, period) > 0.3


def test_check_previous_token_head(tiny_record):
    best = int(offset_score(tiny_record, -1)[0].argmax())
    assert ind.check_previous_token_head(best, tiny_record).status == "right"
    assert ind.check_previous_token_head((0, best), tiny_record).status == "right"
    assert ind.check_previous_token_head(None, tiny_record).status == "unanswered"
    other = ind.check_previous_token_head((best + 2) % 4, tiny_record)
    assert other.status == "wrong" and "offset_score" in other.hint
    assert ind.check_previous_token_head((1, best), tiny_record).status == "wrong"
    assert "does not exist" in ind.check_previous_token_head(7, tiny_record).message
    assert ind.check_previous_token_head("head 1", tiny_record).status == "wrong"


def test_check_ablation_prediction(tiny, tiny_record):
    model, _ = tiny
    assert ind.check_ablation_prediction(0.05, model, tiny_record).status == "right"
    assert ind.check_ablation_prediction(None, model, tiny_record).status == "unanswered"
    high = ind.check_ablation_prediction(0.9, model, tiny_record)
    assert high.status == "wrong" and "far lower" in high.message
    assert ind.check_ablation_prediction(1.5, model, tiny_record).status == "wrong"
    assert ind.check_ablation_prediction("zero", model, tiny_record).status == "wrong"


# ---- the induction score itself (attnwidgets.analysis) ------------------------------------------


def _induction_record(period, prefix=1):
    """A hand-made causal record: every query of the second copy looks at q - period + 1."""
    n = prefix + 2 * period
    weights = softmaxed((1, 2, n, n), causal=True)
    for q in range(prefix + period, n):
        weights[0, 0, q] = 0.0
        weights[0, 0, q, q - period + 1] = 1.0
    tokens = ["<bos>"] * prefix + [f"t{i}" for i in range(period)] * 2
    return AttentionRecord(weights, tokens, kind="causal")


def test_induction_score_by_hand():
    scores = induction_score(_induction_record(4), 4)
    assert scores.shape == (1, 2) and scores[0, 0] == pytest.approx(1.0)
    assert 0.0 < scores[0, 1] < 0.5
    assert induction_score(_induction_record(3, prefix=4), 3)[0, 0] == pytest.approx(1.0)
    assert induction_score(_induction_record(3, prefix=4), 3, start=4)[0, 0] == pytest.approx(1.0)


# ---- training -----------------------------------------------------------------------------------


def test_trainer_smoke_runs_and_is_deterministic(tmp_path):
    settings = Settings(steps=4, warmup_steps=2, batch=8, score_every=2, eval_sequences=8)
    info = ind.train(tmp_path / "a", settings, progress=False)
    for name in ("model.safetensors", "config.json", "tokenizer.json", "training.json", "attnwidgets.json"):
        assert (tmp_path / "a" / name).exists()
    saved = json.loads((tmp_path / "a" / "training.json").read_text())
    assert saved["settings"]["steps"] == 4 and [h["step"] for h in saved["history"]] == [0, 2, 3]
    assert abs(saved["history"][0]["loss"] - math.log(N_SYMBOLS)) < 0.3  # an untrained model guesses
    model, tokenizer = load_model(str(tmp_path / "a"))  # a plain Hugging Face folder: loads by path too
    assert capture(model, tokenizer, "a b a b").shape == (2, 4, 5, 5)
    with torch.no_grad():
        torch.testing.assert_close(model(input_ids=repeated_tokens(4)).logits, info["model"].eval()(input_ids=repeated_tokens(4)).logits)

    ind.train(tmp_path / "b", settings, progress=False)
    from safetensors.torch import load_file

    a, b = load_file(tmp_path / "a" / "model.safetensors"), load_file(tmp_path / "b" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_fresh_model_matches_the_recipe():
    model = ind.make_model()
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == 45_952
    assert model.lm_head.weight is model.transformer.wte.weight  # tied embeddings
    table = model.transformer.wpe.weight.detach()
    assert table[0, 1] == pytest.approx(0.02 * math.sqrt(2))  # cos(0), scaled
    layers, heads, names = attention_layout(model)  # what ablate_heads numbers: 2 layers x 4 heads
    assert (layers, heads, names) == (2, 4, ["transformer.h.0.attn", "transformer.h.1.attn"])


def test_command_line_usage(capsys):
    assert ind.main([]) == 2
    assert "train" in capsys.readouterr().err
