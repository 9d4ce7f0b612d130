"""Training any ``torch.nn.Module`` with callbacks: the lecture's hand-written
loop (forward, loss, backward, step, record the loss) as one function.

>>> result = train_module(net, X_train, y_train, X_test=X_test, y_test=y_test,
...                       epochs=1000, optimizer="sgd", lr=0.1, weight_decay=1e-4,
...                       loss="cross_entropy", seed=1)
>>> result.metrics["test_accuracy"], result.loss_curve[-1]

What it does for you:

- data is converted and moved to the device once; minibatches are indexed on
  the device (``batch_size=None`` is full-batch gradient descent, as in the
  lecture);
- ``train()`` mode while stepping (dropout on), ``eval()`` mode and no
  gradients while evaluating;
- the loss is synchronised from the device once per epoch, never per step;
- Ctrl-C (kernel interrupt), a Stop button (:class:`StopSignal`) or a callback
  returning ``STOP`` end training at once and keep the model;
- a non-finite loss stops training with a warning and restores the weights
  from the start of the last epoch whose loss was finite;
- bad settings and data are errors before the first step; an error in the
  middle of training (out of memory, a module that fails on one minibatch)
  reaches the caller with the module back at its last completed epoch.
"""

from __future__ import annotations

import math
import numbers
import time
import warnings

import numpy as np

from nnwidgets.near_names import closest_name
from nnwidgets.trainer.events import CallbackList, History
from nnwidgets.trainer.results import TrainResult

#: loss name -> (torch.nn class name, task)
LOSSES = {
    "cross_entropy": ("CrossEntropyLoss", "classification"),
    "nll": ("NLLLoss", "classification"),
    "bce": ("BCEWithLogitsLoss", "binary"),
    "mse": ("MSELoss", "regression"),
    "l1": ("L1Loss", "regression"),
    "mae": ("L1Loss", "regression"),
    "huber": ("HuberLoss", "regression"),
    "smooth_l1": ("SmoothL1Loss", "regression"),
}
LOSS_ALIASES = {"crossentropy": "cross_entropy", "ce": "cross_entropy", "log_loss": "cross_entropy",
                "squared_error": "mse", "binary_cross_entropy": "bce"}
OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")
#: names that are not settings' values but are near one: the torch classes' names
_NEAR_NAMES = {
    "loss": {**{cls.lower(): key for key, (cls, _) in LOSSES.items()}, "bceloss": "bce", "bcewithlogits": "bce"},
    "optimizer": {"rms_prop": "rmsprop", "adam_w": "adamw", "gd": "sgd"},
    "device": {"gpu": "cuda", "cuda0": "cuda:0", "nvidia": "cuda"},
}


class ModuleOutputError(TypeError, ValueError):
    """module(X) is not a tensor (a forward() without ``return`` gives None). A TypeError, and a
    ValueError so that %%nntrain reports it in one line naming --model, as its other module errors."""


def _did_you_mean(name: str, value: str, choices) -> str:
    """' did you mean 'sgd'?' for a misspelt name, '' when nothing is near."""
    key = value.lower().replace("-", "_").replace(" ", "")
    near = _NEAR_NAMES.get(name, {}).get(key)
    if near is None:
        near = closest_name(key, choices)
    return f" did you mean {near!r}?" if near is not None else ""


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _type_name(value) -> str:
    """'a str', 'an int', 'None': the type of a value, for a message."""
    if value is None:
        return "None"
    name = type(value).__name__
    return f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name}"


def _check_int(name, value, example, *, none_ok=""):
    if _is_int(value):
        return int(value)
    fix = ""
    if _is_real(value) and math.isfinite(value) and float(value) == int(value):
        fix = f": use {name}={int(value)}"  # 1e3 is a float
    raise TypeError(f"{name}={value!r} must be an integer such as {example}{none_ok}; "
                    f"got {_type_name(value)}{fix}")


def _check_real(name, value, what):
    if not _is_real(value):
        raise TypeError(f"{name}={value!r} must be {what}; got {_type_name(value)}")
    return float(value)


