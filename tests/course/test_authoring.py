"""Authoring files -> nbgrader notebooks; the build detects stale output; the CLI drives it."""

import json
import shutil

import pytest

from nnwidgets.course import authoring
from nnwidgets.course.build import build
from nnwidgets.course.cli import register

from course_testlib import REPO

SAMPLE = """\
# %% [meta]
# title: Sample
# published.first: 1.5

# %% [markdown]
# # Title
# Some *text*.

# %% [solution] id=sol
x = 1
### BEGIN SOLUTION
y = 2
### END SOLUTION

# %% [tests] id=t1 points=2
assert y == 2
### BEGIN HIDDEN TESTS
assert abs(y - {{ref:y}}) < 1e-9 and {{published:first}} == 1.5
### END HIDDEN TESTS

# %% [answer] id=why points=1
# YOUR ANSWER

# %% [readonly] id=setup
import numpy as np
"""


def test_cells_get_nbgrader_metadata_and_references():
    meta, cells = authoring.parse(SAMPLE, "sample.py")
    assert meta["title"] == "Sample" and [c.kind for c in cells] == [
        "markdown", "solution", "tests", "answer", "readonly"]
    nb = authoring.to_notebook(meta, cells, {"y": 2.0}, {"first": 1.5})
    md, sol, test, answer, ro = nb.cells
    assert md.source == "# Title\nSome *text*."
    assert sol.metadata.nbgrader == {"grade": False, "solution": True, "locked": False,
                                     "grade_id": "sol", "schema_version": 3}
    assert test.metadata.nbgrader["points"] == 2.0 and test.metadata.nbgrader["locked"]
    assert "abs(y - 2.0)" in test.source and "1.5 == 1.5" in test.source
    assert answer.cell_type == "markdown" and answer.metadata.nbgrader["solution"]
    assert ro.metadata.nbgrader["locked"] and not ro.metadata.nbgrader["grade"]
    # deterministic: a second build from the same text is byte-identical (cell ids
    # included), so `nnwidgets course build --check` only flags real changes
    again = authoring.to_notebook(*authoring.parse(SAMPLE, "sample.py"), {"y": 2.0}, {"first": 1.5})
    assert authoring.notebook_text(again) == authoring.notebook_text(nb)
    assert [c["id"] for c in nb.cells] == ["cell-0", "sol", "t1", "why", "setup"]


@pytest.mark.parametrize("text, message", [
    ("# %% [tests] id=t\nassert 1", "points="),
    ("# %% [solution] id=s\nx = 1", "BEGIN SOLUTION"),
    ("# %% [bogus]\nx", "unknown cell type"),
    ("x = 1\n# %%\n", "before the first"),
    ("# %% [tests] id=a points=1\n\n# %% [tests] id=a points=1\n", "duplicate"),
    ("# %% [tests] points=1\npass", "needs id"),
])
def test_malformed_authoring_names_file_and_line(text, message):
    with pytest.raises(authoring.AuthoringError, match=message) as info:
        meta, cells = authoring.parse(text, "bad.py")
    assert "bad.py:" in str(info.value)


def test_missing_reference_is_a_clear_error():
    meta, cells = authoring.parse(SAMPLE, "sample.py")
    with pytest.raises(authoring.AuthoringError, match="record-references"):
        authoring.to_notebook(meta, cells, {}, {"first": 1.5})


def _course_copy(tmp_path):
    root = tmp_path / "course"
    for name in ("assignments", "lectures", "source"):
        shutil.copytree(REPO / name, root / name)
    return root


def test_build_reports_stale_sources_and_fixes_them(tmp_path, capsys):
    root = _course_copy(tmp_path)
    assert build(root, check=True) == []
    authoring_file = root / "assignments" / "a4_digits.py"
    authoring_file.write_text(authoring_file.read_text().replace("small MLP", "tiny MLP"))
    import argparse

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(["course", "--course-root", str(root), "build", "--check"])
    assert args.func(args) == 1
    assert "source/a4_digits/a4_digits.ipynb" in capsys.readouterr().out
    args = parser.parse_args(["course", "--course-root", str(root), "build"])
    assert args.func(args) == 0
    assert build(root, check=True) == []
    nb = json.loads((root / "source" / "a4_digits" / "a4_digits.ipynb").read_text())
    assert any("tiny MLP" in "".join(c["source"]) for c in nb["cells"])


def test_test_cells_name_the_exercise_defining_each_name_they_use():
    text = """\
# %% [readonly] id=setup
import numpy as np
X = np.arange(3)

# %% [solution] id=fit
### BEGIN SOLUTION
model = 1
### END SOLUTION

# %% [solution] id=score
def score(m):
    ### BEGIN SOLUTION
    return m
    ### END SOLUTION

# %% [tests] id=t points=1
from nnwidgets.grading import check_value
check_value(score(model), 1, "score")
local = 2
assert len(X) == 3 and local == 2
"""
    meta, cells = authoring.parse(text, "x.py")
    nb = authoring.to_notebook(meta, cells)
    first = nb.cells[-1].source.splitlines()[0]
    # the exercises (solution cells, counted from 1); not the setup's X, the cell's own names, builtins
    assert first == "# needs: model (exercise 1, cell fit); score (exercise 2, cell score)"
