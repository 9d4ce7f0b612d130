"""Mark the cells of a released notebook that raise as shipped.

A student's copy raises by design: exercise cells hold
``raise NotImplementedError()`` and the autograder tests and plots after them
use names the student has not defined yet. Tests that execute the released
notebooks (``pytest --nbval-lax``) need those cells tagged
``raises-exception``. The release step runs each notebook once, untouched, in
a clean kernel and tags exactly the code cells that raised; every other tag is
kept.
"""

from __future__ import annotations

import copy
import os
import pathlib
import sys
import tempfile

TAG = "raises-exception"


def _execution_env(scratch: pathlib.Path) -> dict:
    env = {
        "OMP_NUM_THREADS": "1",
        "NNWIDGETS_NUM_THREADS": "1",
        "MPLBACKEND": "Agg",
        "NNWIDGETS_PROGRESS": "none",
        # quiz widgets in lecture notebooks must not touch the instructor's own files
        "NNWIDGETS_QUIZ_DB": str(scratch / "quiz.sqlite"),
        "NNWIDGETS_CONFIG_DIR": str(scratch / "config"),
    }
    return env


# what an untouched release raises by design: the exercise stubs, the names
# they leave undefined further down, and the visible tests that fail on them
_BY_DESIGN = ("NotImplementedError", "NameError", "GradingFailure", "AssertionError")


def tag_raising_cells(path: pathlib.Path, timeout: int = 300) -> list[int]:
    """Executes ``path`` (a released notebook) and rewrites it with
    ``raises-exception`` on exactly the code cells that raised. Returns their
    indices."""
    import nbformat
    from nbclient import NotebookClient

    from nnwidgets.course.kernels import kernel_config

    path = pathlib.Path(path)
    nb = nbformat.read(path, as_version=4)
    run = copy.deepcopy(nb)
    with tempfile.TemporaryDirectory(prefix="nnwidgets-release-") as scratch:
        scratch = pathlib.Path(scratch)
        env = _execution_env(scratch)
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            NotebookClient(
                run, timeout=timeout, allow_errors=True, kernel_name="python3",
                resources={"metadata": {"path": str(path.parent)}}, config=kernel_config(scratch),
            ).execute()
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
    raised = []
    for index, (cell, ran) in enumerate(zip(nb.cells, run.cells)):
        if cell.cell_type != "code":
            continue
        tags = [t for t in cell.metadata.get("tags", []) if t != TAG]
        errors = [out for out in ran.get("outputs", []) if out.get("output_type") == "error"]
        if errors:
            tags.append(TAG)
            raised.append(index)
            name = errors[0].get("ename", "")
            if name not in _BY_DESIGN:  # not an exercise stub, nor a name a stub left undefined
                grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
                print(f"warning: {path.name}: cell {index}" + (f" ({grade_id})" if grade_id else "")
                      + f" raised {name}: {str(errors[0].get('evalue', ''))[:200]} in the untouched release; "
                      "it is tagged raises-exception, so students get a notebook where it fails. If that is "
                      "not by design (no internet for a dataset? set NNWIDGETS_DATA_DIR), fix it and release "
                      "again.", file=sys.stderr)
        if tags:
            cell.metadata["tags"] = tags
        else:
            cell.metadata.pop("tags", None)
    nbformat.write(nb, path)
    return raised
