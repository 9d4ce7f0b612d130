"""What a ``%%nntrain`` cell does, as one function the magic calls.

:func:`run_training_cell` runs the cell body (which builds the model), finds
the data by name in the user's namespace, trains with a live loss plot,
records the run for ``%nnruns`` and stores the result in ``out``. It knows
nothing of magics: bad options raise :class:`TrainingCellError` (a
``ValueError`` naming the option), which the magic turns into a UsageError.
The data is checked before anything trains, and a cell that fails leaves the
notebook's variables as they were.
"""

from __future__ import annotations

import ast
import contextlib
import random
import warnings
from typing import Any

import numpy as np

from nnwidgets.widgets.cell_source import cache_cell_source

#: --option -> (torch module keyword, estimator parameter)
_ESTIMATOR_PARAMS = {
    "epochs": "max_iter",
    "lr": "learning_rate_init",
    "optimizer": "solver",
    "momentum": "momentum",
    "nesterov": "nesterovs_momentum",
    "batch_size": "batch_size",
    "seed": "random_state",
    "device": "device",
}
#: defaults for nn.Module training when the line does not say
MODULE_DEFAULTS = {"epochs": 100, "optimizer": "sgd", "lr": 0.01}


class TrainingCellError(ValueError):
    """A %%nntrain option that cannot be used; ``option`` names it."""

    def __init__(self, option: str, message: str) -> None:
        super().__init__(f"{option}: {message}")
        self.option = option


def _names(option: str, value: str | None, count: int = 2) -> list[str] | None:
    if value is None:
        return None
    names = [n.strip() for n in value.split(",") if n.strip()]
    if len(names) != count:
        raise TrainingCellError(
            option, f"expects {count} variable names separated by a comma (e.g. X_train,y_train), got {value!r}"
        )
    for n in names:
        if not n.replace(".", "_").isidentifier():
            raise TrainingCellError(option, f"{n!r} is not a variable name")
    return names


def _lookup(option: str, name: str, namespace: dict) -> Any:
    obj: Any = namespace
    parts = name.split(".")
    if parts[0] not in namespace:
        raise TrainingCellError(option, f"no variable named {parts[0]!r} in the notebook; define it first")
    obj = namespace[parts[0]]
    for part in parts[1:]:
        if not hasattr(obj, part):
            raise TrainingCellError(option, f"{'.'.join(parts[:parts.index(part)])} has no attribute {part!r}")
        obj = getattr(obj, part)
    return obj


def _pair(option: str, value: str | None, namespace: dict):
    names = _names(option, value)
    if names is None:
        return None, None
    X, y = (_lookup(option, n, namespace) for n in names)
    try:
        nx, ny = len(X), len(y)
    except TypeError as exc:
        raise TrainingCellError(option, f"{names[0]} and {names[1]} must be arrays or data frames") from exc
    if nx != ny:
        raise TrainingCellError(option, f"{names[0]} has {nx} rows but {names[1]} has {ny}")
    return X, y


def _shape(a) -> tuple | None:
    """``a``'s shape as a tuple of ints (None when it has none: a ragged list)."""
    shape = getattr(a, "shape", None)
    try:
        return tuple(int(d) for d in (np.shape(a) if shape is None else shape))
    except (TypeError, ValueError):
        return None


def _few(values, limit: int = 5) -> str:
    """``'a', 'b' and 3 more``."""
    shown = ", ".join(repr(v) for v in values[:limit])
    return shown + (f" and {len(values) - limit} more" if len(values) > limit else "")


