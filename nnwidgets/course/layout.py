"""Where the course lives: the folder holding ``nbgrader_config.py`` and ``assignments/``."""

from __future__ import annotations

import os
import pathlib

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]


def course_root(path=None) -> pathlib.Path:
    """The course folder: ``path``, ``$NNWIDGETS_COURSE_ROOT``, the cwd if it has
    ``assignments/``, else the nnwidgets checkout."""
    if path is None:
        path = os.environ.get("NNWIDGETS_COURSE_ROOT")
    if path is None:
        cwd = pathlib.Path.cwd()
        path = cwd if (cwd / "assignments").is_dir() else REPO_ROOT
    root = pathlib.Path(path).resolve()
    if not (root / "assignments").is_dir():
        raise FileNotFoundError(
            f"{root} is not a course folder (no assignments/ inside); pass --course-root"
        )
    return root


def assignment_ids(root: pathlib.Path) -> list[str]:
    return sorted(p.stem for p in (root / "assignments").glob("*.py"))


def lecture_ids(root: pathlib.Path) -> list[str]:
    folder = root / "lectures"
    return sorted(p.stem for p in folder.glob("*.py")) if folder.is_dir() else []


LECTURES = "lectures"  # the nbgrader "assignment" holding the lecture notebooks
