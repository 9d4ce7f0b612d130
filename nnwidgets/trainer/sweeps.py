"""Sweeps: train every combination of a small grid on the same data, at once.

``sweep(MLPClassifier(...), {"learning_rate_init": [1e-4, 1e-3, 1e-2, 1e-1]}, X, y)``
trains the four networks of the lecture's "effect of learning rate" loop as
one stacked network (:func:`nnwidgets.trainer.batched.fit_stack`) and returns
a :class:`SweepResult` with the fitted estimators, their histories and scores.
Callbacks see one ``on_fit_begin(n_models=K, run_labels=[...])`` and then
``on_epoch_end(run=k, record=...)`` for every model and epoch, so a live plot
can overlay the K loss curves while they train.

Parameters that change the network's shape (``hidden_layer_sizes``,
``activation``, ``batch_size``, ...) cannot share one stack: such
combinations are grouped and each group is one batched fit. Estimators other
than nnwidgets MLPs are fitted one after another (``SweepResult.batched`` is
False and ``SweepResult.note`` says why); their ``loss_curve_`` is replayed
to the callbacks after each fit.

This module knows nothing of widgets: ``%%nntrain --grid`` and the live plot
call it and subscribe to its events.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.base import clone
from sklearn.metrics import check_scoring
from sklearn.model_selection import ParameterGrid
from sklearn.utils._param_validation import InvalidParameterError

from nnwidgets.trainer.events import CallbackList, History

__all__ = ["sweep", "SweepResult", "InvalidSweepCandidate"]


class InvalidSweepCandidate(InvalidParameterError):  # a ValueError and a TypeError, like scikit-learn's
    """A combination of the grid that the estimator's own parameter check
    rejects, found before any model trains. ``params`` is the combination,
    ``error`` the estimator's error."""

    def __init__(self, params: dict, label: str, error: Exception) -> None:
        super().__init__(f"sweep candidate {label}: {error}")
        self.params = params
        self.error = error


