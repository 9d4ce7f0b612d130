"""Hyper-parameter searches that train all candidates x folds as one batched network.

:class:`GridSearchCV`, :class:`RandomizedSearchCV`, :func:`cross_validate` and
:func:`cross_val_score` are drop-ins for scikit-learn's (same arguments, same
``cv_results_``, ``best_*`` attributes, refit and delegation; they *are*
subclasses of scikit-learn's classes). When the estimator is an nnwidgets
:class:`~nnwidgets.trainer.estimators.MLPClassifier` /
:class:`~nnwidgets.trainer.estimators.MLPRegressor`, every (candidate, fold)
model is trained by :func:`nnwidgets.trainer.batched.fit_stack`: the models'
weights are stacked and each layer runs for all of them as one batched matrix
product, each model with its own fold, shuffle, initialisation,
hyper-parameters, optimiser state and stopping rule. Candidates whose searched
parameters cannot share one network (say different ``hidden_layer_sizes``)
are grouped, and each group is one batched fit.

Scoring, ranking, ``cv_results_`` and refit go through scikit-learn's own code
(``_score``, ``_format_results``, ``_select_best_index``), so the results have
exactly scikit-learn's form. Anything that cannot be batched (another
estimator, a Pipeline, fit parameters such as ``sample_weight``, a solver the
engine does not stack) runs scikit-learn's search unchanged; ``batched_`` is
then False and ``batch_note_`` says why (with a :class:`BatchFallbackWarning`
when the estimator is an nnwidgets MLP, since you probably expected batching;
nested in a cross-validation it is said once per call, not once per outer
fold: see :mod:`nnwidgets.trainer.fallback_notes`).
"""

from __future__ import annotations

import numbers
import time
from collections import OrderedDict, defaultdict
from inspect import signature
from itertools import product
from traceback import format_exc

import numpy as np
from sklearn.base import _fit_context, clone, is_classifier
from sklearn.metrics import check_scoring
from sklearn.metrics._scorer import _MultimetricScorer
from sklearn.model_selection import GridSearchCV as _SkGridSearchCV
from sklearn.model_selection import RandomizedSearchCV as _SkRandomizedSearchCV
from sklearn.model_selection import cross_validate as _sk_cross_validate
from sklearn.model_selection._split import check_cv
from sklearn.model_selection._validation import (
    _aggregate_score_dicts,
    _fit_and_score,
    _insert_error_scores,
    _normalize_score_results,
    _score,
    _warn_or_raise_about_fit_failures,
)
from sklearn.utils._param_validation import StrOptions, validate_parameter_constraints
from sklearn.utils.metaestimators import _safe_split
from sklearn.utils.validation import _check_method_params, _num_samples, indexable

from nnwidgets.trainer.events import Callback, CallbackList
from nnwidgets.trainer.fallback_notes import fallback_record, warn_fallback

__all__ = [
    "GridSearchCV",
    "RandomizedSearchCV",
    "cross_validate",
    "cross_val_score",
    "BatchFallbackWarning",
]


class BatchFallbackWarning(UserWarning):
    """An nnwidgets MLP search could not be batched and ran one model at a time."""


# --------------------------------------------------------------------------
# the engine and what it can stack
# --------------------------------------------------------------------------


def _engine():
    """The batched engine module, or (None, reason) when it is unavailable."""
    try:
        from nnwidgets.trainer import batched
    except ImportError as exc:  # pragma: no cover - only while the engine is missing
        return None, f"the batched engine nnwidgets.trainer.batched is not available ({exc})"
    return batched, None


def _nnwidgets_mlp_types() -> tuple:
    try:
        from nnwidgets.trainer.estimators import MLPClassifier, MLPRegressor
    except ImportError:  # pragma: no cover
        return ()
    return (MLPClassifier, MLPRegressor)


def is_nnwidgets_mlp(estimator) -> bool:
    types = _nnwidgets_mlp_types()
    return bool(types) and isinstance(estimator, types)


def refusal_reason(estimator, fit_params=None) -> str | None:
    """Why ``estimator`` cannot be trained by the batched engine (None if it can).

    Checks the estimator itself; the searched parameters are checked per
    group of candidates when they are known.
    """
    if not is_nnwidgets_mlp(estimator):
        return (
            f"{type(estimator).__name__} is not an nnwidgets MLPClassifier/MLPRegressor, "
            "so each model is trained one at a time by its own fit (scikit-learn's path)"
        )
    engine, why = _engine()
    if engine is None:
        return why
    extra = sorted(k for k in (fit_params or {}) if k != "groups")
    if extra:
        return (
            f"fit parameters {extra} are passed to each fit by scikit-learn's one-by-one "
            "path (the batched engine takes (X, y) only)"
        )
    ok, reason = engine.can_stack([clone(estimator), clone(estimator)])
    if not ok:
        return f"the batched engine cannot stack this estimator: {reason}"
    return None


