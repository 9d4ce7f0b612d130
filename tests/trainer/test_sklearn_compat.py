"""nnwidgets' MLPs are drop-in replacements for scikit-learn's."""

import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_diabetes
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, mean_squared_error
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.utils.estimator_checks import (
    check_sample_weight_equivalence_on_dense_data,
    check_sample_weight_equivalence_on_sparse_data,
    parametrize_with_checks,
)

from nnwidgets import MLPClassifier, MLPRegressor

SW_REASON = (
    "sample_weight equivalence is only exact for full-batch or loosely-converged training; "
    "scikit-learn itself runs this check on MLPs with solver='lbfgs' (classifier) and "
    "solver='sgd', tol=1e-2 (regressor): test_sample_weight_equivalence does the same in float64"
)


def _expected_failed(est):
    return {
        "check_sample_weight_equivalence_on_dense_data": SW_REASON,
        "check_sample_weight_equivalence_on_sparse_data": SW_REASON,
    }


@parametrize_with_checks(
    [MLPClassifier(max_iter=100), MLPRegressor(max_iter=100)],
    expected_failed_checks=_expected_failed,
)
def test_sklearn_check_estimator(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)


@pytest.mark.parametrize(
    "name,est",
    [
        ("MLPClassifier", MLPClassifier(max_iter=100, solver="lbfgs", dtype="float64")),
        ("MLPRegressor", MLPRegressor(max_iter=100, solver="sgd", tol=1e-2, random_state=42, dtype="float64")),
    ],
)
@pytest.mark.parametrize(
    "check", [check_sample_weight_equivalence_on_dense_data, check_sample_weight_equivalence_on_sparse_data]
)
def test_sample_weight_equivalence(name, est, check):
    # the configuration scikit-learn's own test-suite uses for its MLPs
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(name, est)


@pytest.fixture(scope="module")
def diabetes_split():
    X, y = load_diabetes(return_X_y=True, as_frame=True, scaled=False)
    return train_test_split(X, y, shuffle=True, test_size=0.4, random_state=3)


def test_lecture_regression_code_runs_unchanged(diabetes_split):
    X_train, X_test, y_train, y_test = diabetes_split
    # the lecture's lines, with nnwidgets' MLPRegressor
    net_1x100 = MLPRegressor(hidden_layer_sizes=[100], random_state=1, max_iter=1000)
    net_1x100.fit(X_train, y_train)
    net_1x100_test_pred = net_1x100.predict(X_test)
    net_1x100_test_MSE = mean_squared_error(y_test, net_1x100_test_pred)
    first = net_1x100.predict(X_test[:1])
    assert first.shape == (1,)
    assert np.isfinite(net_1x100_test_MSE)
    assert len(net_1x100.loss_curve_) == net_1x100.n_iter_
    # pandas column names are kept like scikit-learn
    assert list(net_1x100.feature_names_in_) == list(X_train.columns)
    assert net_1x100.n_features_in_ == 10
    assert [c.shape for c in net_1x100.coefs_] == [(10, 100), (100, 1)]
    assert [i.shape for i in net_1x100.intercepts_] == [(100,), (1,)]
    assert net_1x100.out_activation_ == "identity" and net_1x100.n_outputs_ == 1 and net_1x100.n_layers_ == 3
    assert net_1x100.t_ == net_1x100.n_iter_ * len(X_train)


