"""nbgrader configuration of the nnwidgets course (run nbgrader from this folder).

    nnwidgets course build                     # assignments/*.py -> source/<id>/<id>.ipynb
    nbgrader generate_assignment a1_regression --force    # -> release/a1_regression/
    nbgrader collect a1_regression             # or put submissions in submitted/<student>/<id>/
    nbgrader autograde a1_regression
    nbgrader export                            # grades.csv

Environment overrides (used by the tests and by `nnwidgets course`):
NNWIDGETS_GRADEBOOK_URL (gradebook database URL, default sqlite:///<here>/gradebook.db),
NNWIDGETS_CELL_TIMEOUT (seconds a cell may run while autograding, default 120).
"""

import os

c = get_config()  # noqa: F821 - provided by traitlets when nbgrader loads this file

_here = os.path.dirname(os.path.abspath(__file__))
# the autograding kernel inherits this: nnwidgets.grading then prints the test
# cells' warnings on stdout (stderr output would score the cell 0)
os.environ.setdefault("NNWIDGETS_GRADING", "1")

c.CourseDirectory.course_id = "nnwidgets-course"
c.CourseDirectory.root = _here
c.CourseDirectory.source_directory = "source"
c.CourseDirectory.release_directory = "release"
c.CourseDirectory.submitted_directory = "submitted"
c.CourseDirectory.autograded_directory = "autograded"
c.CourseDirectory.feedback_directory = "feedback"
c.CourseDirectory.db_url = os.environ.get(
    "NNWIDGETS_GRADEBOOK_URL", "sqlite:///" + os.path.join(_here, "gradebook.db")
)
# the lecture notebooks are released with the assignments but never graded
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback"]

# a student's infinite loop is interrupted after this many seconds (the cell scores 0)
c.Execute.timeout = int(os.environ.get("NNWIDGETS_CELL_TIMEOUT", "120"))
c.Execute.interrupt_on_timeout = True

# deleted test cells are put back before grading; edited ones are restored from the source
c.OverwriteCells.add_missing_cells = True

c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