def _stack_key(params: dict, batchable) -> tuple:
    """Candidates with equal keys can share one stacked network."""
    return tuple(sorted((k, repr(v)) for k, v in params.items() if k not in batchable))


def format_params(params: dict) -> str:
    """``{'alpha': 0.01, 'learning_rate_init': 0.001}`` -> ``"alpha=0.01, learning_rate_init=0.001"``."""
    if not params:
        return "default"
    parts = []
    for k in sorted(params):
        v = params[k]
        if isinstance(v, (float, np.floating)):
            v = f"{float(v):.4g}"
        parts.append(f"{k}={v}")
    return ", ".join(parts)


class _RunRelay(Callback):
    """Forwards one batched fit's events to ``callbacks`` with global run indices
    and labels, so several batched fits look like one run of ``n_total`` models.

    ``on_fit_begin`` / ``on_fit_end`` of the parts are swallowed; the owner calls
    :meth:`begin` and :meth:`end` once around all of them.
    """

    def __init__(self, callbacks: CallbackList, labels: list[str], owner=None):
        self.callbacks = callbacks
        self.labels = list(labels)
        self.owner = owner
        self.offsets: list[int] = []  # local run -> global run, for the current part
        self.stopped = False

    def begin(self, max_epochs, device) -> None:
        self.callbacks.fit_begin(model=self.owner, n_models=len(self.labels), max_epochs=max_epochs,
                                 device=device, run_labels=self.labels)

    def part(self, global_runs: list[int]) -> "_RunRelay":
        self.offsets = list(global_runs)
        return self

    @property
    def next_epoch_end(self) -> float:
        return self.callbacks.due  # paced when what it relays to is (nnwidgets.trainer.events)

    def on_epoch_end(self, run=0, record=None, model=None, **kw):
        k = self.offsets[run] if run < len(self.offsets) else run
        kw["label"] = self.labels[k] if k < len(self.labels) else str(k)
        if self.callbacks.epoch_end(run=k, record=record, model=model, **kw):
            self.stopped = True
            return "stop"
        return None

    def end(self, histories, stop_reason) -> None:
        self.callbacks.fit_end(model=self.owner, history=histories, stop_reason=stop_reason)


class _ProgressPrinter(Callback):
    """Prints one line every ``every`` seconds while a batched fit runs (verbose >= 1)."""

    def __init__(self, n_models: int, every: float = 5.0):
        self.n_models = n_models
        self.every = every
        self.t0 = time.perf_counter()
        self.last = self.t0
        self.epoch_of: dict[int, int] = {}

    def on_epoch_end(self, run=0, record=None, **kw):
        if record is not None:
            self.epoch_of[run] = int(record.get("epoch", 0))
        now = time.perf_counter()
        if now - self.last >= self.every:
            self.last = now
            top = max(self.epoch_of.values(), default=0)
            active = sum(1 for e in self.epoch_of.values() if e >= top)
            print(f"[batched] epoch {top}: {active} of {self.n_models} models still training, "
                  f"{now - self.t0:.1f} s", flush=True)


def _callback_list(callbacks) -> CallbackList:
    if isinstance(callbacks, CallbackList):
        return callbacks
    return CallbackList(callbacks)


# --------------------------------------------------------------------------
# fitting and scoring many (estimator, fold) pairs at once
# --------------------------------------------------------------------------


def _error_scores(scorer, error_score, return_train_score):
    if isinstance(scorer, _MultimetricScorer):
        test = {name: error_score for name in scorer._scorers}
    else:
        test = error_score
    train = (test.copy() if isinstance(test, dict) else test) if return_train_score else None
    return test, train


def _device_name(device) -> str:
    """What the live view shows: "cpu" or "cuda:0", not "auto"."""
    from nnwidgets.trainer.device import device_name, resolve_device

    try:
        return device_name(resolve_device(device))
    except Exception:  # (a bad device fails the fits, with its own message)
        return str(device)


