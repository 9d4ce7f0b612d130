"""The checks autograder test cells call. Each prints a diagnostic and raises on failure."""

from __future__ import annotations

import numbers

import numpy as np

from nnwidgets.grading.diagnostics import fail
from nnwidgets.grading.metrics import compute_metric, metric_tolerance, predict
from nnwidgets.grading.quiet import quiet

_PLACEHOLDER_CAUSE = "the exercise still holds the placeholder `...` or was not run"
_NONE_CAUSE = ("a function without `return` (or one that prints its result instead of returning "
               "it) gives None, and so does a variable assigned its result; or the exercise was "
               "not run")


def _is_placeholder(value) -> bool:
    return value is Ellipsis or value is None


def _placeholder_cause(value) -> str:
    return _NONE_CAUSE if value is None else _PLACEHOLDER_CAUSE


def _show(value, describe: bool = True) -> str:
    """A value for a diagnostic line: one line, arrays shortened (a student's predictions
    stored where a number belongs would otherwise fill the cell)."""
    prefix = ""
    if isinstance(value, np.ndarray) and value.size > 1:
        with np.printoptions(threshold=8, edgeitems=3):
            text = repr(value)
        prefix = f"an array of shape {value.shape}: "
    elif isinstance(value, (list, tuple)) and len(value) > 1:
        text = repr(value)
        prefix = f"a {type(value).__name__} of {len(value)} items: "
    else:
        text = repr(value)
    text = " ".join(text.split())
    text = text if len(text) <= 160 else text[:157] + "..."
    return (prefix if describe else "") + text


def _shape_words(shape) -> str:
    return "one number" if shape == () else f"shape {shape}"


def _shape_cause(expected_shape, found_shape) -> str:
    if expected_shape == ():
        return "a list or array was given where one number belongs (sum it, count it, or take one entry)"
    if 0 in tuple(found_shape):
        return "it is empty: nothing was added to it (did the cell that fills it run without an error?)"
    if found_shape == ():
        return f"one number was given where an array of shape {expected_shape} belongs"
    if tuple(found_shape) == tuple(expected_shape)[::-1]:
        return "the array is transposed (rows and columns swapped)"
    return f"the array has {int(np.prod(found_shape))} entries in shape {found_shape}, not shape {expected_shape}"


def check_fitted(model, name: str = "model") -> None:
    """``model`` is a fitted scikit-learn estimator (or a torch module / search with a best model)."""
    if _is_placeholder(model):
        fail(f"{name} should be a fitted model", "a fitted estimator", repr(model), _placeholder_cause(model))
    if hasattr(model, "parameters") and callable(model.parameters):  # torch.nn.Module
        return
    if not hasattr(model, "fit"):
        fail(f"{name} should be a model", "an object with fit() and predict()", type(model).__name__,
             "a prediction or a number was stored where the model object belongs")
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    with quiet():
        try:
            check_is_fitted(model)
        except NotFittedError:
            fail(f"{name} is not fitted", "a model trained with .fit(X_train, y_train)",
                 "an unfitted model", f"{name}.fit(...) was never called")


def _n_samples_seen(model):
    """How many samples the model was trained on, when the model records it; else None."""
    model = getattr(model, "best_estimator_", model)
    shape = getattr(model, "shape_fit_", None)
    if shape is not None:
        return int(shape[0])
    for attribute in ("n_samples_fit_",):
        if getattr(model, attribute, None) is not None:
            return int(getattr(model, attribute))
    t, n_iter = getattr(model, "t_", 0), getattr(model, "n_iter_", 0)
    if getattr(model, "solver", None) in ("adam", "sgd") and t and n_iter and \
            not getattr(model, "early_stopping", False):
        return int(round(t / int(np.max(n_iter))))
    return None


