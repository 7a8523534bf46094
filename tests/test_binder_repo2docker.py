"""Binder reads the repository with repo2docker: ask repo2docker itself (no Docker needed with
--no-build) which build pack and Python it picks and what it runs, beside tests/test_environment.py's
consistency checks."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def dockerfile():
    repo2docker = Path(sys.executable).parent / "repo2docker"
    if not repo2docker.exists():
        repo2docker = shutil.which("repo2docker")
    assert repo2docker, "jupyter-repo2docker is in the test extra: `make setup` installs it"
    done = subprocess.run([str(repo2docker), "--no-build", "--no-run", str(ROOT)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout + done.stderr


def test_conda_build_pack_with_the_exact_python(dockerfile):
    assert "Building conda environment for python=3.11" in dockerfile  # an exact pin; a range would silently give 3.10


def test_environment_yml_is_applied_and_postbuild_runs(dockerfile):
    assert 'env update -p ${NB_PYTHON_PREFIX} --file "environment.yml"' in dockerfile
    assert "RUN ./postBuild" in dockerfile
    assert "requirements.txt" not in dockerfile  # environment.yml wins; a stray requirements.txt would be ignored anyway