def _fit_models(jobs, *, engine, callbacks=None, max_models_per_batch=None, error_score=np.nan,
                verbose=0, labels=None, owner=None, interrupt="raise"):
    """Fits ``jobs`` (dicts with ``est``, ``X_train``, ``y_train``, ``params``) in place.

    Groups the jobs into stackable sets and fits each set with one
    ``fit_stack`` call. Sets the job keys ``fit_time`` (the batch's wall time
    shared equally among its models), ``fit_error`` (traceback or None) and
    ``batched`` (bool). Returns a list of notes (strings) about fits that were
    not batched.

    Ctrl-C stops the engine at a step boundary; ``interrupt="raise"`` (the
    searches, like scikit-learn's) then raises KeyboardInterrupt, ``"keep"``
    (sweeps) keeps the partly trained models. A callback's ``STOP`` skips
    the groups not started yet: their fits fail with a note (error_score).
    """
    notes = []
    batchable = engine.BATCHABLE_PARAMS
    groups: OrderedDict = OrderedDict()
    for i, job in enumerate(jobs):
        if job.get("fit_error") is not None:
            continue
        groups.setdefault(_stack_key(job["params"], batchable), []).append(i)

    relay = None
    interrupted = False
    cbl = _callback_list(callbacks)
    if labels is not None and cbl.callbacks:
        relay = _RunRelay(cbl, labels, owner=owner)
        max_iter = max((getattr(j["est"], "max_iter", 0) or 0) for j in jobs)
        relay.begin(max_epochs=max_iter, device=_device_name(getattr(jobs[0]["est"], "device", "auto")))
    progress = _ProgressPrinter(len(jobs)) if verbose > 0 else None

    for key, idx in groups.items():
        if relay is not None and relay.stopped:
            for i in idx:
                jobs[i]["fit_error"] = "training was stopped by a callback (STOP) before this model ran"
            continue
        ests = [jobs[i]["est"] for i in idx]
        ok, reason = engine.can_stack(ests)
        if not ok:
            shared = ", ".join(f"{k}={v}" for k, v in key) or "the base parameters"  # (values are reprs)
            notes.append(f"{len(idx)} fits with {shared} trained one by one: {reason}")
            for i in idx:
                _fit_one(jobs[i], error_score)
            continue
        def part_cbs(idx):  # the callbacks of a batched fit of jobs[idx]
            return ([relay.part(idx)] if relay is not None else []) + ([progress] if progress is not None else [])

        t0 = time.perf_counter()
        failed = _try_fit_stack(engine, jobs, idx, part_cbs(idx), max_models_per_batch)
        if failed is not None:
            # which models cannot even be set up (a validation split too small
            # for early_stopping, ...)? Those fail alone, each with its own
            # error (error_score decides, as in sklearn), and the others are
            # batched again; an error while training refits them one by one.
            for i in idx:
                jobs[i]["est"] = clone(jobs[i]["est"])
            bad = [i for i in idx if _setup_fails(jobs[i])]
            good = [i for i in idx if i not in bad]
            for i in bad:
                _fit_one(jobs[i], error_score)
                jobs[i]["invalid"] = True  # failed alone, like a parameter error (not a batching failure)
            if bad:
                notes.append(f"{len(bad)} of {len(idx)} models failed before training, each alone ({failed})")
            if bad and good:
                idx = good
                t0 = time.perf_counter()
                failed = _try_fit_stack(engine, jobs, idx, part_cbs(idx), max_models_per_batch)
                if failed is not None:
                    for i in idx:
                        jobs[i]["est"] = clone(jobs[i]["est"])
            elif bad:
                continue
        if failed is not None:
            # outside the except block, so each model's own error is reported
            # alone, not chained to the batched fit's
            notes.append(f"the batched fit of {len(idx)} models raised {failed}; they were refitted one by one")
            for i in idx:
                _fit_one(jobs[i], error_score)
            continue
        ests = [jobs[i]["est"] for i in idx]
        if any(getattr(e, "stop_reason_", None) == "interrupted" for e in ests):
            if interrupt == "raise":
                raise KeyboardInterrupt(
                    f"interrupted: the search stopped while training {len(idx)} stacked models"
                )
            notes.append("interrupted (Ctrl-C): the models were only partly trained")
            interrupted = True
        share = (time.perf_counter() - t0) / len(idx)
        for i in idx:
            jobs[i]["fit_time"] = share
            jobs[i]["fit_error"] = None
            jobs[i]["batched"] = True
        if interrupted:
            if relay is not None:
                relay.stopped = True
            break

    if relay is not None:
        hist = [getattr(j["est"], "history_", None) for j in jobs]
        relay.end(hist, "stopped" if relay.stopped else "max_iter")
    return notes


