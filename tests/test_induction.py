"""The project's own induction model (data/induction-gpt2): it loads by name, it learned to copy,
it has induction heads; the sequence generator, the induction score and the trainer."""

import json
import math

import numpy as np
import pytest
import torch

from attnwidgets import AttentionRecord, capture, models
from attnwidgets.analysis import induction_score
from attnwidgets.induction import BOS_ID, N_SYMBOLS, VOCAB, Settings, half_losses, main, repeated_tokens, to_text, train, training_batch
from attnwidgets.models import ModelNotAvailableError, load_model

from conftest import softmaxed

CHANCE = math.log(N_SYMBOLS)  # 4.127 nats: nothing in the first copy can be predicted

# The weights are not committed yet: the training recipe does not give a classic induction head
# within its time budget (see attnwidgets/induction.py). These tests check the model once it is.
needs_model = pytest.mark.skipif(
    not (models.DATA_DIR / "induction-gpt2" / "config.json").exists(),
    reason="data/induction-gpt2 is not committed yet (python -m attnwidgets.induction train makes it; see data/README.md)",
)


@pytest.fixture(scope="module")
def induction():
    return load_model("induction-gpt2")


# ---- the committed model --------------------------------------------------------------------


@needs_model
def test_loads_by_name_small_and_documented(induction):
    model, tokenizer = induction
    assert type(model).__name__ == "GPT2LMHeadModel" and model.config._attn_implementation == "eager"
    assert (model.config.n_layer, model.config.n_head, model.config.vocab_size) == (2, 4, len(VOCAB))
    assert not model.training
    folder = models.DATA_DIR / "induction-gpt2"
    assert (folder / "model.safetensors").stat().st_size < 2_000_000
    info = json.loads((folder / "training.json").read_text())
    assert info["recreate"] == "python -m attnwidgets.induction train"
    assert info["final"]["loss_second_copy"] < 0.2 * info["final"]["loss_first_copy"]
    # the tokenizer reads the text the generator writes, BOS first
    ids = repeated_tokens(5, seed=3)[0]
    assert tokenizer(to_text(ids[1:]))["input_ids"] == ids.tolist()
    assert tokenizer.convert_ids_to_tokens([BOS_ID]) == ["<bos>"]


@needs_model
def test_capture_on_the_model(induction):
    model, tokenizer = induction
    ids = repeated_tokens(8, seed=1)
    record = capture(model, tokenizer, to_text(ids[0, 1:]))
    assert record.kind == "causal" and record.shape == (2, 4, 17, 17)
    assert record.query_tokens[0] == "<bos>" and record.query_special.tolist() == [True] + [False] * 16
    assert record.query_tokens[1:9] == record.query_tokens[9:]
    assert record.model_name == "induction-gpt2"
    by_ids = capture(model, None, ids)  # ids work too, with positions as labels
    np.testing.assert_allclose(by_ids.weights, record.weights, atol=1e-6)


@needs_model
@pytest.mark.parametrize("period", [10, 30, 60])
def test_model_learned_to_copy_on_fresh_sequences(induction, period):
    model, _ = induction
    with torch.no_grad():
        first, second = half_losses(model, repeated_tokens(period, 64, seed=2026), period)
    assert abs(first - CHANCE) < 0.25  # random tokens stay at chance: nothing was memorised
    assert second < 0.2 * first


@needs_model
def test_induction_heads_on_repeats_not_on_random_tokens(induction):
    model, _ = induction
    period = 30
    record = capture(model, None, repeated_tokens(period, seed=11))
    scores = induction_score(record, period)
    assert scores.shape == (2, 4)
    layer, head = np.unravel_index(scores.argmax(), scores.shape)
    assert layer == 1 and scores.max() > 0.5  # an induction head needs a previous-token head below it
    control = capture(model, None, repeated_tokens(2 * period, repeats=1, seed=11))  # same length, no repeat
    with pytest.warns(UserWarning, match="do not repeat"):
        control_scores = induction_score(control, period)
    assert control_scores[layer, head] < 0.1


# ---- the generator --------------------------------------------------------------------------


