"""Same numbers as scikit-learn: initial weights, first losses, lecture metrics,
and stacked training equal to one-by-one fits."""

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.datasets import load_diabetes, load_iris
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, mean_squared_error
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split
from sklearn.neural_network import MLPClassifier as SkMLPClassifier
from sklearn.neural_network import MLPRegressor as SkMLPRegressor

from nnwidgets import MLPClassifier, MLPRegressor
from nnwidgets.trainer.batched import BATCHABLE_PARAMS, can_stack, fit_stack


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


@pytest.fixture(scope="module")
def diabetes():
    X, y = load_diabetes(return_X_y=True, scaled=False)
    return train_test_split(X, y, shuffle=True, test_size=0.4, random_state=3)


@pytest.fixture(scope="module")
def iris():
    return load_iris(return_X_y=True)


def test_float64_same_initial_weights_as_sklearn(diabetes):
    X_train, _, y_train, _ = diabetes
    ours = MLPRegressor(hidden_layer_sizes=[30, 20], random_state=7, max_iter=1, dtype="float64", learning_rate_init=1e-12)
    sk = SkMLPRegressor(hidden_layer_sizes=[30, 20], random_state=7, max_iter=1, learning_rate_init=1e-12)
    ours.fit(X_train, y_train)
    sk.fit(X_train, y_train)
    for a, b in zip(ours.coefs_ + ours.intercepts_, sk.coefs_ + sk.intercepts_):
        assert a.dtype == np.float64 and a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_regressor_first_epochs_losses_match_sklearn(diabetes, solver):
    X_train, X_test, y_train, _ = diabetes
    kw = dict(hidden_layer_sizes=[100], random_state=1, max_iter=8, solver=solver,
              learning_rate_init=1e-3 if solver == "adam" else 1e-6)
    sk = SkMLPRegressor(**kw).fit(X_train, y_train)
    ours = MLPRegressor(dtype="float64", **kw).fit(X_train, y_train)
    np.testing.assert_allclose(ours.loss_curve_, sk.loss_curve_, rtol=1e-6)
    np.testing.assert_allclose(ours.predict(X_test), sk.predict(X_test), rtol=1e-6)
    assert ours.t_ == sk.t_ and ours.n_iter_ == sk.n_iter_


@pytest.mark.parametrize("solver,extra", [
    ("adam", {}),
    ("sgd", {"nesterovs_momentum": False, "learning_rate": "invscaling", "learning_rate_init": 0.05}),
    ("sgd", {"learning_rate": "adaptive", "learning_rate_init": 0.05, "tol": 1e-1, "n_iter_no_change": 2}),
])
def test_classifier_first_epochs_losses_match_sklearn(iris, solver, extra):
    X, y = iris
    kw = dict(hidden_layer_sizes=[20, 10], random_state=0, max_iter=12, solver=solver, batch_size=32,
              alpha=1e-2, **extra)
    sk = SkMLPClassifier(**kw).fit(X, y)
    ours = MLPClassifier(dtype="float64", **kw).fit(X, y)
    np.testing.assert_allclose(ours.loss_curve_, sk.loss_curve_, rtol=1e-6)
    np.testing.assert_allclose(ours.predict_proba(X), sk.predict_proba(X), rtol=1e-6, atol=1e-9)


def test_binary_early_stopping_and_lbfgs_match_sklearn(iris):
    X, y = iris
    yb = (y == 2).astype(int)
    kw = dict(hidden_layer_sizes=[15], random_state=3, max_iter=25, early_stopping=True, n_iter_no_change=3,
              activation="tanh")
    sk = SkMLPClassifier(**kw).fit(X, yb)
    ours = MLPClassifier(dtype="float64", **kw).fit(X, yb)
    np.testing.assert_allclose(ours.loss_curve_, sk.loss_curve_, rtol=1e-6)
    np.testing.assert_allclose(ours.validation_scores_, sk.validation_scores_)
    assert ours.best_validation_score_ == sk.best_validation_score_ and ours.best_loss_ is None
    kw = dict(hidden_layer_sizes=[10], random_state=0, max_iter=15, solver="lbfgs", activation="logistic")
    sk = SkMLPRegressor(**kw).fit(X, y.astype(float))
    ours = MLPRegressor(dtype="float64", **kw).fit(X, y.astype(float))
    assert ours.n_iter_ == sk.n_iter_
    np.testing.assert_allclose(ours.loss_, sk.loss_, rtol=1e-6)


