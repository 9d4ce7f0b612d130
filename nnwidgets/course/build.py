"""``nnwidgets course build``: authoring files -> ``source/<id>/<id>.ipynb`` (nbgrader source)."""

from __future__ import annotations

import json
import pathlib

from nnwidgets.course import authoring
from nnwidgets.course.layout import LECTURES, assignment_ids, lecture_ids

REFERENCES = "references.json"


def load_references(root: pathlib.Path) -> dict:
    path = root / "assignments" / REFERENCES
    return json.loads(path.read_text()) if path.exists() else {}


def published_values(meta: dict) -> dict:
    """The lecture's published figures declared as ``published.NAME: <JSON value>`` in [meta]."""
    return {k[len("published."):]: json.loads(v) for k, v in meta.items() if k.startswith("published.")}


def parse_file(path: pathlib.Path):
    return authoring.parse(path.read_text(encoding="utf-8"), str(path))


def assignment_notebook(root: pathlib.Path, assignment: str, strip_placeholders: bool = False):
    path = root / "assignments" / f"{assignment}.py"
    meta, cells = parse_file(path)
    refs = load_references(root).get(assignment, {})
    published = dict(refs.get("published", {}))
    published.update(published_values(meta))
    return authoring.to_notebook(meta, cells, refs.get("recorded", {}), published,
                                 str(path), strip_placeholders=strip_placeholders)


def lecture_notebook(root: pathlib.Path, lecture: str):
    path = root / "lectures" / f"{lecture}.py"
    meta, cells = parse_file(path)
    return authoring.to_notebook(meta, cells, filename=str(path))


def planned_outputs(root: pathlib.Path) -> dict[pathlib.Path, str]:
    """Every file the build writes (relative to root) -> its content."""
    outputs = {}
    for assignment in assignment_ids(root):
        nb = assignment_notebook(root, assignment)
        outputs[pathlib.Path("source", assignment, f"{assignment}.ipynb")] = authoring.notebook_text(nb)
    for lecture in lecture_ids(root):
        nb = lecture_notebook(root, lecture)
        outputs[pathlib.Path("source", LECTURES, f"{lecture}.ipynb")] = authoring.notebook_text(nb)
    return outputs


def build(root: pathlib.Path, check: bool = False) -> list[pathlib.Path]:
    """Write the source notebooks; with ``check=True`` write nothing and return the stale ones."""
    stale = []
    for relative, text in planned_outputs(root).items():
        target = root / relative
        if target.exists() and target.read_text(encoding="utf-8") == text:
            continue
        stale.append(relative)
        if not check:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
    return stale
