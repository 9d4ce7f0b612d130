"""sweep(): a grid trained on the same data as stacked networks, with per-model
events a live plot can overlay, and a SweepResult that tabulates and plots."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.neural_network import MLPClassifier as SkMLPClassifier

from nnwidgets.trainer.estimators import MLPClassifier, MLPRegressor
from nnwidgets.trainer.events import STOP, Callback
from nnwidgets.trainer.sweeps import SweepResult, sweep

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def data():
    rng = np.random.RandomState(3)
    X = rng.randn(100, 6)
    y = (X[:, 0] - X[:, 3] + 0.3 * rng.randn(100) > 0).astype(int)
    return X[:70], y[:70], X[70:], y[70:]


class Recorder(Callback):
    def __init__(self, stop_after=None):
        self.begin, self.events, self.end, self.stop_after = [], [], [], stop_after

    def on_fit_begin(self, **kw):
        self.begin.append(kw)

    def on_epoch_end(self, run, record, **kw):
        self.events.append((run, record["epoch"], record["loss"], kw.get("label")))
        if self.stop_after and record["epoch"] >= self.stop_after:
            return STOP

    def on_fit_end(self, **kw):
        self.end.append(kw)


def test_learning_rate_sweep_is_batched_and_equals_one_by_one(data):
    X, y, Xv, yv = data
    est = MLPClassifier(hidden_layer_sizes=[8], max_iter=40, random_state=1, dtype="float64")
    rates = [1e-4, 1e-3, 1e-2, 1e-1]  # the lecture's "effect of learning rate" loop
    rec = Recorder()
    res = sweep(est, {"learning_rate_init": rates}, X, y, X_val=Xv, y_val=yv, callbacks=rec)

    assert isinstance(res, SweepResult) and len(res) == 4 and res.batched
    assert res.labels == [f"learning_rate_init={r:g}" for r in rates]
    assert len(rec.begin) == 1 and len(rec.end) == 1
    assert rec.begin[0]["n_models"] == 4 and rec.begin[0]["run_labels"] == res.labels
    for k, r in enumerate(rates):
        alone = clone(est).set_params(learning_rate_init=r).fit(X, y)
        np.testing.assert_allclose(res.loss_curves[k], alone.loss_curve_, rtol=1e-7)
        streamed = [e[2] for e in rec.events if e[0] == k]
        np.testing.assert_allclose(streamed, alone.loss_curve_, rtol=1e-7)
        assert {e[3] for e in rec.events if e[0] == k} == {res.labels[k]}
        assert res.val_scores[k] == pytest.approx(alone.score(Xv, yv))
        assert res.train_scores[k] == pytest.approx(alone.score(X, y))

    frame = res.to_frame()
    assert list(frame.index) == [0, 1, 2, 3]
    for col in ("label", "learning_rate_init", "n_iter", "final_loss", "best_loss", "stop_reason",
                "train_score", "val_score"):
        assert col in frame.columns
    assert frame["final_loss"].iloc[0] > frame["final_loss"].iloc[3]  # tiny lr learns least
    assert res.best_index == int(np.argmax(res.val_scores))
    assert res.best_params == {"learning_rate_init": rates[res.best_index]}
    assert "SweepResult: 4 models (batched)" in repr(res)
    ax = res.plot()
    assert [line.get_label() for line in ax.get_lines()] == res.labels
    results = res.to_train_results()
    assert [r.label for r in results] == res.labels and results[0].history is res.histories[0]
    # the names %%nntrain's runs use, so that %nnruns compares them in one column
    assert results[2].metrics["train_accuracy"] == res.train_scores[2]
    assert results[2].metrics["val_accuracy"] == res.val_scores[2]
    assert "train_score" not in results[2].metrics
    reg = sweep(MLPRegressor(hidden_layer_sizes=[4], max_iter=5, random_state=0, dtype="float64"),
                {"alpha": [1e-4, 1e-2]}, X, y.astype(float)).to_train_results()
    assert set(reg[0].metrics) == {"train_r2", "train_loss"}
    custom = sweep(est, {"alpha": [1e-4]}, X, y, scoring="balanced_accuracy").to_train_results()
    assert "train_score" in custom[0].metrics  # another scoring is not called accuracy


def test_widths_and_seeds_sweep_in_groups(data):
    X, y, _, _ = data
    est = MLPRegressor(max_iter=15, random_state=0, dtype="float64")
    grid = {"hidden_layer_sizes": [[4], [9]], "random_state": [0, 1, 2]}
    res = sweep(est, grid, X, y.astype(float))
    assert res.batched and res.val_scores is None and len(res) == 6
    assert res.note.startswith("6 of 6 models trained as stacked networks")
    widths = [e.coefs_[0].shape[1] for e in res.estimators]
    assert widths == [4, 4, 4, 9, 9, 9]
    # different seeds give different models
    assert len({round(float(c[-1]), 10) for c in res.loss_curves}) == 6


def test_foreign_estimator_loops_and_replays_its_loss_curve(data):
    X, y, _, _ = data
    rec = Recorder()
    res = sweep(SkMLPClassifier(hidden_layer_sizes=[4], max_iter=10, random_state=0),
                {"alpha": [1e-4, 1e-1]}, X, y, callbacks=rec)
    assert res.batched is False and "not an nnwidgets" in res.note
    assert sorted({e[0] for e in rec.events}) == [0, 1]
    assert [e[2] for e in rec.events if e[0] == 1] == pytest.approx(res.estimators[1].loss_curve_)
    with pytest.raises(ValueError, match="batched=True, but this sweep cannot be batched"):
        sweep(SkMLPClassifier(), {"alpha": [1e-4]}, X, y, batched=True)


def test_stop_from_a_callback_stops_every_model(data):
    X, y, _, _ = data
    est = MLPClassifier(hidden_layer_sizes=[4], max_iter=200, random_state=0)
    rec = Recorder(stop_after=3)
    res = sweep(est, {"alpha": [1e-4, 1e-2, 1.0]}, X, y, callbacks=rec)
    # STOP after epoch 3 (of 200) ends every model at that epoch boundary, not later
    assert sorted((e[0], e[1]) for e in rec.events) == [(k, epoch) for k in range(3) for epoch in (1, 2, 3)]
    assert [len(c) for c in res.loss_curves] == [3, 3, 3]
    assert [e.stop_reason_ for e in res.estimators] == ["stopped"] * 3
    assert list(res.to_frame()["stop_reason"]) == ["stopped"] * 3


def test_sweep_bad_input(data):
    X, y, Xv, _ = data
    est = MLPClassifier(hidden_layer_sizes=[4], max_iter=5)
    with pytest.raises(ValueError, match="has no combinations"):
        sweep(est, [], X, y)
    with pytest.raises(ValueError, match="need to be a non-empty sequence"):
        sweep(est, {"alpha": []}, X, y)
    with pytest.raises(ValueError, match="Invalid parameter 'alfa'"):
        sweep(est, {"alfa": [1.0]}, X, y)
    with pytest.raises(ValueError, match="pass both X_val and y_val"):
        sweep(est, {"alpha": [1.0]}, X, y, X_val=Xv)
    with pytest.raises(ValueError, match="batched must be 'auto', True or False"):
        sweep(est, {"alpha": [1.0]}, X, y, batched="yes")
    # a bad value fails before any model trains (it used to train the good ones first)
    seen = []

    class Begin(Callback):
        def on_fit_begin(self, **kw):
            seen.append(1)

    with pytest.raises(ValueError, match=r"sweep candidate alpha=-1.*'alpha' parameter"):
        sweep(est, {"alpha": [1e-4, -1]}, X, y, callbacks=[Begin()])
    assert not seen
