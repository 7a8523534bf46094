"""Predict: commit a guess, then see the answer (and the view that shows it).

Students who predict the outcome of a demonstration before they see it learn more from it than
those who only watch, right or wrong guess. ``Predict`` asks a question with a few options; the
widgets passed as ``reveal`` stay hidden until the student locks in a guess. The guess, the answer,
whether it was right and whether the answer is shown are traits, so a teacher can collect them
and ``ipywidgets.link``/``observe`` can tie them to other views.

>>> p = aw.Predict("Which token does head 3 attend to most from 'it'?", ["animal", "street", "it"],
...                answer="animal", reveal=aw.HeadView(record), explain="Head 3 resolves the pronoun.")
>>> p                                    # options, a "Lock in my guess" button, the view hidden
>>> p.guess, p.correct, p.revealed       # after the click: 'street', False, True

A guess can also come from a view: ``Predict(..., guess_from=(heatmap, "pinned"))`` takes the
token the student pins (clicks) there, mapped to an option by ``guess_from_option`` (default:
the token text).
"""

from __future__ import annotations

import html
from typing import Any, Callable, Sequence

import ipywidgets as widgets
import traitlets as t


class Predict(widgets.VBox):
    """A question, options, a lock-in button; the answer and the ``reveal`` widgets after the guess."""

    question = t.Unicode(help="what the student is asked to predict")
    options = t.List(t.Unicode(), help="the choices, as text")
    answer = t.Unicode(help="the right option")
    guess = t.Unicode(None, allow_none=True, help="the locked-in guess (None until the student commits one)")
    correct = t.Bool(None, allow_none=True, help="whether the guess was right (None before a guess)")
    revealed = t.Bool(False, help="True once the answer and the reveal widgets are shown")

    def __init__(self, question: str, options: Sequence[Any], answer: Any, reveal: widgets.Widget | Sequence[widgets.Widget] | None = None,
                 explain: str = "", guess_from: tuple[widgets.Widget, str] | None = None,
                 guess_from_option: Callable[[Any], Any] | None = None, **kwargs: Any) -> None:
        options = [str(o) for o in options]
        if not isinstance(question, str) or not question.strip():
            raise ValueError("Predict needs a question (a non-empty string), e.g. 'Which token gets the most attention?'.")
        if len(options) < 2:
            raise ValueError(f"Predict needs at least two options to choose from; got {options!r}.")
        if len(set(options)) != len(options):
            raise ValueError(f"Predict's options must differ from each other; got {options!r}.")
        if str(answer) not in options:
            raise ValueError(f"Predict's answer {answer!r} is not one of its options {options!r}: add it to the options.")
        reveal = [] if reveal is None else [reveal] if isinstance(reveal, widgets.Widget) else list(reveal)
        if not all(isinstance(w, widgets.Widget) for w in reveal):
            raise TypeError("Predict's reveal must be a widget or a list of widgets (e.g. a HeadView).")
        self._explain = explain
        self._reveal = reveal
        self._choices = widgets.ToggleButtons(options=options, value=None, style={"button_width": "auto"}, layout=widgets.Layout(flex_flow="row wrap"))
        self._lock = widgets.Button(description="Lock in my guess", button_style="primary", disabled=True, icon="lock")
        self._verdict = widgets.HTML()
        self._box = widgets.VBox(reveal, layout=widgets.Layout(display="none"))
        prompt = widgets.HTML(f"<b>Predict first.</b> {html.escape(question)}")
        super().__init__([prompt, self._choices, self._lock, self._verdict, self._box], **kwargs)
        self.add_class("aw-predict")
        self.question, self.options, self.answer = question, options, str(answer)
        self._choices.observe(self._chosen, "value")
        self._lock.on_click(lambda _: self.commit(self._choices.value))
        if guess_from is not None:
            source, name = guess_from
            to_option = guess_from_option or (lambda value: value)

            def follow(change: Any) -> None:
                if change["new"] is None or self.revealed:
                    return
                option = str(to_option(change["new"]))
                if option in self.options:
                    self._choices.value = option

            source.observe(follow, name)

    def _chosen(self, change: Any) -> None:
        self._lock.disabled = change["new"] is None or self.revealed

    def commit(self, guess: Any) -> None:
        """Lock in a guess (what the button does): record it, say whether it was right, reveal."""
        if self.revealed:
            return
        if guess is None or str(guess) not in self.options:
            self._verdict.value = f"<span style='color:#b42318'>Pick one of the options first: {html.escape(', '.join(self.options))}.</span>"
            return
        self.guess = str(guess)
        self.correct = self.guess == self.answer
        self._choices.value = self.guess
        self._choices.disabled = True
        self._lock.disabled = True
        mark = "✓ Right" if self.correct else "✗ Not quite"
        color = "#1a7f37" if self.correct else "#b42318"
        answer = "" if self.correct else f" The answer is <b>{html.escape(self.answer)}</b>."
        explain = f" {html.escape(self._explain)}" if self._explain else ""
        self._verdict.value = f"<span style='color:{color}'><b>{mark}</b>: you guessed <b>{html.escape(self.guess)}</b>.</span>{answer}{explain}"
        self._box.layout.display = None
        self.revealed = True

    def reset(self) -> None:
        """Hide the answer again and clear the guess (for the next class)."""
        self.guess = None
        self.correct = None
        self.revealed = False
        self._choices.disabled = False
        self._choices.value = None
        self._verdict.value = ""
        self._box.layout.display = "none"
