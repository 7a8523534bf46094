"""Exercise checks that answer at once, and never stop Run All.

Every exercise in the course has the same shape (nbgrader's vocabulary, see teacher/README.md):

1. an answer cell (nbgrader "autograded answer"): the student replaces ``None`` or the body of a
   function; the teacher's master has the solution between ``### BEGIN SOLUTION`` and
   ``### END SOLUTION``, which the student release replaces with ``# YOUR CODE HERE``;
2. a check cell right after it (nbgrader "autograder tests"): ``topic.check_something(answer)``
   shows a :class:`Feedback` (right, wrong with a hint, or not answered yet). It never raises,
   so an unanswered exercise does not stop Run All. Below it, between ``### BEGIN HIDDEN TESTS``
   and ``### END HIDDEN TESTS``, ``assert topic.check_something(answer)``: nbgrader keeps that
   line out of the student release and puts it back when it grades, so a wrong or missing
   answer scores zero while the student's own run carries on.

A check function lives in the course module of its notebook, returns a Feedback, and builds it
with :func:`right`, :func:`wrong` and :func:`unanswered`; :func:`attempt` calls a student's
function without letting its exception escape.
"""

from __future__ import annotations

import html
import traceback
from dataclasses import dataclass
from typing import Any, Callable

MARKS = {"right": ("✓", "#1a7f37", "#e9f7ee"), "wrong": ("✗", "#b42318", "#fdecea"), "unanswered": ("…", "#6b5900", "#fff8db")}


@dataclass(frozen=True)
class Feedback:
    """The outcome of one exercise check: truthy only when the answer is right."""

    status: str  # "right", "wrong" or "unanswered"
    message: str
    hint: str = ""

    def __bool__(self) -> bool:
        return self.status == "right"

    @property
    def passed(self) -> bool:
        return bool(self)

    def __str__(self) -> str:
        mark = MARKS[self.status][0]
        text = f"{mark} {self.message}"
        return f"{text}\n  Hint: {self.hint}" if self.hint and self.status != "right" else text

    __repr__ = __str__

    def _repr_html_(self) -> str:
        mark, ink, paper = MARKS[self.status]
        hint = f"<div style='margin-top:4px'><b>Hint:</b> {html.escape(self.hint)}</div>" if self.hint and self.status != "right" else ""
        return (f"<div class='aw-feedback aw-feedback-{self.status}' style='border-left:4px solid {ink};background:{paper};"
                f"padding:6px 10px;font-family:sans-serif;color:#1f2328'><b style='color:{ink}'>{mark}</b> "
                f"{html.escape(self.message)}{hint}</div>")


def right(message: str = "Correct.") -> Feedback:
    return Feedback("right", message)


def wrong(message: str, hint: str = "") -> Feedback:
    return Feedback("wrong", message, hint)


def unanswered(what: str = "Replace None with your answer in the cell above, then run it and this check again.") -> Feedback:
    return Feedback("unanswered", "Not answered yet. " + what)


def is_unanswered(value: Any) -> bool:
    """None or ... : the placeholders an answer cell starts with."""
    return value is None or value is Ellipsis


def attempt(function: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, Feedback | None]:
    """Call a student's function; return (result, None), or (None, Feedback) when it could not run.

    NotImplementedError (the release's stub) reads as "not answered yet"; any other exception
    becomes a wrong answer that names the exception and the line of the student's code.
    """
    if function is None or not callable(function):
        return None, unanswered("Define the function in the cell above and run it.") if function is None else wrong(f"expected a function, got {type(function).__name__}.")
    try:
        return function(*args, **kwargs), None
    except NotImplementedError:
        return None, unanswered("Write the body of the function in the cell above (where it says YOUR CODE HERE), then run it and this check again.")
    except Exception as err:  # the student's code: any error becomes feedback, never a traceback wall
        frames = [f for f in traceback.extract_tb(err.__traceback__) if f.filename.startswith("<ipython-input") or "ipykernel" in f.filename or f.filename.startswith("/tmp/ipykernel")]
        where = f" (at: {frames[-1].line})" if frames and frames[-1].line else ""
        return None, wrong(f"your function raised {type(err).__name__}: {err}{where}.", "Run it on the small example in the exercise text and read the error.")
