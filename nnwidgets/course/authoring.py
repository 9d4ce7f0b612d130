"""Authoring format: percent-format Python files with nbgrader cell types in the cell markers.

A file is a sequence of cells, each starting with a marker line::

    # %% [markdown]                      a markdown cell (leading "# " stripped from each line)
    # %%                                 a plain code cell (students may edit it)
    # %% [readonly] id=setup             a locked code cell
    # %% [solution] id=lr-fit            an autograded answer: code between
                                         ### BEGIN SOLUTION / ### END SOLUTION is removed
    # %% [tests] id=test-lr points=2     an autograder test cell (locked, graded); may hold
                                         ### BEGIN HIDDEN TESTS / ### END HIDDEN TESTS
    # %% [answer] id=why-nn points=1     a manually graded markdown answer
    # %% [task] id=plot points=1         a manually graded task (markdown)

The first cell may be ``# %% [meta]`` with ``key: value`` lines (``title``, ``kernel``).
A test cell gets a first line ``# needs: NAME (exercise N, cell ID); ...`` naming
the earlier exercise ([solution] cell, counted from 1) that defines each name it
uses: a ``NameError`` in the cell then says which exercise to run or complete
(:mod:`nnwidgets.grading.hints`).
In test cells ``{{ref:NAME}}`` is replaced by the recorded reference value ``NAME``
(``assignments/references.json``), and ``{{published:NAME}}`` by a value published in the
lecture (stored in the same file).
"""

from __future__ import annotations

import ast
import builtins
import dataclasses
import json
import re

MARKER = re.compile(r"^# %%(?:\s*\[(?P<kind>[a-z]+)\])?(?P<attrs>.*)$")
KINDS = {"markdown", "code", "readonly", "solution", "tests", "answer", "task", "meta"}
PLACEHOLDER = re.compile(r"\{\{(ref|published):([A-Za-z0-9_.\-]+)\}\}")


class AuthoringError(ValueError):
    """An authoring file is malformed; the message names the file and line."""


@dataclasses.dataclass
class Cell:
    kind: str
    source: str
    attrs: dict
    line: int


def _parse_attrs(text: str, where: str) -> dict:
    attrs = {}
    for token in text.split():
        if "=" not in token:
            raise AuthoringError(f"{where}: cell attribute {token!r} should be key=value")
        key, value = token.split("=", 1)
        attrs[key] = value
    return attrs


def parse(text: str, filename: str = "<authoring>") -> tuple[dict, list[Cell]]:
    """Split an authoring file into its meta dict and cells."""
    cells: list[Cell] = []
    current = None
    body: list[str] = []

    def close():
        if current is not None:
            while body and not body[-1].strip():
                body.pop()
            while body and not body[0].strip():
                body.pop(0)
            source = "\n".join(body)
            if current.kind in ("markdown", "answer", "task", "meta"):
                source = "\n".join(_uncomment(line) for line in body)
            current.source = source
            cells.append(current)

    for number, line in enumerate(text.splitlines(), 1):
        match = MARKER.match(line)
        if match:
            close()
            kind = match.group("kind") or "code"
            where = f"{filename}:{number}"
            if kind not in KINDS:
                raise AuthoringError(f"{where}: unknown cell type [{kind}]; use one of {sorted(KINDS)}")
            current = Cell(kind, "", _parse_attrs(match.group("attrs"), where), number)
            body = []
        elif current is None:
            if line.strip():
                raise AuthoringError(f"{filename}:{number}: text before the first '# %%' marker")
        else:
            body.append(line)
    close()
    meta = {}
    if cells and cells[0].kind == "meta":
        for raw in cells.pop(0).source.splitlines():
            if ":" in raw:
                key, value = raw.split(":", 1)
                meta[key.strip()] = value.strip()
    _validate(cells, filename)
    return meta, cells


def _uncomment(line: str) -> str:
    if line.startswith("# "):
        return line[2:]
    if line.startswith("#"):
        return line[1:]
    return line


def _validate(cells: list[Cell], filename: str) -> None:
    seen = set()
    for cell in cells:
        where = f"{filename}:{cell.line}"
        if cell.kind in ("solution", "tests", "answer", "task", "readonly"):
            grade_id = cell.attrs.get("id")
            if not grade_id:
                raise AuthoringError(f"{where}: a [{cell.kind}] cell needs id=...")
            if grade_id in seen:
                raise AuthoringError(f"{where}: duplicate cell id {grade_id!r}")
            seen.add(grade_id)
        if cell.kind in ("tests", "answer", "task"):
            try:
                float(cell.attrs["points"])
            except (KeyError, ValueError):
                raise AuthoringError(f"{where}: a [{cell.kind}] cell needs points=<number>") from None
        if cell.kind == "solution" and "### BEGIN SOLUTION" not in cell.source:
            raise AuthoringError(f"{where}: a [solution] cell needs ### BEGIN SOLUTION / ### END SOLUTION")


