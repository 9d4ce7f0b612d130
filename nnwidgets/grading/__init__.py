"""Helpers for nbgrader autograder test cells (no UI).

Every check recomputes what it grades from the student's objects (their fitted
model, predictions on held-out data), compares with a tolerance that fits the
metric and its randomness, and on failure prints a diagnostic to **stdout**
(what was expected, what was found, the likely cause) before raising
:class:`GradingFailure` (an ``AssertionError``). Nothing is ever written to
stderr: nbgrader gives 0 points to a test cell with stderr output, so warnings
raised inside the checks are silenced, and in an autograding kernel
(``NNWIDGETS_GRADING=1``) any other warning of a test cell, one from the
student's own function say, is printed on stdout (:func:`warnings_to_stdout`).
In IPython, importing this package makes a ``NameError`` of a test cell name the
earlier exercise that defines the missing name (:mod:`nnwidgets.grading.hints`).

Typical test cell::

    from nnwidgets.grading import check_fitted, check_trained_on, check_model_metric
    check_fitted(logr_model, "logr_model")
    check_trained_on(logr_model, X_train, y_train, X_test, y_test, name="logr_model")
    check_model_metric(logr_model, X_test, y_test, "accuracy", reported=logr_test_accuracy,
                       name="logr_test_accuracy")
    ### BEGIN HIDDEN TESTS
    check_model_metric(logr_model, X_test, y_test, "accuracy", expected=0.8915662650602409)
    ### END HIDDEN TESTS
"""

from nnwidgets.grading.checks import (
    check_answer,
    check_array,
    check_fitted,
    check_model_metric,
    check_output_shape,
    check_reported,
    check_trained_on,
    check_value,
)
from nnwidgets.grading.diagnostics import GradingFailure, fail
from nnwidgets.grading.metrics import compute_metric, metric_tolerance
from nnwidgets.grading.quiet import quiet, warnings_to_stdout

if __import__("os").environ.get("NNWIDGETS_GRADING") == "1":  # an autograding kernel
    warnings_to_stdout()

# a NameError in a test cell says which exercise defines the missing name
# (see nnwidgets.grading.hints; a no-op outside IPython)
from nnwidgets.grading import hints as _hints  # noqa: E402

_hints.install()

__all__ = [
    "GradingFailure",
    "check_answer",
    "check_array",
    "check_fitted",
    "check_model_metric",
    "check_output_shape",
    "check_reported",
    "check_trained_on",
    "check_value",
    "compute_metric",
    "fail",
    "metric_tolerance",
    "quiet",
    "warnings_to_stdout",
]