def _check_settings(*, epochs, lr, momentum, nesterov, weight_decay, batch_size, shuffle, optimizer, loss, device,
                    seed, label):
    """Every setting checked before anything else happens: a wrong type is a
    TypeError, a wrong value a ValueError, each naming the parameter, the value
    given and what is allowed (one line: %%nntrain shows it as a UsageError).
    Returns the numbers as Python ints / floats."""
    import torch

    epochs = _check_int("epochs", epochs, 100)
    if epochs < 1:
        raise ValueError(f"epochs={epochs!r} must be at least 1")
    lr_value = _check_real("lr", lr, "a number such as 0.01")
    if not (lr_value > 0 and math.isfinite(lr_value)):
        raise ValueError(f"lr={lr!r} must be a positive number such as 0.01")
    if batch_size is not None:
        batch_size = _check_int("batch_size", batch_size, 32, none_ok=", or None (the full batch)")
        if batch_size < 1:
            raise ValueError(f"batch_size={batch_size!r} must be at least 1, or None for the full batch")
    momentum_value = _check_real("momentum", momentum, "a number between 0 and 1 (0.9 is usual; 0 for none)")
    if not 0 <= momentum_value <= 1:
        raise ValueError(f"momentum={momentum!r} must be between 0 and 1 (0.9 is usual; 0 for none)")
    decay = _check_real("weight_decay", weight_decay, "a number (the L2 penalty, 1e-4 is usual); use 0 for none")
    if not (decay >= 0 and math.isfinite(decay)):
        raise ValueError(f"weight_decay={weight_decay!r} must be 0 or more (1e-4 is usual, 0 for none)")
    for name, flag in (("nesterov", nesterov), ("shuffle", shuffle)):
        if not isinstance(flag, (bool, np.bool_)):
            raise TypeError(f"{name}={flag!r} must be True or False; got {_type_name(flag)}")
    if isinstance(optimizer, str):
        if optimizer.lower() not in OPTIMIZERS:
            raise ValueError(f"optimizer={optimizer!r} is not known;{_did_you_mean('optimizer', optimizer, OPTIMIZERS)}"
                             f" use one of {OPTIMIZERS}, or a torch.optim.Optimizer class")
    elif isinstance(optimizer, torch.optim.Optimizer):
        cls = type(optimizer)
        raise TypeError(f"optimizer={cls.__name__}(...) is an optimizer already built on parameters; pass its class, "
                        f"optimizer=torch.optim.{cls.__name__} (train_module builds it on the module's parameters "
                        f"with lr and weight_decay), or one of {OPTIMIZERS}")
    elif not (isinstance(optimizer, type) and issubclass(optimizer, torch.optim.Optimizer)):
        raise TypeError(f"optimizer={optimizer!r} must be one of {OPTIMIZERS} or a torch.optim.Optimizer class "
                        "such as torch.optim.Adam")
    if isinstance(loss, str):
        key = LOSS_ALIASES.get(loss.lower(), loss.lower())
        if key not in LOSSES:
            raise ValueError(f"loss={loss!r} is not known;{_did_you_mean('loss', loss, [*LOSSES, *LOSS_ALIASES])} "
                             f"use one of {sorted(LOSSES)} or pass a torch loss module such as "
                             "torch.nn.CrossEntropyLoss()")
    elif isinstance(loss, type):
        name = loss.__name__
        raise TypeError(f"loss={loss!r} is a class: pass an instance, loss=nn.{name}(), or a name such as "
                        f"'mse' or 'cross_entropy'")
    elif not callable(loss):
        raise TypeError(f"loss={loss!r} must be a name such as 'cross_entropy' or 'mse', or a torch loss module "
                        "such as torch.nn.CrossEntropyLoss()")
    if isinstance(device, str) and device != "auto":
        hint = _did_you_mean("device", device, ["cpu", "cuda", "auto"])
        if hint and device.lower() not in ("cpu", "cuda") and not device.lower().startswith(("cuda:", "cpu:")):
            raise ValueError(f"device={device!r} is not a valid device;{hint} use 'auto', 'cpu', 'cuda' or 'cuda:N'")
    if seed is not None:
        seed = _check_int("seed", seed, "0 or 42", none_ok=", or None")
        if not 0 <= seed < 2**64:
            raise ValueError(f"seed={seed!r} must be from 0 to 2**64 - 1 (such as 0 or 42), or None")
    if label is not None and not isinstance(label, str):
        raise TypeError(f"label={label!r} must be a string (the run's name) or None; got {_type_name(label)}")
    return epochs, lr_value, momentum_value, decay, batch_size, seed


def _loss_fn(loss):
    """Returns (loss module or callable, task, name)."""
    import torch

    if isinstance(loss, str):
        key = LOSS_ALIASES.get(loss.lower(), loss.lower())
        if key not in LOSSES:
            raise ValueError(
                f"loss={loss!r} is not known; use one of {sorted(LOSSES)} "
                "or pass a torch loss module such as torch.nn.CrossEntropyLoss()."
            )
        cls_name, task = LOSSES[key]
        return getattr(torch.nn, cls_name)(), task, key
    if callable(loss):
        name = type(loss).__name__
        task = None
        if isinstance(loss, (torch.nn.CrossEntropyLoss, torch.nn.NLLLoss)):
            task = "classification"
        elif isinstance(loss, torch.nn.BCEWithLogitsLoss):
            task = "binary"
        elif isinstance(loss, (torch.nn.MSELoss, torch.nn.L1Loss, torch.nn.HuberLoss, torch.nn.SmoothL1Loss)):
            task = "regression"
        return loss, task, name
    raise TypeError(f"loss must be a name such as 'cross_entropy' or 'mse', or a torch loss module; got {loss!r}")


def _optimizer(name, params, lr, momentum, nesterov, weight_decay):
    import torch

    if not isinstance(name, str):
        if isinstance(name, type) and issubclass(name, torch.optim.SGD):
            return name(params, lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay)
        if isinstance(name, type) and issubclass(name, torch.optim.Optimizer):
            if momentum or nesterov:
                raise ValueError(
                    f"momentum/nesterov apply to optimizer='sgd' only, not optimizer={name.__name__}; "
                    "drop them or use optimizer='sgd'."
                )
            return name(params, lr=lr, weight_decay=weight_decay)
        raise TypeError(f"optimizer must be one of {OPTIMIZERS} or a torch.optim.Optimizer class; got {name!r}")
    key = name.lower()
    if key == "sgd":
        if nesterov and momentum <= 0:
            raise ValueError("nesterov=True needs momentum > 0 (e.g. momentum=0.9).")
        return torch.optim.SGD(params, lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay)
    if momentum or nesterov:
        raise ValueError(
            f"momentum/nesterov apply to optimizer='sgd' only, not optimizer={name!r}; "
            "drop them or use optimizer='sgd'."
        )
    if key == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if key == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    if key == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, weight_decay=weight_decay)
    raise ValueError(f"optimizer={name!r} is not known; use one of {OPTIMIZERS}.")


def _as_array(data, name):
    if data is None:
        return None
    import torch

    if isinstance(data, torch.Tensor):
        return data.detach().cpu().numpy()
    if hasattr(data, "toarray") and hasattr(data, "nnz"):  # scipy sparse: densified, as the estimators do
        data = data.toarray()
    if hasattr(data, "to_numpy"):  # pandas
        data = _pandas_to_numpy(data, name)
    arr = np.asarray(data)
    if name.startswith("X") and arr.dtype.kind in "OUS":
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(_not_numeric(arr, name)) from exc
    return arr


