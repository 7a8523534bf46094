"""Notebook 02's teaching code: the date generator and parser, the seq2seq models with and without
attention, the trainer, the shipped models in data/, the text box and the exercise checks."""

import datetime as dt
import json
import random
from dataclasses import replace

import numpy as np
import pytest
import torch

import attnwidgets as aw
from attnwidgets import models
from attnwidgets.course import seq2seq as s2s

SHIPPED = ("dates-bahdanau", "dates-luong", "dates-none", "dates-none-wide", "reverse-bahdanau", "reverse-none")


# ---- the generator and the parser --------------------------------------------------------------


def test_at_least_eight_forms_and_every_one_round_trips_in_every_case():
    assert len(s2s.FORM_NAMES) >= 8
    rng = random.Random(0)
    for form in s2s.FORM_NAMES:
        for case in s2s.CASES:
            for _ in range(150):
                date = dt.date.fromordinal(dt.date(1950, 1, 1).toordinal() + rng.randrange(36525))
                ex = s2s.write_date(date, form, rng, case)
                assert ex.iso == date.isoformat() and ex.form == form
                assert s2s.parse_date(ex.text) == ex.iso, (form, case, ex.text)
                # the spans point at the field's own characters
                y0, y1 = ex.spans["year"]
                assert ex.text[y0:y1] == str(date.year)
                d0, d1 = ex.spans["day"]
                assert int(ex.text[d0:d1]) == date.day
                m0, m1 = ex.spans["month"]
                month = ex.text[m0:m1]
                assert month == f"{date.month:02d}" if form == "iso" else month.lower() in (s2s.MONTHS[date.month - 1].lower(), s2s.MONTHS[date.month - 1].lower()[:3])
                if case == "upper":
                    assert ex.text == ex.text.upper()
                if case == "lower":
                    assert ex.text == ex.text.lower()


def test_the_forms_cover_what_the_issue_asks():
    date = dt.date(1998, 3, 3)  # a Tuesday
    texts = [s2s.write_date(date, f, random.Random(i), "title").text for f in s2s.FORM_NAMES for i in range(6)]
    assert "1998-03-03" in texts
    assert any("March" in t for t in texts) and any("Mar " in t for t in texts)  # full and abbreviated month
    assert any(t.startswith("3 ") for t in texts) and any(t.startswith("March 3") for t in texts)  # day before / after
    assert any("Tuesday" in t for t in texts) and any(t.startswith("Tue") for t in texts)  # weekday, the right one
    assert any("the 3rd of" in t.lower() for t in texts)  # ordinal day
    assert any("," in t for t in texts) and any("," not in t and " " in t for t in texts)  # commas or none
    # every weekday a weekday form writes is the date's own
    rng = random.Random(3)
    for ex in s2s.random_dates(400, rng, forms=["weekday, day month year", "wkd, month day, year", "weekday the day-th of month"]):
        weekday = s2s.WEEKDAYS[dt.date.fromisoformat(ex.iso).weekday()]
        assert ex.text.lower().startswith(weekday.lower()[:3])
        assert ex.text.lower().startswith(weekday.lower()) or ex.form == "wkd, month day, year"


def test_years_seeds_and_the_held_out_split():
    train = s2s.random_dates(3000, seed=1)
    assert train == s2s.random_dates(3000, seed=1) and train != s2s.random_dates(3000, seed=2)
    years = [int(ex.iso[:4]) for ex in train]
    assert min(years) >= 1950 and max(years) <= 2049 and min(years) < 1953 and max(years) > 2046
    assert not any(s2s.held_out(dt.date.fromisoformat(ex.iso)) for ex in train)
    test = s2s.test_dates(30, seed=5)
    assert len(test) == 30 * len(s2s.FORM_NAMES)
    assert all(s2s.held_out(dt.date.fromisoformat(ex.iso)) for ex in test)
    share = np.mean([s2s.held_out(dt.date(1950, 1, 1) + dt.timedelta(days=i)) for i in range(36525)])
    assert 0.08 < share < 0.12
    # every character the generator writes is in the models' vocabulary, and nothing else is
    assert set("".join(ex.text for ex in train)) == set(s2s.DATE_CHARS)
    assert max(len(ex.text) for ex in train) <= s2s.MAX_SOURCE


