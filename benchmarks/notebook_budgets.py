"""Each course notebook against its budgets: time and peak kernel memory, here and on one core.

    python benchmarks/notebook_budgets.py                      # every notebook in teacher/source/
    python benchmarks/notebook_budgets.py --notebooks 01 03    # some
    python benchmarks/notebook_budgets.py --skip-one-core      # only this machine's runs

Each notebook is the teacher's master (solutions in), run top to bottom headless with nbclient
in a fresh kernel whose working directory is notebooks/, as a student's Run All would:

- this machine: wall time from kernel start to the last cell, and the kernel's peak resident
  memory (VmHWM from /proc/<pid>/status). Budgets (DESIGN.md): <= 90 s, <= 1.5 GB.
- twice: right after that run, every cell is run again in the same kernel (what a student gets
  from running the notebook a second time without restarting): no cell may fail.
- one core, a stand-in for Binder: the kernel is started under `taskset -c 0` with
  OMP_NUM_THREADS=MKL_NUM_THREADS=OPENBLAS_NUM_THREADS=1 (torch then uses one thread).
  Budget: <= 3 min. On a machine shared with other jobs "one core" is a share of core 0, so
  this is an upper bound for an idle single core.

Prints a markdown table, then the notebooks over a budget or with failing cells, and exits with
status 1 if there are any. The machine's load average is printed with the numbers: other jobs
running at the same time stretch every time measured here.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field

import nbformat

ROOT = pathlib.Path(__file__).resolve().parents[1]
MASTERS = sorted(ROOT.glob("teacher/source/[0-9][0-9]_*/[0-9][0-9]_*.ipynb"))
NOTEBOOKS = ROOT / "notebooks"  # the students' working directory
GB = 2**30
BUDGET_SECONDS, BUDGET_BYTES, BUDGET_ONE_CORE = 90, 1.5 * GB, 180
ONE_THREAD = {name: "1" for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS")}


@dataclass
class Run:
    seconds: float = 0.0
    peak: int = 0
    errors: list = field(default_factory=list)  # (cell index, first source line, ename, evalue)
    slowest: tuple = (0.0, -1, "")  # (seconds, cell index, first source line)
    again_seconds: float = 0.0
    again_errors: list = field(default_factory=list)


def peak_rss(pid: int) -> int:
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def one_core_kernelspec(directory: pathlib.Path) -> str:
    """A kernelspec that starts this Python's ipykernel pinned to core 0 with one thread."""
    name = "attnwidgets-one-core"
    spec = directory / "kernels" / name
    spec.mkdir(parents=True)
    taskset = shutil.which("taskset")
    if taskset is None:
        raise SystemExit("taskset (util-linux) is needed for the one-core run; or pass --skip-one-core")
    argv = [taskset, "-c", "0", sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": "one core", "language": "python", "env": ONE_THREAD}))
    return name


def errors_of(notebook: nbformat.NotebookNode) -> list:
    return [(i, c.source.split("\n")[0][:70], o.get("ename"), str(o.get("evalue"))[:200]) for i, c in enumerate(notebook.cells)
            if c.cell_type == "code" for o in c.get("outputs", []) if o.get("output_type") == "error"]


def run(path: pathlib.Path, kernel: str, twice: bool, kernel_dirs: list[str] | None = None, timeout: int = 900) -> Run:
    """Run All in a fresh kernel (cwd notebooks/), carrying on past errors; optionally Run All again in it."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    km = KernelManager(kernel_name=kernel, **({"kernel_spec_manager": KernelSpecManager(kernel_dirs=kernel_dirs)} if kernel_dirs else {}))
    client = NotebookClient(notebook, km=km, timeout=timeout, allow_errors=True, resources={"metadata": {"path": str(NOTEBOOKS)}})
    result = Run()
    start = time.perf_counter()
    try:
        with client.setup_kernel():
            pid = client.km.provisioner.process.pid
            if kernel_dirs and cpus_allowed(pid) != "0":  # the one-core kernel really is pinned
                raise RuntimeError(f"the one-core kernel may run on CPUs {cpus_allowed(pid)}, not only 0")
            for index, cell in enumerate(notebook.cells):
                t0 = time.perf_counter()
                client.execute_cell(cell, index)
                took = time.perf_counter() - t0
                if cell.cell_type == "code" and took > result.slowest[0]:
                    result.slowest = (took, index, cell.source.split("\n")[0][:60])
            result.seconds = time.perf_counter() - start
            result.peak = peak_rss(pid)
            result.errors = errors_of(notebook)
            if twice:
                t0 = time.perf_counter()
                for index, cell in enumerate(notebook.cells):
                    client.execute_cell(cell, index)  # replaces the cell's outputs with the second run's
                result.again_seconds = time.perf_counter() - t0
                result.again_errors = errors_of(notebook)
    finally:
        if km.has_kernel:  # nbclient leaves a kernel manager it was given running: stop it before the next notebook
            km.shutdown_kernel(now=True)
    return result


def fmt_errors(errors: list) -> str:
    """The first failing cell (the later ones usually fail because of it), and how many more fail."""
    i, src, ename, evalue = errors[0]
    more = f" (then {len(errors) - 1} later cells fail too: {', '.join(str(e[0]) for e in errors[1:])})" if len(errors) > 1 else ""
    return f"cell {i} `{src}`: {ename}: {evalue}{more}"


def cpus_allowed(pid: int) -> str:
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Cpus_allowed_list:"):
            return line.split(":", 1)[1].strip()
    return "?"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--notebooks", nargs="*", default=[], help="numbers (01 02) or names; default: all")
    parser.add_argument("--skip-one-core", action="store_true", help="only the runs on this machine")
    args = parser.parse_args(argv)
    masters = [m for m in MASTERS if not args.notebooks or m.stem[:2] in args.notebooks or m.stem in args.notebooks]
    if not masters:
        raise SystemExit(f"no notebook matches {args.notebooks} in teacher/source/ ({[m.stem for m in MASTERS]})")
    NOTEBOOKS.mkdir(exist_ok=True)
    load_before = os.getloadavg()
    print(f"{len(masters)} notebook(s); {os.cpu_count()} CPUs, load average {load_before[0]:.1f} at the start", file=sys.stderr)
    rows, problems = [], []
    with tempfile.TemporaryDirectory() as tmp:
        one_core = None if args.skip_one_core else one_core_kernelspec(pathlib.Path(tmp))
        for master in masters:
            name = master.stem
            here = run(master, "python3", twice=True)
            print(f"{name}: {here.seconds:.1f} s, {here.peak / GB:.2f} GB, {len(here.errors)} errors; "
                  f"again in the same kernel {here.again_seconds:.1f} s, {len(here.again_errors)} errors", file=sys.stderr)
            single = None
            if one_core:
                single = run(master, one_core, twice=False, kernel_dirs=[str(pathlib.Path(tmp) / "kernels")])
                print(f"{name} on one core: {single.seconds:.1f} s, {single.peak / GB:.2f} GB, {len(single.errors)} errors", file=sys.stderr)
            over = []
            if here.seconds > BUDGET_SECONDS:
                over.append(f"{here.seconds:.0f} s > {BUDGET_SECONDS} s")
            if here.peak > BUDGET_BYTES:
                over.append(f"{here.peak / GB:.2f} GB > 1.5 GB")
            if single and single.seconds > BUDGET_ONE_CORE:
                over.append(f"one core {single.seconds:.0f} s > {BUDGET_ONE_CORE} s")
            if single and single.peak > BUDGET_BYTES:
                over.append(f"one core {single.peak / GB:.2f} GB > 1.5 GB")
            if here.errors:
                problems.append(f"{name}: cells fail: {fmt_errors(here.errors)}")
            if here.again_errors:
                problems.append(f"{name}: cells fail when run again in the same kernel: {fmt_errors(here.again_errors)}")
            if single and single.errors:
                problems.append(f"{name}: cells fail on one core: {fmt_errors(single.errors)}")
            if over:
                problems.append(f"{name}: over budget: {', '.join(over)}")
            twice = "ok" if not here.errors and not here.again_errors else f"{len(here.errors)} + {len(here.again_errors)} errors"
            slow_s, slow_i, slow_src = here.slowest
            rows.append([name, f"{here.seconds:.1f}", f"{here.peak / GB:.2f}",
                         f"{single.seconds:.1f}" if single else "-", f"{single.peak / GB:.2f}" if single else "-",
                         f"{twice} ({here.again_seconds:.0f} s)", f"{slow_s:.1f} s: cell {slow_i} `{slow_src}`", "; ".join(over) or "-"])
    load_after = os.getloadavg()
    print()
    print(f"Run on {os.cpu_count()} CPUs shared with other jobs: load average {load_before[0]:.1f} at the start, {load_after[0]:.1f} at the end "
          f"(times are stretched by that load). Budgets: <= {BUDGET_SECONDS} s and <= 1.5 GB here; <= {BUDGET_ONE_CORE} s on one core.")
    print()
    header = ["notebook", "here: s", "here: peak GB", "one core: s", "one core: peak GB", "Run All twice, one kernel", "slowest cell (here)", "over budget"]
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print()
    if problems:
        print("Over budget or failing:")
        for line in problems:
            print(f"- {line}")
    else:
        print("Every notebook is within its budgets and runs twice in one kernel without errors.")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
