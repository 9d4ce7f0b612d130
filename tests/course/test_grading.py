"""nnwidgets.grading: checks recompute, tolerate randomness, diagnose on stdout, never stderr."""

import warnings

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.svm import SVC

from nnwidgets.grading import (GradingFailure, check_answer, check_fitted, check_model_metric,
                               check_trained_on, check_value, metric_tolerance)


@pytest.fixture
def split():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 5))
    y = (X[:, 0] + 0.5 * rng.normal(size=120) > 0).astype(int)
    return train_test_split(X, y, test_size=0.3, random_state=0)


def _fails(capsys, func, *args, **kwargs):
    with pytest.raises(GradingFailure) as info:
        func(*args, **kwargs)
    captured = capsys.readouterr()
    assert captured.err == ""  # nbgrader zeroes a cell that writes to stderr
    # the details are printed once (stdout); the error itself is their first line
    message = str(info.value)
    assert "CHECK FAILED" in captured.out and "\n" not in message
    assert message.removesuffix(" (details above)") in captured.out
    return captured.out


def test_unfitted_and_placeholder_models_are_diagnosed(capsys):
    out = _fails(capsys, check_fitted, LogisticRegression(), "logr_model")
    assert "logr_model.fit(...) was never called" in out
    out = _fails(capsys, check_fitted, ..., "lr_model")
    assert "placeholder" in out


@pytest.mark.parametrize("make", [LogisticRegression, lambda: SVC(kernel="rbf")])
def test_model_fitted_on_the_test_set_is_detected(make, split, capsys):
    X_train, X_test, y_train, y_test = split
    good = make().fit(X_train, y_train)
    check_trained_on(good, X_train, y_train, X_test, y_test, name="m")
    cheat = make().fit(X_test, y_test)
    out = _fails(capsys, check_trained_on, cheat, X_train, y_train, X_test, y_test, name="m")
    assert "trained on the test set" in out and "likely cause" in out


@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])  # a4 uses lbfgs, which records no t_
def test_mlp_fitted_on_the_test_set_is_detected_from_samples_seen(split, capsys, solver):
    from nnwidgets import MLPClassifier

    X_train, X_test, y_train, y_test = split
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        make = lambda: MLPClassifier(hidden_layer_sizes=[8], max_iter=20, random_state=0, solver=solver)
        cheat = make().fit(X_test, y_test)
        good = make().fit(X_train, y_train)
    out = _fails(capsys, check_trained_on, cheat, X_train, y_train, X_test, y_test, name="net",
                 refit=False)
    assert f"{len(X_test)} samples" in out
    check_trained_on(good, X_train, y_train, X_test, y_test, name="net", refit=False)


def test_hard_coded_metric_is_caught_and_true_one_passes(split, capsys):
    X_train, X_test, y_train, y_test = split
    model = LogisticRegression().fit(X_train, y_train)
    true = float((model.predict(X_test) == y_test).mean())
    check_model_metric(model, X_test, y_test, "accuracy", reported=true, expected=true, name="m")
    out = _fails(capsys, check_model_metric, model, X_test, y_test, "accuracy", reported=0.9036,
                 name="m")
    assert "typed in by hand" in out
    # the metric computed on the training set instead of the held-out data is caught too
    train_acc = float((model.predict(X_train) == y_train).mean())
    assert train_acc != true  # (this split makes them differ: 0.82 vs 0.67)
    out = _fails(capsys, check_model_metric, model, X_test, y_test, "accuracy", reported=train_acc)
    assert f"{true:.10g} (recomputed from model)" in out and "computed on the training set" in out


def test_tolerances_fit_the_metric_and_randomness():
    assert metric_tolerance("accuracy", 0.9, 83, randomized=False) < 1e-5
    tol = metric_tolerance("accuracy", 0.9, 83, randomized=True)
    assert tol == pytest.approx(3 * np.sqrt(0.9 * 0.1 / 83))
    assert metric_tolerance("accuracy", 1.0, 100, randomized=True) == pytest.approx(0.01)
    y = np.arange(100.0)
    tol_mse = metric_tolerance("mse", 10.0, 100, True, y, y + np.random.default_rng(0).normal(0, 3, 100))
    assert 1 < tol_mse < 10


def test_randomized_expected_value_within_and_outside_tolerance(capsys):
    X = np.random.default_rng(1).normal(size=(200, 3))
    y = X @ np.array([1.0, 2.0, 3.0])
    model = LinearRegression().fit(X, y + np.random.default_rng(2).normal(0, 1, 200))
    mse = float(np.mean((model.predict(X) - y) ** 2))
    check_model_metric(model, X, y, "mse", expected=mse * 1.05, randomized=True)
    out = _fails(capsys, check_model_metric, model, X, y, "mse", expected=mse * 3, randomized=True)
    assert "expected" in out and "found" in out


def test_checks_silence_warnings_inside(split, capsys):
    X_train, X_test, y_train, y_test = split
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = LogisticRegression(max_iter=1).fit(X_train, y_train)  # ConvergenceWarning when refit
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning escaping the check would raise here
        check_trained_on(model, X_train, y_train, X_test, y_test)
    assert capsys.readouterr().err == ""


def test_check_value_and_answer(capsys):
    check_value([1.0, 2.0], [1.0, 2.0 + 1e-9], "v")
    _fails(capsys, check_value, [1.0], [2.0], "v")
    _fails(capsys, check_value, np.ones(3), np.ones(2), "v")
    check_answer(" Regression ", "regression", "q")
    check_answer("clustering", None, "q", ["regression", "clustering"])  # visible: form only
    out = _fails(capsys, check_answer, "classification", "regression", "q")
    assert "regression" not in out.split("found")[0].split("expected")[-1]  # no answer leaked
    _fails(capsys, check_answer, "maybe", None, "q", ["yes", "no"])


