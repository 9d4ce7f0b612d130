"""The result of one training run: a plain object, no widget code.

:class:`TrainResult` holds what a student wants after training: the trained
model, the per-epoch history, test metrics, timings and the device. It prints
as text; the widgets layer (``nnwidgets.widgets.results``) registers a rich
HTML display for it when IPython is present.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from nnwidgets.trainer.events import History


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
            return f"{value:.3e}"
        return f"{value:.4g}"
    return str(value)


_ENDINGS = {
    "max_iter": "ran all its epochs (max_iter)",
    "converged": "converged (the loss stopped improving)",
    "early_stopping": "stopped early (the validation score stopped improving)",
    "diverged": "diverged (see the warning)",
    "interrupted": "interrupted (Ctrl-C, or the notebook's interrupt button)",
    "stopped": "stopped (Stop button or a callback)",
}


@dataclass
class TrainResult:
    """What one training run produced.

    Attributes
    ----------
    model : the trained ``nn.Module`` or estimator (its last finite weights).
    history : :class:`~nnwidgets.trainer.events.History`, one dict per epoch.
    metrics : dict, e.g. ``train_loss``, ``test_loss``, ``test_accuracy`` or
        ``test_mse`` / ``test_r2`` (only what could be computed).
    timings : dict, ``total_s``, ``per_epoch_s`` (median), ``samples_per_s``,
        ``epochs``.
    device : str, where the model was trained (``"cpu"``, ``"cuda:0"``).
    stop_reason : one of :data:`nnwidgets.trainer.events.STOP_REASONS`.
    params : the training settings (optimizer, lr, epochs, ...).
    task : ``"classification"`` or ``"regression"`` (None when unknown).
    label : a short name for comparisons (``"MLP [100]"``, ``"lr=0.1"``).
    predictions : dict with ``y_true``/``y_pred`` on the test data when test
        data was given (used by the run comparison charts).
    """

    model: Any
    history: History = field(default_factory=History)
    metrics: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)
    device: str = "cpu"
    stop_reason: str = "max_iter"
    params: dict = field(default_factory=dict)
    task: str | None = None
    label: str = ""
    predictions: dict = field(default_factory=dict)
    run_id: int | None = None

    # -- convenience -------------------------------------------------------
    @property
    def loss_curve(self) -> list:
        """Training loss per epoch (like scikit-learn's ``loss_curve_``)."""
        return self.history.column("loss")

    @property
    def val_loss_curve(self) -> list:
        return self.history.column("val_loss")

    @property
    def epochs(self) -> int:
        return len(self.history)

    @property
    def test_score(self) -> float | None:
        """The headline test metric: accuracy (classification) or MSE (regression)."""
        for key in ("test_accuracy", "test_mse"):
            if key in self.metrics:
                return self.metrics[key]
        return None

    def predict(self, X):
        """Predictions of the trained model as a numpy array: class labels (as
        given in ``y``) for classification, values for regression. Works for
        estimators (their ``predict``) and for ``nn.Module`` models (outputs
        computed in ``eval()`` mode without gradients, on the training device)."""
        if hasattr(self.model, "predict"):
            return self.model.predict(X)
        import numpy as np
        import torch

        from nnwidgets.trainer.module_training import _numpy, module_dtype

        module = self.model
        param = next(module.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
        dtype = module_dtype(module)  # as in training: X gets the module's dtype
        data = X.detach() if isinstance(X, torch.Tensor) else torch.as_tensor(
            np.asarray(X.to_numpy() if hasattr(X, "to_numpy") else X,
                       dtype=np.float64 if dtype == torch.float64 else np.float32))
        module.eval()
        with torch.no_grad():
            out = _numpy(module(data.to(device=device, dtype=dtype)))
        if self.task == "classification":
            if out.ndim == 2 and out.shape[1] > 1:
                idx = out.argmax(axis=1)
            else:  # one logit (bce)
                idx = (out.reshape(-1) > 0).astype(int)
            classes = self.params.get("classes")
            return np.asarray(classes)[idx] if classes is not None else idx
        return out[:, 0] if out.ndim == 2 and out.shape[1] == 1 else out

    def summary(self) -> dict:
        """One flat row for tables: label, device, epochs, stop reason, metrics, timings."""
        row = {
            "run": self.run_id,
            "label": self.label,
            "device": self.device,
            "epochs": self.epochs,
            "stop_reason": self.stop_reason,
        }
        row.update(self.metrics)
        for key in ("total_s", "per_epoch_s", "samples_per_s"):
            if key in self.timings:
                row[key] = self.timings[key]
        return row

    def ending(self) -> str:
        """How the training ended, in words (``stop_reason`` is the code)."""
        if self.epochs == 0 and self.stop_reason == "converged":
            return "fitted (not trained in epochs)"  # LinearRegression, SVC...
        return _ENDINGS.get(self.stop_reason, f"ended: {self.stop_reason}")

    def __repr__(self) -> str:
        head = f"TrainResult({self.label or type(self.model).__name__}"
        if self.run_id is not None:
            head += f", run {self.run_id}"
        parts = [head + f", {self.epochs} epochs on {self.device}, {self.ending()})"]
        if self.metrics:
            parts.append("  metrics: " + ", ".join(f"{k}={_fmt(v)}" for k, v in self.metrics.items()))
        t = self.timings
        if t:
            line = f"  time: {_fmt(t.get('total_s', float('nan')))} s total"
            if t.get("per_epoch_s") is not None:
                line += f", {1e3 * t['per_epoch_s']:.3g} ms/epoch"
            if t.get("samples_per_s"):
                line += f", {t['samples_per_s']:,.0f} samples/s"
            parts.append(line)
        return "\n".join(parts)

    def _repr_mimebundle_(self, include=None, exclude=None):
        # The HTML rendering lives in the widgets layer; imported only when a
        # frontend asks for it, so the trainer never imports widget code.
        bundle = {"text/plain": repr(self)}
        try:
            from nnwidgets.widgets.results import result_html
        except Exception:  # pragma: no cover - widgets layer unavailable
            return bundle
        bundle["text/html"] = result_html(self)
        return bundle
