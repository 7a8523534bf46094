"""Every course notebook (the teacher's master, solutions in) runs top to bottom offline, and every
exercise check passes with the solution. One run per notebook; the checks below share it."""

import pytest

from course import MASTERS, NAMES, NOTEBOOKS, run_notebook

GB = 2**30


@pytest.fixture(scope="module", params=MASTERS, ids=NAMES)
def master_run(request):
    NOTEBOOKS.mkdir(exist_ok=True)
    return request.param, run_notebook(request.param)


def test_course_has_notebooks():
    assert MASTERS, "no notebooks under teacher/source/"
    assert NAMES[0] == "01_what_is_attention"


@pytest.mark.slow
def test_runs_without_errors_within_memory(master_run):
    path, run = master_run
    assert run.errors == [], f"{path.name}: cells failed: {run.errors}"
    # Binder gives 2 GB to the whole session (DESIGN.md budget: 1.5 GB per kernel)
    assert run.peak_bytes <= 1.5 * GB, f"{path.name}: kernel peak {run.peak_bytes / GB:.2f} GB"


@pytest.mark.slow
def test_every_check_cell_shows_a_right_answer_with_the_solutions(master_run):
    path, run = master_run
    checks = [c for c in run.notebook.cells if c.get("metadata", {}).get("nbgrader", {}).get("grade")]
    assert len(checks) >= 2, f"{path.name}: a notebook needs at least two checked exercises"
    for cell in checks:
        # the master's check cell ends in the hidden `assert check(...)`: an error output would mean a wrong solution
        assert not [o for o in cell.outputs if o.get("output_type") == "error"], f"{path.name}: {cell.metadata['nbgrader']['grade_id']} failed"
        assert "### BEGIN HIDDEN TESTS" in cell.source and "assert " in cell.source.split("### BEGIN HIDDEN TESTS")[1]


@pytest.mark.slow
def test_has_a_goal_a_prediction_and_a_summary(master_run):
    path, run = master_run
    text = "\n".join(c.source for c in run.notebook.cells)
    assert "**Goal.**" in run.notebook.cells[0].source, f"{path.name}: the first cell states the goal"
    assert "aw.Predict(" in text, f"{path.name}: a predict-then-reveal moment"
    assert "## Summary" in text, f"{path.name}: a summary"
