"""Every course notebook runs under nbval, one subprocess per notebook.

- ``source/`` (lecture notebooks and assignment keys): STRICT ``--nbval``,
  with ``nbval_sanitize.cfg``: every stored output must be reproduced.
- ``release/`` (student versions): ``--nbval-lax``: every cell runs; the cells
  that raise ``NotImplementedError`` until the student answers are tagged
  ``raises-exception`` (nbval's tag) by the course build.

Each notebook is its own test (parametrized), so ``pytest -n 2`` spreads them
over both workers. The kernel runs in a temporary IPython dir with a temporary
quiz database, so nothing touches the user's files.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SANITIZE = Path(__file__).with_name("nbval_sanitize.cfg")
STRICT_DIRS = ("source",)
LAX_DIRS = ("release",)


def _notebooks() -> list:
    params = []
    for mode, dirs in (("strict", STRICT_DIRS), ("lax", LAX_DIRS)):
        for d in dirs:
            for nb in sorted((REPO / d).glob("**/*.ipynb")):
                if ".ipynb_checkpoints" in nb.parts:
                    continue
                rel = nb.relative_to(REPO).as_posix()
                params.append(pytest.param(rel, mode, id=f"{mode}:{rel}",
                                           marks=pytest.mark.slow))
    return params


def nbval_env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("MPLBACKEND", None)  # the kernel uses its inline backend, as in Lab
    (tmp_path / "ipython").mkdir(exist_ok=True)
    env.update(IPYTHONDIR=str(tmp_path / "ipython"),
               NNWIDGETS_QUIZ_DB=str(tmp_path / "quiz.sqlite"),
               NNWIDGETS_CONFIG_DIR=str(tmp_path / "nnwidgets-config"),
               JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
               PYTHONWARNINGS=env.get("PYTHONWARNINGS", ""))
    # the real mice-protein CSV (../shared/datasets), as tests/conftest.py's mice_csv
    shared = REPO.parent / "shared" / "datasets"
    if "NNWIDGETS_DATA_DIR" not in env and (shared / "Data_Cortex_Nuclear.csv").exists():
        env["NNWIDGETS_DATA_DIR"] = str(shared)
    return env


def run_nbval(notebook: Path, mode: str, tmp_path: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "pytest", str(notebook),
           "--nbval" if mode == "strict" else "--nbval-lax",
           "--nbval-current-env", f"--nbval-sanitize-with={SANITIZE}",
           "--nbval-cell-timeout=300",
           "-p", "no:cacheprovider", "-p", "no:xdist", "-q", "-rf",
           f"--rootdir={notebook.parent}", "-c", os.devnull]
    return subprocess.run(cmd, cwd=notebook.parent, env=nbval_env(tmp_path), capture_output=True,
                          text=True, timeout=timeout)


def _explain(proc: subprocess.CompletedProcess, notebook: str, mode: str) -> str:
    tail = (proc.stdout + proc.stderr)[-6000:]
    return (f"nbval ({mode}) failed on {notebook} with exit code {proc.returncode}.\n"
            f"Reproduce: python -m pytest {'--nbval' if mode == 'strict' else '--nbval-lax'} "
            f"--nbval-current-env --nbval-sanitize-with tests/notebooks/nbval_sanitize.cfg {notebook}\n"
            f"--- tail of nbval's output ---\n{tail}")


@pytest.mark.parametrize(("notebook", "mode"), _notebooks())
def test_notebook_under_nbval(notebook, mode, tmp_path):
    proc = run_nbval(REPO / notebook, mode, tmp_path)
    assert proc.returncode == 0, _explain(proc, notebook, mode)


# ---- the runner itself, on tiny notebooks -----------------------------------

def _tiny(path: Path, source: str, stored: str, *, run: bool = True) -> Path:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    cell = nbformat.v4.new_code_cell(source)
    if run:
        cell.execution_count = 1
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=stored)]
    nb.cells.append(cell)
    nbformat.write(nb, path)
    return path


def test_runner_strict_passes_fails_and_sanitizes(tmp_path):
    src = "print('loss 0.25'); print('took 12.3 ms at 0x7f00deadbeef')"
    same = _tiny(tmp_path / "same.ipynb", src, "loss 0.25\ntook 99.9 ms at 0x7f0012345678\n")
    proc = run_nbval(same, "strict", tmp_path)
    assert proc.returncode == 0, _explain(proc, "same.ipynb", "strict")

    changed = _tiny(tmp_path / "changed.ipynb", src, "loss 0.26\ntook 12.3 ms at 0x7f00deadbeef\n")
    proc = run_nbval(changed, "strict", tmp_path)
    assert proc.returncode == 1, _explain(proc, "changed.ipynb", "strict")
    assert "Cell outputs differ" in proc.stdout and "0.26" in proc.stdout

    # lax mode does not compare outputs, but still fails on an exception
    assert run_nbval(changed, "lax", tmp_path).returncode == 0
    raising = _tiny(tmp_path / "raises.ipynb", "raise NotImplementedError", "", run=False)
    assert run_nbval(raising, "lax", tmp_path).returncode == 1
