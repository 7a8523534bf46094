"""The teacher's path: masters built from their scripts, the student release (nbgrader strips the
solutions and hidden tests), and grading: the solved notebook gets full marks, an unanswered one
zero on the exercises while the rest of it still runs."""

import re
import shutil
import sys

import nbformat
import pytest

from course import MASTERS, NAMES, NOTEBOOKS, ROOT, TEACHER

sys.path.insert(0, str(TEACHER))
import author  # noqa: E402
import release  # noqa: E402

SOLUTION = re.compile(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", re.S)


def _sources(notebook):
    return [(c.cell_type, c.source) for c in notebook.cells]


@pytest.mark.parametrize("master", MASTERS, ids=NAMES)
def test_master_is_what_its_script_builds(master):
    script = TEACHER / "scripts" / f"{master.stem}.py"
    assert script.exists(), f"{master.name} has no script in teacher/scripts/"
    built = author.build(script)
    assert _sources(built) == _sources(nbformat.read(master, as_version=4)), f"run `python teacher/author.py {master.stem[:2]}`: {master.name} is out of date"


@pytest.mark.parametrize("master", MASTERS, ids=NAMES)
def test_masters_are_committed_without_outputs(master):
    notebook = nbformat.read(master, as_version=4)
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in notebook.cells if c.cell_type == "code")


@pytest.fixture(scope="module")
def course_copy(tmp_path_factory):
    """teacher/ copied (sources and config only), so nbgrader's folders and database stay out of the repository."""
    root = tmp_path_factory.mktemp("teacher")
    shutil.copytree(TEACHER / "source", root / "source")
    shutil.copy(TEACHER / "nbgrader_config.py", root)
    return root


@pytest.fixture(scope="module")
def released(course_copy, tmp_path_factory):
    out = tmp_path_factory.mktemp("notebooks")
    release.release([], teacher=course_copy, out=out)
    return out


@pytest.mark.parametrize("master", MASTERS, ids=NAMES)
def test_student_notebook_is_the_release_and_has_no_solution_left(master, released):
    fresh = nbformat.read(released / master.name, as_version=4)
    committed_path = NOTEBOOKS / master.name
    assert committed_path.exists(), f"notebooks/{master.name} missing: run `make release`"
    committed = nbformat.read(committed_path, as_version=4)
    assert _sources(committed) == _sources(fresh), f"notebooks/{master.name} is out of date: run `make release`"
    text = "\n".join(c.source for c in committed.cells)
    assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text and "raise NotImplementedError()\n" not in text
    master_text = "\n".join(c.source for c in nbformat.read(master, as_version=4).cells)
    outside = SOLUTION.sub("", master_text)  # what the student may see: the master without its solutions
    for region in SOLUTION.findall(master_text):
        for line in region.strip().splitlines():
            line = line.strip()
            if len(line) > 12 and line not in outside:  # a line that only the solution has
                assert line not in text, f"solution line left in notebooks/{master.name}: {line!r}"
    assert all(not c.get("outputs") for c in committed.cells if c.cell_type == "code")


def _grade(course_copy, released, name):
    """Submit the master as student 'solved' and the release as 'blank', autograde, return the scores."""
    for student, source in (("solved", course_copy / "source" / name / f"{name}.ipynb"), ("blank", released / f"{name}.ipynb")):
        folder = course_copy / "submitted" / student / name
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, folder / f"{name}.ipynb")
    release.nbgrader("autograde", name, "--force", cwd=course_copy)
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course_copy / 'gradebook.db'}") as gradebook:
        return {s: (gradebook.find_submission(name, s).score, gradebook.find_submission(name, s).max_score) for s in ("solved", "blank")}


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_grading_full_marks_for_the_solution_zero_for_a_blank_that_still_runs(course_copy, released, name):
    scores = _grade(course_copy, released, name)
    solved, top = scores["solved"]
    assert top >= 2 and solved == top, f"{name}: the solved notebook scored {solved} of {top}"
    assert scores["blank"] == (0.0, top), f"{name}: the blank notebook scored {scores['blank']}"
    graded = nbformat.read(course_copy / "autograded" / "blank" / name / f"{name}.ipynb", as_version=4)
    for cell in graded.cells:
        if cell.cell_type == "code" and not cell.metadata.get("nbgrader", {}).get("grade"):
            assert not [o for o in cell.outputs if o.output_type == "error"], f"an unanswered exercise broke a later cell: {cell.source[:80]}"
    # graded cells failed with the hidden assert, not with an error of the student's code
    failed = [o for c in graded.cells if c.metadata.get("nbgrader", {}).get("grade") for o in c.outputs if o.output_type == "error"]
    assert failed and all(o.ename == "AssertionError" for o in failed)


@pytest.mark.parametrize("master", MASTERS, ids=NAMES)
def test_student_check_cells_end_in_the_feedback_they_display(master):
    """In the student's notebook the check call is the cell's last expression, so Run All shows its feedback."""
    student = nbformat.read(NOTEBOOKS / master.name, as_version=4)
    checks = [c for c in student.cells if c.metadata.get("nbgrader", {}).get("grade")]
    assert checks
    for cell in checks:
        last = cell.source.strip().splitlines()[-1]
        assert "check" in last and not last.startswith(("assert", "#")), last


def test_landing_page_links_every_notebook_in_order():
    """JupyterLab opens notebooks/00_start_here.ipynb first (make lab): it links the whole course."""
    landing = nbformat.read(NOTEBOOKS / "00_start_here.ipynb", as_version=4)
    text = "\n".join(c.source for c in landing.cells)
    links = re.findall(r"\]\((\d\d_[a-z0-9_]+\.ipynb)\)", text)
    assert links == sorted(links) and len(links) == 7
    for master in MASTERS:
        assert master.name in links, f"00_start_here.ipynb does not link {master.name}"
    assert "default_url=/lab/tree/00_start_here.ipynb" in (ROOT / "Makefile").read_text()