def _pandas_to_numpy(data, name):
    """A DataFrame X as numbers: columns of numbers of any kind (object columns
    holding numbers, numeric categories, nullable Int64/Float64 whose pd.NA
    becomes NaN) are taken; a column that is not numbers (text, dates) is named."""
    if not (name.startswith("X") and hasattr(data, "columns")):
        return data.to_numpy()
    from pandas.api.types import is_bool_dtype, is_numeric_dtype

    plain = True
    for position, (column, dtype) in enumerate(data.dtypes.items()):
        if is_numeric_dtype(dtype) or is_bool_dtype(dtype):
            plain = plain and isinstance(dtype, np.dtype)
            continue
        plain = False
        values = data.iloc[:, position]
        # dates and durations would become nanoseconds; text fails to convert
        numbers = getattr(dtype, "kind", "O") not in "mM" and not hasattr(dtype, "freq")
        if numbers:
            try:
                values.to_numpy(dtype=np.float64, na_value=np.nan)
            except (TypeError, ValueError):
                numbers = False
        if not numbers:
            values = values.dropna()
            example = _plain(values.iloc[0]) if len(values) else None
            raise ValueError(f"{name}'s column {column!r} is not numeric (values such as {example!r}); encode it "
                             "(pd.get_dummies) or drop it")
    if plain:  # numpy number columns: no copy to float64 (float32 stays float32)
        return data.to_numpy()
    return data.to_numpy(dtype=np.float64, na_value=np.nan)


def _plain(value):
    """np.str_('a') -> 'a' (for messages)."""
    return value.item() if isinstance(value, np.generic) else value


def _not_numeric(arr, name) -> str:
    """The message for data holding something that is not a number, naming the first such value."""
    for index, value in np.ndenumerate(arr):
        try:
            float(value)
        except (TypeError, ValueError):
            where = f"{name}[{', '.join(str(i) for i in index)}]" if index else name
            value = _plain(value)
            if value is None:
                return f"{name} must be numeric; it holds None ({where}): remove or impute missing values"
            if isinstance(value, str):
                return f"{name} must be numeric; it holds strings such as {value!r} ({where})"
            return f"{name} must be numeric; it holds {type(value).__name__} values such as {value!r} ({where})"
    return f"{name} must be numeric"


#: what to do about data without samples
_NO_SAMPLES = {
    "X": "training needs at least one",
    "X_val": "pass X_val=None and y_val=None to train without validation data",
    "X_test": "pass X_test=None and y_test=None for no test metrics",
}


def _check_form(a, name) -> None:
    """X, y, X_val, ...: arrays of samples (not a single value, not empty), of real numbers."""
    if a is None:
        return
    shape = tuple(a.shape)
    if len(shape) == 0:
        what = ("one row per sample, of shape (n_samples, n_features)" if name.startswith("X")
                else "one target per sample, of shape (n_samples,)")
        raise ValueError(f"{name} must be an array with {what}; got a single value {_plain(a.tolist())!r}")
    if shape[0] == 0:
        raise ValueError(f"{name} has 0 samples (shape {shape}); {_NO_SAMPLES.get(name, 'give at least one')}")
    if name.startswith("X") and 0 in shape[1:]:
        raise ValueError(f"{name} has 0 features per sample (shape {shape}); select at least one column")
    dtype = a.dtype
    if (dtype.is_complex if hasattr(dtype, "is_complex") else dtype.kind == "c"):
        raise ValueError(f"{name} holds complex numbers (dtype {str(dtype).replace('torch.', '')}); train_module "
                         f"needs real numbers: pass {name}.real, or abs({name})")


def _numeric_targets(a, name, loss_name):
    """Targets of a regression loss: numbers (strings are an error naming them)."""
    if a is None or a.dtype.kind not in "OUS":
        return a
    strings = a.dtype.kind in "US" or any(isinstance(v, str) for v in a.ravel()[:1000])
    if strings:
        examples = [_plain(v) for v in np.unique(a.astype(str))[:3]]
        raise ValueError(
            f"{name} holds strings such as {examples}, but loss={loss_name!r} needs numbers; for class labels use "
            f"loss='cross_entropy' (a module with one output per class), or {name}.astype(float) if they are numbers"
        )
    try:
        a = a.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(_not_numeric(a, name)) from exc
    _check_finite(a, name)
    return a


def _check_finite(a, name) -> None:
    """NaN or infinity in the data: an error naming it, not a 'divergence'."""
    if a is None:
        return
    try:
        import torch

        if isinstance(a, torch.Tensor):
            bad = (~torch.isfinite(a)).nonzero() if a.is_floating_point() else None
            if bad is not None and len(bad):
                raise ValueError(f"{name} contains NaN or infinity (first at index "
                                 f"{tuple(bad[0].tolist())}); remove or impute those values before training")
            return
    except ImportError:  # pragma: no cover - torch is there when training
        pass
    arr = np.asarray(a)
    if arr.dtype.kind in "fc" and not np.isfinite(arr).all():
        first = tuple(int(i) for i in np.argwhere(~np.isfinite(arr))[0])
        raise ValueError(f"{name} contains NaN or infinity (first at index {first}); remove or impute "
                         "those values before training")


def _labels_1d(y):
    """Class labels as a column (n, 1) are the same labels as (n,)."""
    if y is not None and getattr(y, "ndim", 1) == 2 and y.shape[1] == 1:
        return y.reshape(-1)
    return y


class _Targets:
    """Encodes targets for the loss: class indices (any labels -> 0..C-1) or floats."""

    def __init__(self, task, y):
        self.task = task
        self.classes = None
        if task in ("classification", "binary"):
            classes = np.unique(y)
            if task == "classification" and np.issubdtype(y.dtype, np.integer) and classes.min() >= 0:
                self.classes = None  # already indices: keep the user's numbering
            else:
                self.classes = classes

    def encode(self, y, name):
        if y is None:
            return None
        if self.task in ("classification", "binary") and self.classes is not None:
            idx = np.searchsorted(self.classes, y)
            idx = np.clip(idx, 0, len(self.classes) - 1)
            bad = self.classes[idx] != y
            if np.any(bad):
                raise ValueError(
                    f"{name} holds labels not seen in y: {np.unique(np.asarray(y)[bad])[:5]!r}"
                )
            return idx
        return y

    def decode(self, idx):
        if self.classes is None:
            return idx
        return self.classes[idx]