def test_early_stopping_with_a_single_class_matches_sklearn(iris):
    # one class: predict() can only answer it, so scikit-learn's validation accuracy is 1
    # from the first epoch and nothing improves on it (the output thresholded at 0.5 is no
    # score: it rose from 0.5 to 1, and training ran on with other weights)
    X, _ = iris
    y = np.full(len(X), "setosa")
    kw = dict(hidden_layer_sizes=[5], random_state=0, max_iter=200, early_stopping=True,
              learning_rate_init=0.05)
    sk = SkMLPClassifier(**kw).fit(X, y)
    ours = MLPClassifier(dtype="float64", **kw).fit(X, y)
    assert ours.validation_scores_ == sk.validation_scores_ == [1.0] * 12  # stopped after n_iter_no_change + 2
    assert ours.n_iter_ == sk.n_iter_ and ours.best_validation_score_ == 1.0
    np.testing.assert_allclose(ours.loss_curve_, sk.loss_curve_, rtol=1e-6)
    for a, b in zip(ours.coefs_, sk.coefs_):  # the first epoch's weights, kept as the best
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-9)
    # stacked with a two-class model, each keeps its own validation score
    two = clone(ours).set_params(random_state=1)
    out = fit_stack([clone(ours), two], [(X, y), (X, (X[:, 0] > 5.8).astype(int))])
    assert out[0].validation_scores_ == ours.validation_scores_
    assert out[1].validation_scores_ != [1.0] * len(out[1].validation_scores_)


def test_diabetes_lecture_metric_within_tolerance_of_sklearn(diabetes):
    # the lecture's net (float32, the default): test MSE within 5 % of scikit-learn's
    X_train, X_test, y_train, y_test = diabetes
    kw = dict(hidden_layer_sizes=[100], random_state=1, max_iter=1000)
    sk = SkMLPRegressor(**kw).fit(X_train, y_train)
    ours = MLPRegressor(**kw).fit(X_train, y_train)
    sk_mse = mean_squared_error(y_test, sk.predict(X_test))
    our_mse = mean_squared_error(y_test, ours.predict(X_test))
    assert abs(our_mse - sk_mse) / sk_mse < 0.05, (our_mse, sk_mse)
    assert abs(ours.n_iter_ - sk.n_iter_) <= 0.05 * sk.n_iter_


def test_mice_protein_lecture_accuracy_within_tolerance(mice_csv):
    mice = pd.read_csv(mice_csv)
    miss_too_many = mice.isnull().sum() > 10
    mice3 = mice.loc[:, ~miss_too_many].dropna()
    X = mice3.loc[:, "DYRK1A_N":"CaNA_N"]
    y = mice3["class"]
    X_train, X_test, y_train, y_test = train_test_split(X, y, shuffle=True, test_size=0.3, random_state=3)
    # fewer epochs than the lecture's run to convergence, to keep the test quick;
    # both libraries get the same budget
    kw = dict(hidden_layer_sizes=[100], random_state=1, max_iter=150)
    sk = SkMLPClassifier(**kw).fit(X_train, y_train)
    ours = MLPClassifier(**kw).fit(X_train, y_train)
    sk_acc = accuracy_score(y_test, sk.predict(X_test))
    our_acc = accuracy_score(y_test, ours.predict(X_test))
    assert abs(our_acc - sk_acc) <= 0.02, (our_acc, sk_acc)
    assert list(ours.classes_) == sorted(y.unique())


# ---------------------------------------------------------------------------- fit_stack


def test_fit_stack_equals_one_by_one_fits(iris):
    X, y = iris
    base = MLPClassifier(hidden_layer_sizes=[12], random_state=0, max_iter=25, dtype="float64", batch_size=40)
    ests, data = [], []
    for alpha, lr in [(1e-4, 1e-3), (1e-1, 1e-2)]:
        for tr, _ in StratifiedKFold(3, shuffle=True, random_state=0).split(X, y):
            ests.append(clone(base).set_params(alpha=alpha, learning_rate_init=lr))
            data.append((X[tr], y[tr]))
    # one fold with different length, its own seed and early stopping
    ests.append(clone(base).set_params(random_state=5, early_stopping=True, n_iter_no_change=2))
    data.append((X[:130], y[:130]))
    assert can_stack(ests) == (True, "")
    singles = [clone(e).fit(Xd, yd) for e, (Xd, yd) in zip(ests, data)]
    out = fit_stack(ests, data)
    assert out is not None and all(a is b for a, b in zip(out, ests))
    for stacked, single in zip(ests, singles):
        assert stacked.n_iter_ == single.n_iter_
        np.testing.assert_allclose(stacked.loss_curve_, single.loss_curve_, rtol=1e-9)
        for a, b in zip(stacked.coefs_, single.coefs_):
            np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-10)
        np.testing.assert_array_equal(stacked.predict(X), single.predict(X))


