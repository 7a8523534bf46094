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


@pytest.mark.slow
def test_long_inputs_example_keeps_what_it_says():
    block = next(b for b in python_blocks() if 'load_model("smollm2", dtype="bfloat16")' in b)
    scope: dict = {"aw": __import__("attnwidgets"), "long_text": "Attention is a weighted average of values. " * 40}
    exec(compile(block, "README.md", "exec"), scope)
    record = scope["record"]
    assert record.layer_ids == (3, 18) and record.head_ids == (0, 4)
    assert record.weights.shape[:3] == (2, 2, 1) and record.query_positions == (record.n_keys - 1,)
    assert record.weights.dtype.name == "float16" and abs(float(record.weights.astype("float32").sum()) - 4) < 1e-2