def test_none_from_a_function_without_return_is_named(capsys):
    def n_params(model):
        sum(c.size for c in model)  # no return: the student's most common slip
    out = _fails(capsys, check_value, n_params([np.ones(3)]), 3, "n_params(mlp)")
    assert "found:    None" in out and "without `return`" in out
    assert "placeholder `...`" not in out
    out = _fails(capsys, check_value, ..., 3, "n_params(mlp)")
    assert "placeholder `...`" in out


def test_a_module_whose_forward_has_no_return_is_named(capsys):
    """a5's test cell checks DecodingReLuNN's output shape; a forward() without
    `return` gives None, which used to fail on None.shape with Python's
    'NoneType' object has no attribute 'shape'."""
    torch = pytest.importorskip("torch")
    from nnwidgets.grading import check_output_shape

    class Forgot(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.layer = torch.nn.Linear(4, 2)

        def forward(self, x):
            x = self.layer(x)  # computed, never returned

    class Returns(Forgot):
        def forward(self, x):
            return self.layer(x)

    out = _fails(capsys, check_output_shape, Forgot(), torch.zeros(3, 4), (3, 2), "output shape for 3 maps")
    assert "the module returned None: forward() has no return statement" in out
    assert "NoneType" not in out
    check_output_shape(Returns(), torch.zeros(3, 4), (3, 2), "output shape for 3 maps")
    out = _fails(capsys, check_output_shape, Returns(), torch.zeros(3, 4), (2, 3), "output shape for 3 maps")
    assert "expected: an output of shape (2, 3)" in out and "found:    an output of shape (3, 2)" in out


def test_wrong_shape_says_what_was_given_and_keeps_the_value_cause_out(capsys):
    # a list of sizes where the count belongs: the test's cause (about a wrong count) would mislead
    out = _fails(capsys, check_value, [1184, 26], 1210, "mlp_n_params(mlp)",
                 cause="count the biases (intercepts_) too")
    assert "expected: one number" in out and "[1184, 26]" in out
    assert "count the biases" not in out and "where one number belongs" in out
    out = _fails(capsys, check_value, np.ones((4, 3)), np.ones((3, 4)), "dW1")
    assert "transposed" in out
    out = _fails(capsys, check_value, [], [1e-6, 1e-3, 1, 1e6], "learning rates tried")
    assert "empty" in out


def test_predictions_reported_as_the_metric_are_shortened(split, capsys):
    X_train, X_test, y_train, y_test = split
    model = LogisticRegression().fit(X_train, y_train)
    out = _fails(capsys, check_model_metric, model, np.tile(X_test, (20, 1)), np.tile(y_test, 20),
                 "accuracy", reported=model.predict(np.tile(X_test, (20, 1))))
    found = [line for line in out.splitlines() if line.strip().startswith("found:")]
    assert len(out.splitlines()) == 4 and len(found[0]) < 250 and "shape (720,)" in found[0]
    assert "not the predictions" in out


def test_a_metric_reported_as_text_fails_and_says_to_store_the_number(split, capsys):
    X_train, X_test, y_train, y_test = split
    model = LogisticRegression().fit(X_train, y_train)
    score = model.score(X_test, y_test)
    for text in (str(score), f"{score:.3f}"):  # (the exact text used to pass)
        out = _fails(capsys, check_model_metric, model, X_test, y_test, "accuracy", reported=text)
        assert "should be a number, not text" in out and "remove the str(...)" in out
    check_model_metric(model, X_test, y_test, "accuracy", reported=score)  # the number passes


def test_answer_of_the_wrong_type_says_how_to_write_it(capsys):
    out = _fails(capsys, check_answer, "330", None, "quiz bpcnt", [30, 100, 300, 330, 600])
    assert "write 330 without quotes" in out
    out = _fails(capsys, check_answer, "1,1,1,0", None, "quiz nand", range(5))
    assert "index" in out and "0 to 4" in out
    out = _fails(capsys, check_answer, 2, None, "quiz lrcolor", ["blue", "orange", "red", "green"])
    assert "in quotes" in out


def test_name_error_of_a_test_cell_names_the_exercise_to_run(tmp_path):
    """A skipped exercise: the later test cell's NameError says which exercise's cell
    defines the name (in a real kernel, as nbgrader runs it); nothing on stderr, still an error."""
    import nbformat
    from nbclient import NotebookClient

    from nnwidgets.grading.hints import hint_for

    test_cell = ("# needs: mlp64 (exercise 4, cell mlp64)\n"
                 "from nnwidgets.grading import check_fitted\ncheck_fitted(mlp64, 'mlp64')")
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell(test_cell),
        nbformat.v4.new_code_cell("from nnwidgets.grading import check_value\ncheck_value(other, 1, 'x')"),
        nbformat.v4.new_code_cell("typo_in_my_own_cell"),
    ])
    NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [c.outputs for c in nb.cells]
    assert not [o for out in outputs for o in out if o.get("name") == "stderr"]
    errors = [[o for o in out if o.output_type == "error"] for out in outputs]
    assert all(len(e) == 1 and e[0].ename == "NameError" for e in errors)
    assert "name 'mlp64' is not defined" in errors[0][0].evalue
    assert "defined by exercise 4's cell (id mlp64): run that cell first" in errors[0][0].evalue
    assert "an earlier cell of the notebook that was not run" in errors[1][0].evalue
    assert errors[2][0].evalue == "name 'typo_in_my_own_cell' is not defined"  # not a test cell
    assert hint_for("x = 1", "x") is None
