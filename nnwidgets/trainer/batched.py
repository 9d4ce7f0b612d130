"""Training many nnwidgets MLPs of the same architecture at once.

:func:`fit_stack` fits K estimators (for example one per hyper-parameter
value and cross-validation fold) as one stacked network: each layer of all K
models is one batched matmul, each model with its own data subset, shuffle
order, initial weights, hyper-parameters, optimiser state and stopping rule.
Each returned estimator is equivalent (within float tolerance) to calling
``est.fit(X, y)`` on it alone.

Public contract (used by :mod:`nnwidgets.trainer.search`)::

    fit_stack(estimators, datasets, *, callbacks=None, max_models_per_batch=None) -> list
    can_stack(estimators) -> (bool, reason)
    BATCHABLE_PARAMS  # parameters that may differ between stacked models
"""

from __future__ import annotations

import concurrent.futures
import os
import queue
import threading
import time

import numpy as np

from nnwidgets.trainer.events import CallbackList

#: Parameters that may differ between the models of one stack.
BATCHABLE_PARAMS = frozenset({
    "alpha",
    "learning_rate_init",
    "learning_rate",
    "random_state",
    "momentum",
    "beta_1",
    "beta_2",
    "epsilon",
    "tol",
    "n_iter_no_change",
    "power_t",
    "max_iter",
    "max_fun",
    "nesterovs_momentum",
    "early_stopping",
    "validation_fraction",
    "shuffle",
    "verbose",
    "callbacks",
    "warm_start",
})


def _norm(name, value):
    if name == "hidden_layer_sizes":
        if not hasattr(value, "__iter__"):
            value = [value]
        return tuple(int(v) for v in value)
    if name == "device":
        from nnwidgets.trainer.device import resolve_device

        try:
            return str(resolve_device(value))
        except ValueError:
            return repr(value)
    if name == "dtype":
        from nnwidgets.trainer.estimators import _resolve_dtype

        try:
            return str(_resolve_dtype(value)[::2])
        except ValueError:
            return repr(value)
    return value


def can_stack(estimators) -> tuple[bool, str]:
    """Whether these estimators can be trained together as one stacked network.

    Returns ``(True, "")`` or ``(False, reason)`` with a human-readable reason.
    """
    from nnwidgets.trainer.estimators import BaseMLP

    estimators = list(estimators)
    if not estimators:
        return False, "no estimators given"
    first = estimators[0]
    if not isinstance(first, BaseMLP):
        return False, f"{type(first).__name__} is not an nnwidgets MLPRegressor/MLPClassifier"
    for est in estimators[1:]:
        if type(est) is not type(first):
            return False, (f"all estimators must be of the same class; got {type(first).__name__} "
                           f"and {type(est).__name__}")
    if first.solver == "lbfgs":
        return False, ("solver='lbfgs' runs scipy's L-BFGS on one model at a time; use solver='adam' "
                       "or 'sgd' to train models together")
    p0 = first.get_params(deep=False)
    for i, est in enumerate(estimators[1:], start=1):
        p = est.get_params(deep=False)
        for name in sorted(set(p0) | set(p)):
            if name in BATCHABLE_PARAMS:
                continue
            a, b = _norm(name, p0.get(name)), _norm(name, p.get(name))
            try:
                same = bool(a == b)
            except Exception:  # arrays etc.
                same = a is b
            if not same:
                return False, (f"estimator {i} has {name}={p.get(name)!r} but estimator 0 has "
                               f"{name}={p0.get(name)!r}; stacked models may differ only in "
                               f"{', '.join(sorted(BATCHABLE_PARAMS))}")
    for i, est in enumerate(estimators):
        if est.warm_start and hasattr(est, "coefs_"):
            return False, (f"estimator {i} has warm_start=True and is already fitted; stacked "
                           "training starts from fresh weights")
    return True, ""


def _available_bytes(device) -> int:
    import torch

    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        # mem_get_info is the driver's view: memory that torch's caching
        # allocator holds but no tensor uses (left by an earlier fit or chunk)
        # counts as used there, yet this process can reuse it
        cached = torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
        return int((free + max(cached, 0)) * 0.8)
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024 // 2
    except OSError:  # pragma: no cover - not Linux
        pass
    return 4 << 30


def _is_out_of_memory(exc) -> bool:
    import torch

    return isinstance(exc, getattr(torch, "OutOfMemoryError", None) or torch.cuda.OutOfMemoryError)


