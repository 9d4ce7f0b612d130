"""The training-event contract: StopSignal survives clone() and pickling."""

import pickle

from sklearn.base import clone

from nnwidgets import MLPRegressor
from nnwidgets.trainer.events import STOP, CallbackList, StopSignal


def test_stop_signal_is_shared_by_clones_and_pickles():
    stop = StopSignal()
    est = MLPRegressor(callbacks=[stop])
    cloned = clone(est)
    assert cloned.callbacks[0] is stop
    stop.set()
    again = pickle.loads(pickle.dumps(stop))
    assert again.is_set and again.on_epoch_end() == STOP


def test_callback_list_survives_a_broken_callback():
    class Broken:
        def on_epoch_end(self, **kw):
            raise ValueError("display gone")

    import pytest

    with pytest.warns(RuntimeWarning, match="Broken.on_epoch_end raised ValueError"):
        assert CallbackList([Broken(), StopSignal()]).epoch_end(run=0, record={}) is False


def test_callback_list_calls_each_callbacks_own_hooks_in_order():
    from nnwidgets.trainer.events import Callback

    calls = []

    class EpochsOnly(Callback):  # inherits Callback's do-nothing fit hooks
        def on_epoch_end(self, **kw):
            calls.append(("epochs-only", kw["run"]))

    class DuckTyped:  # not a Callback subclass: every hook it has is called
        def on_fit_begin(self, **kw):
            calls.append(("duck begin", kw["n_models"]))

        def on_epoch_end(self, **kw):
            calls.append(("duck", kw["run"]))
            return STOP

    patched = Callback()
    patched.on_fit_end = lambda **kw: calls.append(("patched end", kw["stop_reason"]))

    cl = CallbackList([EpochsOnly(), DuckTyped(), patched])
    cl.fit_begin(n_models=2)
    assert cl.epoch_end(run=1, record={}) is True  # DuckTyped asked to stop
    cl.fit_end(stop_reason="stopped")
    assert calls == [("duck begin", 2), ("epochs-only", 1), ("duck", 1), ("patched end", "stopped")]


# -- paced callbacks: next_epoch_end ------------------------------------------

import math  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from nnwidgets.trainer.events import Callback  # noqa: E402


class Paced(Callback):
    """Records what it is given; asks to be called again ``every`` seconds
    after each call (math.inf: only when the trainer must)."""

    def __init__(self, every=math.inf):
        self.every = every
        self.next_epoch_end = -math.inf
        self.calls = []  # (run, record, records)
        self.ended_with = None

    def on_fit_begin(self, **kw):
        self.next_epoch_end = time.perf_counter() + self.every

    def on_epoch_end(self, run=0, record=None, records=None, **kw):
        self.calls.append((run, record, list(records)))
        self.next_epoch_end = time.perf_counter() + self.every

    def on_fit_end(self, **kw):
        self.ended_with = sum(len(c[2]) for c in self.calls)  # what it had been given by then

    def records(self, run=0):
        return [rec for r, _, recs in self.calls if r == run for rec in recs]


class EveryEpoch(Callback):
    def __init__(self):
        self.calls = []

    def on_epoch_end(self, record=None, records=None, **kw):
        self.calls.append((record, records))


@pytest.fixture
def regression():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 3))
    return X, X @ [1.0, -2.0, 0.5] + 0.1 * rng.normal(size=50)


