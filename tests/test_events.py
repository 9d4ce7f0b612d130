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