class _RunStart:
    """What training a stack changes in a run before its first epoch is
    recorded (the shuffle RNG and the optimiser state), kept so that a stack
    that runs out of device memory can be trained again in smaller stacks."""

    def __init__(self, run):
        self.rng_state = run.rng.get_state()
        self.opt_state = None if run.opt_state is None else dict(run.opt_state)
        self.n_history = len(run.history)
        self.n_iter = run.n_iter
        self.stop_reason = run.stop_reason
        self.warned = list(run.warned)

    def untouched(self, run) -> bool:
        """No epoch of this run was recorded (nor sent to its callbacks)."""
        return len(run.history) == self.n_history and run.n_iter == self.n_iter

    def restore(self, run) -> None:
        run.rng.set_state(self.rng_state)
        run.opt_state = None if self.opt_state is None else dict(self.opt_state)
        run.stop_reason = self.stop_reason
        run.warned = list(self.warned)


def _release_cached_memory(device) -> None:
    import gc

    import torch

    gc.collect()
    if getattr(device, "type", None) == "cuda":
        torch.cuda.empty_cache()


def _dedupe_data(runs):
    """Runs whose (X, y) are equal share one copy on the device."""
    reps = []  # (X, Y, key)
    for r in runs:
        found = None
        for X, Y, key in reps:
            if X is r.X and Y is r.Y:
                found = (X, Y, key)
                break
            if (X.shape == r.X.shape and Y.shape == r.Y.shape and X.dtype == r.X.dtype
                    and np.array_equal(Y, r.Y) and np.array_equal(X, r.X)):
                found = (X, Y, key)
                break
        if found is None:
            key = len(reps)
            reps.append((r.X, r.Y, key))
            r.data_key = key
        else:
            r.X, r.Y, r.data_key = found[0], found[1], found[2]


class _OwnerThreadCallbacks:
    """A CallbackList seen by worker threads: each event is handed to the
    thread that called :func:`fit_stack` (which runs it, so callbacks, widgets
    and prints never run concurrently or off that thread) and the worker waits
    for its result (a STOP request travels back)."""

    def __init__(self, target: CallbackList, inbox: queue.Queue, owner: threading.Thread):
        self._target, self._inbox, self._owner = target, inbox, owner
        self.callbacks = target.callbacks

    def _run(self, hook, kwargs):
        fn = getattr(self._target, hook)
        if threading.current_thread() is self._owner:
            return fn(**kwargs)
        done: concurrent.futures.Future = concurrent.futures.Future()
        self._inbox.put((fn, kwargs, done))
        return done.result()

    @property
    def due(self) -> float:
        return self._target.due  # (paced callbacks: see nnwidgets.trainer.events)

    def fit_begin(self, **kwargs):
        return self._run("fit_begin", kwargs)

    def epoch_end(self, **kwargs):
        return self._run("epoch_end", kwargs)

    def epoch_end_many(self, events):
        # one hand-over per stack and epoch, not one per model
        return self._run("epoch_end_many", {"events": events})

    def fit_end(self, **kwargs):
        return self._run("fit_end", kwargs)