def _regression_scores(y_true, y_pred):
    y_true = np.asarray(y_true, dtype=np.float64).reshape(len(y_true), -1)
    y_pred = np.asarray(y_pred, dtype=np.float64).reshape(len(y_pred), -1)
    mse = float(np.mean((y_true - y_pred) ** 2))
    ss_res = np.sum((y_true - y_pred) ** 2, axis=0)
    ss_tot = np.sum((y_true - y_true.mean(axis=0)) ** 2, axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = np.where(ss_tot > 0, 1 - ss_res / ss_tot, 0.0)
    return mse, float(np.mean(r2))


def prediction_metrics(task, y_true, y_pred, prefix) -> dict:
    """Accuracy for classification, MSE and R^2 for regression (``prefix_``-named)."""
    if y_true is None or y_pred is None or task is None:
        return {}
    if task in ("classification", "binary"):
        return {f"{prefix}_accuracy": float(np.mean(np.asarray(y_true) == np.asarray(y_pred)))}
    mse, r2 = _regression_scores(y_true, y_pred)
    return {f"{prefix}_mse": mse, f"{prefix}_r2": r2}


def module_dtype(module):
    """The floating dtype of a module's parameters (or buffers): the dtype its
    data are converted to. float32 for a module without any."""
    import torch

    for t in (*module.parameters(), *module.buffers()):
        if t.is_floating_point():
            return t.dtype
    return torch.float32


def _numpy(t):
    """A tensor as a numpy array (bfloat16 and float16 as float32: numpy has no bfloat16)."""
    import torch

    t = t.detach().cpu()
    if t.is_floating_point() and t.dtype not in (torch.float32, torch.float64):
        t = t.float()
    return t.numpy()


def _check_log_probabilities(out, loss_name) -> None:
    """NLL takes log-probabilities: on raw outputs it is minus the true class's
    output, which training lowers below 0 without limit (no error from torch)."""
    import torch

    tol = 1e-3 if out.dtype in (torch.float32, torch.float64) else 5e-2  # (bfloat16 keeps 3 digits)
    out = out.detach().float()
    sums = out.exp().sum(dim=1)
    if float(out.max()) <= tol and float((sums - 1).abs().max()) <= tol:
        return
    start = (f"loss={loss_name!r} expects log-probabilities (the output of nn.LogSoftmax(dim=1)), but the module's "
             f"outputs are not (on the first samples: values up to {float(out.max()):.3g}, rows whose exp sums to "
             f"{float(sums[(sums - 1).abs().argmax()]):.3g} instead of 1)")
    if float(out.min()) >= 0 and float((out.sum(dim=1) - 1).abs().max()) <= 1e-2:
        raise ValueError(f"{start}; they look like probabilities (nn.Softmax): use nn.LogSoftmax(dim=1) instead, or "
                         "loss='cross_entropy' on the outputs before the softmax")
    raise ValueError(f"{start}: it would train the loss below 0 without limit; end the module with "
                     "nn.LogSoftmax(dim=1), or use loss='cross_entropy' on its raw outputs (logits)")


def _input_mismatch(module, shape, exc: RuntimeError) -> Exception:
    """A clear error for a module that cannot take X's samples (X of ``shape``)."""
    from torch import nn

    sample_shape = shape[1:]
    first = next((m for m in module.modules() if isinstance(m, (nn.Linear, nn.LazyLinear))), None)
    n_features = sample_shape[-1] if len(sample_shape) else 1
    if (first is not None and not isinstance(first, nn.LazyLinear) and len(sample_shape) == 1
            and first.in_features != n_features):
        return ValueError(
            f"X has {n_features} features per sample, but the module's first layer "
            f"nn.Linear({first.in_features}, {first.out_features}) expects {first.in_features}; "
            f"build it with nn.Linear({n_features}, {first.out_features}) (X.shape[1] = {n_features})"
        )
    # X of one value per sample, or of samples that are arrays, for a module that starts with a Linear layer
    leaf = next((m for m in module.modules() if not any(True for _ in m.children())
                 and any(True for _ in m.parameters(recurse=False))), None)
    if isinstance(leaf, nn.Linear) and not isinstance(leaf, nn.LazyLinear):
        layer, n_in = f"nn.Linear({leaf.in_features}, {leaf.out_features})", leaf.in_features
        if len(sample_shape) == 0:
            return ValueError(
                f"X has shape {shape}, one value per sample, but the module's first layer {layer} expects {n_in} "
                f"features per sample; pass X of shape (n_samples, {n_in}) (X.reshape(-1, 1) if X is a single "
                "feature)"
            )
        if len(sample_shape) > 1 and math.prod(sample_shape) == n_in:
            return ValueError(
                f"X has samples of shape {tuple(sample_shape)}, but the module's first layer {layer} expects "
                f"{n_in} features per sample; flatten X to (n_samples, {n_in}) with X.reshape(len(X), -1), or "
                "start the module with nn.Flatten()"
            )
    return ValueError(f"X has samples of shape {tuple(sample_shape)}, which the module cannot take: {exc}")


def train_module(
    module,
    X,
    y,
    *,
    X_val=None,
    y_val=None,
    X_test=None,
    y_test=None,
    epochs: int = 100,
    optimizer="sgd",
    lr: float = 0.01,
    momentum: float = 0.0,
    nesterov: bool = False,
    weight_decay: float = 0.0,
    loss="cross_entropy",
    batch_size: int | None = None,
    shuffle: bool = True,
    device="auto",
    seed: int | None = None,
    callbacks=None,
    label: str | None = None,
) -> TrainResult:
    """Trains ``module`` on ``(X, y)`` and returns a :class:`TrainResult`.

    Parameters
    ----------
    module : torch.nn.Module mapping a float tensor ``(n, n_features)`` to
        outputs (logits ``(n, n_classes)`` for classification).
    X, y : array-likes (numpy, pandas, torch), checked for NaN/infinity before
        training. X (and float targets) are converted to the module's dtype:
        float32 for a default module, float64 after ``model.double()``.
        Integer class labels that index the module's outputs (0..C-1 for C
        logits) are used as they are; other labels (strings, 1..3, floats)
        are encoded to 0..C-1 and decoded back.
    X_val, y_val : optional validation data: ``val_loss`` and ``val_score``
        (accuracy or R^2) are recorded every epoch.
    X_test, y_test : optional test data for the final metrics.
    epochs : number of passes over the training data.
    optimizer : ``"sgd"`` (with ``momentum``, ``nesterov``), ``"adam"``,
        ``"adamw"``, ``"rmsprop"``, or a ``torch.optim.Optimizer`` class.
    lr, weight_decay : learning rate and L2 penalty (PyTorch's weight_decay).
    loss : ``"cross_entropy"``, ``"mse"``, ``"bce"``, ``"l1"``, ``"huber"``,
        ``"nll"`` or a torch loss module.
    batch_size : minibatch size; None trains on the whole batch every step.
        With batch norm in the module, a last minibatch of one sample (say
        n_samples=101, batch_size=50) joins the one before it (torch cannot
        train batch norm on one sample); batch_size=1 is an error then.
    device : ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``.
    seed : seeds torch (dropout, shuffling) for a reproducible run. Seed
        before building the module to make its initial weights reproducible.
    callbacks : Callback or list (see :mod:`nnwidgets.trainer.events`).
    label : a name for the run in comparisons.

    Every setting and the data are checked before the first epoch: a wrong
    type is a TypeError, a wrong value a ValueError, naming the parameter, the
    value and what is allowed (with the nearest name for a misspelt one).
    """
    import torch

    from nnwidgets.trainer.device import device_name, resolve_device

    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    epochs, lr, momentum, weight_decay, batch_size, seed = _check_settings(
        epochs=epochs, lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay, batch_size=batch_size,
        shuffle=shuffle, optimizer=optimizer, loss=loss, device=device, seed=seed, label=label)
    cbs = CallbackList(callbacks)
    dev = resolve_device(device)
    loss_fn, task, loss_name = _loss_fn(loss)

    def features(a, name):  # tensors stay tensors (maybe already on the GPU)
        return a if isinstance(a, torch.Tensor) else _as_array(a, name)

    Xn, yn = features(X, "X"), _as_array(y, "y")
    if Xn is None or yn is None:
        raise ValueError("X and y are required")
    _check_form(Xn, "X")
    _check_form(yn, "y")
    if len(Xn) != len(yn):
        raise ValueError(f"X has {len(Xn)} samples but y has {len(yn)}; they must match")
    if (X_val is None) != (y_val is None):
        raise ValueError("give both X_val and y_val, or neither")
    if (X_test is None) != (y_test is None):
        raise ValueError("give both X_test and y_test, or neither")
    Xv, yv = features(X_val, "X_val"), _as_array(y_val, "y_val")
    Xt, yt = features(X_test, "X_test"), _as_array(y_test, "y_test")
    # everything checked before the first epoch: a mistake in the test data
    # must not cost the training (and its result)
    for name, a in (("X_val", Xv), ("y_val", yv), ("X_test", Xt), ("y_test", yt)):
        _check_form(a, name)
    for name, a in (("X", Xn), ("y", yn), ("X_val", Xv), ("y_val", yv), ("X_test", Xt), ("y_test", yt)):
        _check_finite(a, name)
    for xs, ys, xname, yname in ((Xv, yv, "X_val", "y_val"), (Xt, yt, "X_test", "y_test")):
        if xs is not None and len(xs) != len(ys):
            raise ValueError(f"{xname} has {len(xs)} samples but {yname} has {len(ys)}; they must match")
        if xs is not None and tuple(xs.shape[1:]) != tuple(Xn.shape[1:]):
            raise ValueError(f"{xname} has samples of shape {tuple(xs.shape[1:])} but X has "
                             f"{tuple(Xn.shape[1:])}; use the same features (columns) as X")
    if task in ("classification", "binary"):
        yn, yv, yt = (_labels_1d(a) for a in (yn, yv, yt))
    loss_known = task is not None  # (a callable of the user's: its task is a guess, its shapes are its own)
    if task is None:
        task = "classification" if np.issubdtype(yn.dtype, np.integer) or yn.dtype.kind in "OUS" else "regression"
    if task == "regression":
        yn, yv, yt = (_numeric_targets(a, name, loss_name) for a, name in ((yn, "y"), (yv, "y_val"), (yt, "y_test")))
    targets = _Targets(task, yn)

    if seed is not None:
        torch.manual_seed(int(seed))
    gen = torch.Generator(device=dev)
    if seed is not None:
        gen.manual_seed(int(seed))

    # Data follow the module: X (and float targets) get the module's floating
    # dtype, float32 for a default module (float64 data are cast down), float64
    # after model.double(); the module itself is never converted.
    dtype = module_dtype(module)
    np_dtype = np.float64 if dtype == torch.float64 else np.float32  # (numpy has no bfloat16)

    def to_x(a):
        if a is None:
            return None
        if isinstance(a, torch.Tensor):  # already a tensor (maybe on the GPU): no round trip through numpy
            return a.detach().to(device=dev, dtype=dtype)
        # (np.array copies: pandas 3 hands out read-only arrays, which torch warns about)
        return torch.as_tensor(np.array(a, dtype=np_dtype), device=dev).to(dtype)

    def to_y(a, name):
        if a is None:
            return None
        a = targets.encode(a, name)
        if task == "classification":
            return torch.as_tensor(np.array(a, dtype=np.int64), device=dev)
        return torch.as_tensor(np.array(a, dtype=np_dtype), device=dev).to(dtype)

    Xd, yd = to_x(Xn), to_y(yn, "y")
    Xvd, yvd = to_x(Xv), to_y(yv, "y_val")
    module.to(dev)

    # The module's output for the first samples, checked against the targets
    # and the loss before any step: torch would broadcast (n,) against (n, 1)
    # into (n, n) with only a warning, and train to the targets' variance.
    rows = min(2, len(Xd))
    with torch.no_grad():
        was_training = module.training
        module.eval()
        try:
            probe = module(Xd[:rows])
        except RuntimeError as exc:  # (a 2-row probe: torch's message would name 2 rows, not the data)
            raise _input_mismatch(module, tuple(Xd.shape), exc) from exc
        finally:
            module.train(was_training)
    if not isinstance(probe, torch.Tensor):
        got = "None" if probe is None else f"a {type(probe).__name__}"
        why = (": forward() has no `return` (or returns nothing); end it with `return` and the output"
               if probe is None else ": forward() must return the output tensor (one row per sample)")
        raise ModuleOutputError(f"the module returned {got}, not a tensor{why}")
    if rows > 1 and (probe.ndim == 0 or probe.shape[0] != rows):
        hint = (f"; X is 1-D (shape {tuple(Xd.shape)}): pass X of shape (n_samples, n_features)"
                if Xd.ndim == 1 else "")
        raise ValueError(
            f"the module returned an output of shape {tuple(probe.shape)} for a batch of {rows} samples; it must "
            f"return one output row per sample (shape ({rows}, ...)): does forward() reduce over the batch "
            f"(.mean(), .sum()) or flatten it (x.view(-1), x.flatten())?{hint}"
        )
    out_sample = tuple(probe.shape[1:])

    def shape_y(t):
        """Regression / binary targets shaped as the outputs where they differ only
        by dimensions of size 1: (n,) targets for (n, 1) outputs and the reverse."""
        if t is None or task == "classification":
            return t
        t_sample = tuple(t.shape[1:])
        if t_sample != out_sample and [d for d in t_sample if d != 1] == [d for d in out_sample if d != 1]:
            return t.reshape((len(t),) + out_sample)
        return t

    yd, yvd = shape_y(yd), shape_y(yvd)
    out_shape = (len(Xd),) + out_sample
    if loss_known and task != "classification":
        for name, given, t in (("y", yn, yd), ("y_val", yv, yvd)):
            if t is not None and tuple(t.shape[1:]) != out_sample:
                raise ValueError(
                    f"loss={loss_name!r} compares the module's output of shape {out_shape} with {name} of shape "
                    f"{tuple(given.shape)}: {math.prod(out_sample)} outputs per sample against "
                    f"{math.prod(tuple(t.shape[1:]))} target value(s) per sample; for class labels use "
                    "loss='cross_entropy', for regression end the module with as many outputs as targets"
                )
    if task == "binary" and len(targets.classes) > 2:
        labels = [_plain(c) for c in targets.classes[:5]]
        raise ValueError(
            f"loss={loss_name!r} is for two classes (one output, a logit per sample), but y has "
            f"{len(targets.classes)}: {labels}; use loss='cross_entropy' and a module with "
            f"{len(targets.classes)} outputs"
        )
    if loss_known and task == "classification":
        if probe.ndim < 2:
            raise ValueError(
                f"loss={loss_name!r} needs the module to output one score (logit) per class, shape (n_samples, "
                f"n_classes); it outputs shape {out_shape}: end it with nn.Linear(..., n_classes) (for two classes "
                "and one output, use loss='bce')"
            )
        if isinstance(loss_fn, torch.nn.NLLLoss) and probe.ndim == 2:
            _check_log_probabilities(probe, loss_name)
        for name, given in (("y", yn), ("y_val", yv), ("y_test", yt)):
            if given is not None and probe.ndim == 2 and given.ndim != 1:
                raise ValueError(
                    f"{name} has shape {tuple(given.shape)}, but loss={loss_name!r} takes one class label per "
                    f"sample (shape ({len(given)},)); for one-hot rows pass {name}.argmax(axis=1)"
                )
    classes_out = task == "classification" and probe.ndim == 2
    if classes_out and targets.classes is None and len(yd) and int(yd.max()) >= probe.shape[1] \
            and len(np.unique(yn)) <= probe.shape[1]:
        # integer labels that are not indices of the outputs (1..3 for 3
        # logits): encoded to 0..C-1 like any other labels
        targets.classes = np.unique(yn)
        yd, yvd = to_y(yn, "y"), to_y(yv, "y_val")
    yt_codes = targets.encode(yt, "y_test")  # (unseen test labels: an error now, not after training)
    if classes_out:
        n_out = probe.shape[1]
        for name, labels in (("y", yd), ("y_val", yvd), ("y_test", yt_codes)):
            if labels is None or not len(labels):
                continue
            top = int(labels.max()) + 1
            if top > n_out:
                hint = ""
                if name == "y" and np.issubdtype(np.asarray(yn).dtype, np.floating):
                    hint = (f"; y holds {len(np.unique(yn))} distinct float values: if it is a "
                            "regression target, pass loss='mse'")
                if n_out == 1:
                    hint = " (or, for two classes with one output, use loss='bce')" + hint
                raise ValueError(
                    f"{name} has class index {top - 1} but the module outputs {n_out} logits; "
                    f"the last layer needs at least {top} outputs{hint}"
                )

    params = [p for p in module.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the module has no trainable parameters")
    opt = _optimizer(optimizer, params, float(lr), float(momentum), bool(nesterov), float(weight_decay))

    n = len(Xd)
    bs = n if batch_size is None else min(int(batch_size), n)
    if seed is None and shuffle and bs < n:
        # without a seed the minibatch order comes from torch's global generator,
        # as a DataLoader's does: each run differs and torch.manual_seed repeats
        # them (a full-batch run draws nothing, so a hand-written loop seeded the
        # same way sees the same dropout masks)
        gen.manual_seed(int(torch.randint(0, 2**62, (1,), dtype=torch.int64).item()))
    label = label or type(module).__name__
    dev_str = device_name(dev)
    settings = dict(
        epochs=epochs, optimizer=optimizer if isinstance(optimizer, str) else optimizer.__name__,
        lr=float(lr), momentum=float(momentum), nesterov=bool(nesterov),
        weight_decay=float(weight_decay), loss=loss_name, batch_size=batch_size,
        seed=seed, n_train=n, n_val=None if Xvd is None else len(Xvd),
    )

    def val_score(out, target):
        if task == "classification":
            return (out.argmax(dim=1) == target).float().mean()
        if task == "binary":
            return ((out > 0).to(target.dtype) == target).float().mean()
        res = ((target - out) ** 2).sum()
        tot = ((target - target.mean(dim=0)) ** 2).sum()
        return 1 - res / tot.clamp_min(1e-12)

    # CPU threads as for the nnwidgets MLPs: one thread for small networks (a parallel
    # region costs more than their work, and spinning threads collapse on shared
    # cores), configure_threads' choice for larger ones; restored afterwards.
    from nnwidgets.trainer.mlp_engine import thread_budget

    with thread_budget([sum(p.numel() for p in params), 1], bs, device=dev):
        return _fit(module, opt, loss_fn, task, targets, Xd, yd, Xvd, yvd, Xt, yt, to_x, to_y, shape_y, n, bs,
                    epochs, shuffle, dev, gen, dev_str, label, cbs, settings, lr, val_score)


def _fit(module, opt, loss_fn, task, targets, Xd, yd, Xvd, yvd, Xt, yt, to_x, to_y, shape_y, n, bs,
         epochs, shuffle, dev, gen, dev_str, label, cbs, settings, lr, val_score):
    import torch

    from nnwidgets.trainer.mlp_engine import DIVERGENCE_FACTOR  # the MLP estimators' rule

    history = History()
    # two snapshots of the state: the start of the previous and of this epoch
    # (every tensor: weights, and buffers such as batch norm's running statistics and its count)
    state = [t for t in module.state_dict().values() if isinstance(t, torch.Tensor)]
    snapshots = [[t.detach().clone() for t in state], [t.detach().clone() for t in state]]
    cbs.fit_begin(model=module, n_models=1, max_epochs=epochs, device=dev_str, run_labels=[label])
    stop_reason = "max_iter"
    epoch_times: list[float] = []
    t_start = time.perf_counter()
    last_finite = 0
    loss0 = None
    epoch = 0
    delivered = 0  # the records given to the callbacks so far
    batches = [(start, min(start + bs, n)) for start in range(0, n, bs)]
    batch_norm = next((m for m in module.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)), None)
    if batch_norm is not None and bs > 1 and batches[-1][1] - batches[-1][0] == 1:
        # batch norm cannot train on a batch of one sample (torch raises):
        # a leftover last sample joins the batch before it
        batches[-2:] = [(batches[-2][0], n)]
    try:
        for epoch in range(1, epochs + 1):
            t_epoch = time.perf_counter()
            _copy_all(snapshots[epoch % 2], state)
            module.train()
            if bs == n:
                opt.zero_grad(set_to_none=True)
                batch_loss = loss_fn(module(Xd), yd)
                batch_loss.backward()
                opt.step()
                epoch_loss = batch_loss.detach()
            else:
                order = torch.randperm(n, device=dev, generator=gen) if shuffle else torch.arange(n, device=dev)
                epoch_loss = torch.zeros((), device=dev, dtype=torch.promote_types(Xd.dtype, torch.float32))
                for start, stop in batches:
                    idx = order[start:stop]
                    opt.zero_grad(set_to_none=True)
                    batch_loss = loss_fn(module(Xd[idx]), yd[idx])
                    batch_loss.backward()
                    opt.step()
                    epoch_loss += batch_loss.detach() * len(idx)
                epoch_loss = epoch_loss / n
            if Xvd is not None:
                module.eval()
                with torch.no_grad():
                    out_v = module(Xvd)
                    values = torch.stack([epoch_loss.float(), loss_fn(out_v, yvd).float(), val_score(out_v, yvd).float()])
                loss_v, vloss_v, vscore_v = values.tolist()  # the one device sync of the epoch
            else:
                loss_v, vloss_v, vscore_v = float(epoch_loss), None, None
            now = time.perf_counter()
            dt = now - t_epoch
            epoch_times.append(dt)
            if loss0 is None:
                loss0 = loss_v  # the untrained module's loss (epoch 1 measures it before its step)
            if not math.isfinite(loss_v) or loss_v > DIVERGENCE_FACTOR * max(loss0, 1.0):
                # (the same rule as the MLP estimators: non-finite, or a million
                # times the starting loss and above 1)
                from nnwidgets.trainer.estimators import TrainingDivergedWarning

                keep = snapshots[(epoch - 1) % 2] if epoch > 1 else snapshots[epoch % 2]
                for t, s in zip(state, keep):
                    t.copy_(s)
                stop_reason = "diverged"
                what = (f"became non-finite ({loss_v})" if not math.isfinite(loss_v) else
                        f"exploded to {loss_v:.3g}, {loss_v / max(loss0, 1e-12):.1e} times its value at the "
                        f"start of training ({loss0:.3g})")
                warnings.warn(
                    f"training diverged at epoch {epoch}: the training loss {what}. Stopped; the module keeps "
                    f"its weights from the start of epoch {max(1, last_finite)}. Use a smaller learning rate "
                    f"(got lr={lr:g}; try {lr / 10:g}), or standardize X (StandardScaler) if its features "
                    "have large values.",
                    TrainingDivergedWarning,
                    stacklevel=2,
                )
                break
            last_finite = epoch
            record = {
                "epoch": epoch,
                "loss": loss_v,
                "val_loss": vloss_v,
                "val_score": vscore_v,
                "elapsed": now - t_start,
                "epoch_time": dt,
                "samples_per_s": n / dt if dt > 0 else float("inf"),
                "device": dev_str,
                "lr": opt.param_groups[0]["lr"],
            }
            history.append(record)
            if (now >= cbs.due or epoch == epochs) and cbs.callbacks:  # (paced callbacks: events.py)
                records = history[delivered:]
                delivered = len(history)
                if cbs.epoch_end(run=0, record=record, model=module, records=records):
                    stop_reason = "stopped"
                    break
    except Exception as exc:
        # a failure in the middle of an epoch (out of memory, a module that
        # fails on one minibatch): the module keeps the weights of the last
        # completed epoch, as after Ctrl-C, and the error goes on to the caller
        if epoch > len(history):
            _copy_all(state, snapshots[epoch % 2])
        if hasattr(exc, "add_note"):  # Python 3.11+
            kept = f"its weights from the end of epoch {len(history)}" if history else "its initial weights"
            exc.add_note(f"train_module: training failed in epoch {epoch}; the module keeps {kept}")
        if isinstance(exc, ValueError) and batch_norm is not None and bs == 1 and "value per channel" in str(exc):
            raise _one_sample_batches(batch_norm, settings["batch_size"], n, exc) from exc
        raise
    except KeyboardInterrupt:
        stop_reason = "interrupted"
        if epoch > len(history):  # in the middle of an epoch: back to its start, as the estimators do
            for t, s in zip(state, snapshots[epoch % 2]):
                t.copy_(s)
        warnings.warn(
            "Training interrupted by user (KeyboardInterrupt): the module keeps the weights of the "
            f"last completed epoch ({len(history)}) and its history.", UserWarning, stacklevel=3)
    finally:
        # the epochs a paced callback skipped (diverged, interrupted, failed):
        # a live plot still shows every finished epoch
        if delivered < len(history) and cbs.callbacks:
            cbs.epoch_end(run=0, record=history[-1], model=module, records=history[delivered:])
    total = time.perf_counter() - t_start
    module.eval()

    result = TrainResult(
        model=module,
        history=history,
        device=dev_str,
        stop_reason=stop_reason,
        params=settings,
        task="classification" if task in ("classification", "binary") else task,
        label=label,
    )
    done = len(history)
    result.timings = {
        "total_s": total,
        "per_epoch_s": float(np.median(epoch_times)) if epoch_times else None,
        "samples_per_s": (n * done / total) if total > 0 and done else None,
        "epochs": done,
        "device": dev_str,
    }
    if targets.classes is not None:
        result.params["classes"] = targets.classes.tolist()
    try:
        result.metrics = _final_metrics(module, loss_fn, task, targets, Xd, yd, Xt, yt, to_x, shape_y, to_y, result)
    except KeyboardInterrupt:
        pass
    cbs.fit_end(model=module, history=history, stop_reason=stop_reason, result=result)
    return result


def _one_sample_batches(batch_norm, batch_size, n, exc) -> ValueError:
    """The error for batch norm on minibatches of one sample (torch's names neither cause)."""
    layer = type(batch_norm).__name__
    if n == 1:
        why, fix = "X holds a single sample (n_samples=1)", "train on at least 2 samples"
    else:
        why = f"batch_size={batch_size} makes every minibatch one sample (n_samples={n})"
        fix = "use batch_size=2 or more (or None for the full batch)"
    return ValueError(f"the module's {layer} layer cannot train on a minibatch of one sample "
                      f"(torch: {exc}): {why}; {fix}")


def _copy_all(dst, src):
    import torch

    if hasattr(torch, "_foreach_copy_"):
        torch._foreach_copy_(dst, src)
    else:  # pragma: no cover - older torch
        for d, s in zip(dst, src):
            d.copy_(s)


def _predict(module, task, Xd):
    import torch

    with torch.no_grad():
        out = module(Xd)
    if task == "classification":
        return out, out.argmax(dim=1)
    if task == "binary":
        return out, (out > 0).long().reshape(-1)
    return out, out


def _final_metrics(module, loss_fn, task, targets, Xd, yd, Xt, yt, to_x, shape_y, to_y, result):
    import torch

    module.eval()
    metrics = {}
    out, pred = _predict(module, task, Xd)
    with torch.no_grad():
        metrics["train_loss"] = float(loss_fn(out, yd))
    y_true_train = _numpy(yd)
    pred_train = _numpy(pred)
    if task == "binary":
        y_true_train = y_true_train.reshape(-1)
    if task in ("classification", "binary"):
        metrics.update(prediction_metrics("classification", y_true_train, pred_train.reshape(-1), "train"))
    else:
        metrics.update(prediction_metrics("regression", y_true_train, pred_train, "train"))
    if Xt is not None:
        Xtd = to_x(Xt)
        ytd = shape_y(to_y(yt, "y_test"))
        out_t, pred_t = _predict(module, task, Xtd)
        with torch.no_grad():
            metrics["test_loss"] = float(loss_fn(out_t, ytd))
        pred_np = _numpy(pred_t)
        if task == "classification" or task == "binary":
            pred_np = targets.decode(pred_np.reshape(-1))
            metrics.update(prediction_metrics("classification", yt, pred_np, "test"))
        else:
            pred_np = pred_np.reshape(len(pred_np), -1)
            if pred_np.shape[1] == 1 and np.ndim(yt) == 1:
                pred_np = pred_np[:, 0]
            metrics.update(prediction_metrics("regression", yt, pred_np, "test"))
        result.predictions = {"y_true": np.asarray(yt), "y_pred": pred_np, "split": "test"}
    return metrics