def _fit(callbacks, X, y, **params):
    est = MLPRegressor(hidden_layer_sizes=[5], random_state=0, max_iter=120, tol=0.0,
                       n_iter_no_change=1000, callbacks=callbacks, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return est.fit(X, y)


def test_callback_list_due_time_follows_its_paced_callbacks():
    assert CallbackList().due == math.inf  # nothing to call
    assert CallbackList([EveryEpoch()]).due == -math.inf
    class Fixed(Callback):  # paced, at times the test sets
        next_epoch_end = -math.inf

        def on_epoch_end(self, **kw):
            pass

    a, b = Fixed(), Fixed()
    cl = CallbackList([a, b])
    a.next_epoch_end, b.next_epoch_end = 5.0, 3.0
    cl.epoch_end(run=0, record={}, records=[{}])
    assert cl.due == 3.0  # read after every call: the earliest wins
    b.next_epoch_end = None  # not a time: every epoch
    cl.epoch_end(run=0, record={}, records=[{}])
    assert cl.due == -math.inf
    mixed = CallbackList([Paced(), EveryEpoch()])
    mixed.fit_begin()
    assert mixed.due == -math.inf  # one callback wants every epoch: the list is called every epoch


def test_a_paced_callback_gets_every_record_once_in_few_calls(regression):
    never, often = Paced(), Paced(every=0.0)
    est = _fit([never], *regression)
    assert len(est.history_) == 120
    assert len(never.calls) == 1  # only the last epoch: the trainer must call at a run's end
    assert never.calls[0][1] is est.history_[-1]
    assert [r["epoch"] for r in never.records()] == list(range(1, 121))
    assert all(a is b for a, b in zip(never.records(), est.history_))
    est = _fit([often], *regression)
    assert len(often.calls) == 120 and all(len(c[2]) == 1 for c in often.calls)


def test_paced_and_unpaced_callbacks_together_are_called_every_epoch(regression):
    paced, every = Paced(), EveryEpoch()
    est = _fit([paced, every], *regression)
    assert len(every.calls) == len(paced.calls) == 120
    assert all(records == [record] for record, records in every.calls)
    assert paced.records() == list(est.history_)


def test_a_paced_callback_sees_a_warm_started_fits_new_records_only(regression):
    paced = Paced()
    est = _fit([paced], *regression, warm_start=True)
    paced.calls.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(*regression)
    assert len(est.history_) == 240
    assert [r["epoch"] for r in paced.records()] == list(range(121, 241))


def test_a_diverged_fit_gives_a_paced_callback_its_records_before_it_ends(regression):
    X, y = regression
    paced = Paced()
    est = _fit([paced], X, y * 1e6, solver="sgd", learning_rate_init=10.0, momentum=0.0)
    assert est.history_ and len(est.history_) < 120  # it diverged after some epochs
    assert paced.ended_with == len(est.history_) and paced.records() == list(est.history_)


def test_a_stack_gives_a_paced_callback_each_runs_records_once(regression):
    from nnwidgets.trainer.sweeps import sweep

    X, y = regression
    paced = Paced()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = sweep(MLPRegressor(hidden_layer_sizes=[5], random_state=0, max_iter=40, tol=0.0,
                                    n_iter_no_change=100),
                       {"learning_rate_init": [0.1, 0.01, 0.001]}, X, y, callbacks=[paced])
    assert len(paced.calls) == 3  # one per run, at its end
    for k in range(3):
        assert [r["loss"] for r in paced.records(k)] == pytest.approx(result.loss_curves[k])


def test_train_module_paces_its_callbacks():
    import torch
    from torch import nn

    from nnwidgets.trainer.module_training import train_module

    rng = np.random.default_rng(1)
    X = rng.normal(size=(40, 3)).astype(np.float32)
    y = (X @ np.array([1.0, -1.0, 0.5])).astype(np.float32)
    torch.manual_seed(0)
    paced, every = Paced(), Paced(every=0.0)
    result = train_module(nn.Linear(3, 1), X, y, epochs=30, lr=0.01, callbacks=[paced], seed=0, loss="mse")
    assert len(paced.calls) == 1 and paced.records() == list(result.history)
    result = train_module(nn.Linear(3, 1), X, y, epochs=30, lr=0.01, callbacks=[every], seed=0, loss="mse")
    assert len(every.calls) == 30


def test_a_diverged_run_in_a_stack_gives_its_records_when_it_diverges(regression):
    """Its last records reach a paced callback at once, not when the rest of
    the stack ends (a live plot would show the run frozen meanwhile)."""
    from nnwidgets.trainer.sweeps import sweep

    X, y = regression
    paced = Paced()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = sweep(MLPRegressor(hidden_layer_sizes=[5], random_state=0, max_iter=200, tol=0.0,
                                    n_iter_no_change=1000, solver="sgd", momentum=0.0),
                       {"learning_rate_init": [10.0, 0.001]}, X, y * 1e3, callbacks=[paced])
    runs = [run for run, _, _ in paced.calls]
    assert runs == [0, 1]  # the diverged run first, the other at its 200th epoch
    assert len(paced.records(0)) == len(result.loss_curves[0]) == 1  # diverged in its second epoch
    assert len(paced.records(1)) == 200
