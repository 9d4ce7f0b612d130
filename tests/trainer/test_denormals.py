"""Denormal floats are flushed to zero during CPU training (on Intel CPUs a
long L2-regularised training otherwise slows down up to 10x: see
nnwidgets.trainer.denormals) and the user's setting is restored afterwards."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from nnwidgets import Callback, MLPClassifier, MLPRegressor  # noqa: E402
from nnwidgets.trainer.batched import fit_stack  # noqa: E402
from nnwidgets.trainer.denormals import flush_is_on, flushed_denormals  # noqa: E402

RNG = np.random.RandomState(0)
X = RNG.rand(60, 4)
Y = X @ np.array([1.0, -2.0, 0.5, 1.0])

pytestmark = [
    pytest.mark.skipif(not torch.set_flush_denormal(False), reason="this CPU cannot flush denormals"),
    pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning"),  # deliberately short fits
]


class Probe(Callback):
    """Records, at each epoch end, whether denormals are flushed (callbacks run
    on the thread that called fit)."""

    def __init__(self):
        self.seen = []

    def on_epoch_end(self, **kw):
        self.seen.append(flush_is_on())


def test_fit_flushes_denormals_while_training_and_restores_ieee_afterwards():
    assert not flush_is_on()
    probe = Probe()
    MLPRegressor(hidden_layer_sizes=[5], max_iter=3, random_state=0, callbacks=[probe]).fit(X, Y)
    assert probe.seen == [True, True, True]
    assert not flush_is_on()  # user code after fit sees IEEE denormals again
    assert np.float32(1e-39) * np.float32(2) != 0  # (numpy too: the mode is the CPU's)


def test_a_users_own_flush_setting_is_left_on():
    torch.set_flush_denormal(True)
    try:
        MLPClassifier(hidden_layer_sizes=[5], max_iter=2, random_state=0).fit(X, Y > Y.mean())
        assert flush_is_on()
    finally:
        torch.set_flush_denormal(False)


def test_restored_after_a_failing_training_and_in_parallel_stacks(monkeypatch):
    class Boom(Callback):
        def on_epoch_end(self, **kw):
            raise KeyboardInterrupt

    with pytest.warns(UserWarning, match="interrupted"):
        MLPRegressor(hidden_layer_sizes=[5], max_iter=50, random_state=0, callbacks=[Boom()]).fit(X, Y)
    assert not flush_is_on()

    monkeypatch.setenv("NNWIDGETS_NUM_THREADS", "2")  # 16 models: two stacks on worker threads
    from nnwidgets.trainer.batched import parallel_stacks

    assert parallel_stacks(torch.device("cpu"), 16) == 2
    probe = Probe()
    ests = [MLPRegressor(hidden_layer_sizes=[5], max_iter=2, random_state=s) for s in range(16)]
    fit_stack(ests, [(X, Y)] * 16, callbacks=[probe])
    assert all(e.n_iter_ == 2 for e in ests) and len(probe.seen) == 32
    assert all(probe.seen)  # on in the calling thread too, where the callbacks run
    assert not flush_is_on()


def test_flushed_denormals_is_a_no_op_for_other_devices():
    with flushed_denormals("cuda"):
        assert not flush_is_on()
    with flushed_denormals("cpu"):
        assert flush_is_on()
    assert not flush_is_on()
