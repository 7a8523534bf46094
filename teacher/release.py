"""Make the student notebooks: nbgrader strips the solutions and hidden tests from every master.

    python teacher/release.py          # all notebooks   (make release)
    python teacher/release.py 02       # one

Runs `nbgrader generate_assignment` in teacher/ (the nbgrader course directory) and copies each
release/<name>/<name>.ipynb to notebooks/, where students open it. Commit both.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys

TEACHER = pathlib.Path(__file__).resolve().parent
NOTEBOOKS = TEACHER.parent / "notebooks"


def nbgrader(*args: str, cwd: pathlib.Path = TEACHER) -> subprocess.CompletedProcess:
    """Run nbgrader from this Python's environment (it calls `alembic` from the same bin folder)."""
    env = {**os.environ, "PATH": f"{pathlib.Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"nbgrader {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done


def release(names: list[str], teacher: pathlib.Path = TEACHER, out: pathlib.Path = NOTEBOOKS) -> list[pathlib.Path]:
    masters = sorted(teacher.glob("source/[0-9][0-9]_*/[0-9][0-9]_*.ipynb"))
    if names:
        masters = [m for m in masters if m.stem in names or m.stem[:2] in names]
    out.mkdir(exist_ok=True)
    written = []
    for master in masters:
        name = master.stem
        nbgrader("generate_assignment", name, "--force", cwd=teacher)
        target = out / f"{name}.ipynb"
        shutil.copyfile(teacher / "release" / name / f"{name}.ipynb", target)
        written.append(target)
    return written


if __name__ == "__main__":
    for path in release(sys.argv[1:]):
        print(f"wrote {path.relative_to(TEACHER.parent)}")
