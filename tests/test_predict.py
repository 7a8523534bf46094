"""aw.Predict: the guess is locked in before the answer and the view are shown; traits a teacher can read."""

import ipywidgets as widgets
import pytest

import attnwidgets as aw
from conftest import softmaxed


def _predict(**kwargs):
    view = widgets.HTML("the answer's view")
    return aw.Predict("Which token?", ["cat", "sat", "mat"], "mat", reveal=view, explain="It rhymes.", **kwargs), view


def test_nothing_is_revealed_before_a_guess():
    p, view = _predict()
    assert p.revealed is False and p.guess is None and p.correct is None
    assert p._box.layout.display == "none" and p._lock.disabled  # no option picked: the button waits


def test_a_wrong_guess_is_recorded_then_the_answer_and_view_appear():
    p, view = _predict()
    p._choices.value = "cat"
    assert not p._lock.disabled
    p._lock.click()
    assert (p.guess, p.correct, p.revealed) == ("cat", False, True)
    assert p._box.layout.display is None and view in p._box.children
    assert "mat" in p._verdict.value and "It rhymes." in p._verdict.value
    p.commit("mat")  # a second guess after the reveal changes nothing
    assert p.guess == "cat" and p._choices.disabled


def test_a_right_guess_and_reset():
    p, _ = _predict()
    seen = []
    p.observe(lambda change: seen.append(change["new"]), "correct")
    p.commit("mat")
    assert p.correct is True and seen == [True]
    p.reset()
    assert (p.guess, p.correct, p.revealed) == (None, None, False) and p._box.layout.display == "none"


def test_commit_without_a_choice_says_what_to_do():
    p, _ = _predict()
    p.commit(None)
    assert p.revealed is False and "Pick one of the options" in p._verdict.value


def test_guess_from_a_view_follows_the_pinned_token():
    record = aw.AttentionRecord(softmaxed((1, 1, 3, 3)), ["cat", "sat", "mat"])
    heat = aw.Heatmap(record)
    p = aw.Predict("Which token?", ["cat", "sat", "mat"], "mat", guess_from=(heat, "pinned"), guess_from_option=lambda i: record.query_tokens[i])
    heat.pinned = 1
    assert p._choices.value == "sat" and p.revealed is False  # chosen, not yet locked in
    p._lock.click()
    assert p.guess == "sat" and p.correct is False


@pytest.mark.parametrize("kwargs, message", [
    (dict(question="", options=["a", "b"], answer="a"), "question"),
    (dict(question="Q?", options=["a"], answer="a"), "at least two"),
    (dict(question="Q?", options=["a", "a"], answer="a"), "differ"),
    (dict(question="Q?", options=["a", "b"], answer="c"), "not one of its options"),
])
def test_bad_set_up_is_refused_with_a_reason(kwargs, message):
    with pytest.raises(ValueError, match=message):
        aw.Predict(**kwargs)


def test_reveal_must_be_widgets():
    with pytest.raises(TypeError, match="widget"):
        aw.Predict("Q?", ["a", "b"], "a", reveal="not a widget")
