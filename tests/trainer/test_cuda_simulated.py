"""CUDA-only code paths of the trainer, simulated on the CPU (torch.cuda's
functions replaced by fakes), so that they are tested where no GPU is."""

import warnings

import numpy as np
import pytest
import torch
from sklearn.base import clone

from nnwidgets import MLPRegressor
from nnwidgets.trainer import batched, mlp_engine
from nnwidgets.trainer.batched import fit_stack


def test_free_gpu_memory_counts_what_torchs_cache_holds(monkeypatch):
    # mem_get_info is the driver's view: blocks that torch's caching allocator
    # keeps after an earlier fit (reserved, not allocated) count as used there,
    # but this process can reuse them; the stack split must count them as free
    GiB = 1 << 30
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (2 * GiB, 80 * GiB))
    monkeypatch.setattr(torch.cuda, "memory_reserved", lambda device=None: 30 * GiB)
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda device=None: 10 * GiB)
    assert batched._available_bytes(torch.device("cuda")) == int((2 + 20) * GiB * 0.8)


def _oom_above(monkeypatch, max_models, after_epochs=0):
    """train_runs raises torch's OutOfMemoryError for stacks of more than
    ``max_models`` models, after shuffling (the engine's first epoch does) and
    after ``after_epochs`` recorded epochs; returns the stack sizes tried."""
    real = mlp_engine.train_runs
    tried = []

    def train_runs(runs, **kw):
        tried.append(len(runs))
        if len(runs) <= max_models:
            return real(runs, **kw)
        for r in runs:
            r.rng.shuffle(np.arange(10))
        if after_epochs:
            for r in runs:
                r.history.append({"epoch": 1})
                r.n_iter += 1
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (simulated)")

    monkeypatch.setattr(mlp_engine, "train_runs", train_runs)
    return tried


def _grid():
    rng = np.random.RandomState(0)
    X = rng.randn(120, 4)
    y = X @ rng.randn(4)
    base = MLPRegressor(hidden_layer_sizes=[6], max_iter=5, batch_size=16, random_state=3, tol=0.0)
    ests = [clone(base).set_params(alpha=a, learning_rate_init=lr) for a in (1e-4, 1e-2) for lr in (1e-3, 1e-2)]
    data = [(X[i * 10:], y[i * 10:]) for i in range(len(ests))]
    return ests, data


def test_a_stack_out_of_device_memory_is_trained_again_in_halves(monkeypatch):
    ests, data = _grid()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        singles = [clone(e).fit(*d) for e, d in zip(ests, data)]
        tried = _oom_above(monkeypatch, 1)
        fit_stack(ests, data, max_models_per_batch=4)
    assert tried == [4, 2, 1, 1, 2, 1, 1]
    for a, b in zip(ests, singles):  # as if the stack had fitted: same shuffles, same results
        assert a.n_iter_ == b.n_iter_ == 5 and len(a.history_) == 5
        np.testing.assert_allclose(a.loss_curve_, b.loss_curve_, rtol=1e-5)


def test_out_of_memory_after_recorded_epochs_or_for_one_model_is_raised(monkeypatch):
    ests, data = _grid()
    tried = _oom_above(monkeypatch, 1, after_epochs=1)
    with warnings.catch_warnings(), pytest.raises(torch.OutOfMemoryError):
        warnings.simplefilter("ignore")
        fit_stack(ests, data, max_models_per_batch=4)
    assert tried == [4]  # its epochs were recorded (and sent to callbacks): not trained again
    monkeypatch.undo()
    ests, data = _grid()
    tried = _oom_above(monkeypatch, 0)
    with warnings.catch_warnings(), pytest.raises(torch.OutOfMemoryError):
        warnings.simplefilter("ignore")
        fit_stack(ests[:2], data[:2], max_models_per_batch=2)
    assert tried == [2, 1]


def test_every_trainer_names_a_cuda_device_with_its_index():
    """The estimators, the batched engine and train_module record one name for
    a GPU ("cuda:0", as %nnruns and the search view show it), not "cuda" here
    and "cuda:0" there."""
    from nnwidgets.trainer.device import device_name
    from nnwidgets.trainer.mlp_engine import _device_str

    assert _device_str(torch.device("cuda")) == "cuda:0" == device_name(torch.device("cuda"))
    assert _device_str("cuda:1") == "cuda:1" and _device_str(torch.device("cpu")) == "cpu"


def test_a_stack_trained_again_in_halves_begins_each_models_callbacks_once(monkeypatch):
    """Running out of device memory after training began (here: building the
    stack's parameters) retrains the stack in halves; each estimator's own
    callbacks (a live plot) still see one fit: one begin, every epoch, one end."""
    from nnwidgets.trainer.events import Callback

    class Seen(Callback):
        def __init__(self):
            self.begins, self.epochs, self.ends = 0, [], 0

        def on_fit_begin(self, **kw):
            self.begins += 1

        def on_epoch_end(self, record=None, **kw):
            self.epochs.append(record["epoch"])

        def on_fit_end(self, **kw):
            self.ends += 1

    real = mlp_engine.StackNet

    def stack_net(*args, **kwargs):
        if args[1] > 1:  # K, the models in the stack
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return real(*args, **kwargs)

    monkeypatch.setattr(mlp_engine, "StackNet", stack_net)
    ests, data = _grid()
    seen = [Seen() for _ in ests]
    for est, cb in zip(ests, seen):
        est.set_params(callbacks=[cb])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit_stack(ests, data, max_models_per_batch=4)
    for cb in seen:
        assert (cb.begins, cb.epochs, cb.ends) == (1, [1, 2, 3, 4, 5], 1)
