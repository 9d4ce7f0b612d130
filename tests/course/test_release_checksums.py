"""The checksums of the released locked cells (nbgrader's guard against edited tests).

Plain ``nbgrader autograde`` warns ``Attribute 'checksum' for cell test-... has changed!``
for every test cell of this course: each has hidden tests, and nbgrader saves a test
cell (and its checksum) in the gradebook *before* it removes the hidden tests from the
release copy, then at autograde puts the saved source back (jupyter/nbgrader#1961).
That warning is nbgrader's, by design. What the course's own release steps (quiz
answers taken out, ``raises-exception`` tags) must not do is change a locked cell:
then the warning would also be about our release, and nbgrader would replace the cell.
"""

import pytest
from nbgrader import utils

from course_testlib import REPO, read_nb

HIDDEN = "### BEGIN HIDDEN TESTS"


def _without_hidden(source):
    kept, hidden = [], False
    for line in source.splitlines():
        if line.strip() == HIDDEN:
            hidden = True
        elif line.strip() == "### END HIDDEN TESTS":
            hidden = False
        elif not hidden:
            kept.append(line)
    return "\n".join(kept).rstrip("\n")


def _locked(nb):
    return {c.metadata.nbgrader["grade_id"]: c for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("locked")}


@pytest.mark.parametrize("assignment", sorted(p.name for p in (REPO / "release").iterdir()
                                              if (REPO / "release" / p.name / f"{p.name}.ipynb").exists()))
def test_released_locked_cells_keep_the_checksums_nbgrader_computed(assignment):
    release = _locked(read_nb(REPO / "release" / assignment / f"{assignment}.ipynb"))
    source = _locked(read_nb(REPO / "source" / assignment / f"{assignment}.ipynb"))
    assert release.keys() == source.keys()
    for grade_id, cell in release.items():
        # what the student's copy carries is what nbgrader computed for it (nbgrader validate)
        assert utils.compute_checksum(cell) == cell.metadata.nbgrader["checksum"], grade_id
        # and it is the gradebook's cell, but for the hidden tests nbgrader itself removed
        original = source[grade_id]
        if HIDDEN not in original.source:
            assert cell.source == original.source, grade_id
        else:
            assert cell.source.rstrip("\n") == _without_hidden(original.source), grade_id
        restored = cell.copy()
        restored.source = original.source
        assert utils.compute_checksum(restored) == utils.compute_checksum(original), grade_id