@dataclass
class SweepResult:
    """What a :func:`sweep` produced: one entry per parameter combination.

    Attributes
    ----------
    estimators : the fitted estimators, in grid order.
    params : the parameter dict of each estimator (``ParameterGrid`` order).
    labels : short labels, e.g. ``"learning_rate_init=0.01"``.
    histories : one :class:`~nnwidgets.trainer.events.History` per model
        (one dict per epoch: ``loss``, ``val_score``, ...).
    train_scores : ``scoring`` on the training data (accuracy / R^2 by default).
    val_scores : ``scoring`` on ``(X_val, y_val)``; None when not given.
    scoring : the scoring used (None: the estimator's ``score``).
    fit_time : wall-clock seconds for all fits together.
    batched : True when every model was trained in a stacked network.
    note : how the models were trained (or why not batched).
    """

    estimators: list
    params: list
    labels: list
    histories: list
    train_scores: np.ndarray
    val_scores: np.ndarray | None = None
    scoring: Any = None
    fit_time: float = 0.0
    batched: bool = False
    note: str = ""
    stop_reasons: list = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.estimators)

    @property
    def scores(self) -> np.ndarray:
        """The scores used to rank: validation scores if given, else training scores."""
        return self.val_scores if self.val_scores is not None else self.train_scores

    @property
    def best_index(self) -> int:
        """Index of the highest score (validation if given); NaN scores never win."""
        s = np.asarray(self.scores, dtype=float)
        if np.all(np.isnan(s)):
            raise ValueError("every model's score is NaN, so there is no best model")
        return int(np.nanargmax(s))

    @property
    def best_estimator(self):
        return self.estimators[self.best_index]

    @property
    def best_params(self) -> dict:
        return self.params[self.best_index]

    @property
    def loss_curves(self) -> list:
        """Training loss per epoch of each model (like ``loss_curve_``)."""
        return [list(getattr(e, "loss_curve_", None) or h.column("loss"))
                for e, h in zip(self.estimators, self.histories)]

    def to_frame(self):
        """One row per model: its label, the swept parameters, epochs, final
        and best loss, stop reason, scores and the run index in the stack."""
        import pandas as pd

        rows = []
        for k, (est, p, lab) in enumerate(zip(self.estimators, self.params, self.labels)):
            curve = self.loss_curves[k]
            row = {"run": k, "label": lab}
            row.update(p)
            row["n_iter"] = getattr(est, "n_iter_", len(curve))
            row["final_loss"] = float(curve[-1]) if curve else np.nan
            row["best_loss"] = float(np.nanmin(curve)) if curve else np.nan
            row["stop_reason"] = self.stop_reasons[k] if k < len(self.stop_reasons) else None
            row["train_score"] = float(self.train_scores[k])
            if self.val_scores is not None:
                row["val_score"] = float(self.val_scores[k])
            runs = getattr(self, "runs", None)  # (%%nntrain --grid --test: test metrics per model)
            if runs and k < len(runs):
                row.update({m: v for m, v in runs[k].metrics.items() if m.startswith("test_")})
            rows.append(row)
        return pd.DataFrame(rows).set_index("run")

    def plot(self, ax=None, key: str = "loss", logy: bool = False):
        """Overlays every model's ``key`` curve (default: training loss) on one
        matplotlib axes, labelled, and returns the axes."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(7, 4))
        for k, (lab, hist) in enumerate(zip(self.labels, self.histories)):
            ys = self.loss_curves[k] if key == "loss" else hist.column(key)
            ys = [np.nan if v is None else v for v in ys]
            ax.plot(np.arange(1, len(ys) + 1), ys, label=lab)
        ax.set_xlabel("Iteration (epoch)")
        ax.set_ylabel("Loss" if key == "loss" else key)
        if logy:
            ax.set_yscale("log")
        ax.legend(fontsize="small")
        return ax

    def to_train_results(self) -> list:
        """The models as :class:`~nnwidgets.trainer.results.TrainResult` objects
        (for the run registry / ``%nnruns``)."""
        from nnwidgets.trainer.results import TrainResult

        from sklearn.base import is_classifier

        out = []
        for k, est in enumerate(self.estimators):
            # the default scores (the estimator's own score: accuracy or R^2)
            # get the names %%nntrain's runs use, so that %nnruns shows one
            # column for both; another scoring keeps the neutral name
            name = "score" if self.scoring is not None else ("accuracy" if is_classifier(est) else "r2")
            metrics = {f"train_{name}": float(self.train_scores[k])}
            curve = self.loss_curves[k]
            if curve:
                metrics["train_loss"] = float(curve[-1])
            if self.val_scores is not None:
                metrics[f"val_{name}"] = float(self.val_scores[k])
            out.append(TrainResult(
                model=est, history=self.histories[k], metrics=metrics,
                device=str(getattr(est, "device_", "cpu")),
                stop_reason=self.stop_reasons[k] if k < len(self.stop_reasons) else "max_iter",
                params=dict(self.params[k]), label=self.labels[k],
            ))
        return out

    def __repr__(self) -> str:
        how = "batched" if self.batched else "one by one"
        lines = [f"SweepResult: {len(self)} models ({how}), {self.fit_time:.2f} s"]
        which = "val" if self.val_scores is not None else "train"
        for k, lab in enumerate(self.labels):
            star = " *" if k == self.best_index else ""
            lines.append(f"  [{k}] {lab}: {which} score {float(self.scores[k]):.4g}{star}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        head = (f"<b>SweepResult</b>: {len(self)} models "
                f"({'batched' if self.batched else 'one by one'}), {self.fit_time:.2f} s")
        return head + self.to_frame()._repr_html_()


def _history_of(est) -> History:
    hist = getattr(est, "history_", None)
    if isinstance(hist, History):
        return hist
    curve = getattr(est, "loss_curve_", None) or []
    return History({"epoch": i + 1, "loss": float(v)} for i, v in enumerate(curve))


def sweep(estimator, param_grid, X, y, *, X_val=None, y_val=None, callbacks=None, scoring=None,
          batched="auto", max_models_per_batch=None) -> SweepResult:
    """Trains ``clone(estimator)`` with every combination of ``param_grid`` on
    ``(X, y)``, all at once when the engine can stack them.

    Parameters
    ----------
    estimator : an (unfitted) estimator; nnwidgets MLPs are trained batched.
    param_grid : dict of parameter -> list of values, or a list of such
        dicts (as scikit-learn's ``ParameterGrid``): ``{"learning_rate_init":
        [1e-4, 1e-3, 1e-2, 1e-1]}``, ``{"random_state": range(5)}``.
    X, y : the training data, shared by every model.
    X_val, y_val : optional held-out data, scored after training.
    callbacks : nnwidgets Callback(s): ``on_fit_begin(n_models, run_labels)``
        once, ``on_epoch_end(run=k, record=..., label=...)`` per model and
        epoch, ``on_fit_end`` once. Returning ``STOP`` stops every model.
    scoring : a scikit-learn scoring name or callable (default: the
        estimator's ``score``: accuracy or R^2).
    batched : "auto" (batch nnwidgets MLPs, loop otherwise), True (raise if
        impossible) or False (always one by one).
    max_models_per_batch : cap on the models in one stacked network.

    Returns
    -------
    SweepResult
    """
    from nnwidgets.trainer.search import (
        _fit_models,
        _RunRelay,
        _engine,
        format_params,
        is_nnwidgets_mlp,
        refusal_reason,
    )

    if batched not in ("auto", True, False):
        raise ValueError(f"batched must be 'auto', True or False, got {batched!r}")
    if (X_val is None) != (y_val is None):
        raise ValueError("pass both X_val and y_val (held-out data), or neither")
    if isinstance(param_grid, dict) or (isinstance(param_grid, (list, tuple)) and param_grid):
        candidates = list(ParameterGrid(param_grid))
    else:
        candidates = []
    if not candidates:
        raise ValueError(
            f"param_grid={param_grid!r} has no combinations; pass e.g. "
            "{'learning_rate_init': [0.001, 0.01, 0.1]}"
        )
    ests = [clone(estimator).set_params(**clone(p, safe=False)) for p in candidates]
    labels = [format_params(p) for p in candidates]
    for est, params, label in zip(ests, candidates, labels):  # every candidate checked before any model trains
        validate = getattr(est, "_validate_params", None)
        if validate is not None:
            try:
                validate()
            except (ValueError, TypeError) as exc:
                raise InvalidSweepCandidate(params, label, exc) from None
    scorer = check_scoring(estimator, scoring=scoring)
    cbl = CallbackList(callbacks)

    reason = "batched=False was passed" if batched is False else refusal_reason(estimator)
    if reason is not None and batched is True:
        raise ValueError(f"batched=True, but this sweep cannot be batched: {reason}")

    t0 = time.perf_counter()
    if reason is None:
        engine, _ = _engine()
        jobs = [dict(est=e, params=p, X_train=X, y_train=y, fit_error=None, fit_time=0.0, batched=False)
                for e, p in zip(ests, candidates)]
        notes = _fit_models(jobs, engine=engine, callbacks=cbl if cbl.callbacks else None,
                            max_models_per_batch=max_models_per_batch, error_score="raise",
                            labels=labels, owner=estimator, interrupt="keep")
        ests = [j["est"] for j in jobs]
        all_batched = all(j["batched"] for j in jobs)
        note = "; ".join([f"{sum(j['batched'] for j in jobs)} of {len(jobs)} models trained as "
                          "stacked networks"] + notes)
    else:
        all_batched = False
        note = reason
        relay = _RunRelay(cbl, labels, owner=estimator) if cbl.callbacks else None
        if relay is not None:
            relay.begin(max_epochs=max((getattr(e, "max_iter", 0) or 0) for e in ests),
                        device=str(getattr(estimator, "device", "cpu")))
        for k, est in enumerate(ests):
            if relay is not None and relay.stopped:
                break
            own = is_nnwidgets_mlp(est) and relay is not None
            if own:  # route this model's own events to run k
                saved = est.get_params(deep=False).get("callbacks")
                extra = [] if saved is None else (list(saved) if isinstance(saved, (list, tuple)) else [saved])
                est.set_params(callbacks=extra + [relay.part([k])])
            try:
                est.fit(X, y)
            finally:
                if own:
                    est.set_params(callbacks=saved)
            if relay is not None and not own:
                relay.part([k])
                for rec in _history_of(est):
                    if relay.on_epoch_end(run=0, record=rec, model=est):
                        break
        if relay is not None:
            relay.end([_history_of(e) for e in ests], "stopped" if relay.stopped else "max_iter")
    fit_time = time.perf_counter() - t0

    train_scores = np.array([_safe_score(scorer, e, X, y) for e in ests], dtype=float)
    val_scores = None
    if X_val is not None:
        val_scores = np.array([_safe_score(scorer, e, X_val, y_val) for e in ests], dtype=float)
    return SweepResult(
        estimators=ests, params=candidates, labels=labels,
        histories=[_history_of(e) for e in ests], train_scores=train_scores,
        val_scores=val_scores, scoring=scoring, fit_time=fit_time, batched=all_batched,
        note=note, stop_reasons=[getattr(e, "stop_reason_", None) for e in ests],
    )


def _safe_score(scorer, est, X, y) -> float:
    """A model stopped before its first epoch (``STOP``) has no score: NaN."""
    from sklearn.exceptions import NotFittedError

    try:
        return float(scorer(est, X, y))
    except NotFittedError:
        return float("nan")
