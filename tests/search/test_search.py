"""nnwidgets' GridSearchCV / RandomizedSearchCV / cross_validate against
scikit-learn's own classes running the same nnwidgets estimator one by one.

float64 models make the batched and one-by-one trainings agree to round-off,
so scores (and hence ranks and best parameters) are equal, not just close.
"""

import pickle
import re
import warnings

import numpy as np
import pytest
import sklearn.model_selection as skms
from scipy.stats import loguniform
from sklearn.base import clone
from sklearn.exceptions import FitFailedWarning
from sklearn.neural_network import MLPClassifier as SkMLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import InvalidParameterError

from nnwidgets.trainer.estimators import MLPClassifier, MLPRegressor
from nnwidgets.trainer.events import Callback
from nnwidgets.trainer.search import (
    BatchFallbackWarning,
    GridSearchCV,
    RandomizedSearchCV,
    cross_val_score,
    cross_validate,
)

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def clf_data():
    rng = np.random.RandomState(0)
    X = rng.randn(90, 6)
    y = (X[:, 0] + 0.5 * X[:, 1] - 0.3 * X[:, 2] + 0.4 * rng.randn(90) > 0).astype(int)
    return X, y


@pytest.fixture(scope="module")
def reg_data():
    rng = np.random.RandomState(1)
    X = rng.randn(80, 5)
    y = X[:, 0] - 2 * X[:, 1] + 0.1 * rng.randn(80)
    return X, y


def small_clf(**kw):
    params = dict(hidden_layer_sizes=[5], max_iter=25, random_state=0, dtype="float64")
    params.update(kw)
    return MLPClassifier(**params)


def assert_cv_results_equal(ours, theirs):
    """Same keys, same types and dtypes, same masks, equal values (times excepted)."""
    assert sorted(ours) == sorted(theirs)
    for key, ref in theirs.items():
        got = ours[key]
        if key == "params":
            assert got == ref
            continue
        assert type(got) is type(ref), key
        if isinstance(ref, np.ma.MaskedArray):
            np.testing.assert_array_equal(np.ma.getmaskarray(got), np.ma.getmaskarray(ref))
            assert list(got.compressed()) == list(ref.compressed()), key
            continue
        assert got.dtype == ref.dtype, key
        assert got.shape == ref.shape, key
        if "time" in key:
            assert np.all(np.isfinite(got)) and np.all(got >= 0), key
        elif np.issubdtype(ref.dtype, np.floating):
            np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-12, err_msg=key)
        else:
            np.testing.assert_array_equal(got, ref, err_msg=key)


