"""Training a scikit-learn-style estimator with callbacks, returning a
:class:`~nnwidgets.trainer.results.TrainResult` like :func:`train_module`.

- nnwidgets ``MLPRegressor`` / ``MLPClassifier`` (a ``callbacks`` parameter):
  the callbacks see every epoch live (loss plot, Stop button).
- scikit-learn's own ``MLPRegressor`` / ``MLPClassifier`` (no callbacks): the
  estimator is fitted exactly as in the lecture, then its ``loss_curve_`` is
  replayed to the callbacks so the plot and the run record still show it.
- any other estimator (``LinearRegression``, ``SVC``): fitted and scored, with
  no curve.
"""

from __future__ import annotations

import time

import numpy as np

from nnwidgets.trainer.events import CallbackList, History
from nnwidgets.trainer.module_training import prediction_metrics
from nnwidgets.trainer.results import TrainResult


def _task(estimator) -> str:
    from sklearn.base import is_classifier

    return "classification" if is_classifier(estimator) else "regression"


def default_label(model, hidden=None) -> str:
    """``"MLPRegressor [100]"`` for MLPs, the class name otherwise."""
    sizes = hidden if hidden is not None else getattr(model, "hidden_layer_sizes", None)
    name = type(model).__name__
    if sizes is not None and "MLP" in name:
        sizes = [sizes] if isinstance(sizes, int) else list(sizes)
        return f"{name} {sizes}"
    return name


def _n_samples(X) -> int:
    return int(X.shape[0]) if hasattr(X, "shape") else len(X)


def train_estimator(
    estimator,
    X,
    y,
    *,
    X_test=None,
    y_test=None,
    callbacks=None,
    label: str | None = None,
) -> TrainResult:
    """Fits ``estimator`` on ``(X, y)`` and returns a :class:`TrainResult`.

    The estimator's own ``callbacks`` (if it has that parameter) are kept and
    the given ones are added for this fit only; after fitting, the parameter
    holds its original value again (the estimator stays clonable/picklable).
    """
    if not hasattr(estimator, "fit"):
        raise TypeError(f"expected an estimator with fit(X, y), got {type(estimator).__name__}")
    if (X_test is None) != (y_test is None):
        raise ValueError("give both X_test and y_test, or neither")
    extra = CallbackList(callbacks).callbacks
    params = estimator.get_params(deep=False) if hasattr(estimator, "get_params") else {}
    live = "callbacks" in params
    n = _n_samples(X)
    task = _task(estimator)
    label = label or default_label(estimator)

    t0 = time.perf_counter()
    if live:
        original = params["callbacks"]
        own = CallbackList(original).callbacks
        estimator.set_params(callbacks=own + extra)
        try:
            estimator.fit(X, y)
        finally:
            estimator.set_params(callbacks=original)
        total = time.perf_counter() - t0
        history = History(getattr(estimator, "history_", []) or [])
        stop_reason = getattr(estimator, "stop_reason_", "max_iter")
        device = str(getattr(estimator, "device_", "cpu"))
    else:
        try:
            estimator.fit(X, y)
        except KeyboardInterrupt:
            raise
        total = time.perf_counter() - t0
        history, stop_reason, device = _replay(estimator, extra, total, n, label)

    epochs = len(history)
    per_epoch = [r.get("epoch_time") for r in history if r.get("epoch_time") is not None]
    timings = {
        "total_s": total,
        "per_epoch_s": float(np.median(per_epoch)) if per_epoch else (total / epochs if epochs else None),
        "samples_per_s": n * epochs / total if epochs and total > 0 else None,
        "epochs": epochs,
        "device": device,
    }
    result = TrainResult(
        model=estimator, history=history, device=device, stop_reason=stop_reason,
        params={k: v for k, v in params.items() if k != "callbacks"}, task=task, label=label,
        timings=timings,
    )
    metrics = {}
    if epochs:
        metrics["train_loss"] = float(history[-1]["loss"])
    try:
        metrics.update(prediction_metrics(task, np.asarray(y), estimator.predict(X), "train"))
        if X_test is not None:
            y_pred = estimator.predict(X_test)
            metrics.update(prediction_metrics(task, np.asarray(y_test), y_pred, "test"))
            result.predictions = {"y_true": np.asarray(y_test), "y_pred": np.asarray(y_pred), "split": "test"}
    except KeyboardInterrupt:
        pass
    result.metrics = metrics
    return result


def _replay(estimator, callbacks, total, n, label):
    """Feeds a fitted scikit-learn estimator's ``loss_curve_`` to callbacks."""
    curve = list(getattr(estimator, "loss_curve_", None) or [])
    history = History()
    if not curve:  # LinearRegression, SVC...: nothing to plot
        return history, "converged", "cpu"
    cbs = CallbackList(callbacks)
    max_iter = getattr(estimator, "max_iter", len(curve))
    cbs.fit_begin(model=estimator, n_models=1, max_epochs=len(curve) or max_iter, device="cpu",
                  run_labels=[label])
    per_epoch = total / len(curve) if curve else None
    vals = getattr(estimator, "validation_scores_", None) or []
    for i, loss in enumerate(curve):
        rec = {
            "epoch": i + 1, "loss": float(loss), "val_loss": None,
            "val_score": float(vals[i]) if i < len(vals) else None,
            "elapsed": per_epoch * (i + 1), "epoch_time": per_epoch,
            "samples_per_s": n / per_epoch if per_epoch else None, "device": "cpu",
            "lr": getattr(estimator, "learning_rate_init", None),
        }
        history.append(rec)
        cbs.epoch_end(run=0, record=rec, model=estimator)
    if getattr(estimator, "n_iter_", len(curve)) < max_iter:
        stop_reason = "early_stopping" if getattr(estimator, "early_stopping", False) else "converged"
    else:
        stop_reason = "max_iter"
    cbs.fit_end(model=estimator, history=history, stop_reason=stop_reason)
    return history, stop_reason, "cpu"
