"""Released notebooks do not give the class quiz's answers away.

The lectures' ``Asker(..., correct=4)`` cells keep their answer in the
instructor's copy (``source/``): running it registers the question, answer
included, on the class's quiz server, which reveals it when the instructor
says so. The students' copy (``release/``) is the same cell without
``correct=`` (the original asker.js questions had no answer either).
"""

from __future__ import annotations

import pathlib
import re

# `, correct=4` / `, correct="red"` inside an Asker(...) call (the lectures'
# Askers are written with literal answers)
_CORRECT = re.compile(r""",\s*correct\s*=\s*(?:-?\d+|"[^"\n]*"|'[^'\n]*')(?=\s*[,)])""")


def strip_quiz_answers(path: pathlib.Path) -> int:
    """Removes ``correct=`` from the ``Asker(...)`` calls of the notebook at
    ``path`` (rewritten in place when anything changed); returns how many."""
    import nbformat

    path = pathlib.Path(path)
    nb = nbformat.read(path, as_version=4)
    removed = 0
    for cell in nb.cells:
        if cell.cell_type != "code" or "Asker(" not in cell.source:
            continue
        source, n = _CORRECT.subn("", cell.source)
        if n:
            cell.source = source
            removed += n
    if removed:
        nbformat.write(nb, path)
    return removed