def _try_fit_stack(engine, jobs, idx, part_cbs, max_models_per_batch) -> str | None:
    """One batched fit of ``jobs[idx]``; None, or the error it raised."""
    try:
        engine.fit_stack([jobs[i]["est"] for i in idx], [(jobs[i]["X_train"], jobs[i]["y_train"]) for i in idx],
                         callbacks=part_cbs or None, max_models_per_batch=max_models_per_batch)
    except KeyboardInterrupt:
        raise
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def _setup_fails(job) -> bool:
    """Whether the job's model fails before training: its parameters, or the
    engine's setup of its data (checks, classes, validation split, weights)."""
    est = clone(job["est"])
    try:
        est._validate_params()
        est._prepare_run(job["X_train"], job["y_train"], None, incremental=False, init_cache={})
    except Exception:
        return True
    return False


def _fit_one(job, error_score):
    t0 = time.perf_counter()
    try:
        job["est"].fit(job["X_train"], job["y_train"])
    except Exception:
        if error_score == "raise":
            raise
        job["fit_error"] = format_exc()
    else:
        job["fit_error"] = None
    job["fit_time"] = time.perf_counter() - t0
    job["batched"] = False


def _prevalidate(job, error_score):
    """Parameter errors (alpha=-1, ...) fail that model alone, as in sklearn."""
    try:
        job["est"]._validate_params()
    except Exception:
        if error_score == "raise":
            raise
        job["fit_error"] = format_exc()
        job["fit_time"] = 0.0
        job["batched"] = False
        job["invalid"] = True


def _score_jobs(jobs, *, scorer, score_params, return_train_score, error_score, verbose,
                n_candidates=None, n_splits=None, X=None):
    """sklearn's ``_fit_and_score`` output dicts for fitted jobs."""
    out = []
    for job in jobs:
        result = {}
        if job["fit_error"] is not None:
            test_scores, train_scores = _error_scores(scorer, error_score, return_train_score)
            score_time = 0.0
        else:
            sp_test = _check_method_params(X, params=score_params, indices=job["test"])
            sp_train = _check_method_params(X, params=score_params, indices=job["train"])
            t0 = time.time()
            test_scores = _score(job["est"], job["X_test"], job["y_test"], scorer, sp_test, error_score)
            score_time = time.time() - t0
            if return_train_score:
                train_scores = _score(job["est"], job["X_train"], job["y_train"], scorer, sp_train,
                                      error_score)
        result["fit_error"] = job["fit_error"]
        result["test_scores"] = test_scores
        if return_train_score:
            result["train_scores"] = train_scores
        result["n_test_samples"] = _num_samples(job["X_test"])
        result["fit_time"] = job["fit_time"]
        result["score_time"] = score_time
        result["estimator"] = job["est"]
        if verbose > 1:
            _print_end(job, result, verbose, return_train_score, n_splits, n_candidates)
        out.append(result)
    return out


def _print_end(job, result, verbose, return_train_score, n_splits, n_candidates):
    """The ``[CV] END ...`` line of sklearn's ``_fit_and_score``."""
    params = job["params"]
    params_msg = ", ".join(f"{k}={params[k]}" for k in sorted(params)) if params else ""
    progress = ""
    if verbose > 2 and n_splits:
        progress = f" {job['split'] + 1}/{n_splits}"
        if verbose > 9 and n_candidates:
            progress += f"; {job['cand'] + 1}/{n_candidates}"
    test, train = result["test_scores"], result.get("train_scores")
    msg = params_msg + (";" if params_msg else "")
    if verbose > 2:
        if isinstance(test, dict):
            for name in sorted(test):
                msg += f" {name}: ("
                if return_train_score:
                    msg += f"train={train[name]:.3f}, "
                msg += f"test={test[name]:.3f})"
        elif return_train_score:
            msg += f", score=(train={train:.3f}, test={test:.3f})"
        else:
            msg += f", score={test:.3f}"
    total = result["fit_time"] + result["score_time"]
    msg += f" total time={_short_time(total)}"
    end = f"[CV{progress}] END "
    print(end + "." * max(0, 80 - len(end) - len(msg)) + msg)


def _short_time(t):
    if t > 60:
        return "%4.1fmin" % (t / 60.0)
    return " %5.1fs" % t


def _make_jobs(base_estimator, X, y, candidate_params, cv_splits, fit_error_score):
    """One job per (candidate, split), candidate-major like sklearn. Folds are
    split once and shared by all candidates (the engine keeps one copy each)."""
    folds = []
    for train, test in cv_splits:
        X_train, y_train = _safe_split(base_estimator, X, y, train)
        X_test, y_test = _safe_split(base_estimator, X, y, test, train)
        folds.append((train, test, X_train, y_train, X_test, y_test))
    jobs = []
    for c, params in enumerate(candidate_params):
        for s, (train, test, X_train, y_train, X_test, y_test) in enumerate(folds):
            est = clone(base_estimator).set_params(**clone(params, safe=False))
            job = dict(est=est, params=params, cand=c, split=s, train=train, test=test,
                       X_train=X_train, y_train=y_train, X_test=X_test, y_test=y_test,
                       fit_error=None, fit_time=0.0, batched=False)
            _prevalidate(job, fit_error_score)
            jobs.append(job)
    return jobs