def test_generator_is_deterministic_and_repeats():
    a = repeated_tokens(7, 3, seed=5)
    assert torch.equal(a, repeated_tokens(7, 3, seed=5))
    assert not torch.equal(a, repeated_tokens(7, 3, seed=6))
    assert a.shape == (3, 15) and a.dtype == torch.long
    assert (a[:, 0] == BOS_ID).all() and torch.equal(a[:, 1:8], a[:, 8:])
    assert 1 <= int(a[:, 1:].min()) and int(a[:, 1:].max()) <= N_SYMBOLS
    assert repeated_tokens(4, repeats=3, bos=False).shape == (1, 12)
    assert repeated_tokens(9, repeats=1).shape == (1, 10)
    p = repeated_tokens(4, 2, prefix=3, seed=5)
    assert p.shape == (2, 12) and torch.equal(p[:, 4:8], p[:, 8:])
    with pytest.raises(ValueError, match="prefix"):
        repeated_tokens(4, prefix=-1)
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="period must be a positive integer"):
            repeated_tokens(bad)
    with pytest.raises(TypeError, match="seed"):
        repeated_tokens(3, seed="x")


# ---- the score ------------------------------------------------------------------------------


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
    # a longer prefix is skipped by default, or named with start=
    assert induction_score(_induction_record(3, prefix=4), 3)[0, 0] == pytest.approx(1.0)
    assert induction_score(_induction_record(3, prefix=4), 3, start=4)[0, 0] == pytest.approx(1.0)


def test_induction_score_bad_inputs():
    record = _induction_record(4)  # 9 tokens
    with pytest.raises(TypeError, match="AttentionRecord"):
        induction_score(record.weights, 4)
    with pytest.raises(ValueError, match="needs causal self-attention.*self"):
        induction_score(AttentionRecord(softmaxed((1, 1, 9, 9)), list("abcdefghi")), 4)
    with pytest.raises(ValueError, match="needs causal"):
        induction_score(AttentionRecord(softmaxed((1, 1, 3, 9)), list("abc"), list("abcdefghi"), kind="cross"), 1)
    for period in (0, 5, -2):
        with pytest.raises(ValueError, match=f"period {period} is out of range"):
            induction_score(record, period)
    with pytest.raises(TypeError, match="period must be an integer"):
        induction_score(record, 2.0)
    with pytest.raises(ValueError, match="start 9 is out of range"):
        induction_score(record, 2, start=9)
    with pytest.raises(ValueError, match="period 4 is out of range: from position 2"):
        induction_score(record, 4, start=2)


# ---- loading and training -------------------------------------------------------------------


def test_training_batches_vary_where_the_copies_start():
    batch = training_batch(Settings(tokens_per_batch=512), torch.Generator().manual_seed(0))
    length = batch.shape[1]
    assert (batch[:, 0] == BOS_ID).all() and batch.shape[0] == 512 // length
    starts = set()
    for row in batch:  # each row ends in two copies of its own n
        n = next(n for n in range((length - 1) // 2, 0, -1) if torch.equal(row[-n:], row[-2 * n : -n]))
        starts.add(length - 2 * n)
    assert len(starts) > 1


def test_trainer_runs_saves_and_is_deterministic(tmp_path):
    settings = Settings(steps=5, warmup_steps=2, tokens_per_batch=256, max_period=20, eval_sequences=8)
    info = train(tmp_path / "a", settings, progress=False)
    for name in ("model.safetensors", "config.json", "tokenizer.json", "training.json"):
        assert (tmp_path / "a" / name).exists()
    saved = json.loads((tmp_path / "a" / "training.json").read_text())
    assert saved["settings"]["steps"] == 5 and saved["final"] == info["final"]
    assert np.isfinite(saved["final"]["loss_first_copy"]) and saved["seconds"] >= 0
    model, tokenizer = load_model(str(tmp_path / "a"))
    assert capture(model, tokenizer, "a b a b").shape == (2, 4, 5, 5)

    train(tmp_path / "b", settings, progress=False)
    from safetensors.torch import load_file

    a, b = load_file(tmp_path / "a" / "model.safetensors"), load_file(tmp_path / "b" / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_command_line_usage(capsys):
    assert main([]) == 2
    assert "train" in capsys.readouterr().err
