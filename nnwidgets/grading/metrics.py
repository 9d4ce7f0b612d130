"""Recomputing metrics from a fitted model, and tolerances that fit each metric's randomness."""

from __future__ import annotations

import math

import numpy as np

#: metric name -> (function(y_true, y_pred) -> float, higher is better)
_METRICS = {}


def _register():
    from sklearn import metrics as m

    _METRICS.update({
        "accuracy": (m.accuracy_score, True),
        "mse": (m.mean_squared_error, False),
        "mean_squared_error": (m.mean_squared_error, False),
        "mae": (m.mean_absolute_error, False),
        "r2": (m.r2_score, True),
    })


def metric_function(metric: str):
    if not _METRICS:
        _register()
    try:
        return _METRICS[metric][0]
    except KeyError:
        raise ValueError(
            f"unknown metric {metric!r}; use one of {sorted(_METRICS)}"
        ) from None


def predict(model, X):
    """``model.predict(X)``, or for a torch module the argmax / value of its output in eval mode."""
    if hasattr(model, "predict"):
        return np.asarray(model.predict(X))
    import torch

    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            inputs = X if isinstance(X, torch.Tensor) else torch.as_tensor(np.asarray(X), dtype=torch.float32)
            out = model(inputs)
    finally:
        model.train(was_training)
    out = out.detach().cpu().numpy()
    if out.ndim == 2 and out.shape[1] > 1:
        return out.argmax(axis=1)
    return out.ravel()


def compute_metric(model, X, y, metric: str = "accuracy") -> float:
    """The metric of ``model``'s predictions on ``(X, y)``, computed here, not trusted."""
    fn = metric_function(metric)
    y_true = y.detach().cpu().numpy() if hasattr(y, "detach") else np.asarray(y)
    return float(fn(y_true, predict(model, X)))


def metric_tolerance(metric: str, expected: float, n: int, randomized: bool,
                     y_true=None, y_pred=None, z: float = 3.0) -> float:
    """Absolute tolerance for comparing ``metric`` with ``expected`` on ``n`` held-out samples.

    - Deterministic models (least squares, SVC, lbfgs logistic regression with the
      same data): only floating-point noise, 1e-6 relative (1e-9 absolute floor).
    - Randomized models (neural networks: initialisation, batch order, thread and
      BLAS differences between machines): ``z`` standard errors of the metric on
      ``n`` samples. Accuracy: binomial, ``sqrt(p (1 - p) / n)`` with a floor of one
      sample (``1/n``). Squared / absolute error: the standard error of the mean of
      per-sample errors (from ``y_true`` / ``y_pred`` when given, else 10% of the value).
    """
    if not randomized:
        return max(1e-9, 1e-6 * abs(expected))
    if metric == "accuracy":
        p = min(max(expected, 0.0), 1.0)
        return max(z * math.sqrt(p * (1 - p) / n), 1.0 / n)
    if metric in ("mse", "mean_squared_error", "mae") and y_true is not None and y_pred is not None:
        err = np.asarray(y_true, float).ravel() - np.asarray(y_pred, float).ravel()
        per_sample = err ** 2 if metric != "mae" else np.abs(err)
        return max(z * per_sample.std(ddof=1) / math.sqrt(len(per_sample)), 1e-9)
    return max(0.1 * abs(expected), 1e-9)