def _same_predictions(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return False
    if a.dtype.kind in "fc" or b.dtype.kind in "fc":
        return bool(np.allclose(a.astype(float), b.astype(float), rtol=1e-6, atol=1e-8))
    return bool(np.array_equal(a, b))


def check_trained_on(model, X_train, y_train, X_test, y_test, name: str = "model",
                     refit: bool = True) -> None:
    """The model was trained on the training set, not on the test set.

    Evidence, in order: the number of samples the model records having seen
    (SVC ``shape_fit_``, MLP ``t_ / n_iter_``, ...); else (``refit=True``) a clone
    refitted on each set: when the clone fitted on the test set reproduces the
    model's test predictions and the clone fitted on the training set does not,
    the model was fitted on the test set. Randomized models are refitted with their
    own ``random_state``; undecidable cases pass.
    """
    check_fitted(model, name)
    n_train, n_test = len(X_train), len(X_test)
    seen = _n_samples_seen(model)
    if seen is not None and n_train != n_test:
        if seen == n_test:
            fail(f"{name} was trained on the test set", f"{n_train} training samples",
                 f"{seen} samples (the size of the test set)",
                 f"{name}.fit(X_test, y_test) instead of {name}.fit(X_train, y_train)",
                 "evaluate on the test set, but train on the training set only")
        return
    if not refit or not hasattr(model, "get_params"):
        return
    from sklearn.base import clone

    estimator = getattr(model, "best_estimator_", model)
    with quiet():
        try:
            theirs = predict(estimator, X_test)
            on_test = clone(estimator).fit(X_test, y_test).predict(X_test)
            on_train = clone(estimator).fit(X_train, y_train).predict(X_test)
        except Exception:  # noqa: BLE001 - a model we cannot refit is not evidence
            return
    if _same_predictions(theirs, on_test) and not _same_predictions(theirs, on_train):
        fail(f"{name} was trained on the test set", "a model fitted on X_train, y_train",
             "its predictions are those of the same model fitted on X_test, y_test",
             f"{name}.fit(X_test, y_test) instead of {name}.fit(X_train, y_train)")


def check_model_metric(model, X, y, metric: str = "accuracy", *, expected=None, reported=None,
                       name: str = "model", randomized: bool = False, at_least=None,
                       at_most=None, tol=None) -> float:
    """Recompute ``metric`` of ``model`` on held-out ``(X, y)`` and check it.

    - ``reported``: the number the student stored; it must equal the recomputed
      metric (catches hard-coded numbers and metrics computed on the wrong data).
    - ``expected``: the reference value, compared within :func:`metric_tolerance`
      (or ``tol``), which fits the metric and whether the model is ``randomized``.
    - ``at_least`` / ``at_most``: a bound the model must reach.

    Returns None (so that the cell has no output nbgrader would read as partial credit).
    """
    check_fitted(model, name)
    with quiet():
        try:
            y_pred = predict(model, X)
            value = compute_metric(model, X, y, metric)
        except Exception as exc:  # noqa: BLE001
            fail(f"could not compute the {metric} of {name} on the held-out data",
                 "a model that predicts the held-out samples", f"{type(exc).__name__}: {exc}",
                 "the model was trained on different features (columns, scaling or shape)")
    if reported is not None or reported is Ellipsis:
        if _is_placeholder(reported):
            fail(f"the reported {metric}", f"{value:.10g}", repr(reported), _placeholder_cause(reported))
        if isinstance(reported, (str, bytes, np.str_)):
            fail(f"the reported {metric} should be a number, not text", f"{value:.10g}", repr(reported),
                 f"store the {metric} itself: remove the str(...), f-string or quotes around it")
        if not isinstance(reported, numbers.Real) and np.ndim(reported) != 0:
            fail(f"the reported {metric} should be one number", f"{value:.10g}", _show(reported),
                 f"store the {metric} (one number), not the predictions or a list")
        if abs(float(reported) - value) > max(1e-9, 1e-9 * abs(value)):
            fail(f"the reported {metric} does not match {name}'s predictions on the held-out data",
                 f"{value:.10g} (recomputed from {name})", float(reported),
                 "the number was typed in by hand, computed on the training set, or computed "
                 "from another model")
    if expected is not None:
        y_true = y.detach().cpu().numpy() if hasattr(y, "detach") else np.asarray(y)
        tolerance = tol if tol is not None else metric_tolerance(
            metric, float(expected), len(y_true), randomized, y_true, y_pred)
        if abs(value - float(expected)) > tolerance:
            fail(f"the held-out {metric} of {name}", f"{float(expected):.10g} +/- {tolerance:.3g}",
                 f"{value:.10g}",
                 "different hyperparameters (layers, random_state, max_iter, alpha/C), a different "
                 "train/test split, or a model trained on other data than the exercise asks")
    if at_least is not None and value < at_least:
        fail(f"the held-out {metric} of {name} is too low", f">= {at_least}", value,
             "the model is underfitting or was trained on the wrong data")
    if at_most is not None and value > at_most:
        fail(f"the held-out {metric} of {name} is too high", f"<= {at_most}", value,
             "the model is not trained or was trained on the wrong data")
    return None


def check_reported(reported, model, X, y, metric: str = "accuracy", name: str = "model") -> None:
    """Shortcut: the reported number equals ``metric`` recomputed from ``model`` on ``(X, y)``."""
    check_model_metric(model, X, y, metric, reported=reported, name=name)


def check_value(found, expected, name: str, *, rtol: float = 1e-6, atol: float = 1e-9,
                cause: str | None = None) -> None:
    """A number (or array) computed by the student matches ``expected`` within rtol/atol."""
    if _is_placeholder(found):
        fail(name, expected, repr(found), _placeholder_cause(found))
    try:
        found_arr = np.asarray(found, dtype=float)
    except (TypeError, ValueError):
        fail(f"{name} should be numeric", expected, _show(found))
    expected_arr = np.asarray(expected, dtype=float)
    if found_arr.shape != expected_arr.shape:
        if found_arr.size == expected_arr.size == 1:
            found_arr = found_arr.reshape(expected_arr.shape)
        else:
            # the cause given by the test is about wrong values; a wrong shape has its own
            fail(f"{name} has the wrong shape", _shape_words(expected_arr.shape),
                 _shape_words(found_arr.shape) + (f": {_show(found, describe=False)}" if found_arr.size else " (empty)"),
                 _shape_cause(expected_arr.shape, found_arr.shape))
    if not np.allclose(found_arr, expected_arr, rtol=rtol, atol=atol, equal_nan=True):
        fail(name, expected if np.ndim(expected) == 0 else expected_arr,
             found if np.ndim(found) == 0 else found_arr, cause)


def check_output_shape(module, inputs, expected_shape, name: str) -> None:
    """Call ``module(inputs)`` (a torch module, or any callable) once and check the
    shape of what it returns; an output of None (a ``forward`` without ``return``)
    is named as such instead of failing on ``None.shape``."""
    out = module(inputs)  # (an error inside the student's forward() keeps its own traceback)
    if out is None:
        fail(f"{name}: the module returned None: forward() has no return statement",
             f"an output of {_shape_words(tuple(expected_shape))}", "None",
             "forward() computes the output but does not `return` it: end it with `return ...`")
    shape = getattr(out, "shape", None)
    if shape is None:
        fail(f"{name}: the module should return a tensor", f"an output of {_shape_words(tuple(expected_shape))}",
             _show(out))
    if tuple(shape) != tuple(expected_shape):
        fail(name, f"an output of shape {tuple(expected_shape)}", f"an output of shape {tuple(shape)}")


def check_array(found, expected, name: str, **kwargs) -> None:
    """Alias of :func:`check_value` for arrays (shape and values)."""
    check_value(found, expected, name, **kwargs)


def _answer_form_cause(answer, choices) -> str:
    """Why an answer is not one of the choices: most often text where numbers are expected, or
    the other way round (``'330'`` for ``330``, ``'1,1,1,0'`` where the index 4 is asked for)."""
    numbers_asked = all(isinstance(c, numbers.Number) for c in choices)
    if numbers_asked and isinstance(answer, str):
        if answer.strip() in [str(c) for c in choices]:
            return f"the choices are numbers: write {answer.strip()} without quotes"
        if all(isinstance(c, numbers.Integral) for c in choices) and list(choices) == list(range(len(choices))):
            return f"answer with the number (index) of the choice, 0 to {len(choices) - 1}, not its text"
        return "the choices are numbers: answer with one of them, without quotes"
    if all(isinstance(c, str) for c in choices) and not isinstance(answer, str):
        return "the choices are text: answer with one of them in quotes, e.g. " + repr(choices[0])
    return "not one of the choices"


def check_answer(answer, correct, question: str, choices=None) -> None:
    """A multiple-choice answer (case- and space-insensitive for strings).

    ``correct=None`` only checks that the answer is one of ``choices`` (for visible
    tests; the hidden test passes the right answer).
    """
    if _is_placeholder(answer):
        fail(question, "one of " + repr(list(choices)) if choices else "an answer", repr(answer),
             "the answer was not filled in")

    def norm(value):
        return value.strip().lower() if isinstance(value, str) else value

    if choices is not None and norm(answer) not in [norm(c) for c in choices]:
        fail(question, "one of " + repr(list(choices)), repr(answer),
             _answer_form_cause(answer, list(choices)))
    if correct is None:  # visible test: only the form of the answer is checked
        return
    accepted = correct if isinstance(correct, (list, tuple, set)) else [correct]
    if norm(answer) not in [norm(c) for c in accepted]:
        fail(question, None, repr(answer), "this is not the right answer; revisit the lecture")
