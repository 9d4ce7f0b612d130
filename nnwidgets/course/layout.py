"""Where the course lives: the folder holding ``nbgrader_config.py`` and ``assignments/``."""

from __future__ import annotations

import os
import pathlib

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
LECTURES = "lectures"  # the nbgrader "assignment" holding the lecture notebooks


def course_root(path=None) -> pathlib.Path:
    """The course folder: ``path``, ``$NNWIDGETS_COURSE_ROOT``, the cwd if it has
    ``assignments/`` or ``nbgrader_config.py``, else the nnwidgets checkout."""
    if path is None:
        path = os.environ.get("NNWIDGETS_COURSE_ROOT")
    if path is None:
        cwd = pathlib.Path.cwd()
        is_course = (cwd / "assignments").is_dir() or (cwd / "nbgrader_config.py").exists()
        path = cwd if is_course else REPO_ROOT
    root = pathlib.Path(path).resolve()
    if not ((root / "assignments").is_dir() or (root / "nbgrader_config.py").exists()):
        raise FileNotFoundError(
            f"{root} is not a course folder (neither assignments/ nor nbgrader_config.py inside); "
            "run this from the course folder (a clone of nnwidgets has one) or pass --course-root FOLDER"
        )
    return root


def assignment_ids(root: pathlib.Path) -> list[str]:
    folder = root / "assignments"
    if folder.is_dir():
        return sorted(p.stem for p in folder.glob("*.py"))
    return sorted(p.name for p in (root / "source").iterdir() if p.is_dir() and p.name != LECTURES) \
        if (root / "source").is_dir() else []


def lecture_ids(root: pathlib.Path) -> list[str]:
    folder = root / "lectures"
    return sorted(p.stem for p in folder.glob("*.py")) if folder.is_dir() else []