# --------------------------------------------------------------------------
# the searches
# --------------------------------------------------------------------------

_EXTRA_CONSTRAINTS = {
    "batched": ["boolean", StrOptions({"auto"})],
    "max_models_per_batch": [numbers.Integral, None],
    "callbacks": "no_validation",
}


class _BatchedSearchMixin:
    """Replaces the fit step of scikit-learn's searches with batched training."""

    def __sklearn_clone__(self):
        # the clones scikit-learn fits in each fold of a nested cross-validation
        # share one record of the fallbacks said (nnwidgets.trainer.fallback_notes)
        twin = super().__sklearn_clone__()
        twin._fallbacks_said = self.__dict__.setdefault("_fallbacks_said_by_clones", set())
        return twin

    def fit(self, X, y=None, **params):
        """Run fit with all sets of parameters (see scikit-learn's ``fit``).

        nnwidgets MLPs train as one batched network (``batched_`` True);
        anything else runs scikit-learn's search (``batched_`` False, the
        reason in ``batch_note_``).
        """
        with fallback_record(self.__dict__.get("_fallbacks_said")):
            return self._fit(X, y, **params)

    def _fit(self, X, y=None, **params):
        if self.batched is False:
            reason = "batched=False was passed"
        else:
            reason = refusal_reason(self.estimator, self._params_for_each_fit(params))
        if reason is not None:
            if self.batched is True:
                raise ValueError(
                    f"batched=True, but this search cannot be batched: {reason}. "
                    "Use batched='auto' to fall back to scikit-learn's one-by-one search."
                )
            if is_nnwidgets_mlp(self.estimator) and self.batched == "auto":
                warn_fallback(f"{type(self).__name__} runs one model at a time: {reason}.",
                              BatchFallbackWarning, stacklevel=3)
            if self.verbose > 0:
                print(f"[{type(self).__name__}] not batched: {reason}")
            self.batched_ = False
            self.batch_note_ = reason
            return super().fit(X, y, **params)
        return self._fit_batched(X, y, **params)

    def _params_for_each_fit(self, params: dict) -> dict:
        """The fit parameters each model's fit would get: with metadata
        routing on, only those the estimator requests (a scorer's
        sample_weight is not one of them)."""
        from sklearn.utils.metadata_routing import _routing_enabled

        if not params or not _routing_enabled():
            return params
        try:
            return dict(self._get_routed_params_for_fit(params).estimator.fit)
        except Exception:  # a routing error: scikit-learn's own path reports it
            return params

    @_fit_context(prefer_skip_nested_validation=False)
    def _fit_batched(self, X, y=None, **params):
        # This mirrors scikit-learn 1.9's BaseSearchCV.fit line by line, with
        # the parallel per-fit loop replaced by the batched evaluation.
        engine, _ = _engine()
        scorers, refit_metric = self._get_scorers()

        X, y = indexable(X, y)
        params = _check_method_params(X, params=params)
        routed_params = self._get_routed_params_for_fit(params)

        root_callback_ctx = self._init_callback_context(
            max_subtasks=1 + (self.refit is not False)
        ).call_on_fit_task_begin(estimator=self, X=X, y=y, metadata=None)

        self._checked_cv_orig = check_cv(self.cv, y, classifier=is_classifier(self.estimator))
        self._check_input_parameters(X=X, y=y, split_params=routed_params.splitter.split)
        self.n_splits_ = self._checked_cv_orig.get_n_splits(X, y, **routed_params.splitter.split)

        base_estimator = clone(self.estimator)
        score_params = routed_params.scorer.score
        results = {}
        all_candidate_params = []
        all_out = []
        all_more_results = defaultdict(list)
        notes = []
        n_batched = [0, 0]  # fits trained by fit_stack, all fits

        def evaluate_candidates(candidate_params, cv=None, more_results=None, callback_ctx=None):
            cv = cv or self._checked_cv_orig
            candidate_params = list(candidate_params)
            n_candidates = len(candidate_params)
            n_splits = self.n_splits_

            cv_splits = list(cv.split(X, y, **routed_params.splitter.split))
            if len(cv_splits) != n_splits:
                raise ValueError(
                    f"cv.split and cv.get_n_splits return inconsistent results. "
                    f"Expected {n_splits} splits, got {len(cv_splits)}"
                )
            if self.verbose > 0:
                print(
                    f"Fitting {n_splits} folds for each of {n_candidates} candidates, "
                    f"totalling {n_candidates * n_splits} fits (batched: nnwidgets trains them "
                    "as stacked networks)"
                )
            jobs = _make_jobs(base_estimator, X, y, candidate_params, cv_splits, self.error_score)
            if not jobs:
                raise ValueError(
                    "No fits were performed. Was the CV iterator empty? Were there no candidates?"
                )
            labels = [f"{format_params(j['params'])} | fold {j['split'] + 1}" for j in jobs]
            notes.extend(_fit_models(
                jobs, engine=engine, callbacks=self.callbacks,
                max_models_per_batch=self.max_models_per_batch, error_score=self.error_score,
                verbose=self.verbose, labels=labels, owner=self,
            ))
            n_batched[0] += sum(1 for j in jobs if j["batched"])
            n_batched[1] += sum(1 for j in jobs if not j.get("invalid"))
            out = _score_jobs(
                jobs, scorer=scorers, score_params=score_params,
                return_train_score=self.return_train_score, error_score=self.error_score,
                verbose=self.verbose, n_candidates=n_candidates, n_splits=n_splits, X=X,
            )
            for o in out:
                o.pop("estimator")

            _warn_or_raise_about_fit_failures(out, self.error_score)
            if callable(self.scoring):
                _insert_error_scores(out, self.error_score)

            all_candidate_params.extend(candidate_params)
            all_out.extend(out)
            if more_results is not None:
                for key, value in more_results.items():
                    all_more_results[key].extend(value)

            nonlocal results
            results = self._format_results(all_candidate_params, n_splits, all_out, all_more_results)
            return results

        # (a subclass's own _run_search may predate the callback_ctx argument,
        # as scikit-learn's documented coarse-to-fine example does)
        if "callback_ctx" in signature(self._run_search).parameters:
            self._run_search(evaluate_candidates, callback_ctx=root_callback_ctx)
        else:
            self._run_search(evaluate_candidates)

        first_test_score = all_out[0]["test_scores"]
        self.multimetric_ = isinstance(first_test_score, dict)
        if callable(self.scoring) and self.multimetric_:
            self._check_refit_for_multimetric(first_test_score)
            refit_metric = self.refit

        if self.refit or not self.multimetric_:
            self.best_index_ = self._select_best_index(self.refit, refit_metric, results)
            if not callable(self.refit):
                self.best_score_ = results[f"mean_test_{refit_metric}"][self.best_index_]
            self.best_params_ = results["params"][self.best_index_]

        if self.refit:
            self.best_estimator_ = clone(base_estimator).set_params(
                **clone(self.best_params_, safe=False)
            )
            refit_subctx = root_callback_ctx.subcontext(task_name="refit-with-best-params")
            with refit_subctx.propagate_callback_context(self.best_estimator_):
                refit_subctx.call_on_fit_task_begin(estimator=self, X=X, y=y, metadata=None)
                refit_start_time = time.time()
                if y is not None:
                    self.best_estimator_.fit(X, y, **routed_params.estimator.fit)
                else:
                    self.best_estimator_.fit(X, **routed_params.estimator.fit)
                refit_end_time = time.time()
            self.refit_time_ = refit_end_time - refit_start_time
            if hasattr(self.best_estimator_, "feature_names_in_"):
                self.feature_names_in_ = self.best_estimator_.feature_names_in_
            refit_subctx.call_on_fit_task_end(estimator=self, X=X, y=y, metadata=None)

        if isinstance(scorers, _MultimetricScorer):
            self.scorer_ = scorers._scorers
        else:
            self.scorer_ = scorers
        self.cv_results_ = results

        self.batched_ = n_batched[0] == n_batched[1]
        head = f"{n_batched[0]} of {n_batched[1]} fits trained as stacked networks"
        self.batch_note_ = "; ".join([head] + notes)
        root_callback_ctx.call_on_fit_task_end(estimator=self, X=X, y=y, metadata=None)
        return self


