"""The README's first example runs as written (the 5 lines a researcher copies first)."""

import pathlib
import re

import pytest

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"


def python_blocks():
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


@pytest.mark.slow
def test_own_model_example_runs_and_says_what_it_claims(minilm):
    first = python_blocks()[0]
    assert "aw.capture(model, tokenizer" in first and "aw.HeadView(record)" in first
    scope: dict = {}
    exec(compile(first, "README.md", "exec"), scope)
    record = scope["record"]
    assert record.weights.shape == (6, 12, 8, 8)  # the shape the README's comment states
    view = scope["aw"].HeadView(record)
    assert view.layer == 0 and len(view.query_tokens) == 8