def test_ordinals_and_what_the_parser_refuses():
    assert [s2s.ordinal(d) for d in (1, 2, 3, 4, 11, 12, 13, 21, 22, 23, 31)] == ["1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "23rd", "31st"]
    assert s2s.parse_date("Monday 3 March 1998") is None  # 3 March 1998 was a Tuesday
    assert s2s.parse_date("31 Feb 2000") is None
    assert s2s.parse_date("3th March 1998") is None
    assert s2s.parse_date("3/3/1998") is None and s2s.parse_date("") is None and s2s.parse_date("March 1998") is None
    assert s2s.parse_date("1998 march 3rd") == "1998-03-03"


def test_reverse_task_split():
    rng = np.random.default_rng(0)
    train = s2s.random_digits(500, 7, rng)
    assert train.shape == (500, 7) and not s2s._is_test_string(train).any()
    test = s2s.reverse_test_set(20, (5, 30, 60), seed=1)
    assert [len(v) for v in test.values()] == [20, 20, 20] and all(len(x) == n for n, v in test.items() for x in v)
    assert all(s2s._is_test_string(np.array([[int(c) for c in x]]))[0] for v in test.values() for x in v)


# ---- the model -------------------------------------------------------------------------------


@pytest.mark.parametrize("attention", s2s.SCORERS)
def test_model_shapes_and_masked_padding(attention):
    torch.manual_seed(0)
    model = s2s.new_model(s2s.Settings(attention=attention)).eval()
    texts = ["3 March 1998", "Wednesday the 23rd of September, 1998"]
    ids, lengths = model.encode_text(texts)
    assert ids.shape == (2, 37) and lengths.tolist() == [12, 37]
    logits, weights = model(ids, lengths, max_steps=11)
    assert logits.shape == (2, 11, 13)
    if attention == "none":
        assert weights is None
        return
    assert weights.shape == (2, 11, 37)
    assert torch.allclose(weights.sum(-1), torch.ones(2, 11), atol=1e-6)
    assert weights[0, :, 12:].abs().max() == 0  # padding gets no attention
    # the short text alone gives the same output and attention as in the padded batch
    alone = model(*model.encode_text(texts[:1]), max_steps=11)
    assert torch.allclose(alone[0][0], logits[0], atol=1e-5) and torch.allclose(alone[1][0], weights[0, :, :12], atol=1e-6)


def test_additive_scores_are_the_formula():
    torch.manual_seed(1)
    model = s2s.new_model(s2s.Settings()).eval()
    states = torch.randn(1, 6, 24)
    state = torch.randn(1, 24)
    mask = torch.ones(1, 6, dtype=torch.bool)
    got = model.attend(state, states, model.key(states), mask)[0]
    W, U, b, v = model.query.weight, model.key.weight, model.key.bias, model.v.weight[0]
    want = s2s._additive_reference(state[0], states[0], W, U, b, v)
    assert torch.allclose(got, want, atol=1e-6)


def test_bad_input_is_refused_with_a_reason():
    model = s2s.new_model(s2s.Settings())
    with pytest.raises(ValueError, match="never saw: '/'"):
        model.encode_text(["3/3/1998"])
    with pytest.raises(ValueError, match="empty"):
        model.encode_text([""])
    with pytest.raises(TypeError, match="list"):
        s2s.translate(model, "3 March 1998")
    with pytest.raises(ValueError, match="no attention"):
        s2s.attention_record(s2s.new_model(s2s.Settings(attention="none")), "3 March 1998")


def test_training_is_seeded_learns_and_saves(tmp_path, monkeypatch):
    monkeypatch.setattr(s2s, "final_metrics", lambda model, task: {"skipped": True})
    settings = replace(s2s.PRESETS["dates-bahdanau"], steps=60, eval_every=1000)
    model, info = s2s.train(settings, progress=False)
    again, _ = s2s.train(settings, progress=False)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))
    curve = np.array(info["loss_curve"])
    assert curve[-1, 1] < 0.85 * curve[0, 1]  # 60 steps already lower the loss
    assert torch.get_num_threads() == 1
    folder = s2s.save(model, info, "dates-smoke", tmp_path)
    loaded, tokenizer = s2s.load(folder)
    assert tokenizer is None and not loaded.training
    texts = ["3 March 1998", "1999-12-31"]
    assert s2s.translate(loaded, texts) == s2s.translate(model, texts)
    meta = json.loads((folder / "attnwidgets.json").read_text())
    assert meta["recreate"] == "python -m attnwidgets.course.seq2seq train dates-smoke" and meta["loader"] == "attnwidgets.course.seq2seq:load"
    assert json.loads((folder / "training.json").read_text())["settings"]["steps"] == 60