def test_gridsearchcv_and_clone_work_unchanged():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(60, 5))
    y = (X[:, 0] + X[:, 1] > 0).astype(float)
    netc5 = MLPClassifier(hidden_layer_sizes=[10, 5], random_state=1, max_iter=60, learning_rate_init=0.01)
    params = {"alpha": np.logspace(-5, -1, 3)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search = GridSearchCV(netc5, params, cv=3, scoring="accuracy")
        search.fit(X, y)
    best = search.best_estimator_
    assert isinstance(best, MLPClassifier)
    assert best.alpha in params["alpha"]
    assert best.hidden_layer_sizes == [10, 5]
    twin = clone(best)
    assert twin.get_params() == best.get_params()
    assert not hasattr(twin, "coefs_")
    assert accuracy_score(y, best.predict(X)) > 0.7


def test_callbacks_are_shared_by_clones_and_a_plot_does_not_stop_search_or_pickle():
    """clone() deep-copies parameters: a callback (a live plot, a recorder)
    on the estimator would be copied away from the user, or fail to copy
    (widgets). Callbacks are shared by clones instead, as a StopSignal is."""
    import pickle

    from nnwidgets.trainer.events import Callback
    from nnwidgets.widgets.lossplot import LiveLossPlot

    class Count(Callback):
        fits = 0

        def on_fit_begin(self, **kw):
            self.fits += 1

    rng = np.random.RandomState(0)
    X = rng.normal(size=(60, 4))
    y = (X[:, 0] > 0).astype(int)
    count, plot = Count(), LiveLossPlot(mode="none")
    est = MLPClassifier(hidden_layer_sizes=[4], max_iter=5, callbacks=[count, plot])
    twin = clone(est)
    assert twin.callbacks[0] is count and twin.callbacks[1] is plot
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        GridSearchCV(est, {"alpha": [1e-4, 1e-3]}, cv=2).fit(X, y)
        assert count.fits == 2 * 2 + 1  # every fold of every candidate, and the refit
        fitted = MLPClassifier(hidden_layer_sizes=[4], max_iter=5, callbacks=[plot]).fit(X, y)
    again = pickle.loads(pickle.dumps(fitted))  # (a widget is not pickled: a fresh plot comes back)
    np.testing.assert_array_equal(again.predict(X), fitted.predict(X))
    assert isinstance(again.callbacks[0], LiveLossPlot) and again.callbacks[0] is not plot


def test_extra_parameters_are_sklearn_params():
    est = MLPRegressor()
    params = est.get_params()
    assert params["device"] == "auto" and params["dtype"] == "float32" and params["callbacks"] is None
    # every scikit-learn parameter, with the same default
    from sklearn.neural_network import MLPRegressor as SkMLPRegressor

    for name, value in SkMLPRegressor().get_params().items():
        assert params[name] == value, name


def test_partial_fit_and_warm_start_continue_training():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(80, 4))
    y = X @ np.array([1.0, -2.0, 0.5, 0.0])
    est = MLPRegressor(hidden_layer_sizes=[16], random_state=0, learning_rate_init=0.01)
    for _ in range(5):
        est.partial_fit(X, y)
    assert est.n_iter_ == 1 and len(est.loss_curve_) == 5 and est.t_ == 5 * 80
    assert est.loss_curve_[-1] < est.loss_curve_[0]
    assert len(est.history_) == 5 and est.history_[-1]["epoch"] == 5

    warm = MLPRegressor(hidden_layer_sizes=[16], random_state=0, max_iter=5, warm_start=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warm.fit(X, y)
        first = [c.copy() for c in warm.coefs_]
        warm.fit(X, y)
    assert len(warm.loss_curve_) == 10 and warm.n_iter_ == 5
    assert not np.allclose(first[0], warm.coefs_[0])


def test_classifier_partial_fit_needs_classes_and_predict_proba_sums_to_one():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(50, 3))
    y = np.array(["a", "b", "c", "d", "e"] * 10)
    clf = MLPClassifier(hidden_layer_sizes=[8], random_state=0)
    clf.partial_fit(X[:20], y[:20], classes=np.unique(y))
    clf.partial_fit(X[20:], y[20:])
    proba = clf.predict_proba(X)
    assert proba.shape == (50, 5)
    # to float64 precision, as scikit-learn's: its log_loss warns when rows do not sum to 1
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    from sklearn.metrics import log_loss

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        log_loss(y, proba, labels=clf.classes_)
    assert set(clf.predict(X)) <= set(clf.classes_)
    with pytest.raises(AttributeError, match="partial_fit"):
        MLPClassifier(solver="lbfgs").partial_fit(X, y, classes=np.unique(y))


def test_verbose_prints_like_sklearn(capsys):
    from sklearn.neural_network import MLPRegressor as SkMLPRegressor

    rng = np.random.RandomState(0)
    X = rng.normal(size=(30, 3))
    y = X[:, 0]
    kw = dict(hidden_layer_sizes=[4], random_state=0, max_iter=3, verbose=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        SkMLPRegressor(**kw).fit(X, y)
        sk_out = capsys.readouterr().out
        MLPRegressor(dtype="float64", **kw).fit(X, y)
        our_out = capsys.readouterr().out
    assert our_out.splitlines()[0].startswith("Iteration 1, loss = ")
    assert [line[:25] for line in our_out.splitlines()] == [line[:25] for line in sk_out.splitlines()]
