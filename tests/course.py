"""The course's notebooks, for the tests: where they are, and running one with its kernel measured."""

from __future__ import annotations

import pathlib
import sys
import time
from dataclasses import dataclass, field

import nbformat

ROOT = pathlib.Path(__file__).resolve().parent.parent
TEACHER = ROOT / "teacher"
NOTEBOOKS = ROOT / "notebooks"
MASTERS = sorted(TEACHER.glob("source/[0-9][0-9]_*/[0-9][0-9]_*.ipynb"))
NAMES = [p.stem for p in MASTERS]


@dataclass
class Run:
    notebook: nbformat.NotebookNode
    seconds: float
    peak_bytes: int  # the kernel's peak resident memory (VmHWM)
    errors: list = field(default_factory=list)  # (cell index, ename, evalue)


def _peak_rss(pid: int) -> int:
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def run_notebook(path: pathlib.Path, cwd: pathlib.Path = NOTEBOOKS, timeout: int = 600) -> Run:
    """Execute a notebook top to bottom like Run All, carrying on past errors so all are reported."""
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3", allow_errors=True, resources={"metadata": {"path": str(cwd)}})
    start = time.perf_counter()
    with client.setup_kernel():
        pid = client.km.provisioner.process.pid
        for index, cell in enumerate(notebook.cells):
            client.execute_cell(cell, index)
        peak = _peak_rss(pid)
    seconds = time.perf_counter() - start
    errors = [(i, o.get("ename"), o.get("evalue")) for i, c in enumerate(notebook.cells) if c.cell_type == "code" for o in c.get("outputs", []) if o.get("output_type") == "error"]
    print(f"{path.name}: {seconds:.1f} s, kernel peak {peak / 2**30:.2f} GB, {len(errors)} errors", file=sys.stderr)
    return Run(notebook, seconds, peak, errors)