def test_grid_search_matches_sklearn_one_by_one(clf_data):
    X, y = clf_data
    grid = {"alpha": [1e-4, 1e-1, 3.0], "learning_rate_init": [1e-3, 3e-2]}
    ours = GridSearchCV(small_clf(), grid, cv=3, return_train_score=True).fit(X, y)
    ref = skms.GridSearchCV(small_clf(), grid, cv=3, return_train_score=True).fit(X, y)

    assert ours.batched_ is True
    assert ours.batch_note_.startswith("18 of 18 fits trained as stacked networks")
    assert_cv_results_equal(ours.cv_results_, ref.cv_results_)
    assert ours.best_params_ == ref.best_params_
    assert ours.best_index_ == ref.best_index_
    assert ours.best_score_ == pytest.approx(ref.best_score_, abs=1e-12)
    assert ours.n_splits_ == 3 and ours.multimetric_ is False
    assert ours.scorer_ is not None and ours.refit_time_ > 0
    # refit: the best estimator is fitted on all the data, like sklearn's
    assert ours.best_estimator_.get_params() == ref.best_estimator_.get_params()
    np.testing.assert_allclose(ours.predict_proba(X), ref.predict_proba(X), rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(ours.classes_, [0, 1])
    assert ours.score(X, y) == ref.score(X, y)
    assert type(ours.best_estimator_) is MLPClassifier


class Recorder(Callback):
    def __init__(self):
        self.begins, self.records, self.labels, self.ends = [], {}, {}, 0

    def on_fit_begin(self, **kw):
        self.begins.append(kw)

    def on_epoch_end(self, run, record, **kw):
        self.records.setdefault(run, []).append(record)
        self.labels[run] = kw.get("label")

    def on_fit_end(self, **kw):
        self.ends += 1


def test_each_model_keeps_its_own_losses_and_stopping_rule(clf_data):
    """Per-model losses and stopping epochs equal one-by-one fits (float tolerance)."""
    X, y = clf_data
    grid = {"alpha": [1e-4, 1e-1], "n_iter_no_change": [2, 8], "tol": [1e-2],
            "early_stopping": [False, True]}
    base = small_clf(max_iter=200, learning_rate_init=5e-2)
    rec = Recorder()
    search = GridSearchCV(base, grid, cv=2, callbacks=rec, refit=False,
                          max_models_per_batch=5).fit(X, y)
    assert search.batched_

    # one event stream for all 8 x 2 models (in stacks of at most 5), labelled
    assert len(rec.begins) == 1 and rec.ends == 1
    assert rec.begins[0]["n_models"] == 16
    labels = rec.begins[0]["run_labels"]
    assert labels[0] == "alpha=0.0001, early_stopping=False, n_iter_no_change=2, tol=0.01 | fold 1"
    assert sorted(rec.records) == list(range(16))

    splits = list(skms.StratifiedKFold(2).split(X, y))
    n_iters = set()
    for k, (params, (train, _)) in enumerate(
        (p, s) for p in skms.ParameterGrid(grid) for s in splits
    ):
        alone = clone(base).set_params(**params).fit(X[train], y[train])
        losses = [r["loss"] for r in rec.records[k]]
        np.testing.assert_allclose(losses, alone.loss_curve_, rtol=1e-7)
        assert len(losses) == alone.n_iter_
        if params["early_stopping"]:
            vals = [r["val_score"] for r in rec.records[k]]
            np.testing.assert_allclose(vals, alone.validation_scores_, rtol=1e-7)
        n_iters.add(alone.n_iter_)
    assert len(n_iters) > 2, "the grid should make models stop at different epochs"


def test_regressor_multimetric_refit_by_name(reg_data):
    X, y = reg_data
    est = MLPRegressor(hidden_layer_sizes=[6], max_iter=30, random_state=2, dtype="float64",
                       learning_rate_init=1e-2)
    grid = {"alpha": [1e-3, 1.0], "random_state": [2, 3]}
    scoring = {"r2": "r2", "mse": "neg_mean_squared_error"}
    ours = GridSearchCV(est, grid, cv=3, scoring=scoring, refit="mse").fit(X, y)
    ref = skms.GridSearchCV(est, grid, cv=3, scoring=scoring, refit="mse").fit(X, y)
    assert ours.batched_ and ours.multimetric_
    assert_cv_results_equal(ours.cv_results_, ref.cv_results_)
    assert ours.best_params_ == ref.best_params_
    assert set(ours.scorer_) == {"r2", "mse"}
    np.testing.assert_allclose(ours.predict(X), ref.predict(X), rtol=1e-9)


def test_architectures_are_grouped_into_separate_stacks(clf_data):
    X, y = clf_data
    grid = [{"hidden_layer_sizes": [[3], [4, 2]], "alpha": [1e-4, 1e-2]},
            {"activation": ["tanh"]}]
    ours = GridSearchCV(small_clf(), grid, cv=2, refit=False).fit(X, y)
    ref = skms.GridSearchCV(small_clf(), grid, cv=2, refit=False).fit(X, y)
    assert ours.batched_
    assert_cv_results_equal(ours.cv_results_, ref.cv_results_)
    assert not hasattr(ours, "best_estimator_")


def test_randomized_search_matches_sklearn(clf_data):
    X, y = clf_data
    dist = {"alpha": loguniform(1e-5, 1e-1), "learning_rate_init": [1e-3, 1e-2, 1e-1]}
    ours = RandomizedSearchCV(small_clf(), dist, n_iter=4, cv=3, random_state=0).fit(X, y)
    ref = skms.RandomizedSearchCV(small_clf(), dist, n_iter=4, cv=3, random_state=0).fit(X, y)
    assert ours.batched_
    assert_cv_results_equal(ours.cv_results_, ref.cv_results_)
    assert ours.best_params_ == ref.best_params_


def test_cross_validate_and_cross_val_score_match_sklearn(clf_data):
    X, y = clf_data
    est = small_clf(alpha=1e-3)
    kw = dict(cv=4, return_train_score=True, return_estimator=True, return_indices=True,
              scoring=["accuracy", "neg_log_loss"])
    ours = cross_validate(est, X, y, **kw)
    ref = skms.cross_validate(est, X, y, **kw)
    assert sorted(ours) == sorted(ref)
    for key in ref:
        if key == "estimator":
            assert len(ours[key]) == 4
            for a, b in zip(ours[key], ref[key]):
                np.testing.assert_allclose(a.loss_curve_, b.loss_curve_, rtol=1e-7)
        elif key == "indices":
            for part in ("train", "test"):
                for a, b in zip(ours[key][part], ref[key][part]):
                    np.testing.assert_array_equal(a, b)
        elif "time" in key:
            assert ours[key].shape == (4,)
        else:
            np.testing.assert_allclose(ours[key], ref[key], rtol=1e-9, err_msg=key)
    np.testing.assert_allclose(cross_val_score(est, X, y, cv=3),
                               skms.cross_val_score(est, X, y, cv=3), rtol=1e-12)


def test_foreign_estimators_fall_back_silently_with_a_reason(clf_data):
    X, y = clf_data
    grid = {"alpha": [1e-4, 1e-2]}
    sk = SkMLPClassifier(hidden_layer_sizes=[4], max_iter=20, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", BatchFallbackWarning)
        ours = GridSearchCV(sk, grid, cv=2).fit(X, y)
    ref = skms.GridSearchCV(sk, grid, cv=2).fit(X, y)
    assert ours.batched_ is False
    assert "not an nnwidgets MLPClassifier/MLPRegressor" in ours.batch_note_
    assert_cv_results_equal(ours.cv_results_, ref.cv_results_)

    pipe = make_pipeline(StandardScaler(), small_clf())
    search = GridSearchCV(pipe, {"mlpclassifier__alpha": [1e-4, 1e-2]}, cv=2).fit(X, y)
    assert search.batched_ is False and "Pipeline" in search.batch_note_


def test_unstackable_nnwidgets_estimator_warns_and_still_searches(clf_data):
    X, y = clf_data
    lbfgs = small_clf(solver="lbfgs", max_iter=15)
    with pytest.warns(BatchFallbackWarning, match="lbfgs"):
        search = GridSearchCV(lbfgs, {"alpha": [1e-4, 1e-2]}, cv=2).fit(X, y)
    assert search.batched_ is False and "lbfgs" in search.batch_note_
    assert set(search.best_params_) == {"alpha"}

    with pytest.raises(ValueError, match="batched=True, but this search cannot be batched: .*lbfgs"):
        GridSearchCV(lbfgs, {"alpha": [1e-4]}, cv=2, batched=True).fit(X, y)

    with pytest.warns(BatchFallbackWarning, match="fit parameters \\['sample_weight'\\]"):
        s = GridSearchCV(small_clf(), {"alpha": [1e-4]}, cv=2).fit(X, y, sample_weight=np.ones(len(y)))
    assert s.batched_ is False

    off = GridSearchCV(small_clf(), {"alpha": [1e-4, 1e-2]}, cv=2, batched=False).fit(X, y)
    assert off.batched_ is False and off.batch_note_ == "batched=False was passed"


def test_nested_cv_says_each_fallback_once_per_call(clf_data):
    # the inner searches are refitted in each of the 3 outer folds; scikit-learn
    # re-applies the warning filters per fold, so Python's registries forget
    X, y = clf_data
    lbfgs = small_clf(solver="lbfgs", max_iter=15)

    def fallbacks(run):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", BatchFallbackWarning)
            run()
        return sorted(str(w.message).split(":")[0] for w in caught if w.category is BatchFallbackWarning)

    grid = GridSearchCV(lbfgs, {"alpha": [1e-4, 1e-2]}, cv=2)
    assert fallbacks(lambda: cross_val_score(grid, X, y, cv=3)) == ["GridSearchCV runs one model at a time"]
    assert fallbacks(lambda: skms.cross_val_score(GridSearchCV(lbfgs, {"alpha": [1e-4]}, cv=2), X, y, cv=3)
                     ) == ["GridSearchCV runs one model at a time"]
    # different messages in one call are each said
    from sklearn.ensemble import VotingClassifier

    both = VotingClassifier([("grid", grid), ("rand", RandomizedSearchCV(lbfgs, {"alpha": [1e-4]}, cv=2))])
    assert fallbacks(lambda: cross_val_score(both, X, y, cv=3)) == [
        "GridSearchCV runs one model at a time", "RandomizedSearchCV runs one model at a time"]
    # and a search fitted directly says it at every fit
    assert fallbacks(lambda: (grid.fit(X, y), grid.fit(X, y))) == ["GridSearchCV runs one model at a time"] * 2


@pytest.mark.filterwarnings("ignore:One or more of the test scores are non-finite")
def test_error_score_nan_and_raise_like_sklearn(clf_data):
    X, y = clf_data
    grid = {"alpha": [1e-3, -1.0]}  # alpha=-1 is invalid: that candidate's fits fail
    with pytest.warns(FitFailedWarning, match="2 fits failed out of a total of 4"):
        ours = GridSearchCV(small_clf(), grid, cv=2, error_score=np.nan).fit(X, y)
    with pytest.warns(FitFailedWarning):
        ref = skms.GridSearchCV(small_clf(), grid, cv=2, error_score=np.nan).fit(X, y)
    assert np.isnan(ours.cv_results_["mean_test_score"][1])
    np.testing.assert_array_equal(ours.cv_results_["rank_test_score"], ref.cv_results_["rank_test_score"])
    assert ours.best_params_ == {"alpha": 1e-3}
    assert ours.batch_note_.startswith("2 of 2 fits")  # the valid ones were batched

    with pytest.warns(FitFailedWarning):
        zero = GridSearchCV(small_clf(), grid, cv=2, error_score=0.0, refit=False).fit(X, y)
    assert zero.cv_results_["mean_test_score"][1] == 0.0

    with pytest.raises(InvalidParameterError, match="alpha"):
        GridSearchCV(small_clf(), grid, cv=2, error_score="raise").fit(X, y)
    with pytest.raises(ValueError, match="All the 2 fits failed"):
        GridSearchCV(small_clf(), {"alpha": [-1.0]}, cv=2).fit(X, y)


def test_bad_input_gets_sklearns_errors(clf_data):
    X, y = clf_data
    with pytest.raises(ValueError, match="need to be a non-empty sequence"):
        GridSearchCV(small_clf(), {"alpha": []}, cv=2).fit(X, y)
    with pytest.raises(ValueError, match="Invalid parameter 'alfa' for estimator MLPClassifier"):
        GridSearchCV(small_clf(), {"alfa": [1e-3]}, cv=2).fit(X, y)
    with pytest.raises(InvalidParameterError, match="'batched' parameter"):
        GridSearchCV(small_clf(), {"alpha": [1e-3]}, batched="yes").fit(X, y)
    with pytest.raises(ValueError, match="Found input variables with inconsistent numbers"):
        GridSearchCV(small_clf(), {"alpha": [1e-3]}, cv=2).fit(X, y[:-1])


def test_verbose_progress_and_clone_pickle(clf_data, capsys):
    X, y = clf_data
    search = GridSearchCV(small_clf(), {"alpha": [1e-4, 1e-2]}, cv=2, verbose=3,
                          return_train_score=True, refit=False)
    search.fit(X, y)
    out = capsys.readouterr().out
    assert "Fitting 2 folds for each of 2 candidates, totalling 4 fits" in out
    assert len(re.findall(r"\[CV 1/2\] END \.*alpha=0\.0001;, score=\(train=0\.\d+, test=0\.\d+\)", out)) == 1
    assert out.count("] END ") == 4

    twin = clone(search)
    assert twin.get_params()["batched"] == "auto" and not hasattr(twin, "cv_results_")
    again = pickle.loads(pickle.dumps(search))
    np.testing.assert_array_equal(again.cv_results_["mean_test_score"],
                                  search.cv_results_["mean_test_score"])


def test_ctrl_c_aborts_a_search_but_a_sweep_keeps_its_models(clf_data, monkeypatch):
    """The engine stops at a step boundary on Ctrl-C; a search then aborts (as
    scikit-learn's does) while a sweep returns the partly trained models."""
    import nnwidgets.trainer.search as search_module
    from nnwidgets.trainer.sweeps import sweep

    real, _ = search_module._engine()

    class CtrlCEngine:
        BATCHABLE_PARAMS = real.BATCHABLE_PARAMS
        can_stack = staticmethod(real.can_stack)

        @staticmethod
        def fit_stack(estimators, datasets, **kw):
            real.fit_stack(estimators, datasets, **kw)
            for est in estimators:
                est.stop_reason_ = "interrupted"
            return estimators

    monkeypatch.setattr(search_module, "_engine", lambda: (CtrlCEngine, None))
    X, y = clf_data
    with pytest.raises(KeyboardInterrupt, match="interrupted"):
        GridSearchCV(small_clf(), {"alpha": [1e-4, 1e-2]}, cv=2).fit(X, y)
    res = sweep(small_clf(), {"alpha": [1e-4, 1e-2]}, X, y)
    assert "interrupted" in res.note and np.all(np.isfinite(res.train_scores))


class StopAt(Callback):
    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_end(self, run, record, **kw):
        return "stop" if record["epoch"] >= self.epoch else None


@pytest.mark.filterwarnings("ignore:One or more of the test scores are non-finite")
def test_stop_from_a_callback_ends_the_search(clf_data):
    X, y = clf_data
    grid = {"hidden_layer_sizes": [[3], [4]]}  # two stacks; STOP during the first
    with pytest.warns(FitFailedWarning, match="stopped by a callback"):
        search = GridSearchCV(small_clf(max_iter=50), grid, cv=2, callbacks=StopAt(2),
                              refit=False).fit(X, y)
    scores = search.cv_results_["mean_test_score"]
    assert np.isfinite(scores[0]) and np.isnan(scores[1])


def test_a_group_the_engine_cannot_stack_is_fitted_one_by_one(clf_data):
    X, y = clf_data
    grid = {"solver": ["adam", "lbfgs"], "alpha": [1e-4, 1e-2]}
    ours = GridSearchCV(small_clf(max_iter=15), grid, cv=2, refit=False).fit(X, y)
    ref = skms.GridSearchCV(small_clf(max_iter=15), grid, cv=2, refit=False).fit(X, y)
    assert ours.batched_ is False
    assert ours.batch_note_.startswith("4 of 8 fits trained as stacked networks; "
                                       "4 fits with solver='lbfgs' trained one by one: ")
    assert_cv_results_equal(ours.cv_results_, ref.cv_results_)


def test_a_custom_run_search_in_sklearns_documented_style_works(clf_data):
    """scikit-learn documents subclassing a search with
    ``_run_search(self, evaluate_candidates)`` (a coarse-to-fine search): the
    batched search calls it without the newer callback_ctx argument too."""
    X, y = clf_data

    def two_stage(base):
        class TwoStage(base):
            def _run_search(self, evaluate_candidates):
                first = evaluate_candidates([{"alpha": 1e-4}, {"alpha": 1e-1}])
                best = first["params"][int(np.argmax(first["mean_test_score"]))]
                evaluate_candidates([{"alpha": best["alpha"] * 3}])
        return TwoStage

    ours = two_stage(GridSearchCV)(small_clf(), {"alpha": [0.0]}, cv=3).fit(X, y)
    theirs = two_stage(skms.GridSearchCV)(small_clf(), {"alpha": [0.0]}, cv=3).fit(X, y)
    assert ours.batched_
    assert [p["alpha"] for p in ours.cv_results_["params"]] == [p["alpha"] for p in theirs.cv_results_["params"]]
    assert len(ours.cv_results_["params"]) == 3
    assert ours.best_params_ == theirs.best_params_


@pytest.mark.filterwarnings("ignore:One or more of the test scores are non-finite")  # both sides
def test_a_model_that_fails_before_training_fails_alone_and_the_rest_stay_batched(clf_data):
    """validation_fraction=0.01 leaves no validation rows for early_stopping:
    those candidates fail as in scikit-learn (error_score), and the valid ones
    are still trained as one stack, not refitted one by one."""
    X, y = clf_data
    grid = {"alpha": [1e-4, 1e-2], "validation_fraction": [0.2, 0.01]}
    est = small_clf(early_stopping=True)
    with pytest.warns(FitFailedWarning, match="4 fits failed out of a total of 8"):
        ours = GridSearchCV(est, grid, cv=2).fit(X, y)
    with pytest.warns(FitFailedWarning):
        ref = skms.GridSearchCV(est, grid, cv=2).fit(X, y)
    assert_cv_results_equal(ours.cv_results_, ref.cv_results_)
    assert ours.batched_ and ours.batch_note_.startswith("4 of 4 fits trained as stacked networks")
    assert "4 of 8 models failed before training, each alone (ValueError" in ours.batch_note_


@pytest.mark.parametrize("bad", [dict(n_jobs="x"), dict(return_train_score="yes"), dict(pre_dispatch=None),
                                 dict(return_estimator=2), dict(verbose="loud")])
def test_cross_validate_checks_its_arguments_like_sklearn_when_batched(clf_data, bad):
    X, y = clf_data
    with pytest.raises(InvalidParameterError) as theirs:
        skms.cross_validate(small_clf(), X, y, cv=2, **bad)
    with pytest.raises(InvalidParameterError) as ours:
        cross_validate(small_clf(), X, y, cv=2, **bad)
    assert str(ours.value) == str(theirs.value)


def test_metadata_routing_to_the_scorer_only_keeps_the_search_batched(clf_data):
    """With metadata routing on, a sample_weight that only the scorer requests
    is not a fit parameter: the search stays batched and scores like sklearn's."""
    import sklearn
    from sklearn.metrics import accuracy_score, make_scorer

    X, y = clf_data
    sw = np.where(y == 1, 3.0, 1.0)
    with sklearn.config_context(enable_metadata_routing=True):
        est = small_clf().set_fit_request(sample_weight=False)
        scorer = make_scorer(accuracy_score).set_score_request(sample_weight=True)
        with warnings.catch_warnings():
            warnings.simplefilter("error", BatchFallbackWarning)
            ours = GridSearchCV(est, {"alpha": [1e-4, 1.0]}, cv=3, scoring=scorer).fit(X, y, sample_weight=sw)
            folds = cross_validate(small_clf(), X, y, cv=3)  # routing on, no params: batched too
        ref = skms.GridSearchCV(est, {"alpha": [1e-4, 1.0]}, cv=3, scoring=scorer).fit(X, y, sample_weight=sw)
        unweighted = skms.GridSearchCV(est, {"alpha": [1e-4, 1.0]}, cv=3).fit(X, y)
    assert ours.batched_
    assert_cv_results_equal(ours.cv_results_, ref.cv_results_)
    assert not np.allclose(ours.cv_results_["mean_test_score"], unweighted.cv_results_["mean_test_score"])
    assert len(folds["test_score"]) == 3


def test_a_paced_callback_gets_every_models_records_in_a_batched_search(clf_data):
    """A live plot is a paced callback (next_epoch_end, see
    nnwidgets.trainer.events): through the search's relay it still gets every
    record of every (candidate, fold) model, once, in far fewer calls."""
    import math

    X, y = clf_data

    class Paced(Recorder):
        next_epoch_end = math.inf  # only when the trainer must: a model's last epoch

        def __init__(self):
            super().__init__()
            self.calls = 0

        def on_epoch_end(self, run, record, records=None, **kw):
            self.calls += 1
            self.records.setdefault(run, []).extend(records)

    grid = {"alpha": [1e-4, 1e-1], "n_iter_no_change": [2, 8], "tol": [1e-2]}
    every, paced = Recorder(), Paced()
    for rec in (every, paced):
        GridSearchCV(small_clf(max_iter=60, learning_rate_init=5e-2), grid, cv=2, callbacks=rec,
                     refit=False, max_models_per_batch=3).fit(X, y)
    assert sorted(paced.records) == sorted(every.records) == list(range(8))
    for k in range(8):
        assert [r["loss"] for r in paced.records[k]] == [r["loss"] for r in every.records[k]]
    n_records = sum(len(v) for v in every.records.values())
    assert paced.calls == 8 < n_records  # one call per model, at its end
