"""A trivial reference for the batched engine's contract: fit each model alone.

Used to test the searches' bookkeeping independently of the engine (and as
the ground truth the real engine must match)."""

from nnwidgets.trainer.events import CallbackList

BATCHABLE_PARAMS = frozenset({
    "alpha", "learning_rate_init", "random_state", "momentum", "beta_1", "beta_2", "epsilon",
    "tol", "n_iter_no_change", "max_iter", "power_t", "validation_fraction", "shuffle",
})


def can_stack(estimators):
    if not estimators:
        return False, "no estimators"
    if len({type(e) for e in estimators}) != 1:
        return False, "estimators of different classes"
    base = {k: repr(v) for k, v in estimators[0].get_params(deep=False).items() if k not in BATCHABLE_PARAMS}
    for e in estimators[1:]:
        other = {k: repr(v) for k, v in e.get_params(deep=False).items() if k not in BATCHABLE_PARAMS}
        if other != base:
            diff = sorted(k for k in base if base[k] != other.get(k))
            return False, f"parameters {diff} differ"
    return True, ""


def fit_stack(estimators, datasets, *, callbacks=None, max_models_per_batch=None):
    cbl = CallbackList(callbacks)
    for k, (est, (X, y)) in enumerate(zip(estimators, datasets)):
        est.fit(X, y)
        for rec in getattr(est, "history_", None) or [{"epoch": i + 1, "loss": l} for i, l in enumerate(est.loss_curve_)]:
            cbl.epoch_end(run=k, record=rec, model=est)
    return list(estimators)
