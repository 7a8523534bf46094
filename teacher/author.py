"""Build the course's master notebooks (solutions in) from their scripts in teacher/scripts/.

A script is plain Python that lists cells, so notebooks are written and reviewed as text:

    from author import md, code, answer, check

    CELLS = [
        md("# 01 What is attention?"),
        code("import attnwidgets as aw"),
        answer("ex1", '''
            guess = None
            ### BEGIN SOLUTION
            guess = 3
            ### END SOLUTION
        '''),
        check("ex1", "pooling.check_guess(guess)", hidden="assert pooling.check_guess(guess)"),
    ]

``python teacher/author.py`` writes ``teacher/source/<name>/<name>.ipynb`` for every script (the
nbgrader master); ``make release`` turns the masters into the student notebooks in notebooks/.
tests/test_course_release.py checks that the committed masters equal what the scripts build.
"""

from __future__ import annotations

import importlib.util
import pathlib
import sys
import textwrap

import nbformat

TEACHER = pathlib.Path(__file__).resolve().parent
SCRIPTS = TEACHER / "scripts"
SOURCE = TEACHER / "source"
KERNEL = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def _text(src: str) -> str:
    return textwrap.dedent(src).strip("\n")


def _grader(grade_id: str, *, grade: bool, solution: bool, points: int = 0) -> dict:
    meta = {"grade": grade, "grade_id": grade_id, "locked": not solution, "schema_version": 3, "solution": solution, "task": False}
    if grade:
        meta["points"] = points
    return {"nbgrader": meta}


def md(src: str) -> nbformat.NotebookNode:
    """A markdown cell."""
    return nbformat.v4.new_markdown_cell(_text(src))


def code(src: str) -> nbformat.NotebookNode:
    """A code cell the student runs as it is."""
    return nbformat.v4.new_code_cell(_text(src))


def answer(grade_id: str, src: str) -> nbformat.NotebookNode:
    """The student's answer cell; the solution sits between ### BEGIN SOLUTION and ### END SOLUTION."""
    src = _text(src)
    if "### BEGIN SOLUTION" not in src or "### END SOLUTION" not in src:
        raise ValueError(f"answer {grade_id!r} needs a ### BEGIN SOLUTION ... ### END SOLUTION region")
    return nbformat.v4.new_code_cell(src, metadata=_grader(f"{grade_id}_answer", grade=False, solution=True))


def check(grade_id: str, src: str, hidden: str, points: int = 1) -> nbformat.NotebookNode:
    """The check right after an answer: `src` shows feedback (never raises); `hidden` is what grades."""
    body = f"{_text(src)}\n### BEGIN HIDDEN TESTS\n{_text(hidden)}\n### END HIDDEN TESTS"
    return nbformat.v4.new_code_cell(body, metadata=_grader(grade_id, grade=True, solution=False, points=points))


def build(script: pathlib.Path) -> nbformat.NotebookNode:
    spec = importlib.util.spec_from_file_location(f"course_script_{script.stem}", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    notebook = nbformat.v4.new_notebook(cells=list(module.CELLS))
    notebook.metadata = {"kernelspec": KERNEL, "language_info": {"name": "python"}}
    for index, cell in enumerate(notebook.cells):  # stable ids keep the diffs of rebuilt notebooks small
        cell["id"] = f"{script.stem[:2]}-{index:03d}"
    nbformat.validate(notebook)
    return notebook


def master_path(name: str) -> pathlib.Path:
    return SOURCE / name / f"{name}.ipynb"


def main(names: list[str]) -> int:
    sys.path.insert(0, str(TEACHER))
    scripts = sorted(SCRIPTS.glob("[0-9][0-9]_*.py"))
    if names:
        scripts = [s for s in scripts if s.stem in names or s.stem[:2] in names]
    for script in scripts:
        path = master_path(script.stem)
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(build(script), path)
        print(f"wrote {path.relative_to(TEACHER.parent)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