def _check_like_training(option: str, value: str, data: str, X, y, X_other, y_other) -> None:
    """--val/--test data the trained model could not take (other features,
    other columns, other targets) is an error now, naming the variables and
    their shapes, not after the whole training."""
    if X_other is None:
        return
    other_x, other_y = _names(option, value)
    x_name, y_name = _names("--data", data)
    train, other = _shape(X), _shape(X_other)
    if train is not None and other is not None and len(train) and len(other) and train[1:] != other[1:]:
        if len(train) == 2 and len(other) == 2:
            what = (f"{other[1]} features per sample (shape {other}), but the training data {x_name} "
                    f"has {train[1]} (shape {train})")
        else:
            what = (f"samples of shape {other[1:]} (shape {other}), but the training data {x_name} "
                    f"has samples of shape {train[1:]} (shape {train})")
        raise TrainingCellError(option, f"{other_x} has {what}; use the same features (columns) as {x_name}")
    columns, other_columns = getattr(X, "columns", None), getattr(X_other, "columns", None)
    if columns is not None and other_columns is not None and list(columns) != list(other_columns):
        columns, other_columns = list(columns), list(other_columns)
        missing = [c for c in columns if c not in other_columns]
        extra = [c for c in other_columns if c not in columns]
        if not missing and not extra:
            raise TrainingCellError(option, f"{other_x} has {x_name}'s columns in another order; select them in "
                                            f"{x_name}'s order: {other_x}[{x_name}.columns]")
        parts = ([f"it lacks {_few(missing)}"] if missing else []) + (
            [f"has {_few(extra)}" + (" instead" if missing else " too")] if extra else [])
        raise TrainingCellError(option, f"{other_x}'s columns are not {x_name}'s: {' and '.join(parts)}; "
                                        f"use the same columns as {x_name}")
    train, other = _shape(y), _shape(y_other)

    def per_sample(shape):  # (n,) and (n, 1): one target value per sample
        return int(np.prod(shape[1:])) if len(shape) > 1 else 1

    if train is not None and other is not None and len(train) and len(other) \
            and per_sample(train) != per_sample(other):
        raise TrainingCellError(
            option, f"{other_y} has {per_sample(other)} target values per sample (shape {other}), but the "
                    f"training targets {y_name} have {per_sample(train)} (shape {train}); use targets like {y_name}'s")


def _labels(y) -> list | None:
    """The labels of ``y``, one per sample, as Python values (None when ``y``
    is not one label per sample: multi-output targets)."""
    if hasattr(y, "detach"):  # a torch tensor, maybe on the GPU
        y = y.detach().cpu().numpy()
    arr = np.asarray(y.to_numpy() if hasattr(y, "to_numpy") else y)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr.reshape(-1)
    return arr.tolist() if arr.ndim == 1 else None


# At most this share of --val/--test samples may carry labels the training set
# lacks (a rare class that missed the training split by chance) before it is
# an error rather than a warning.
UNSEEN_LABELS_WARN_SHARE = 0.10


def _check_labels(option: str, value: str, data: str, y, y_other) -> None:
    """Classification: --val/--test labels the model never sees in training.
    A few samples of a class that missed the training split: a warning (they
    count as errors). Many, or labels of another kind (strings against
    numbers): an error before training, naming them, not a crash or a silent
    0 after it."""
    if y_other is None:
        return
    known, other = _labels(y), _labels(y_other)
    if known is None or other is None:
        return
    classes = dict.fromkeys(known)
    unseen = [v for v in dict.fromkeys(other) if v not in classes]
    if not unseen:
        return
    try:
        shown = sorted(classes)
    except TypeError:  # labels of mixed types
        shown = list(classes)
    n_unseen = sum(v not in classes for v in other)
    other_y, y_name = _names(option, value)[1], _names("--data", data)[1]
    what = (f"{other_y} holds labels that {y_name} does not: {_few(unseen)} ({n_unseen} of {len(other)} "
            f"samples); a classifier trained on {y_name} predicts only its classes ({_few(shown)}), so it can "
            "never get those right")
    fix = ("Split the data so that every class is in the training set (train_test_split(X, y, stratify=y)), "
           "or check that both hold the same kind of labels")
    def kind(v):
        return isinstance(v, str)

    same_kind = {kind(v) for v in unseen} <= {kind(v) for v in classes}
    if same_kind and n_unseen <= UNSEEN_LABELS_WARN_SHARE * len(other):
        import warnings

        warnings.warn(f"{option}: {what} (they count as errors). {fix}", UserWarning, stacklevel=2)
        return
    raise TrainingCellError(option, f"{what}. {fix}")