def test_bfloat16_mixed_precision_trains_like_float32_and_stacks_like_one_by_one(iris):
    """dtype='bfloat16': bf16 matrix products, float32 weights. It learns what
    float32 learns (percent-level differences), keeps float32 coefs_, and a
    stack of bf16 models equals bf16 models fitted one by one."""
    X, y = iris
    X = (X - X.mean(0)) / X.std(0)
    kw = dict(hidden_layer_sizes=[32, 16], random_state=0, max_iter=60, batch_size=50)
    f32 = MLPClassifier(**kw).fit(X, y)
    b16 = MLPClassifier(dtype="bfloat16", **kw).fit(X, y)
    assert all(c.dtype == np.float32 for c in b16.coefs_ + b16.intercepts_)
    assert b16.n_iter_ == f32.n_iter_
    # the same curve within bf16 rounding, and clearly trained
    np.testing.assert_allclose(b16.loss_curve_, f32.loss_curve_, rtol=0.03)
    assert b16.loss_curve_[-1] < 0.5 * b16.loss_curve_[0]
    assert b16.score(X, y) >= f32.score(X, y) - 0.03
    # stacked bf16 == one-by-one bf16 (the same kernels, model by model)
    ests, data = [], []
    for alpha in (1e-4, 1e-1):
        for tr, _ in StratifiedKFold(3, shuffle=True, random_state=0).split(X, y):
            ests.append(MLPClassifier(dtype="bfloat16", alpha=alpha, **kw))
            data.append((X[tr], y[tr]))
    singles = [clone(e).fit(*d) for e, d in zip(ests, data)]
    fit_stack(ests, data)
    for stacked, single in zip(ests, singles):
        assert stacked.n_iter_ == single.n_iter_
        np.testing.assert_allclose(stacked.loss_curve_, single.loss_curve_, rtol=2e-3)
    # bf16 and float32 models are never stacked together
    ok, why = can_stack([MLPClassifier(dtype="bfloat16"), MLPClassifier()])
    assert not ok and "dtype" in why


def test_fit_stack_regressor_sgd_folds_and_missing_classes(diabetes, iris):
    X_train, _, y_train, _ = diabetes
    base = MLPRegressor(hidden_layer_sizes=[20, 20], random_state=2, max_iter=15, dtype="float64", solver="sgd",
                        learning_rate_init=1e-6)
    ests = [clone(base).set_params(momentum=m, nesterovs_momentum=n) for m in (0.5, 0.9) for n in (True, False)]
    data = [(X_train[tr], y_train[tr]) for tr, _ in KFold(4).split(X_train)]
    singles = [clone(e).fit(*d) for e, d in zip(ests, data)]
    fit_stack(ests, data, max_models_per_batch=3)  # split into two batches
    for a, b in zip(ests, singles):
        np.testing.assert_allclose(a.loss_curve_, b.loss_curve_, rtol=1e-9)

    X, y = iris
    clfs = [MLPClassifier(hidden_layer_sizes=[5], random_state=0, max_iter=3), MLPClassifier(hidden_layer_sizes=[5], random_state=0, max_iter=3)]
    fit_stack(clfs, [(X, y), (X[:100], y[:100])])  # the second fold has no class 2
    assert list(clfs[0].classes_) == [0, 1, 2] and clfs[0].out_activation_ == "softmax"
    assert list(clfs[1].classes_) == [0, 1] and clfs[1].out_activation_ == "logistic"


def test_can_stack_explains_refusals():
    a = MLPRegressor(hidden_layer_sizes=[10])
    assert can_stack([a, MLPRegressor(hidden_layer_sizes=(10,), alpha=1.0, random_state=3)]) == (True, "")
    ok, why = can_stack([a, MLPRegressor(hidden_layer_sizes=[20])])
    assert not ok and "hidden_layer_sizes" in why
    ok, why = can_stack([a, MLPRegressor(hidden_layer_sizes=[10], activation="tanh")])
    assert not ok and "activation" in why
    ok, why = can_stack([MLPRegressor(solver="lbfgs"), MLPRegressor(solver="lbfgs")])
    assert not ok and "lbfgs" in why
    ok, why = can_stack([a, MLPClassifier(hidden_layer_sizes=[10])])
    assert not ok and "same class" in why
    ok, why = can_stack([a, MLPRegressor(hidden_layer_sizes=[10], batch_size=7)])
    assert not ok and "batch_size" in why
    assert {"alpha", "learning_rate_init", "random_state", "callbacks", "max_iter"} <= BATCHABLE_PARAMS
    with pytest.raises(ValueError, match="one \\(X, y\\) dataset per estimator"):
        fit_stack([a], [])


