"""Helpers for the course tests: a private copy of the course per test (xdist-safe)."""

import os
import pathlib
import shutil

import nbformat

REPO = pathlib.Path(__file__).resolve().parents[2]
SHARED_DATA = REPO.parent / "shared" / "datasets"


def make_course(tmp_path: pathlib.Path, assignment: str) -> pathlib.Path:
    """A course folder in tmp_path with this assignment's committed source and the config."""
    root = tmp_path / "course"
    (root / "source").mkdir(parents=True)
    shutil.copy(REPO / "nbgrader_config.py", root / "nbgrader_config.py")
    shutil.copytree(REPO / "source" / assignment, root / "source" / assignment)
    return root


def read_nb(path):
    return nbformat.read(str(path), as_version=4)


def cell_by_id(nb, grade_id):
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            return cell
    raise KeyError(grade_id)


def graded_ids(nb):
    """grade_id -> points of the autograded test cells."""
    out = {}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade") and not meta.get("solution"):
            out[meta["grade_id"]] = float(meta["points"])
    return out
