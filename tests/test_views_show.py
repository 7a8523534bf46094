"""view.show(record): one live view follows a new record (the student's own sentence, the next image)."""

import numpy as np
import pytest

import attnwidgets as aw
from conftest import softmaxed


@pytest.mark.parametrize("view_class", [aw.Heatmap, aw.HeadView, aw.ModelView, aw.AlignmentView])
def test_show_swaps_the_record_and_keeps_what_still_fits(view_class):
    first = aw.AttentionRecord(softmaxed((2, 3, 4, 4)), list("abcd"))
    second = aw.AttentionRecord(softmaxed((1, 2, 6, 6), seed=1), list("uvwxyz"))
    view = view_class(first)
    view.layer, view.pinned = 1, 3
    view.show(second)
    assert view.record is second and view.query_tokens == list("uvwxyz") and view.n_heads == 2
    assert view.layer == 0  # layer 1 does not exist any more
    assert view.pinned == 3  # token 3 still exists
    assert view.error == ""
    if view_class is aw.HeadView:
        assert view.heads == [0, 1]
    if view_class is aw.AlignmentView:
        assert view.step == 6
    if view_class in (aw.Heatmap, aw.AlignmentView):
        assert view.data_info["rows"] == 6 and np.frombuffer(view.data, np.float16).size == 36


def test_show_refuses_what_the_view_cannot_draw_and_keeps_the_old_record():
    first = aw.AttentionRecord(softmaxed((1, 1, 3, 3)), list("abc"))
    view = aw.Heatmap(first)
    with pytest.raises(ValueError, match="2-D"):
        view.show(np.zeros((3, 3, 3)))
    assert view.record is first and "2-D" in view.error
    view.show(aw.AttentionRecord(softmaxed((1, 1, 2, 2)), list("xy")))
    assert view.error == "" and view.query_tokens == ["x", "y"]


def test_views_draw_readable_tokens_not_bpe_markers():
    """Byte-level BPE marks spaces with "Ġ" and newlines with "Ċ": views, PNG fallbacks and figures show the text."""
    tokens = ["The", "Ġcapital", "Ċ", "▁the"]
    record = aw.AttentionRecord(softmaxed((1, 1, 4, 4)), tokens)
    for view in (aw.Heatmap(record), aw.HeadView(record), aw.ModelView(record)):
        assert view.query_tokens == ["The", " capital", "\\n", " the"] and view.key_tokens == view.query_tokens
    figure = aw.Heatmap(record).to_figure()
    labels = [t.get_text() for ax in figure.axes for t in ax.get_yticklabels()]
    assert " capital" in labels and not any("Ġ" in label for label in labels)
    assert record.query_tokens == tuple(tokens)  # the record keeps the model's own tokens
