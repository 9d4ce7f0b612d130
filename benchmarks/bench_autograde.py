"""Benchmark: autograding one submission (the key) of each assignment with real nbgrader.

For each assignment, in a private temporary course folder: ``nbgrader generate_assignment``,
submit the key, then time ``nbgrader autograde`` (the whole command: start-up, database,
kernel, execution, grading). As the peer, the same key is executed with nbclient alone (no
nbgrader), interleaved with the autograde runs, so the ratio is nbgrader's overhead.

    OMP_NUM_THREADS=2 python benchmarks/bench_autograde.py [--repeat 1] [ASSIGNMENT ...]

Prints a Markdown table (seconds, median of the repeats).
"""

from __future__ import annotations

import argparse
import os
import pathlib
import shutil
import statistics
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from nnwidgets.course.layout import assignment_ids  # noqa: E402
from nnwidgets.course.nbgrader_ops import autograde, generate, submit  # noqa: E402


def time_autograde(assignment: str, tmp: pathlib.Path) -> float:
    root = tmp / "course"
    (root / "source").mkdir(parents=True)
    shutil.copy(REPO / "nbgrader_config.py", root)
    shutil.copytree(REPO / "source" / assignment, root / "source" / assignment)
    db = f"sqlite:///{tmp / 'gradebook.db'}"
    generate(root, assignment, db)
    submit(root, assignment, "key", root / "source" / assignment / f"{assignment}.ipynb")
    start = time.perf_counter()
    autograde(root, assignment, "key", db)
    return time.perf_counter() - start


def time_execute(assignment: str, tmp: pathlib.Path) -> float:
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(str(REPO / "source" / assignment / f"{assignment}.ipynb"), as_version=4)
    start = time.perf_counter()
    NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(tmp)}}).execute()
    return time.perf_counter() - start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("assignments", nargs="*")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    os.environ.setdefault("MPLBACKEND", "Agg")
    shared = REPO.parent / "shared" / "datasets"
    if shared.exists():
        os.environ.setdefault("NNWIDGETS_DATA_DIR", str(shared))
    ids = args.assignments or assignment_ids(REPO)
    rows = []
    for assignment in ids:
        grade_t, exec_t = [], []
        for _ in range(args.repeat):
            with tempfile.TemporaryDirectory() as tmp:
                exec_t.append(time_execute(assignment, pathlib.Path(tmp)))
            with tempfile.TemporaryDirectory() as tmp:
                grade_t.append(time_autograde(assignment, pathlib.Path(tmp)))
        g, e = statistics.median(grade_t), statistics.median(exec_t)
        rows.append((assignment, g, e))
        print(f"{assignment}: autograde {g:.1f} s, execute only {e:.1f} s", flush=True)
    print()
    print("| assignment | nbgrader autograde (s) | nbclient execute only (s) | ratio |")
    print("|---|---:|---:|---:|")
    for assignment, g, e in rows:
        print(f"| {assignment} | {g:.1f} | {e:.1f} | {g / e:.2f} |")
    total = sum(g for _, g, _ in rows)
    print(f"| **total** | {total:.1f} | {sum(e for *_, e in rows):.1f} | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
