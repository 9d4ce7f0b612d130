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
