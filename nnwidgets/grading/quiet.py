"""Keeping autograder cells off stderr: nbgrader scores a test cell 0 if it writes there."""

from __future__ import annotations

import contextlib
import sys
import warnings


@contextlib.contextmanager
def quiet():
    """Silence warnings and send anything written to stderr to stdout instead."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with contextlib.redirect_stderr(sys.stdout):
            yield


def _show_on_stdout(message, category, filename, lineno, file=None, line=None):
    sys.stdout.write("warning (shown on stdout while grading, it costs no points): "
                     + warnings.formatwarning(message, category, filename, lineno, line))


def warnings_to_stdout() -> None:
    """From now on, warnings are printed on stdout instead of stderr.

    Test cells call the student's own functions (``check_value(mlp_n_params(mlp), ...)``),
    outside the checks' :func:`quiet`: a warning there (a ``warnings.warn``
    in the student's code, a library's DeprecationWarning) would reach stderr
    and cost the cell all its points. Installed when :mod:`nnwidgets.grading`
    is imported in an autograding kernel (``NNWIDGETS_GRADING=1``, set by the
    course's ``nbgrader_config.py`` and by ``nnwidgets course``)."""
    warnings.showwarning = _show_on_stdout
