"""Drop-in replacements for scikit-learn's ``MLPRegressor`` and ``MLPClassifier``,
trained with PyTorch on the CPU or a CUDA GPU.

Same constructor parameters, defaults, fitted attributes, loss definitions,
initialisation (Glorot uniform drawn from the same ``RandomState`` calls, so
``dtype="float64"`` reproduces scikit-learn's initial weights), optimisers and
stopping rule as scikit-learn 1.9. Extra parameters:

- ``device``: ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"``...
- ``dtype``: ``"float32"`` (default, fast) or ``"float64"`` (scikit-learn's precision).
- ``callbacks``: a list of :class:`nnwidgets.trainer.events.Callback`.

Extra fitted attribute: ``history_`` (a :class:`~nnwidgets.trainer.events.History`),
``stop_reason_``, ``device_`` and ``n_samples_fit_`` (the rows of X of the last
``fit``/``partial_fit``, whatever the solver).
"""

from __future__ import annotations

import warnings
from numbers import Integral, Real

import numpy as np
import scipy.optimize
import scipy.sparse as sp
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, is_classifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_random_state, column_or_1d
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import _check_partial_fit_first_call, type_of_target, unique_labels
from sklearn.utils.optimize import _check_optimize_result
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

try:  # scikit-learn >= 1.3
    from sklearn.base import _fit_context
except ImportError:  # pragma: no cover
    def _fit_context(prefer_skip_nested_validation):
        def deco(fn):
            def wrapper(est, *a, **k):
                est._validate_params()
                return fn(est, *a, **k)
            return wrapper
        return deco

from nnwidgets.trainer.events import CallbackList, History

_STOCHASTIC_SOLVERS = ["sgd", "adam"]


_LBFGS_STACKLEVEL = 5

class TrainingDivergedWarning(RuntimeWarning):
    """The training loss became non-finite; training stopped early."""


def _torch():
    import torch

    return torch


def _resolve_dtype(dtype):
    """``dtype`` parameter -> (torch dtype of the weights, numpy dtype, torch
    dtype of the matrix products). "bfloat16" is mixed precision: float32
    weights, optimiser state and loss, bfloat16 matrix products."""
    torch = _torch()
    if isinstance(dtype, str) and dtype in ("float32", "float64", "bfloat16"):
        pass
    elif dtype is np.float32 or dtype is torch.float32 or (isinstance(dtype, np.dtype) and dtype == np.float32):
        dtype = "float32"
    elif dtype is np.float64 or dtype is torch.float64 or dtype is float or (
            isinstance(dtype, np.dtype) and dtype == np.float64):
        dtype = "float64"
    elif dtype is torch.bfloat16:
        dtype = "bfloat16"
    if dtype == "float32":
        return torch.float32, np.float32, torch.float32
    if dtype == "float64":
        return torch.float64, np.float64, torch.float64
    if dtype == "bfloat16":
        return torch.float32, np.float32, torch.bfloat16
    raise ValueError(
        f"dtype={dtype!r} is not supported; use 'float32' (the default, fast), 'float64' "
        "(scikit-learn's precision) or 'bfloat16' (mixed precision: bfloat16 matrix products, "
        "float32 weights; fastest on CPUs with AVX512-BF16/AMX and on GPUs)."
    )


def _inplace_act(name, X):
    if name == "relu":
        np.maximum(X, 0, out=X)
    elif name == "tanh":
        np.tanh(X, out=X)
    elif name == "logistic":
        expit(X, out=X)
    elif name == "exp":
        np.exp(X, out=X)
    elif name == "softmax":
        tmp = X - X.max(axis=1)[:, np.newaxis]
        np.exp(tmp, out=X)
        X /= X.sum(axis=1)[:, np.newaxis]
    return X