_BATCH_DOC = """
    nnwidgets additions (keyword-only, after scikit-learn's arguments):

    batched : "auto", True or False, default="auto"
        "auto" trains nnwidgets MLPs as one batched network and anything else
        with scikit-learn's search; True raises when batching is impossible;
        False always runs scikit-learn's one-by-one search. ``n_jobs`` and
        ``pre_dispatch`` only apply to the one-by-one path.
    max_models_per_batch : int or None, default=None
        Upper bound on the models stacked in one network (None: as many as
        fit in memory, decided by the engine).
    callbacks : Callback or list of Callbacks, default=None
        nnwidgets training callbacks (live loss plots): one
        ``on_fit_begin(n_models=K, run_labels=[...])`` for all K
        (candidate, fold) models, then ``on_epoch_end(run=k, record=...)``
        per model and epoch.

    Attributes added: ``batched_`` (bool: every fit was trained stacked) and
    ``batch_note_`` (str: how the fits were trained, or why not batched).
    ``cv_results_["mean_fit_time"]`` of a batched search is each model's
    share of its batch's wall time.
"""


class GridSearchCV(_BatchedSearchMixin, _SkGridSearchCV):
    __doc__ = (
        "scikit-learn's GridSearchCV; nnwidgets MLP candidates x folds train as one batched "
        "network.\n" + _BATCH_DOC + "\n    scikit-learn's documentation:\n" + (_SkGridSearchCV.__doc__ or "")
    )
    _parameter_constraints: dict = {**_SkGridSearchCV._parameter_constraints, **_EXTRA_CONSTRAINTS}

    def __init__(
        self,
        estimator,
        param_grid,
        *,
        scoring=None,
        n_jobs=None,
        refit=True,
        cv=None,
        verbose=0,
        pre_dispatch="2*n_jobs",
        error_score=np.nan,
        return_train_score=False,
        batched="auto",
        max_models_per_batch=None,
        callbacks=None,
    ):
        super().__init__(
            estimator=estimator,
            param_grid=param_grid,
            scoring=scoring,
            n_jobs=n_jobs,
            refit=refit,
            cv=cv,
            verbose=verbose,
            pre_dispatch=pre_dispatch,
            error_score=error_score,
            return_train_score=return_train_score,
        )
        self.batched = batched
        self.max_models_per_batch = max_models_per_batch
        self.callbacks = callbacks