def substitute(source: str, references: dict, published: dict, where: str) -> str:
    def repl(match):
        table = references if match.group(1) == "ref" else published
        name = match.group(2)
        if name not in table:
            raise AuthoringError(
                f"{where}: no {match.group(1)} value {name!r}; run `nnwidgets course "
                "record-references` (or add it to assignments/references.json)"
            )
        return repr(table[name])

    return PLACEHOLDER.sub(repl, source)


def _names(source: str) -> tuple[set[str], set[str]]:
    """(names the code binds at top level, names it reads) of a code cell; empty
    sets for code that is not plain Python (a magic, say)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set(), set()
    bound, read = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (read if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((a.asname or a.name).split(".")[0] for a in node.names)
    return bound, read


def _needs(source: str, defined: dict[str, str]) -> dict[str, str]:
    """The names a test cell reads that an earlier exercise defines (and the cell
    itself does not), in the order of ``defined`` -> where they are defined."""
    bound, read = _names(source)
    wanted = read - bound - set(dir(builtins))
    return {name: where for name, where in defined.items() if name in wanted}


def to_notebook(meta: dict, cells: list[Cell], references=None, published=None,
                filename: str = "<authoring>", strip_placeholders: bool = False):
    """Build an nbformat v4 notebook with nbgrader metadata from parsed cells.

    ``strip_placeholders=True`` replaces ``{{ref:...}}`` by ``None`` (used while
    recording the references the placeholders stand for).
    """
    import nbformat

    from nnwidgets.grading.hints import needs_comment

    references = references or {}
    published = published or {}
    nb = nbformat.v4.new_notebook()
    defined: dict[str, str] = {}  # name -> "exercise N, cell ID" of the last exercise defining it
    exercises = 0
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python",
                       "name": meta.get("kernel", "python3")},
        "language_info": {"name": "python"},
    }
    if meta.get("title"):
        nb.metadata["title"] = meta["title"]
    for index, cell in enumerate(cells):
        where = f"{filename}:{cell.line}"
        source = cell.source
        if PLACEHOLDER.search(source):
            if strip_placeholders:
                source = PLACEHOLDER.sub("None", source)
            else:
                source = substitute(source, references, published, where)
        if cell.kind == "solution":
            exercises += 1
            for name in sorted(_names(source)[0]):
                defined.pop(name, None)
                defined[name] = f"exercise {exercises}, cell {cell.attrs['id']}"
        elif cell.kind in ("code", "readonly"):
            for name in _names(source)[0]:  # redefined by a cell that is not an exercise
                defined.pop(name, None)
        elif cell.kind == "tests":
            needs = _needs(source, defined)
            if needs:
                source = f"{needs_comment(needs)}\n{source}"
        if cell.kind in ("markdown", "answer", "task"):
            new = nbformat.v4.new_markdown_cell(source)
        else:
            new = nbformat.v4.new_code_cell(source)
        new["id"] = cell.attrs.get("id", f"cell-{index}")
        grade_id = cell.attrs.get("id")
        nbg = None
        if cell.kind == "solution":
            nbg = {"grade": False, "solution": True, "locked": False}
        elif cell.kind == "tests":
            nbg = {"grade": True, "solution": False, "locked": True,
                   "points": float(cell.attrs["points"])}
        elif cell.kind == "answer":
            nbg = {"grade": True, "solution": True, "locked": False,
                   "points": float(cell.attrs["points"])}
        elif cell.kind == "task":
            nbg = {"grade": False, "solution": False, "locked": True, "task": True,
                   "points": float(cell.attrs["points"])}
        elif cell.kind == "readonly":
            nbg = {"grade": False, "solution": False, "locked": True}
        if nbg is not None:
            nbg["grade_id"] = grade_id
            nbg["schema_version"] = 3
            new.metadata["nbgrader"] = nbg
        if cell.kind == "tests":
            new.metadata["deletable"] = False
            new.metadata["editable"] = False
        nb.cells.append(new)
    return nb


def notebook_text(nb) -> str:
    """Deterministic JSON for a notebook (stable key order, trailing newline)."""
    import nbformat

    return json.dumps(nbformat.from_dict(nb), indent=1, sort_keys=True, ensure_ascii=False) + "\n"