@pytest.mark.parametrize("case", ["poisson", "multilabel", "sample_weight", "multioutput"])
def test_other_losses_and_weights_match_sklearn(case):
    rng = np.random.RandomState(1)
    X = rng.normal(size=(90, 6))
    kw = dict(hidden_layer_sizes=[16], random_state=0, max_iter=6, batch_size=25)
    fit_kw = {}
    if case == "poisson":
        y = rng.poisson(np.exp(0.3 * X[:, 0])).astype(float)
        ours, sk = MLPRegressor(loss="poisson", dtype="float64", **kw), SkMLPRegressor(loss="poisson", **kw)
    elif case == "multilabel":
        y = (X[:, :3] > 0).astype(int)
        ours, sk = MLPClassifier(dtype="float64", **kw), SkMLPClassifier(**kw)
    elif case == "multioutput":
        y = X[:, :2] @ np.array([[1.0, 2.0], [-1.0, 0.5]])
        ours, sk = MLPRegressor(dtype="float64", alpha=0.1, **kw), SkMLPRegressor(alpha=0.1, **kw)
    else:
        y = X[:, 0] * 3 + 1
        fit_kw = {"sample_weight": rng.uniform(0.1, 2.0, size=90)}
        ours, sk = MLPRegressor(dtype="float64", **kw), SkMLPRegressor(**kw)
    ours.fit(X, y, **fit_kw)
    sk.fit(X, y, **fit_kw)
    np.testing.assert_allclose(ours.loss_curve_, sk.loss_curve_, rtol=1e-6)
    np.testing.assert_allclose(ours.predict(X), sk.predict(X), rtol=1e-6, atol=1e-9)


def test_parallel_stacks_equal_one_by_one_and_run_callbacks_on_the_calling_thread(iris, monkeypatch):
    """With a 2-thread budget on a CPU, 16+ models train as two stacks side by
    side (one thread each): same numbers as fitting each model alone, every
    event delivered on the thread that called fit_stack, STOP obeyed."""
    import threading

    from nnwidgets.trainer.batched import parallel_stacks
    from nnwidgets.trainer.events import STOP

    monkeypatch.setenv("NNWIDGETS_NUM_THREADS", "2")
    X, y = iris
    base = MLPClassifier(hidden_layer_sizes=[8], random_state=0, max_iter=12, dtype="float64", batch_size=50)
    ests, data = [], []
    for alpha in np.logspace(-4, 0, 6):
        for tr, _ in StratifiedKFold(3, shuffle=True, random_state=1).split(X, y):
            ests.append(clone(base).set_params(alpha=alpha))
            data.append((X[tr], y[tr]))
    assert parallel_stacks(__import__("torch").device("cpu"), len(ests)) == 2
    singles = [clone(e).fit(*d) for e, d in zip(ests, data)]

    caller = threading.current_thread()

    class Watch:
        def __init__(self):
            self.threads, self.epochs = set(), {}

        def on_fit_begin(self, **kw):
            self.threads.add(threading.current_thread())

        def on_epoch_end(self, run, record, **kw):
            self.threads.add(threading.current_thread())
            self.epochs[run] = self.epochs.get(run, 0) + 1

        def on_fit_end(self, **kw):
            self.threads.add(threading.current_thread())

    watch = Watch()
    fit_stack(ests, data, callbacks=[watch])
    assert watch.threads == {caller}
    assert sorted(watch.epochs) == list(range(len(ests)))
    for stacked, single in zip(ests, singles):
        assert stacked.n_iter_ == single.n_iter_ == watch.epochs[ests.index(stacked)]
        np.testing.assert_allclose(stacked.loss_curve_, single.loss_curve_, rtol=1e-9)

    class StopAt3:
        def on_epoch_end(self, run, record, **kw):
            return STOP if record["epoch"] >= 3 else None

    again = [clone(e) for e in ests]
    fit_stack(again, data, callbacks=[StopAt3()])
    assert all(e.n_iter_ == 3 and e.stop_reason_ == "stopped" for e in again)