def parallel_stacks(device, n_models: int) -> int:
    """How many stacks train side by side, one CPU thread each.

    On a CPU the element-wise work of a step (activations, loss, optimiser)
    runs on one thread whatever torch's intra-op setting, and small batched
    matmuls scale poorly across threads; two half-size stacks on two threads
    use both cores for all of it. Each stack keeps at least 8 models; the
    thread budget is ``NNWIDGETS_NUM_THREADS`` / ``OMP_NUM_THREADS`` when set,
    else the idle cores. GPUs train one stack.
    """
    if getattr(device, "type", str(device)) != "cpu" or n_models < 16:
        return 1
    from nnwidgets.trainer.mlp_engine import _idle_cores

    budget = None
    for var in ("NNWIDGETS_NUM_THREADS", "OMP_NUM_THREADS"):
        try:
            budget = int(os.environ.get(var, ""))
            break
        except ValueError:
            continue
    if budget is None:
        budget = _idle_cores()
    return max(1, min(budget, n_models // 8, 8))


def _train_parallel(chunks, runs, cbs, engine_kwargs, train_runs):
    """Trains each chunk of model indices as its own stack, one thread per
    stack (torch at one intra-op thread), events dispatched on this thread."""
    import torch

    from nnwidgets.trainer.mlp_engine import _Interrupt

    inbox: queue.Queue = queue.Queue()
    owner = threading.current_thread()
    stop = threading.Event()
    shared = _OwnerThreadCallbacks(cbs, inbox, owner)
    saved = {}
    for chunk in chunks:
        for i in chunk:
            saved[i] = runs[i].callbacks
            runs[i].callbacks = _OwnerThreadCallbacks(runs[i].callbacks, inbox, owner)
    from nnwidgets.trainer.denormals import flushed_denormals

    prev_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    # the workers start inside this: they inherit the flushed-denormal mode
    denormals = flushed_denormals().__enter__()
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=len(chunks), thread_name_prefix="nnwidgets-stack")
    try:
        with _Interrupt() as intr:
            futures = [pool.submit(train_runs, [runs[i] for i in chunk], callbacks=shared, run_ids=chunk,
                                   stop_event=stop, **engine_kwargs) for chunk in chunks]
            while True:
                if intr.flag:
                    stop.set()
                try:
                    fn, kwargs, done = inbox.get(timeout=0.05)
                except queue.Empty:
                    if all(f.done() for f in futures):
                        break
                    continue
                try:
                    result = fn(**kwargs)
                except BaseException as exc:  # handed to the worker, which re-raises it
                    stop.set()
                    done.set_exception(exc)
                    continue
                if intr.flag:  # a Ctrl-C during the callback: stop before the worker goes on
                    stop.set()
                done.set_result(result)
            errors = [f.exception() for f in futures if f.exception() is not None]
            if errors:
                raise errors[0]
    finally:
        stop.set()
        pool.shutdown(wait=True)
        denormals.__exit__(None, None, None)
        torch.set_num_threads(prev_threads)
        for i, cb in saved.items():
            runs[i].callbacks = cb


def fit_stack(estimators, datasets, *, callbacks=None, max_models_per_batch=None) -> list:
    """Fits K unfitted nnwidgets MLPs (same class, parameters differing only in
    :data:`BATCHABLE_PARAMS`) on K ``(X, y)`` datasets as one batched network.

    Datasets may have different lengths (cross-validation folds); a classifier
    fold that misses classes gets the ``classes_`` scikit-learn would give it
    (models whose output layers then differ are trained in separate stacks).
    Batches are split automatically when K models would not fit in device
    memory (``max_models_per_batch`` overrides); a stack that still runs out
    of device memory (``torch.OutOfMemoryError``) before its first epoch is
    recorded is trained again as two half stacks, from the same start (shuffle
    RNGs restored; each estimator's own callbacks still see one fit: one
    ``on_fit_begin``, every epoch, one ``on_fit_end``).
    Returns the same estimator
    objects, fitted. Estimators that cannot be stacked (``can_stack`` is
    False, e.g. solver='lbfgs') are fitted one by one.

    ``callbacks`` receive ``on_fit_begin(model=<list of estimators>,
    n_models=K, ...)``, ``on_epoch_end(run=i, record, model=estimators[i])``
    for every model and epoch, and one ``on_fit_end(model=<list>,
    history=<list of History>, stop_reason, stop_reasons=<list>)``. Each
    estimator's own ``callbacks`` parameter sees its own events as in a
    single ``fit``.
    """
    from nnwidgets.trainer.mlp_engine import _overall_reason, memory_per_model, thread_budget, train_runs

    estimators = list(estimators)
    datasets = list(datasets)
    if len(estimators) != len(datasets):
        raise ValueError(
            f"fit_stack needs one (X, y) dataset per estimator; got {len(estimators)} estimators "
            f"and {len(datasets)} datasets."
        )
    for i, d in enumerate(datasets):
        if not (isinstance(d, (tuple, list)) and len(d) == 2):
            raise ValueError(f"datasets[{i}] must be an (X, y) pair, got {type(d).__name__}")
    if max_models_per_batch is not None and int(max_models_per_batch) < 1:
        raise ValueError(f"max_models_per_batch must be a positive integer, got {max_models_per_batch!r}")
    if not estimators:
        return []
    cbs = CallbackList(callbacks)
    ok, reason = can_stack(estimators)
    labels = []
    for est in estimators:
        try:
            labels.append(est._run_label())
        except Exception:
            labels.append(type(est).__name__)
    t0 = time.perf_counter()
    if not ok:
        cbs.fit_begin(model=estimators, n_models=len(estimators),
                      max_epochs=max(getattr(e, "max_iter", 1) for e in estimators), device="cpu",
                      run_labels=labels)
        for est, (X, y) in zip(estimators, datasets):
            est.fit(X, y)
        reasons = [getattr(e, "stop_reason_", "max_iter") for e in estimators]
        cbs.fit_end(model=estimators, history=[getattr(e, "history_", None) for e in estimators],
                    stop_reason=reasons[0], stop_reasons=reasons)
        return estimators

    init_cache: dict = {}
    runs = []
    for est, (X, y) in zip(estimators, datasets):
        est._validate_params()
        run = est._prepare_run(X, y, None, incremental=False, init_cache=init_cache)
        runs.append(run)
    init_cache.clear()
    _dedupe_data(runs)
    device = runs[0]._kw["device"]
    cbs.fit_begin(model=estimators, n_models=len(estimators),
                  max_epochs=max(e.max_iter for e in estimators), device=str(device), run_labels=labels)

    # group by output layer (folds may miss classes) and feature count
    groups: dict = {}
    for i, r in enumerate(runs):
        key = (tuple(r._kw["layer_units"]), r.est.out_activation_)
        groups.setdefault(key, []).append(i)

    interrupted = False
    for key, members in groups.items():
        layer_units = list(key[0])
        first = runs[members[0]]
        if max_models_per_batch is not None:
            per_batch = int(max_models_per_batch)
        else:
            dtype = first._kw["torch_dtype"]
            bs = max(runs[i].batch_size for i in members)
            n_val = max((len(runs[i].val_rows) if runs[i].val_rows is not None else 0) for i in members)
            per_model = memory_per_model(layer_units, bs, n_val, dtype, first.est.solver,
                                         any(runs[i].val_rows is not None for i in members))
            data_keys = {runs[i].data_key: runs[i] for i in members}
            item = 8 if "64" in str(dtype) else 4
            data_bytes = sum((r.X.size + r.Y.size) * item for r in data_keys.values())
            avail = _available_bytes(device) - data_bytes
            per_batch = max(1, int(avail // max(per_model, 1)))
        pending = [members[start: start + per_batch] for start in range(0, len(members), per_batch)]
        while pending:
            chunk = pending.pop(0)
            if interrupted:
                for i in chunk:
                    runs[i].stop_reason = "interrupted"
                    runs[i].opt_state = runs[i].opt_state or {"lr": runs[i].hyper["learning_rate_init"], "t": 0}
                continue
            chunk_runs = [runs[i] for i in chunk]
            bs = max(r.batch_size for r in chunk_runs)
            n_par = parallel_stacks(device, len(chunk))
            if n_par > 1:
                # interleaved, so that each stack gets a mix of candidates and folds
                _train_parallel([chunk[w::n_par] for w in range(n_par)], runs, cbs,
                                first.est._engine_kwargs(first._kw), train_runs)
            else:
                saved = [_RunStart(r) for r in chunk_runs]
                retry = False
                try:
                    with thread_budget(layer_units, bs, len(chunk_runs), device):
                        train_runs(chunk_runs, callbacks=cbs, run_ids=chunk,
                                   **first.est._engine_kwargs(first._kw))
                except Exception as exc:
                    if not _is_out_of_memory(exc):
                        raise
                    # the stack did not fit (the memory estimate is rough, and
                    # other processes share the GPU): before any epoch has been
                    # recorded it is trained again as two half stacks
                    if len(chunk) < 2 or not all(st.untouched(r) for st, r in zip(saved, chunk_runs)):
                        raise
                    retry = True
                if retry:  # (outside the except block: its traceback holds the failed stack's tensors)
                    for st, r in zip(saved, chunk_runs):
                        st.restore(r)
                    _release_cached_memory(device)
                    half = (len(chunk) + 1) // 2
                    pending[:0] = [chunk[:half], chunk[half:]]
                    continue
            interrupted = any(r.stop_reason == "interrupted" for r in chunk_runs)
    for r in runs:
        r.est._finish_run(r, stacklevel=3)
    for est in estimators:
        weights = list(est.coefs_) + list(est.intercepts_)
        if not all(np.isfinite(w).all() for w in weights):
            raise ValueError(
                "Solver produced non-finite parameter weights. The input data may"
                " contain large values and need to be preprocessed."
            )
    cbs.fit_end(model=estimators, history=[r.history for r in runs], stop_reason=_overall_reason(runs),
                stop_reasons=[r.stop_reason for r in runs])
    return estimators