class BaseMLP(BaseEstimator):
    """Shared code of the nnwidgets MLP estimators (mirrors scikit-learn's
    ``BaseMultilayerPerceptron``)."""

    _parameter_constraints: dict = {
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions({"identity", "logistic", "tanh", "relu"})],
        "solver": [StrOptions({"lbfgs", "sgd", "adam"})],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "learning_rate": [StrOptions({"constant", "invscaling", "adaptive"})],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "power_t": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "tol": [Interval(Real, 0, None, closed="left")],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "momentum": [Interval(Real, 0, 1, closed="both")],
        "nesterovs_momentum": ["boolean"],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "beta_1": [Interval(Real, 0, 1, closed="left")],
        "beta_2": [Interval(Real, 0, 1, closed="left")],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left"), Options(Real, {np.inf})],
        "max_fun": [Interval(Integral, 1, None, closed="left")],
        "device": "no_validation",  # checked by resolve_device with a clear message
        "dtype": "no_validation",  # checked by _resolve_dtype with a clear message
        "callbacks": "no_validation",  # checked by CallbackList
    }

    # ------------------------------------------------------------------ setup
    def _hidden_sizes(self):
        hidden = self.hidden_layer_sizes
        if not hasattr(hidden, "__iter__"):
            hidden = [hidden]
        hidden = list(hidden)
        # whole numbers only (1e3 is 1000 units; 0.5 or 2.9 would be silently cut
        # to 0 or 2: scikit-learn raises a TypeError for any float)
        bad = [h for h in hidden if isinstance(h, (bool, np.bool_)) or not isinstance(h, (Integral, np.integer))
               and not (isinstance(h, (float, np.floating)) and float(h).is_integer())]
        if bad:
            raise ValueError(
                f"hidden_layer_sizes must be whole numbers of units per layer, got {hidden!r} "
                f"({bad[0]!r} is not); e.g. hidden_layer_sizes=[100, 100]."
            )
        if np.any(np.array(hidden) <= 0):
            raise ValueError("hidden_layer_sizes must be > 0, got %s." % hidden)
        return [int(h) for h in hidden]

    def _initialize(self, y, layer_units, np_dtype, init_cache=None):
        self.n_iter_ = 0
        self.t_ = 0
        self.n_outputs_ = y.shape[1]
        self.n_layers_ = len(layer_units)
        if not is_classifier(self):
            self.out_activation_ = "exp" if self.loss == "poisson" else "identity"
        elif self._label_binarizer.y_type_ == "multiclass":
            self.out_activation_ = "softmax"
        else:
            self.out_activation_ = "logistic"

        key = None
        if init_cache is not None and isinstance(self.random_state, (Integral, np.integer)):
            key = (int(self.random_state), tuple(layer_units), self.activation == "logistic", np_dtype)
        if key is not None and key in init_cache:
            coefs, intercepts, state = init_cache[key]
            self._random_state.set_state(state)
            self.coefs_ = [c.copy() for c in coefs]
            self.intercepts_ = [i.copy() for i in intercepts]
        else:
            self.coefs_ = []
            self.intercepts_ = []
            for i in range(self.n_layers_ - 1):
                coef_init, intercept_init = self._init_coef(layer_units[i], layer_units[i + 1], np_dtype)
                self.coefs_.append(coef_init)
                self.intercepts_.append(intercept_init)
            if key is not None:
                init_cache[key] = (self.coefs_, self.intercepts_, self._random_state.get_state())
                self.coefs_ = [c.copy() for c in self.coefs_]
                self.intercepts_ = [i.copy() for i in self.intercepts_]

        self._best_coefs = [c.copy() for c in self.coefs_]
        self._best_intercepts = [i.copy() for i in self.intercepts_]
        self.history_ = History()

        if self.solver in _STOCHASTIC_SOLVERS:
            self.loss_curve_ = []
            self._no_improvement_count = 0
            if self.early_stopping:
                self.validation_scores_ = []
                self.best_validation_score_ = -np.inf
                self.best_loss_ = None
            else:
                self.best_loss_ = np.inf
                self.validation_scores_ = None
                self.best_validation_score_ = None

    def _init_coef(self, fan_in, fan_out, dtype):
        # Glorot uniform, drawn exactly as scikit-learn draws it
        factor = 6.0
        if self.activation == "logistic":
            factor = 2.0
        init_bound = np.sqrt(factor / (fan_in + fan_out))
        coef_init = self._random_state.uniform(-init_bound, init_bound, (fan_in, fan_out))
        intercept_init = self._random_state.uniform(-init_bound, init_bound, fan_out)
        return coef_init.astype(dtype, copy=False), intercept_init.astype(dtype, copy=False)

    def _prepare_run(self, X, y, sample_weight=None, incremental=False, init_cache=None):
        """Validates, initialises and returns a ModelRun for the engine."""
        from nnwidgets.trainer.device import device_name, resolve_device
        from nnwidgets.trainer.mlp_engine import ModelRun, pack

        hidden = self._hidden_sizes()
        torch_dtype, np_dtype, matmul_dtype = _resolve_dtype(self.dtype)
        device = resolve_device(self.device)
        callbacks = CallbackList(self.callbacks)
        first_pass = not hasattr(self, "coefs_") or (not self.warm_start and not incremental)

        X, y = self._validate_input(X, y, incremental, reset=first_pass)
        if sp.issparse(X):
            X = X.toarray()
        n_samples, n_features = X.shape
        # (any solver: lbfgs records no t_; the autograder's check_trained_on reads it)
        self.n_samples_fit_ = n_samples
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X)
        if y.ndim == 1:
            y = y.reshape((-1, 1))
        self.n_outputs_ = y.shape[1]
        layer_units = [n_features] + hidden + [self.n_outputs_]
        self._random_state = check_random_state(self.random_state)
        if first_pass:
            self._initialize(y, layer_units, np_dtype, init_cache)
        else:
            have = [self.coefs_[0].shape[0]] + [c.shape[1] for c in self.coefs_]
            if have != layer_units:
                raise ValueError(
                    f"warm_start/partial_fit: the network has layer sizes {have} but the data and "
                    f"hidden_layer_sizes need {layer_units}. Set warm_start=False (or call fit) to "
                    "start a new network."
                )
            if not hasattr(self, "history_"):
                self.history_ = History()
        self.device_ = device_name(device)  # "cuda:0", as train_module records it

        run_kw = dict(
            layer_units=layer_units,
            device=device,
            torch_dtype=torch_dtype,
            np_dtype=np_dtype,
            matmul_dtype=matmul_dtype,
        )
        params = pack(self.coefs_, self.intercepts_, np_dtype)
        if self.solver not in _STOCHASTIC_SOLVERS:
            return dict(X=X, y=y, sample_weight=sample_weight, params=params, callbacks=callbacks,
                        **run_kw)

        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        rows = np.arange(n_samples)
        val_rows = None
        val_score = None
        if self.early_stopping:
            should_stratify = is_classifier(self) and self.n_outputs_ == 1
            stratify = y if should_stratify else None
            rows, val_rows = train_test_split(
                rows, random_state=self._random_state, test_size=self.validation_fraction,
                stratify=stratify,
            )
            if val_rows.shape[0] < 2:
                raise ValueError(
                    "The validation set is too small. Increase 'validation_fraction' "
                    "or the size of your dataset."
                )
            val_score = "accuracy" if is_classifier(self) else "r2"
            if is_classifier(self) and len(self.classes_) == 1:
                # predict() can only answer the one class seen, so scikit-learn's
                # validation accuracy is 1 at every epoch (not the 0/1 output thresholded)
                val_score = "one_class"
        n_train = rows.shape[0]
        if self.batch_size == "auto":
            batch_size = min(200, n_train)
        else:
            if self.batch_size > n_train:
                warnings.warn(
                    "Got `batch_size` less than 1 or larger than sample size. It is going to be clipped"
                )
            batch_size = int(np.clip(self.batch_size, 1, n_train))

        opt_state = None
        if incremental and getattr(self, "_optimizer_state", None) is not None:
            st = self._optimizer_state
            if st.get("solver") == self.solver and st.get("size") == params.size:
                opt_state = {k: v for k, v in st.items() if k not in ("solver", "size")}

        book = {
            "loss_curve_": list(self.loss_curve_),
            "best_loss_": self.best_loss_ if self.best_loss_ is not None else np.inf,
            "_no_improvement_count": self._no_improvement_count,
            "validation_scores_": list(self.validation_scores_) if self.validation_scores_ is not None else None,
            "best_validation_score_": self.best_validation_score_,
            "t_": self.t_,
            "loss_": getattr(self, "loss_", None),
            "n_iter_total": len(self.history_),
        }
        hyper = {k: getattr(self, k) for k in (
            "alpha", "learning_rate_init", "learning_rate", "power_t", "max_iter", "shuffle", "tol",
            "verbose", "momentum", "nesterovs_momentum", "beta_1", "beta_2", "epsilon",
            "n_iter_no_change")}
        hyper["alpha"] = float(hyper["alpha"])
        if self.early_stopping and val_score is not None and book["validation_scores_"] is None:
            book["validation_scores_"] = []
        best_params = pack(self._best_coefs, self._best_intercepts, np_dtype) if self.early_stopping else None
        Yf = y.astype(np_dtype)
        run = ModelRun(
            est=self,
            params=params,
            X=X,
            Y=Yf,
            data_key=(id(X), id(y)),
            sample_weight=sample_weight,
            train_rows=rows,
            val_rows=val_rows,
            val_score=val_score,
            rng=self._random_state,
            hyper=hyper,
            batch_size=batch_size,
            incremental=incremental,
            opt_state=opt_state,
            book=book,
            best_params=best_params,
            history=self.history_,
            callbacks=callbacks,
            label=self._run_label(),
        )
        if val_score == "r2":
            yv = Yf[val_rows].astype(np.float64)
            wv = sample_weight[val_rows] if sample_weight is not None else np.ones(len(val_rows))
            mean = np.average(yv, axis=0, weights=wv)
            run._val_sst = (wv[:, None] * (yv - mean) ** 2).sum(axis=0)
        run._kw = run_kw
        return run

    def _run_label(self):
        return f"{type(self).__name__}({list(self._hidden_sizes())}, alpha={self.alpha:g}, lr={self.learning_rate_init:g})"

    def _engine_kwargs(self, run_kw):
        return dict(
            layer_units=run_kw["layer_units"],
            activation=self.activation,
            out_activation=self.out_activation_,
            loss=self.loss,
            solver=self.solver,
            device=run_kw["device"],
            dtype=run_kw["torch_dtype"],
            matmul_dtype=run_kw.get("matmul_dtype"),
        )

    def _finish_run(self, run, stacklevel=5):
        from nnwidgets.trainer.mlp_engine import _Layout

        lay = _Layout(run._kw["layer_units"])
        np_dtype = run._kw["np_dtype"]
        coefs, intercepts = lay.unpack(np.asarray(run.params, dtype=np_dtype))
        book = run.book
        self.n_iter_ = run.n_iter
        self.t_ = book["t_"]
        self.loss_curve_ = book["loss_curve_"]
        if book["loss_"] is not None:
            self.loss_ = book["loss_"]
        self._no_improvement_count = book["_no_improvement_count"]
        if self.early_stopping:
            self.validation_scores_ = book["validation_scores_"]
            self.best_validation_score_ = book["best_validation_score_"]
            self.best_loss_ = None
            bc, bi = lay.unpack(np.asarray(run.best_params, dtype=np_dtype))
            self._best_coefs, self._best_intercepts = bc, bi
            # restore the best weights (as scikit-learn does)
            self.coefs_ = [c.copy() for c in bc]
            self.intercepts_ = [i.copy() for i in bi]
        else:
            self.best_loss_ = book["best_loss_"]
            self.coefs_, self.intercepts_ = coefs, intercepts
        st = dict(run.opt_state)
        st["solver"] = self.solver
        st["size"] = lay.size
        self._optimizer_state = st
        self.stop_reason_ = run.stop_reason
        for msg in run.warned:
            if msg.startswith("Training diverged"):
                warnings.warn(msg, TrainingDivergedWarning, stacklevel=stacklevel)
            else:
                warnings.warn(msg, ConvergenceWarning, stacklevel=stacklevel)
        return self

    # ------------------------------------------------------------------ fit
    def _fit(self, X, y, sample_weight=None, incremental=False):
        from nnwidgets.trainer.mlp_engine import thread_budget, train_runs

        run = self._prepare_run(X, y, sample_weight, incremental)
        if isinstance(run, dict):
            with thread_budget(run["layer_units"], run["X"].shape[0], 1, run["device"]):
                self._fit_lbfgs(run)
        else:
            with thread_budget(run._kw["layer_units"], run.batch_size, 1, run._kw["device"]):
                train_runs([run], **self._engine_kwargs(run._kw))
            self._finish_run(run)
        weights = list(self.coefs_) + list(self.intercepts_)
        if not all(np.isfinite(w).all() for w in weights):
            raise ValueError(
                "Solver produced non-finite parameter weights. The input data may"
                " contain large values and need to be preprocessed."
            )
        return self

    # warnings of _fit_lbfgs point at the caller of fit(): _fit_lbfgs <- _fit <- fit <- the
    # _fit_context wrapper <- the student's line
    def _fit_lbfgs(self, run):
        import torch

        from nnwidgets.trainer.mlp_engine import StackNet, _Layout

        lay = _Layout(run["layer_units"])
        dtype, np_dtype, device = run["torch_dtype"], run["np_dtype"], run["device"]
        X, y, sw = run["X"], run["y"], run["sample_weight"]
        n = X.shape[0]
        net = StackNet(lay, 1, self.activation, self.out_activation_, self.loss, device, dtype)
        x_buf, acts, deltas, ybuf, Y = net.buffers(n)
        x_buf.copy_(torch.from_numpy(np.ascontiguousarray(X, dtype=np_dtype)))
        ybuf.copy_(torch.from_numpy(np.ascontiguousarray(y, dtype=np_dtype)))
        if sw is None:
            w = 1.0 / n
            sw_sum = float(n)
            lossc = torch.tensor([0.5 / lay.units[-1] if self.loss == "squared_error" else 1.0],
                                 dtype=dtype, device=device)
        else:
            sw_sum = float(sw.sum())
            w = torch.from_numpy((sw / sw_sum).astype(np_dtype)).to(device).view(1, n, 1)
            lossc = torch.tensor([(0.5 / lay.units[-1] if self.loss == "squared_error" else 1.0) * n],
                                 dtype=dtype, device=device)
        regg = torch.tensor([[self.alpha / sw_sum]], dtype=dtype, device=device)
        regl = torch.tensor([0.5 * self.alpha * n / sw_sum], dtype=dtype, device=device)
        acc = torch.zeros(1, dtype=dtype, device=device)
        callbacks = run["callbacks"]
        from nnwidgets.trainer.device import device_name

        dev_name = device_name(torch.device(device))
        callbacks.fit_begin(model=self, n_models=1, max_epochs=self.max_iter, device=dev_name,
                            run_labels=[self._run_label()])

        def loss_grad(packed):
            net.params[0].copy_(torch.from_numpy(packed))
            acc.zero_()
            net.step_loss_grad(n, w, lossc, regg, regl, acc)
            loss = float(acc.item()) / n
            return loss, net.grads[0].to(torch.float64).cpu().numpy()

        import time

        t0 = time.perf_counter()
        state = {"last": time.perf_counter(), "x": None, "reason": "max_iter", "it": 0}

        def on_iter(intermediate_result):
            state["it"] += 1
            state["x"] = np.array(intermediate_result.x, copy=True)
            now = time.perf_counter()
            rec = {"epoch": len(self.history_) + 1, "loss": float(intermediate_result.fun),
                   "val_loss": None, "val_score": None, "elapsed": now - t0,
                   "epoch_time": now - state["last"],
                   "samples_per_s": n / max(now - state["last"], 1e-12), "device": dev_name, "lr": None}
            state["last"] = now
            self.history_.append(rec)
            if callbacks.epoch_end(run=0, record=rec, model=self):
                state["reason"] = "stopped"
                raise StopIteration

        x0 = run["params"].astype(np.float64)
        iprint = 1 if (self.verbose is True or self.verbose >= 1) else -1
        from sklearn.utils.fixes import _get_additional_lbfgs_options_dict

        interrupted = False
        try:
            opt_res = scipy.optimize.minimize(
                loss_grad, x0, method="L-BFGS-B", jac=True, callback=on_iter,
                options={"maxfun": self.max_fun, "maxiter": self.max_iter, "gtol": self.tol,
                         **_get_additional_lbfgs_options_dict("iprint", iprint)},
            )
        except KeyboardInterrupt:
            interrupted = True
        if interrupted:
            xs = state["x"] if state["x"] is not None else x0
            warnings.warn(
                "Training interrupted by user (KeyboardInterrupt): the model keeps the weights of "
                "the last completed L-BFGS iteration and its history.", UserWarning,
                stacklevel=_LBFGS_STACKLEVEL)
            self.n_iter_ = state["it"]
            self.loss_ = loss_grad(xs)[0]
            final = xs
            reason = "interrupted"
        else:
            if state["reason"] == "stopped":
                self.n_iter_ = min(opt_res.nit, self.max_iter)
            else:
                # scikit-learn's helper warns at its caller (this file); the warning belongs to
                # the student's .fit(...) line, as the adam/sgd ones do (_finish_run)
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    self.n_iter_ = _check_optimize_result("lbfgs", opt_res, self.max_iter)
                for w in caught:
                    warnings.warn(w.message, w.category, stacklevel=_LBFGS_STACKLEVEL)
            self.loss_ = float(opt_res.fun)
            final = opt_res.x
            reason = state["reason"] if state["reason"] == "stopped" else (
                "converged" if opt_res.status == 0 else "max_iter")
        coefs, intercepts = lay.unpack(np.asarray(final, dtype=np_dtype))
        self.coefs_, self.intercepts_ = coefs, intercepts
        self.stop_reason_ = reason
        callbacks.fit_end(model=self, history=self.history_, stop_reason=reason)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the model to data matrix X and target(s) y (as scikit-learn's)."""
        return self._fit(X, y, sample_weight=sample_weight, incremental=False)

    def _check_solver(self):
        if self.solver not in _STOCHASTIC_SOLVERS:
            raise AttributeError(
                "partial_fit is only available for stochastic optimizers. %s is not stochastic."
                % self.solver
            )
        return True

    # ------------------------------------------------------------------ predict
    def _forward_pass_fast(self, X, check_input=True):
        if check_input:
            X = validate_data(self, X, accept_sparse=["csr", "csc"], reset=False)
        dtype = self.coefs_[0].dtype
        if sp.issparse(X):
            activation = X.astype(dtype) @ self.coefs_[0]
            activation = np.asarray(activation)
        else:
            activation = np.asarray(X, dtype=dtype) @ self.coefs_[0]
        activation += self.intercepts_[0]
        n = self.n_layers_ - 1
        for i in range(1, n):
            _inplace_act(self.activation, activation)
            activation = activation @ self.coefs_[i]
            activation += self.intercepts_[i]
        _inplace_act(self.out_activation_, activation)
        return activation

    def _score_with_function(self, X, y, sample_weight, score_function):
        y_pred = self._predict(X, check_input=False)
        if np.issubdtype(y_pred.dtype, np.floating) and not np.isfinite(y_pred).all():
            return np.nan
        return score_function(y, y_pred, sample_weight=sample_weight)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


class MLPClassifier(ClassifierMixin, BaseMLP):
    """Multi-layer Perceptron classifier (scikit-learn's API, PyTorch engine).

    Parameters are scikit-learn 1.9's ``MLPClassifier`` parameters, with the
    same defaults and meanings, plus:

    device : str, default="auto"
        "auto" (CUDA when available, else CPU), "cpu", "cuda" or "cuda:N".
    dtype : {"float32", "float64", "bfloat16"}, default="float32"
        Precision of training. "float64" reproduces scikit-learn's numbers
        (same initial weights for the same ``random_state``). "bfloat16" is
        mixed precision: the matrix products run in bfloat16 (float32
        accumulation) while weights, optimiser state, output layer and loss
        stay float32; about twice as fast where the hardware has bfloat16
        arithmetic (AVX512-BF16 or AMX CPUs, recent GPUs), with losses that
        differ from float32 at the percent level. ``coefs_`` are float32.
        ``solver="lbfgs"`` computes in float32.
    callbacks : list of Callback, default=None
        Receive ``on_fit_begin`` / ``on_epoch_end`` / ``on_fit_end`` events
        (see :mod:`nnwidgets.trainer.events`); ``on_epoch_end`` may return
        ``STOP`` to stop at the end of the epoch.

    Fitted attributes are scikit-learn's (``coefs_``, ``intercepts_``,
    ``loss_curve_``, ``best_loss_``, ``validation_scores_``,
    ``best_validation_score_``, ``n_iter_``, ``t_``, ``classes_``, ...) plus
    ``history_`` (one dict per epoch), ``stop_reason_`` and ``device_``.
    """

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        device="auto",
        dtype="float32",
        callbacks=None,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.device = device
        self.dtype = dtype
        self.callbacks = callbacks

    loss = "log_loss"

    def _validate_input(self, X, y, incremental, reset):
        X, y = validate_data(
            self, X, y, accept_sparse=["csr", "csc"], multi_output=True,
            dtype=(np.float64, np.float32), reset=reset,
        )
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if (not hasattr(self, "classes_")) or (not self.warm_start and not incremental):
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes = unique_labels(y)
            if self.warm_start:
                if set(classes) != set(self.classes_):
                    raise ValueError(
                        "warm_start can only be used where `y` has the same "
                        "classes as in the previous call to fit. Previously "
                        f"got {self.classes_}, `y` has {classes}"
                    )
            elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise ValueError(
                    "`y` has classes not in `self.classes_`. "
                    f"`self.classes_` has {self.classes_}. 'y' has {classes}."
                )
        y = self._label_binarizer.transform(y).astype(bool)
        return X, y

    def predict(self, X):
        """Predict using the multi-layer perceptron classifier."""
        check_is_fitted(self)
        return self._predict(X)

    def _predict(self, X, check_input=True):
        y_pred = self._forward_pass_fast(X, check_input=check_input)
        if self.n_outputs_ == 1:
            y_pred = y_pred.ravel()
        return self._label_binarizer.inverse_transform(y_pred)

    def _score(self, X, y, sample_weight=None):
        return self._score_with_function(X, y, sample_weight=sample_weight, score_function=accuracy_score)

    @available_if(lambda est: est._check_solver())
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """Update the model with a single iteration over the given data."""
        if _check_partial_fit_first_call(self, classes):
            self._label_binarizer = LabelBinarizer()
            if type_of_target(y).startswith("multilabel"):
                self._label_binarizer.fit(y)
            else:
                self._label_binarizer.fit(classes)
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def predict_log_proba(self, X):
        """Return the log of probability estimates."""
        y_prob = self.predict_proba(X)
        return np.log(y_prob, out=y_prob)

    def predict_proba(self, X):
        """Probability estimates, columns ordered as ``classes_``."""
        check_is_fitted(self)
        y_pred = self._forward_pass_fast(X).astype(np.float64, copy=False)
        if self.n_outputs_ == 1:
            y_pred = y_pred.ravel()
        if y_pred.ndim == 1:
            return np.vstack([1 - y_pred, y_pred]).T
        if self.out_activation_ == "softmax":
            # a float32 softmax sums to 1 within ~1e-7 only: scikit-learn's
            # log_loss / neg_log_loss would warn on every call
            y_pred = y_pred / y_pred.sum(axis=1, keepdims=True)
        return y_pred

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class MLPRegressor(RegressorMixin, BaseMLP):
    """Multi-layer Perceptron regressor (scikit-learn's API, PyTorch engine).

    Parameters are scikit-learn 1.9's ``MLPRegressor`` parameters (including
    ``loss`` = "squared_error" | "poisson"), with the same defaults and
    meanings, plus ``device``, ``dtype`` and ``callbacks`` (see
    :class:`MLPClassifier`).
    """

    _parameter_constraints: dict = {
        **BaseMLP._parameter_constraints,
        "loss": [StrOptions({"squared_error", "poisson"})],
    }

    def __init__(
        self,
        loss="squared_error",
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        device="auto",
        dtype="float32",
        callbacks=None,
    ):
        self.loss = loss
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.device = device
        self.dtype = dtype
        self.callbacks = callbacks

    def predict(self, X):
        """Predict using the multi-layer perceptron model."""
        check_is_fitted(self)
        return self._predict(X)

    def _predict(self, X, check_input=True):
        y_pred = self._forward_pass_fast(X, check_input=check_input).astype(np.float64, copy=False)
        if y_pred.shape[1] == 1:
            return y_pred.ravel()
        return y_pred

    def _score(self, X, y, sample_weight=None):
        return self._score_with_function(X, y, sample_weight=sample_weight, score_function=r2_score)

    def _validate_input(self, X, y, incremental, reset):
        try:
            X, y = validate_data(
                self, X, y, accept_sparse=["csr", "csc"], multi_output=True, y_numeric=True,
                dtype=(np.float64, np.float32), reset=reset,
            )
        except ValueError as exc:
            y_arr = np.asarray(y) if not hasattr(y, "dtype") else y
            kind = getattr(getattr(y_arr, "dtype", None), "kind", "")
            if kind in ("U", "S", "O") and "convert" in str(exc):
                sample = list(dict.fromkeys(np.asarray(y_arr).ravel().tolist()))[:3]
                raise ValueError(
                    f"MLPRegressor needs numeric targets y, got labels such as {sample}. "
                    "For class labels use MLPClassifier; otherwise convert y to numbers."
                ) from exc
            raise
        if y.dtype.kind not in "biuf":
            try:
                y = y.astype(np.float64)
            except (TypeError, ValueError) as exc:
                sample = list(dict.fromkeys(np.asarray(y).ravel().tolist()))[:3]
                raise ValueError(
                    f"MLPRegressor needs numeric targets y, got labels such as {sample}. "
                    "For class labels use MLPClassifier; otherwise convert y to numbers."
                ) from exc
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if self.loss == "poisson" and np.any(y < 0):
            raise ValueError("Some value(s) of y are negative which is not allowed for Poisson regression.")
        return X, y

    @available_if(lambda est: est._check_solver())
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None):
        """Update the model with a single iteration over the given data."""
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)