def test_field_precision():
    w = np.array([[0.5, 0.25, 0.25], [0.0, 1.0, 0.0]])
    assert s2s.field_precision(w, [0, 1], (0, 2)) == pytest.approx(0.875)
    assert s2s.field_precision(w, [1], [2]) == 0.0


# ---- the shipped models ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shipped():
    return {name: aw.load_model(name)[0] for name in SHIPPED}


@pytest.fixture(scope="module")
def held_out():
    return s2s.test_dates(80, seed=31)  # not the notebook's (2026) or training.json's (7) test set


def test_shipped_models_are_small_documented_and_listed(shipped):
    listed = models.trained_models()
    for name in SHIPPED:
        folder = models.DATA_DIR / name
        assert (folder / "model.safetensors").stat().st_size < 5_000_000
        info = json.loads((folder / "training.json").read_text())
        assert info["recreate"] == listed[name]["recreate"] == f"python -m attnwidgets.course.seq2seq train {name}"
        assert info["settings"] == json.loads(json.dumps(s2s.asdict(s2s.PRESETS[name])))  # the preset re-makes it
        assert info["threads"] == 1 and info["seconds"] > 0 and info["parameters"] == s2s.n_parameters(shipped[name])


def test_translate_a_batch(shipped):
    model = shipped["dates-bahdanau"]
    assert s2s.translate(model, ["3 March 1998"]) == ["1998-03-03"]
    assert s2s.translate(model, ["the 21st of july 1969", "2024-12-31", "FRI, OCT 13, 2023"]) == ["1969-07-21", "2024-12-31", "2023-10-13"]


def test_attention_model_is_right_on_every_form_and_aligned(shipped, held_out):
    report = s2s.evaluate_dates(shipped["dates-bahdanau"], held_out)
    assert set(report["accuracy_by_form"]) == {*s2s.FORM_NAMES, "all"}
    assert min(report["accuracy_by_form"].values()) >= 0.97
    precision = report["alignment_precision"]
    assert precision["year"] > 0.9 and precision["month"] > 0.6 and precision["day"] > 0.6
    stored = s2s.training_info("dates-bahdanau")["final"]
    assert min(stored["accuracy_by_form"].values()) >= 0.97 and set(stored["alignment_precision"]) == set(s2s.FIELDS)


def test_without_attention_small_fails_wide_learns(shipped, held_out):
    small = s2s.accuracy_by_form(shipped["dates-none"], held_out)["all"]
    wide = s2s.accuracy_by_form(shipped["dates-none-wide"], held_out)["all"]
    luong = s2s.accuracy_by_form(shipped["dates-luong"], held_out)["all"]
    assert small < 0.8  # same size as the attention model, much worse
    assert wide > 0.95  # the dates task alone does not need attention
    assert luong > 0.95


def test_reverse_long_strings_need_attention(shipped):
    test = s2s.reverse_test_set(25, (8, 40, 60), seed=31)
    attn = s2s.accuracy_by_length(shipped["reverse-bahdanau"], test)
    plain = s2s.accuracy_by_length(shipped["reverse-none"], test)
    assert min(attn.values()) >= 0.9
    assert plain[40] <= 0.1 and plain[60] <= 0.1 and plain[8] > plain[40]
    a = s2s.training_info("reverse-bahdanau")
    b = s2s.training_info("reverse-none")
    assert a["settings"]["steps"] == b["settings"]["steps"] and a["settings"]["batch"] == b["settings"]["batch"]  # the same budget