def _takes_nan(obj) -> bool:
    """Whether the model takes NaN in X (scikit-learn's ``allow_nan`` tag:
    HistGradientBoosting does, the MLPs and an nn.Module do not)."""
    import torch

    if isinstance(obj, torch.nn.Module):
        return False
    try:
        from sklearn.utils import get_tags

        return bool(get_tags(obj).input_tags.allow_nan)
    except Exception:  # an estimator scikit-learn knows nothing of: let it decide
        return True


def _check_finite(options: list, takes_nan: bool) -> None:
    """NaN or infinity in the data, named by the notebook's variable before
    training (not by the trainer's X_test, nor after training when the test
    set is predicted). ``options``: [(option, value, X, y)]."""
    from nnwidgets.trainer.module_training import _check_finite as check

    for option, value, X_, y_ in options:
        if value is None:
            continue
        x_name, y_name = _names(option, value)
        for name, a in ((x_name, None if takes_nan else X_), (y_name, y_)):
            try:
                check(a, name)
            except ValueError as exc:
                raise TrainingCellError(option, str(exc)) from None


def _classifies(obj, loss, task, y) -> bool:
    """Whether ``obj`` is trained as a classifier (``loss``/``task``: the line's)."""
    import torch

    if isinstance(obj, torch.nn.Module):
        if loss is None:
            return (task or infer_task(y)) == "classification"
        if not isinstance(loss, str):
            return False
        from nnwidgets.trainer.module_training import LOSS_ALIASES, LOSSES

        key = LOSS_ALIASES.get(loss.lower(), loss.lower())
        return LOSSES.get(key, (None, None))[1] in ("classification", "binary")
    if not hasattr(obj, "fit"):
        return False  # (not a model: the training says so)
    from sklearn.base import is_classifier

    try:
        return is_classifier(obj)
    except Exception:  # an estimator-like object scikit-learn knows nothing of
        return False