class RandomizedSearchCV(_BatchedSearchMixin, _SkRandomizedSearchCV):
    __doc__ = (
        "scikit-learn's RandomizedSearchCV; nnwidgets MLP candidates x folds train as one "
        "batched network.\n" + _BATCH_DOC + "\n    scikit-learn's documentation:\n"
        + (_SkRandomizedSearchCV.__doc__ or "")
    )
    _parameter_constraints: dict = {**_SkRandomizedSearchCV._parameter_constraints, **_EXTRA_CONSTRAINTS}

    def __init__(
        self,
        estimator,
        param_distributions,
        *,
        n_iter=10,
        scoring=None,
        n_jobs=None,
        refit=True,
        cv=None,
        verbose=0,
        pre_dispatch="2*n_jobs",
        random_state=None,
        error_score=np.nan,
        return_train_score=False,
        batched="auto",
        max_models_per_batch=None,
        callbacks=None,
    ):
        super().__init__(
            estimator=estimator,
            param_distributions=param_distributions,
            n_iter=n_iter,
            scoring=scoring,
            n_jobs=n_jobs,
            refit=refit,
            cv=cv,
            verbose=verbose,
            pre_dispatch=pre_dispatch,
            random_state=random_state,
            error_score=error_score,
            return_train_score=return_train_score,
        )
        self.batched = batched
        self.max_models_per_batch = max_models_per_batch
        self.callbacks = callbacks


# --------------------------------------------------------------------------
# cross-validation
# --------------------------------------------------------------------------


def cross_validate(
    estimator,
    X,
    y=None,
    *,
    groups=None,
    scoring=None,
    cv=None,
    n_jobs=None,
    verbose=0,
    params=None,
    pre_dispatch="2*n_jobs",
    return_train_score=False,
    return_estimator=False,
    return_indices=False,
    error_score=np.nan,
    batched="auto",
    callbacks=None,
):
    """scikit-learn's ``cross_validate``; an nnwidgets MLP's folds train as one
    batched network (one model per fold, stacked).

    Same arguments and the same returned dict as
    :func:`sklearn.model_selection.cross_validate`, plus ``batched`` ("auto",
    True, False) and ``callbacks`` (per-fold epoch events, ``run`` = fold).
    ``fit_time`` of a batched run is each fold's share of the batch's wall
    time. Anything that cannot be batched runs scikit-learn's function.
    """
    constraints = getattr(_sk_cross_validate, "_skl_parameter_constraints", None)
    if constraints is not None:  # scikit-learn's argument checks and messages, whichever path runs
        given = dict(estimator=estimator, X=X, y=y, groups=groups, scoring=scoring, cv=cv, n_jobs=n_jobs,
                     verbose=verbose, params=params, pre_dispatch=pre_dispatch,
                     return_train_score=return_train_score, return_estimator=return_estimator,
                     return_indices=return_indices, error_score=error_score)
        validate_parameter_constraints(constraints, {k: v for k, v in given.items() if k in constraints},
                                       caller_name="cross_validate")
    with fallback_record():
        return _cross_validate(
            estimator, X, y, groups=groups, scoring=scoring, cv=cv, n_jobs=n_jobs, verbose=verbose,
            params=params, pre_dispatch=pre_dispatch, return_train_score=return_train_score,
            return_estimator=return_estimator, return_indices=return_indices,
            error_score=error_score, batched=batched, callbacks=callbacks,
        )


