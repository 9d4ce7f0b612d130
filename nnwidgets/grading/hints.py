"""A hint on the ``NameError`` of a test cell whose exercise was skipped.

A student who skipped (or did not finish) an exercise gets, in a later test
cell, ``NameError: name 'mlp64' is not defined``, with nothing saying where
``mlp64`` should have come from. The course build writes, at the top of each
test cell, which earlier exercise defines each name the test uses::

    # needs: mlp64 (exercise 4, cell mlp64); mlp_n_params (exercise 3, cell count)

and importing :mod:`nnwidgets.grading` (the first line of every test cell)
installs an IPython handler that adds to a ``NameError`` raised in such a cell
the exercise that defines the missing name (or, for a name no exercise defines,
that an earlier cell was not run). The error is still an error (the test scores
0 in nbgrader) and nothing is written to stderr. Outside IPython nothing is
installed.
"""

from __future__ import annotations

import linecache
import re

NEEDS = re.compile(r"^# needs: (?P<items>.+)$", re.MULTILINE)
ITEM = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_]*) \((?P<where>[^)]*)\)")
_MISSING = re.compile(r"name '(?P<name>[A-Za-z_][A-Za-z0-9_]*)' is not defined")
_MARK = "(this test needs"  # the hint is added once


def needs_comment(needs: dict[str, str]) -> str:
    """The ``# needs:`` line for ``{name: "exercise N, cell ID"}`` ('' when empty)."""
    return "# needs: " + "; ".join(f"{name} ({where})" for name, where in needs.items()) if needs else ""


def parse_needs(source: str) -> dict[str, str]:
    """``{name: "exercise N, cell ID"}`` from a cell's ``# needs:`` line."""
    match = NEEDS.search(source)
    return {m.group("name"): m.group("where") for m in ITEM.finditer(match.group("items"))} if match else {}


def is_test_cell(source: str) -> bool:
    return bool(NEEDS.search(source)) or "nnwidgets.grading" in source


def hint_for(source: str, missing: str) -> str | None:
    """The hint for ``NameError`` of name ``missing`` in a cell of ``source``;
    None when the cell is not an autograder test cell."""
    if not is_test_cell(source):
        return None
    where = parse_needs(source).get(missing)
    if where:
        number, _, cell = where.partition(",")
        cell = cell.strip().removeprefix("cell ").strip()
        return (f"{_MARK} `{missing}`, defined by {number.strip()}'s cell"
                + (f" (id {cell})" if cell else "")
                + ": run that cell first, and complete it if it still raises NotImplementedError; "
                "the autograder runs the notebook from the top, so an exercise left out fails the "
                "tests after it)")
    return (f"{_MARK} `{missing}`, defined by an earlier cell of the notebook that was not run or "
            "raised an error: run the notebook from the top (Run All) and fix the first cell that fails)")


def add_hint(error: BaseException, source: str) -> bool:
    """Appends the hint to the message of ``error`` (a NameError raised in a cell
    of ``source``); returns whether it did."""
    if not isinstance(error, NameError) or not error.args or _MARK in str(error.args[0]):
        return False
    missing = getattr(error, "name", None)
    if not missing:
        match = _MISSING.search(str(error.args[0]))
        missing = match.group("name") if match else None
    hint = hint_for(source, missing) if missing else None
    if not hint:
        return False
    error.args = (f"{error.args[0]} {hint}",) + tuple(error.args[1:])
    return True


def _cell_source(tb) -> str:
    """The source of the cell a traceback went through: IPython registers each
    cell's code in ``linecache`` with no modification time (files on disk have one)."""
    while tb is not None:
        entry = linecache.cache.get(tb.tb_frame.f_code.co_filename)
        if entry and len(entry) == 4 and entry[1] is None:
            return "".join(entry[2])
        tb = tb.tb_next
    return ""


def _handler(shell, etype, value, tb, tb_offset=None):
    try:
        add_hint(value, _cell_source(tb))
    except Exception:  # noqa: BLE001 - a hint must never hide the student's error
        pass
    shell.showtraceback((etype, value, tb), tb_offset=tb_offset)
    return None


def install() -> bool:
    """Installs the handler in the running IPython kernel (once); False outside IPython."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    if shell is None or not hasattr(shell, "set_custom_exc"):
        return False
    if getattr(shell, "_nnwidgets_name_hints", False):
        return True
    if tuple(getattr(shell, "custom_exceptions", ())):  # someone else's handler: leave it
        return False
    shell.set_custom_exc((NameError,), _handler)
    shell._nnwidgets_name_hints = True
    return True