def test_attention_record_for_the_alignment_view(shipped):
    record = s2s.attention_record(shipped["dates-bahdanau"], "3 March 1998")
    assert record.kind == "cross" and record.shape == (1, 1, 10, 12)
    assert "".join(record.query_tokens) == "1998-03-03"
    assert record.key_tokens == ("3", "·", "M", "a", "r", "c", "h", "·", "1", "9", "9", "8")
    view = aw.AlignmentView(record)
    assert view.step == 10 and view.kind == "cross"
    # the last year digit reads the last year character
    assert record.weights[0, 0, 3, 11] > 0.8


def test_date_box_translates_and_explains_bad_input(shipped):
    box = s2s.DateBox(shipped["dates-bahdanau"], value="3 March 1998")
    assert box.output == "1998-03-03" and "right" in box.message.value
    box.text.value = "Tue, Dec 31, 2024"
    assert box.output == "2024-12-31" and box.view.query_tokens == list("2024-12-31") and "Dec" in box.view.title
    for text, says in (("", "Type a date"), ("3/3/1998", "cannot read '/'"), ("x" * 60, "60 characters")):
        box.text.value = text
        assert box.output is None and says in box.message.value
        assert box.view.query_tokens == list("2024-12-31")  # the last good date stays shown
    box.text.value = "3 mar 98"  # a two-digit year: readable characters, not a trained form
    assert box.output is not None and "cannot read this as one of the trained forms" in box.message.value


# ---- exercise checks ---------------------------------------------------------------------------


def test_check_additive():
    def right(s, H, W, U, b, v):
        return torch.softmax(torch.tanh(H @ U.T + b + W @ s) @ v, 0)

    def scores_only(s, H, W, U, b, v):
        return torch.tanh(H @ U.T + b + W @ s) @ v

    def no_tanh(s, H, W, U, b, v):
        return torch.softmax((H @ U.T + b + W @ s) @ v, 0)

    def stub(s, H, W, U, b, v):
        raise NotImplementedError

    assert s2s.check_additive(right).status == "right"
    assert s2s.check_additive(stub).status == "unanswered" and s2s.check_additive(None).status == "unanswered"
    fb = s2s.check_additive(scores_only)
    assert fb.status == "wrong" and "softmax" in fb.hint
    fb = s2s.check_additive(no_tanh)
    assert fb.status == "wrong" and "tanh" in fb.message
    assert s2s.check_additive(lambda *a: 1 / 0).status == "wrong"


def test_check_precision():
    def right(weights, rows, start, stop):
        return weights[rows, start:stop].sum(1).mean()

    def summed(weights, rows, start, stop):
        return weights[rows, start:stop].sum()

    def cell_mean(weights, rows, start, stop):
        return weights[rows, start:stop].mean()

    def stub(weights, rows, start, stop):
        raise NotImplementedError

    assert s2s.check_precision(right).status == "right"
    assert s2s.check_precision(stub).status == "unanswered"
    fb = s2s.check_precision(summed)
    assert fb.status == "wrong" and "average over the rows" in fb.hint
    fb = s2s.check_precision(cell_mean)
    assert fb.status == "wrong" and ".sum(1)" in fb.hint


def test_check_month_step(shipped):
    ex = s2s.write_date(dt.date(1998, 3, 3), "weekday the day-th of month", case="title")
    record = s2s.attention_record(shipped["dates-bahdanau"], ex.text)
    truth = s2s.month_step(record, ex)
    assert truth in (6, 7)  # one of the month digits
    assert s2s.check_month_step(truth, record, ex).status == "right"
    assert s2s.check_month_step(None, record, ex).status == "unanswered"
    other = 13 - truth  # the other month digit
    fb = s2s.check_month_step(other, record, ex)
    assert fb.status == "wrong" and "close" in fb.message
    assert s2s.check_month_step(2, record, ex).status == "wrong"
    assert "does not exist" in s2s.check_month_step(11, record, ex).message
    assert s2s.check_month_step("7", record, ex).status == "wrong"