def _cross_validate(estimator, X, y, *, groups, scoring, cv, n_jobs, verbose, params, pre_dispatch,
                    return_train_score, return_estimator, return_indices, error_score, batched,
                    callbacks):
    reason = "batched=False was passed" if batched is False else refusal_reason(estimator, params)
    if reason is None and (not isinstance(error_score, numbers.Number) and error_score != "raise"):
        reason = "error_score is invalid"  # let sklearn raise its own message
    from sklearn.utils.metadata_routing import _routing_enabled

    if reason is None and _routing_enabled() and params:
        reason = "metadata routing is enabled and params were given; scikit-learn routes them"
    if reason is not None:
        if batched is True:
            raise ValueError(f"batched=True, but this cross-validation cannot be batched: {reason}.")
        if is_nnwidgets_mlp(estimator) and batched == "auto":
            warn_fallback(f"cross_validate runs one fold at a time: {reason}.", BatchFallbackWarning,
                          stacklevel=3)
        return _sk_cross_validate(
            estimator, X, y, groups=groups, scoring=scoring, cv=cv, n_jobs=n_jobs, verbose=verbose,
            params=params, pre_dispatch=pre_dispatch, return_train_score=return_train_score,
            return_estimator=return_estimator, return_indices=return_indices,
            error_score=error_score,
        )
    engine, _ = _engine()
    X, y = indexable(X, y)
    cv = check_cv(cv, y, classifier=is_classifier(estimator))
    scorers = check_scoring(estimator, scoring=scoring, raise_exc=(error_score == "raise"))
    indices = list(cv.split(X, y, groups))
    jobs = _make_jobs(estimator, X, y, [{}], indices, error_score)
    labels = [f"fold {j['split'] + 1}" for j in jobs]
    _fit_models(jobs, engine=engine, callbacks=callbacks, error_score=error_score, verbose=verbose,
                labels=labels, owner=estimator)
    results = _score_jobs(jobs, scorer=scorers, score_params={}, return_train_score=return_train_score,
                          error_score=error_score, verbose=verbose, n_splits=len(indices), X=X)
    for r in results:
        r.pop("n_test_samples")
        if not return_estimator:
            r.pop("estimator")
    _warn_or_raise_about_fit_failures(results, error_score)
    if callable(scoring):
        _insert_error_scores(results, error_score)
    results = _aggregate_score_dicts(results)

    ret = {"fit_time": results["fit_time"], "score_time": results["score_time"]}
    if return_estimator:
        ret["estimator"] = results["estimator"]
    if return_indices:
        ret["indices"] = {}
        ret["indices"]["train"], ret["indices"]["test"] = zip(*indices)
    test_scores_dict = _normalize_score_results(results["test_scores"])
    if return_train_score:
        train_scores_dict = _normalize_score_results(results["train_scores"])
    for name in test_scores_dict:
        ret["test_%s" % name] = test_scores_dict[name]
        if return_train_score:
            ret["train_%s" % name] = train_scores_dict[name]
    return ret


def cross_val_score(estimator, X, y=None, *, groups=None, scoring=None, cv=None, n_jobs=None,
                    verbose=0, params=None, pre_dispatch="2*n_jobs", error_score=np.nan,
                    batched="auto", callbacks=None):
    """scikit-learn's ``cross_val_score`` on top of :func:`cross_validate`
    (batched for nnwidgets MLPs). Returns the array of test scores."""
    from sklearn.metrics import check_scoring as _check

    scorer = _check(estimator, scoring=scoring)
    res = cross_validate(
        estimator, X, y, groups=groups, scoring={"score": scorer}, cv=cv, n_jobs=n_jobs,
        verbose=verbose, params=params, pre_dispatch=pre_dispatch, error_score=error_score,
        batched=batched, callbacks=callbacks,
    )
    return res["test_score"]