def infer_task(y) -> str:
    """``"classification"`` for labels (strings, booleans, or integral values
    that repeat: 0/1 choices, 26 fMRI categories), ``"regression"`` otherwise
    (diabetes scores, orientations: nearly every value distinct)."""
    arr = np.asarray(y.to_numpy() if hasattr(y, "to_numpy") else y)
    if arr.dtype == object or arr.dtype.kind in "USbO":
        return "classification"
    if arr.ndim > 1 and arr.shape[1] > 1:
        return "regression"
    flat = arr.reshape(-1)
    if not np.all(np.isfinite(flat)) or not np.all(flat == np.round(flat)):
        return "regression"
    n_unique = len(np.unique(flat))
    return "classification" if n_unique <= max(2, min(100, len(flat) // 5)) else "regression"


def parse_grid(text: str) -> dict:
    """``"lr=0.1,0.01; alpha=1e-4,1e-3"`` -> ``{"lr": [0.1, 0.01], "alpha": [...]}``."""
    grid: dict[str, list] = {}
    given: dict[str, str] = {}
    for part in text.replace(";", " ").split():
        if "=" not in part:
            raise TrainingCellError("--grid", f"{part!r} is not name=value1,value2 (e.g. --grid 'lr=0.1,0.01')")
        name, values = part.split("=", 1)
        if name.strip() in given:
            both = ",".join(v for v in (given[name.strip()], values) if v)
            raise TrainingCellError("--grid", f"{name.strip()!r} is given twice; list its values once, "
                                              f"e.g. {name.strip()}={both}")
        given[name.strip()] = values
        parsed = []
        for v in values.split(","):
            v = v.strip()
            if not v:
                continue
            try:
                parsed.append(ast.literal_eval(v))
            except (ValueError, SyntaxError):
                parsed.append(v)
        if not parsed:
            raise TrainingCellError("--grid", f"no values for {name!r}")
        grid[name.strip()] = parsed
    if not grid:
        raise TrainingCellError("--grid", "is empty; write e.g. --grid 'lr=0.1,0.01'")
    return grid


@contextlib.contextmanager
def _warnings_from_the_cell():
    """Warnings raised while the cell trains (a ConvergenceWarning from the
    estimator's fit, a TrainingDivergedWarning from the trainer) are shown as
    the cell's, ``%%nntrain:1: ConvergenceWarning: ...``, once each, instead of
    pointing at the library line that raised them. The notebook's own filters
    (``warnings.filterwarnings("ignore", ...)``) still apply."""
    caught: list = []
    try:
        with warnings.catch_warnings(record=True) as recorded:
            warnings.simplefilter("default")  # once per library line (not one per epoch)
            try:
                yield
            finally:
                caught = list(recorded)
    finally:
        seen = set()
        for w in caught:
            key = (w.category, str(w.message))
            if key not in seen:
                seen.add(key)
                warnings.warn_explicit(w.message, w.category, "%%nntrain", 1)


def _run_body(cell: str, namespace: dict, shell=None):
    """Executes the cell body in the notebook namespace; returns the value of
    its last expression, or of the variable its last line assigns
    (``net = MLPRegressor(...)``), else None."""
    __tracebackhide__ = True  # IPython shows the student's lines, not this frame
    if not cell.strip():
        return None
    if shell is not None:
        cell = shell.transform_cell(cell)
    # a blank first line stands for the magic's line, so that line numbers
    # are the cell's; the source is cached so tracebacks show the lines
    # ("Cell In[5], line 3" in a notebook)
    source = "\n" + cell
    filename = cache_cell_source(source, shell, "%%nntrain")
    tree = ast.parse(source, filename=filename)
    last = None
    assigned = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = ast.Expression(tree.body.pop().value)
    elif tree.body and isinstance(tree.body[-1], (ast.Assign, ast.AnnAssign)):
        stmt = tree.body[-1]
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
        if len(targets) == 1 and isinstance(targets[0], ast.Name):
            assigned = targets[0].id
    code = compile(tree, filename, "exec")
    exec(code, namespace)
    if last is not None:
        return eval(compile(last, filename, "eval"), namespace)
    if assigned is not None:
        return namespace.get(assigned)
    return None


_MISSING = object()


@contextlib.contextmanager
def _all_or_nothing(namespace: dict):
    """Undoes what the block did to ``namespace`` when it raises: names it
    rebound get their earlier values back, names it added are removed (a
    failed ``%%nntrain`` does not replace the notebook's trained ``net`` with
    the cell's untrained one). Objects changed in place stay changed."""
    before = dict(namespace)
    try:
        yield
    except BaseException:
        for name in [n for n in namespace if n not in before]:
            del namespace[name]
        for name, value in before.items():
            if namespace.get(name, _MISSING) is not value:
                namespace[name] = value
        raise


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    try:
        import torch

        torch.manual_seed(seed)
    except ImportError:  # pragma: no cover
        pass


def _hidden(value: str) -> tuple:
    try:
        sizes = tuple(int(v) for v in value.replace("x", ",").split(",") if v.strip())
    except ValueError as exc:
        raise TrainingCellError("--hidden", f"{value!r} must be layer sizes such as 100 or 100,100") from exc
    if not sizes or any(s < 1 for s in sizes):
        raise TrainingCellError("--hidden", f"{value!r} must be positive layer sizes such as 100,100")
    return sizes


def _label_for(model, hidden=None) -> str:
    from nnwidgets.trainer.estimator_training import default_label

    return default_label(model, hidden)


def run_training_cell(
    cell: str = "",
    namespace: dict | None = None,
    *,
    data: str | None = None,
    val: str | None = None,
    test: str | None = None,
    model: str | None = None,
    hidden: str | None = None,
    task: str | None = None,
    epochs: int | None = None,
    optimizer: str | None = None,
    lr: float | None = None,
    momentum: float | None = None,
    nesterov: bool = False,
    weight_decay: float | None = None,
    loss: str | None = None,
    batch_size: int | None = None,
    device: str | None = None,
    seed: int | None = None,
    label: str | None = None,
    out: str | None = None,
    grid: str | None = None,
    progress: str = "auto",
    shell=None,
):
    """Runs one ``%%nntrain`` cell; returns the TrainResult (or SweepResult)."""
    __tracebackhide__ = True  # tracebacks start at the student's cell
    from nnwidgets.trainer.registry import RUNS
    from nnwidgets.widgets.lossplot import LiveLossPlot, progress_mode

    namespace = {} if namespace is None else namespace
    if data is None:
        raise TrainingCellError("--data", "is required: name the training data, e.g. --data X_train,y_train")
    if out is not None and not out.isidentifier():
        raise TrainingCellError("--out", f"{out!r} is not a valid variable name")
    if task is not None and task not in ("classification", "regression"):
        raise TrainingCellError("--task", f"{task!r} must be 'classification' or 'regression'")
    for option, value in (("--epochs", epochs), ("--batch-size", batch_size)):
        if value is not None and value < 1:
            raise TrainingCellError(option, f"{value!r} must be a positive integer")
    if lr is not None and not lr > 0:
        raise TrainingCellError("--lr", f"{lr!r} must be a positive learning rate such as 0.01")
    if momentum is not None and not momentum >= 0:  # (NaN too)
        raise TrainingCellError("--momentum", f"{momentum!r} must be a number >= 0, such as 0.9")
    if weight_decay is not None and not weight_decay >= 0:
        raise TrainingCellError("--weight-decay", f"{weight_decay!r} must be a number >= 0, such as 1e-4")
    if seed is not None and not 0 <= seed < 2**32:  # (what NumPy takes)
        raise TrainingCellError("--seed", f"{seed!r} must be a whole number from 0 to {2**32 - 1}")
    if optimizer is not None and optimizer.lower() not in ("sgd", "adam", "adamw", "rmsprop", "lbfgs"):
        raise TrainingCellError("--optimizer", f"{optimizer!r} must be sgd or adam (or adamw, rmsprop)")
    try:
        progress = progress_mode(progress)
    except ValueError as exc:
        raise TrainingCellError("--progress", str(exc)) from exc
    X, y = _pair("--data", data, namespace)
    X_val, y_val = _pair("--val", val, namespace)
    X_test, y_test = _pair("--test", test, namespace)
    # before the body and the training: a typo in the test data costs no training
    _check_like_training("--val", val, data, X, y, X_val, y_val)
    _check_like_training("--test", test, data, X, y, X_test, y_test)
    if hidden is not None and (cell.strip() or model):
        raise TrainingCellError("--hidden", "builds the model itself: leave the cell body empty and drop --model")
    param_grid = parse_grid(grid) if grid is not None else None

    # a cell that fails (in its body, on an option, while training) changes no
    # variable: the names its body bound get their earlier values back
    with _all_or_nothing(namespace):
        if seed is not None:
            _seed_everything(seed)
        value = _run_body(cell, namespace, shell)
        if hidden is not None:
            sizes = _hidden(hidden)
            kind = task or _task_from_loss(loss, y)
            from nnwidgets.trainer.estimators import MLPClassifier, MLPRegressor

            estimator = (MLPClassifier if kind == "classification" else MLPRegressor)(hidden_layer_sizes=sizes)
            loss = None  # the estimator's loss follows from its kind
            obj = estimator
        elif model is not None:
            obj = _lookup("--model", model, namespace)
        else:
            obj = value
        if obj is None:
            raise TrainingCellError(
                "--model",
                "no model: end the cell with the model (e.g. MLPRegressor(...) or Net()), "
                "name it with --model NAME, or give --hidden 100,100",
            )
        label = label or _label_for(obj, _hidden(hidden) if hidden else None)
        _check_finite([("--data", data, X, y), ("--val", val, X_val, y_val), ("--test", test, X_test, y_test)],
                      takes_nan=_takes_nan(obj))
        if _classifies(obj, loss, task, y):
            _check_labels("--val", val, data, y, y_val)
            _check_labels("--test", test, data, y, y_test)

        import torch

        plot = LiveLossPlot(title=f"Training loss: {label}", mode=progress,
                            finalize_on_fit_end=param_grid is None)
        callbacks = [plot]
        try:
            with _warnings_from_the_cell():
                if param_grid is not None:
                    result = _sweep(obj, param_grid, X, y, X_val, y_val, X_test, y_test, callbacks,
                                    dict(epochs=epochs, optimizer=optimizer, lr=lr, momentum=momentum,
                                         nesterov=nesterov, weight_decay=weight_decay, loss=loss,
                                         batch_size=batch_size, device=device, seed=seed))
                    plot.finalize()
                elif isinstance(obj, torch.nn.Module):
                    result = _train_module(obj, X, y, X_val, y_val, X_test, y_test, callbacks, label,
                                           epochs, optimizer, lr, momentum, nesterov, weight_decay, loss,
                                           batch_size, device, seed, task)
                elif hasattr(obj, "fit"):
                    result = _train_estimator(obj, X, y, X_val, X_test, y_test, callbacks, label, epochs,
                                              optimizer, lr, momentum, nesterov, weight_decay, loss, batch_size,
                                              device, seed)
                else:
                    raise TrainingCellError(
                        "--model", f"{type(obj).__name__} is neither a torch.nn.Module nor an estimator with fit()"
                    )
        finally:
            plot.finalize()  # the image before the result (a live view, or a training too short to have shown one)
            # the cell's plot is done: its image is in the output, nothing refers to
            # it, and a closed widget is not kept by the browser nor saved with the
            # notebook's widget state (ipywidgets keeps every open one alive)
            plot.close()
        if param_grid is None:
            RUNS.record(result)
        else:
            for run in result.runs:
                RUNS.record(run)
        if out is not None:
            namespace[out] = result
    return result


_CLASSIFICATION_LOSSES = ("cross_entropy", "ce", "log_loss")
_REGRESSION_LOSSES = ("mse", "squared_error")


def _task_from_loss(loss, y) -> str:
    """--hidden: the task the --loss asks for (the data's, without one)."""
    if loss is None:
        return infer_task(y)
    if loss not in _CLASSIFICATION_LOSSES + _REGRESSION_LOSSES:
        raise TrainingCellError(
            "--loss", f"{loss!r} is not a loss of --hidden's MLPs: use squared_error (MLPRegressor) or "
                      "cross_entropy (MLPClassifier), or build an nn.Module in the cell for other losses")
    kind = "classification" if loss in _CLASSIFICATION_LOSSES else "regression"
    if kind == "classification" and infer_task(y) == "regression":
        n = len(np.unique(np.asarray(y)))
        raise TrainingCellError(
            "--loss", f"{loss} makes a classifier, but y looks like a regression target ({n} distinct "
                      "values); drop --loss, or add --task classification if y really holds class labels")
    return kind


def _train_module(module, X, y, X_val, y_val, X_test, y_test, callbacks, label, epochs, optimizer, lr,
                  momentum, nesterov, weight_decay, loss, batch_size, device, seed, task):
    from nnwidgets.trainer.module_training import train_module

    if loss is None:
        kind = task or infer_task(y)
        loss = "cross_entropy" if kind == "classification" else "mse"
    try:
        result = train_module(
            module, X, y, X_val=X_val, y_val=y_val, X_test=X_test, y_test=y_test,
            epochs=epochs or MODULE_DEFAULTS["epochs"], optimizer=optimizer or MODULE_DEFAULTS["optimizer"],
            lr=lr if lr is not None else MODULE_DEFAULTS["lr"], momentum=momentum or 0.0, nesterov=nesterov,
            weight_decay=weight_decay or 0.0, loss=loss, batch_size=batch_size, device=device or "auto",
            # --seed seeded everything before the body built the module; seeding
            # torch again here would change the dropout masks and shuffles that
            # follow, so the cell would not repeat the same hand-written loop
            # seeded once at its top (the generator for shuffles takes
            # torch.initial_seed(), i.e. --seed)
            seed=None, callbacks=callbacks, label=label,
        )
        if seed is not None:
            result.params["seed"] = seed
        return result
    except ValueError as exc:
        msg = str(exc)
        if "minibatch of one sample" in msg:  # batch norm: --batch-size 1, or a single sample in --data
            raise TrainingCellError("--batch-size" if "batch_size=" in msg else "--data", msg) from exc
        for prefix, option in _MODULE_ERRORS:
            if msg.startswith(prefix):
                raise TrainingCellError(option, msg) from exc
        raise


#: train_module's error messages -> the %%nntrain option they are about
_MODULE_ERRORS = (
    ("loss=", "--loss"), ("optimizer=", "--optimizer"), ("nesterov=", "--nesterov"),
    ("momentum/nesterov", "--momentum"), ("momentum=", "--momentum"), ("weight_decay=", "--weight-decay"),
    ("device=", "--device"), ("batch_size=", "--batch-size"),
    ("epochs=", "--epochs"), ("lr=", "--lr"), ("X ", "--data"), ("X's ", "--data"), ("y ", "--data"),
    ("X_val", "--val"), ("y_val", "--val"), ("X_test", "--test"), ("y_test", "--test"), ("the module", "--model"),
)


def _train_estimator(est, X, y, X_val, X_test, y_test, callbacks, label, epochs, optimizer, lr, momentum,
                     nesterov, weight_decay, loss, batch_size, device, seed):
    from nnwidgets.trainer.estimator_training import train_estimator

    name = type(est).__name__
    if X_val is not None:
        raise TrainingCellError(
            "--val", f"applies to nn.Module training; {name} holds out its own validation data "
                     "(early_stopping=True, validation_fraction=...)"
        )
    if weight_decay is not None:
        raise TrainingCellError("--weight-decay", f"applies to nn.Module training; set {name}(alpha=...) "
                                "(scikit-learn's L2 penalty) in the cell instead")
    if loss is not None:
        raise TrainingCellError("--loss", f"applies to nn.Module training; {name} fixes its own loss")
    with _estimator_options(est, dict(epochs=epochs, optimizer=optimizer, lr=lr, momentum=momentum,
                                      nesterov=nesterov, batch_size=batch_size, seed=seed, device=device)):
        return train_estimator(est, X, y, X_test=X_test, y_test=y_test, callbacks=callbacks, label=label)


@contextlib.contextmanager
def _estimator_options(est, options: dict):
    """The line's options set on the estimator for a training that keeps them
    when it succeeds; when it fails (a bad value, an error in ``fit``) the
    estimator's parameters get their earlier values back."""
    previous = _apply_estimator_options(est, options)
    try:
        yield
    except BaseException:
        if previous:
            est.set_params(**previous)
        raise


def _apply_estimator_options(est, options: dict) -> dict:
    """Sets the line's options (--epochs, --lr, ...) on the estimator's own
    parameters, and checks them there and then: a bad value is a one-line
    error naming the option, not a traceback from inside ``fit``, and leaves
    the parameters as they were. Returns the earlier values of the
    parameters it set."""
    name = type(est).__name__
    params = est.get_params(deep=False) if hasattr(est, "get_params") else {}
    updates, flags = {}, {}
    for option, value in options.items():
        if value is None or (option == "nesterov" and not value):
            continue
        param = _ESTIMATOR_PARAMS[option]
        flag = "--" + option.replace("_", "-")
        if param not in params:
            raise TrainingCellError(flag, f"{name} has no parameter {param!r}; set it in the cell instead")
        if option == "optimizer":
            value = value.lower()
            if value in ("adamw", "rmsprop") and _is_mlp(est):
                raise TrainingCellError(
                    flag, f"{value!r} applies to nn.Module training; {name}'s solver is 'adam', 'sgd' or 'lbfgs'")
        if option == "device":
            _check_device(value)
        updates[param] = value
        flags[param] = flag
    previous = {param: params[param] for param in updates}
    if updates:
        est.set_params(**updates)
        try:
            _check_params(est, flags)
        except BaseException:
            est.set_params(**previous)
            raise
    return previous


def _is_mlp(est) -> bool:
    return type(est).__name__ in ("MLPRegressor", "MLPClassifier")


def _check_device(value) -> None:
    from nnwidgets.trainer.device import resolve_device

    try:
        resolve_device(value)
    except (ValueError, RuntimeError) as exc:
        raise TrainingCellError("--device", str(exc)) from None


def _check_params(est, flags: dict, what: str | None = None) -> None:
    """scikit-learn's own parameter check (what ``fit`` runs first), with its
    error turned into one naming the option that set the bad parameter."""
    validate = getattr(est, "_validate_params", None)
    if validate is None:
        return
    try:
        validate()
    except (ValueError, TypeError) as exc:
        _raise_naming_the_option(exc, flags, what)
        raise


def _raise_naming_the_option(exc: Exception, flags: dict, what: str | None = None) -> None:
    """A TrainingCellError naming the option (``flags``: parameter -> option)
    whose parameter scikit-learn's error ``exc`` is about; nothing if none."""
    message = str(exc)
    for param, flag in flags.items():
        if f"'{param}' parameter" in message:
            raise TrainingCellError(flag, (what or "") + message) from None


def _sweep(obj, param_grid, X, y, X_val, y_val, X_test, y_test, callbacks, options):
    """--grid: every combination trained by nnwidgets.trainer.sweeps.sweep (stacked
    when it can), each model recorded as a run."""
    import torch

    try:
        from nnwidgets.trainer.sweeps import InvalidSweepCandidate, sweep
    except ImportError as exc:  # pragma: no cover - shipped together
        raise TrainingCellError("--grid", "needs nnwidgets.trainer.sweeps, which is not installed") from exc
    from nnwidgets.trainer.module_training import prediction_metrics
    from nnwidgets.trainer.estimator_training import _task

    if isinstance(obj, torch.nn.Module) or not hasattr(obj, "get_params"):
        raise TrainingCellError(
            "--grid", f"sweeps estimators (MLPRegressor, MLPClassifier, ...), not {type(obj).__name__}; "
                      "for an nn.Module call train_module in a loop"
        )
    for option in ("weight_decay", "loss"):
        if options.get(option) is not None:
            flag = "--" + option.replace("_", "-")
            raise TrainingCellError(flag, f"applies to nn.Module training, not to {type(obj).__name__}")
    # the line's options on the estimator: set back if the sweep fails
    with _estimator_options(obj, {k: options.get(k) for k in _ESTIMATOR_PARAMS}):
        params = obj.get_params(deep=False)
        grid = {}
        for key, values in param_grid.items():
            name = _ESTIMATOR_PARAMS.get(key, key)
            if name not in params:
                raise TrainingCellError("--grid", f"{type(obj).__name__} has no parameter {key!r}")
            if name == "device":
                for value in values:
                    _check_device(value)
            grid[name] = values
        try:  # sweep checks every combination before any model trains (a typo fails in a second)
            result = sweep(obj, grid, X, y, X_val=X_val, y_val=y_val, callbacks=callbacks)
        except InvalidSweepCandidate as exc:
            for name in grid:
                _raise_naming_the_option(exc.error, {name: "--grid"}, what=f"{name}={exc.params[name]!r}: ")
            raise
        task = _task(obj)
        runs = result.to_train_results()
        per_model = result.fit_time / max(1, len(runs))
        for run in runs:
            run.task = task
            run.label = run.label or "sweep"
            epochs = len(run.history)
            run.timings = {"total_s": result.fit_time, "per_epoch_s": per_model / epochs if epochs else None,
                           "samples_per_s": len(X) * epochs / per_model if epochs and per_model > 0 else None,
                           "epochs": epochs, "device": run.device, "note": "sweep: time shared by all models"}
            if X_test is not None:
                y_pred = np.asarray(run.model.predict(X_test))
                run.metrics.update(prediction_metrics(task, np.asarray(y_test), y_pred, "test"))
                run.predictions = {"y_true": np.asarray(y_test), "y_pred": y_pred, "split": "test"}
        result.runs = runs
        return result
