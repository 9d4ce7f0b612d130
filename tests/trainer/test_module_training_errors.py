"""train_module and bad input: every mistake is an error that names the value
and the fix, raised before any training step, and a training that fails keeps
its last good weights."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from nnwidgets.trainer.events import Callback  # noqa: E402
from nnwidgets.trainer.module_training import train_module  # noqa: E402

RNG = np.random.default_rng(0)
X = RNG.normal(size=(40, 3)).astype(np.float32)
Y_CLASS = (X[:, 0] > 0).astype(int)
Y_REG = (X @ np.array([1.0, 2.0, -1.0]) + 0.5).astype(np.float32)


class CountSteps(Callback):
    """Counts the epochs run: the checks come before any of them."""

    def __init__(self):
        self.epochs = 0

    def on_epoch_end(self, **kw):
        self.epochs += 1


def _weights(module):
    return [t.detach().clone() for t in module.state_dict().values()]


def _same_weights(module, before):
    return all(torch.equal(a, b) for a, b in zip(module.state_dict().values(), before))


def _fails_before_training(exc, match, net=None, X=X, y=Y_CLASS, **kwargs):
    """Calls train_module, expects ``exc`` matching ``match``, and checks that
    no epoch ran and the module's weights did not change."""
    net = net if net is not None else nn.Linear(3, 2)
    before = _weights(net)
    counter = CountSteps()
    kwargs.setdefault("epochs", 5)
    with pytest.raises(exc, match=match) as info:
        train_module(net, X, y, callbacks=[counter], **kwargs)
    assert counter.epochs == 0 and _same_weights(net, before)
    assert "\n" not in str(info.value)  # one line: %%nntrain shows it as a UsageError
    return info.value


# -- 1. settings ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, exc, match", [
    # epochs: an integer >= 1 (2.5 was truncated to 2, "10" and True were taken)
    ({"epochs": 2.5}, TypeError, r"^epochs=2\.5 must be an integer such as 100; got a float"),
    ({"epochs": 1e3}, TypeError, r"^epochs=1000\.0 must be an integer .*use epochs=1000"),
    ({"epochs": "10"}, TypeError, r"^epochs='10' must be an integer such as 100; got a str"),
    ({"epochs": True}, TypeError, r"^epochs=True must be an integer"),
    ({"epochs": None}, TypeError, r"^epochs=None must be an integer"),
    ({"epochs": -3}, ValueError, r"^epochs=-3 must be at least 1"),
    # lr: a positive finite number (np.float32(0.1) was refused, True was taken)
    ({"lr": -0.1}, ValueError, r"^lr=-0\.1 must be a positive number such as 0\.01"),
    ({"lr": float("inf")}, ValueError, r"^lr=inf must be a positive number"),
    ({"lr": "0.1"}, TypeError, r"^lr='0\.1' must be a number such as 0\.01; got a str"),
    ({"lr": True}, TypeError, r"^lr=True must be a number"),
    # batch_size: None or an integer >= 1
    ({"batch_size": 0}, ValueError, r"^batch_size=0 must be at least 1, or None for the full batch"),
    ({"batch_size": 2.5}, TypeError, r"^batch_size=2\.5 must be an integer such as 32, or None"),
    ({"batch_size": "32"}, TypeError, r"^batch_size='32' must be an integer"),
    # momentum: 0 <= momentum <= 1, as scikit-learn's (torch said "Invalid momentum value: -0.5")
    ({"momentum": -0.5}, ValueError, r"^momentum=-0\.5 must be between 0 and 1 \(0\.9 is usual; 0 for none\)"),
    ({"momentum": 1.5}, ValueError, r"^momentum=1\.5 must be between 0 and 1"),
    ({"momentum": None}, TypeError, r"^momentum=None must be a number between 0 and 1"),
    # weight_decay: a number >= 0
    ({"weight_decay": -1e-4}, ValueError, r"^weight_decay=-0\.0001 must be 0 or more \(1e-4 is usual"),
    ({"weight_decay": "a"}, TypeError, r"^weight_decay='a' must be a number"),
    ({"weight_decay": None}, TypeError, r"^weight_decay=None must be a number .*use 0 for none"),
    # flags are booleans ("no" is a true string)
    ({"shuffle": "no"}, TypeError, r"^shuffle='no' must be True or False"),
    ({"nesterov": "yes"}, TypeError, r"^nesterov='yes' must be True or False"),
    # names: the list, and the nearest one
    ({"optimizer": "sdg"}, ValueError, r"^optimizer='sdg' is not known; did you mean 'sgd'\? use one of"),
    ({"optimizer": "Adamm"}, ValueError, r"^optimizer='Adamm' is not known; did you mean 'adam'\?"),
    ({"optimizer": 3}, TypeError, r"^optimizer=3 must be one of"),
    ({"loss": "cross_entropi"}, ValueError, r"^loss='cross_entropi' is not known; did you mean 'cross_entropy'\?"),
    ({"loss": "MSELoss"}, ValueError, r"^loss='MSELoss' is not known; did you mean 'mse'\?"),
    ({"loss": nn.MSELoss}, TypeError, r"^loss=<class 'torch\.nn\.modules\.loss\.MSELoss'> is a class: pass an "
                                      r"instance, loss=nn\.MSELoss\(\), or a name such as 'mse'"),
    ({"loss": 3}, TypeError, r"^loss=3 must be a name such as 'cross_entropy' or 'mse'"),
    ({"device": "gpu"}, ValueError, r"^device='gpu' is not a valid device; did you mean 'cuda'\?"),
    # seed: None or an integer from 0 to 2**64 - 1 (1.5 was truncated, 2**70 was torch's overflow)
    ({"seed": 1.5}, TypeError, r"^seed=1\.5 must be an integer such as 0 or 42, or None"),
    ({"seed": "a"}, TypeError, r"^seed='a' must be an integer"),
    ({"seed": 2**70}, ValueError, r"^seed=1180591620717411303424 must be from 0 to 2\*\*64 - 1"),
    ({"seed": -1}, ValueError, r"^seed=-1 must be from 0 to 2\*\*64 - 1"),
    ({"label": 3}, TypeError, r"^label=3 must be a string \(the run's name\) or None; got an int$"),
    ({"shuffle": 0}, TypeError, r"^shuffle=0 must be True or False; got an int$"),  # (was "got a int")
])
def test_bad_settings_are_named_before_training(kwargs, exc, match):
    _fails_before_training(exc, match, **kwargs)


def test_callbacks_that_are_not_callbacks_are_named():
    net = nn.Linear(3, 2)
    before = _weights(net)
    for bad in (3, [3], "plot"):
        with pytest.raises(TypeError, match=r"^callbacks=(3|\[3\]|'plot'): (3|'plot') is not a callback\. A callback is an object with"):
            train_module(net, X, Y_CLASS, epochs=5, callbacks=bad)
    assert _same_weights(net, before)


def test_an_optimizer_built_already_is_a_clear_error():
    net = nn.Linear(3, 2)
    built = torch.optim.SGD(net.parameters(), lr=0.1)
    _fails_before_training(TypeError, r"^optimizer=SGD\(...\) is an optimizer already built on parameters; pass "
                                      r"its class, optimizer=torch\.optim\.SGD", net=net, optimizer=built)


def test_good_settings_of_other_types_are_taken():
    """numpy numbers are numbers (np.float32(0.1) was refused as lr)."""
    res = train_module(nn.Linear(3, 2), X, Y_CLASS, epochs=np.int64(3), lr=np.float32(0.1), batch_size=np.int64(8),
                       momentum=np.float64(0.5), weight_decay=0, seed=np.int32(1), shuffle=np.bool_(True))
    assert res.epochs == 3 and res.params["lr"] == pytest.approx(0.1)
    # an optimizer class gets momentum when it is SGD
    res = train_module(nn.Linear(3, 2), X, Y_CLASS, epochs=2, optimizer=torch.optim.SGD, momentum=0.9)
    assert res.epochs == 2
    _fails_before_training(ValueError, r"^momentum/nesterov apply to optimizer='sgd'",
                           optimizer=torch.optim.Adam, momentum=0.9)


# -- 2. the data's form ---------------------------------------------------------------------------------------------

def test_data_in_every_usual_form_trains():
    """Lists, pandas, numpy of any number type, torch tensors and scipy sparse
    matrices (densified, as the estimators do; they were an error naming an
    object array of one sparse matrix)."""
    import pandas as pd
    import scipy.sparse

    forms = [
        (X.tolist(), Y_CLASS.tolist()),
        (pd.DataFrame(X, columns=["a", "b", "c"]), pd.Series(Y_CLASS)),
        (X.astype(np.float64), Y_CLASS.astype(np.int32)),
        (X > 0, Y_CLASS),
        (torch.as_tensor(X), torch.as_tensor(Y_CLASS)),
        (X, torch.as_tensor(Y_CLASS)),
        (scipy.sparse.csr_matrix(X), Y_CLASS),
    ]
    for Xf, yf in forms:
        res = train_module(nn.Linear(3, 2), Xf, yf, X_test=Xf, y_test=yf, epochs=3, lr=0.5, seed=0)
        assert res.epochs == 3 and 0 <= res.metrics["test_accuracy"] <= 1


def test_data_frames_of_numbers_of_any_kind_train():
    """A DataFrame column that holds numbers trains whatever its dtype: an
    object column of numbers (a column assigned row by row, or read from a
    mixed CSV), numeric categories, numbers written as text (as for a numpy X),
    nullable Int64. They were 'X's column ... is not numeric (values such as
    0.12)'. Dates still are not numbers (they would become nanoseconds)."""
    import pandas as pd

    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    forms = {
        "object": frame.assign(b=frame["b"].astype(object)),
        "category": frame.assign(b=pd.Categorical(Y_CLASS)),
        "text": frame.assign(b=frame["b"].astype(str)),
        "Int64": frame.assign(b=pd.array(Y_CLASS, dtype="Int64")),
    }
    for kind, Xf in forms.items():
        res = train_module(nn.Linear(3, 2), Xf, Y_CLASS, X_test=Xf, y_test=Y_CLASS, epochs=3, lr=0.5, seed=0)
        assert res.epochs == 3, kind
    for dates in (pd.date_range("2020-01-01", periods=len(X)), pd.to_timedelta(np.arange(len(X)), unit="s")):
        _fails_before_training(ValueError, r"^X's column 'b' is not numeric \(values such as Time",
                               X=frame.assign(b=dates))


def _frame_with_missing_value():
    import pandas as pd

    frame = pd.DataFrame(X, columns=["a", "b", "c"]).astype("Float64")
    frame.iloc[4, 1] = pd.NA
    return frame


def _frame_with_text_column():
    import pandas as pd

    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    frame["colour"] = np.where(Y_CLASS == 1, "red", "blue")
    return frame


@pytest.mark.parametrize("kwargs, match", [
    # forms that cannot be samples (were "len() of unsized object" / numpy's reduction errors)
    (dict(X=np.float32(1.0)), r"^X must be an array with one row per sample, of shape \(n_samples, n_features\); "
                              r"got a single value"),
    (dict(X=X[:0], y=Y_CLASS[:0]), r"^X has 0 samples \(shape \(0, 3\)\); training needs at least one"),
    (dict(X=np.zeros((40, 0), np.float32)), r"^X has 0 features per sample \(shape \(40, 0\)\)"),
    (dict(X_val=X[:0], y_val=Y_CLASS[:0]), r"^X_val has 0 samples \(shape \(0, 3\)\); pass X_val=None and "
                                           r"y_val=None to train without validation data"),
    (dict(X_test=X[:0], y_test=Y_CLASS[:0]), r"^X_test has 0 samples"),
    (dict(y=np.int64(1)), r"^y must be an array with one target per sample"),
    # 1-D or 3-D X for a module that takes rows of features (was torch's "mat1 and mat2 shapes cannot be multiplied")
    (dict(X=X[:, 0]), r"^X has shape \(40,\), one value per sample, but the module's first layer nn\.Linear\(3, 2\) "
                      r"expects 3 features per sample; pass X of shape \(n_samples, 3\) \(X\.reshape\(-1, 1\) if "
                      r"X is a single feature"),
    (dict(X=X.reshape(40, 3, 1)), r"^X has samples of shape \(3, 1\), but the module's first layer nn\.Linear\(3, 2\) "
                                  r"expects 3 features per sample; flatten X to \(n_samples, 3\) with "
                                  r"X\.reshape\(len\(X\), -1\)"),
    # values that are not real numbers (X strings were numpy's "could not convert string to float: np.str_('a')")
    (dict(X=np.array(list("ab"))[np.zeros((40, 3), int)]),
     r"^X must be numeric; it holds strings such as 'a' \(X\[0, 0\]\)"),
    (dict(X=_frame_with_text_column()), r"^X's column 'colour' is not numeric \(values such as 'red'\); encode it "
                                        r"\(pd\.get_dummies\) or drop it"),
    (dict(X=X.astype(np.complex64)), r"^X holds complex numbers \(dtype complex64\); train_module needs real numbers"),
    (dict(X=_frame_with_missing_value()), r"^X contains NaN or infinity \(first at index \(4, 1\)\)"),
    # a regression loss and string targets (was "could not convert string to float: np.str_('b')", or trained
    # silently on numbers written as strings)
    (dict(y=np.array(["low", "high"])[Y_CLASS], loss="mse", net=nn.Linear(3, 1)),
     r"^y holds strings such as \['high', 'low'\], but loss='mse' needs numbers; for class labels use "
     r"loss='cross_entropy'"),
    (dict(y=np.array(["1.5", "2.0"])[Y_CLASS], loss="mse", net=nn.Linear(3, 1)),
     r"^y holds strings such as \['1\.5', '2\.0'\], but loss='mse' needs numbers; .*y\.astype\(float\) if they are "
     r"numbers"),
    (dict(y=Y_REG, X_val=X, y_val=np.array(["a", "b"])[Y_CLASS], loss="huber", net=nn.Linear(3, 1)),
     r"^y_val holds strings such as \['a', 'b'\], but loss='huber' needs numbers"),
    # validation and test data that do not match X
    (dict(X_val=X[:, :2], y_val=Y_CLASS), r"^X_val has samples of shape \(2,\) but X has \(3,\)"),
    (dict(X_val=X, y_val=Y_CLASS[:5]), r"^X_val has 40 samples but y_val has 5"),
    (dict(X=X, y=Y_CLASS[:-2]), r"^X has 40 samples but y has 38"),
])
def test_bad_data_is_named_before_training(kwargs, match):
    net = kwargs.pop("net", None)
    _fails_before_training(ValueError, match, net=net, **kwargs)


# -- 3. the model's output, the targets and the loss ----------------------------------------------------------------

class Squeezed(nn.Module):
    """A regression module ending in .squeeze(-1): outputs (n,) instead of (n, 1)."""

    def __init__(self, n_in=3):
        super().__init__()
        self.linear = nn.Linear(n_in, 1)

    def forward(self, x):
        return self.linear(x).squeeze(-1)


class BatchMean(nn.Module):
    """A forward() that reduces over the batch: one output for all samples."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(3, 1)

    def forward(self, x):
        return self.linear(x).mean()


@pytest.mark.parametrize("make_net, y, loss", [
    (Squeezed, Y_REG.reshape(-1, 1), "mse"),       # output (n,), target (n, 1): was broadcast to (n, n)
    (Squeezed, Y_REG.reshape(-1, 1), nn.MSELoss()),
    (lambda: nn.Linear(3, 1), Y_REG, "mse"),        # output (n, 1), target (n,)
    (Squeezed, Y_REG, "l1"),
])
def test_regression_outputs_and_targets_of_n_and_n_by_1_are_matched(make_net, y, loss):
    """The classic broadcasting bug: an (n,) output against (n, 1) targets (or
    the reverse) makes torch's MSE compare every output with every target, so
    training ends at the targets' variance with a warning every step. The
    targets are shaped to the output, so the loss falls to ~0 on noise-free
    linear data (and R^2 to ~1), and torch warns about nothing."""
    import warnings

    torch.manual_seed(0)
    X_val, y_val = X[:10], y[:10]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch's "Using a target size ... different to the input size"
        res = train_module(make_net(), X, y, X_val=X_val, y_val=y_val, X_test=X, y_test=y, epochs=300,
                           optimizer="adam", lr=0.05, loss=loss, batch_size=16, seed=0)
    variance = float(np.var(Y_REG))
    assert variance > 1
    assert res.loss_curve[-1] < 1e-2 * variance  # (not ~variance: the (n, n) broadcast)
    assert res.metrics["train_r2"] > 0.999 and res.metrics["test_r2"] > 0.999
    assert res.history[-1]["val_score"] > 0.999 and res.history[-1]["val_loss"] < 1e-2 * variance


@pytest.mark.parametrize("net, y, loss, exc, match", [
    # regression: outputs per sample that cannot be the targets
    (nn.Linear(3, 3), Y_REG, "mse", ValueError,
     r"^loss='mse' compares the module's output of shape \(40, 3\) with y of shape \(40,\): 3 outputs per sample "
     r"against 1 target value\(s\) per sample; for class labels use loss='cross_entropy', for regression end the "
     r"module with as many outputs as targets"),
    (nn.Linear(3, 1), np.stack([Y_REG, Y_REG], axis=1), nn.MSELoss(), ValueError,
     r"^loss='MSELoss' compares the module's output of shape \(40, 1\) with y of shape \(40, 2\)"),
    (nn.Linear(3, 2), Y_CLASS, "bce", ValueError,
     r"^loss='bce' compares the module's output of shape \(40, 2\) with y of shape \(40,\)"),
    # a forward() that reduces over the batch (torch broadcast its one value against every target)
    (BatchMean(), Y_REG, "mse", ValueError,
     r"^the module returned an output of shape \(\) for a batch of 2 samples; it must return one output row per "
     r"sample \(shape \(2, \.\.\.\)\): does forward\(\) reduce over the batch \(\.mean\(\), \.sum\(\)\) or "
     r"flatten it"),
    # classification: logits of shape (n, n_classes) and one class index per sample
    (Squeezed(), Y_CLASS, "cross_entropy", ValueError,
     r"^loss='cross_entropy' needs the module to output one score \(logit\) per class, shape \(n_samples, "
     r"n_classes\); it outputs shape \(40,\): end it with nn\.Linear\(\.\.\., n_classes\) \(for two classes and "
     r"one output, use loss='bce'\)"),
    (nn.Linear(3, 2), np.eye(2)[Y_CLASS], "cross_entropy", ValueError,
     r"^y has shape \(40, 2\), but loss='cross_entropy' takes one class label per sample \(shape \(40,\)\); for "
     r"one-hot rows pass y\.argmax\(axis=1\)"),
    (nn.Linear(3, 1), Y_CLASS, "cross_entropy", ValueError,
     r"^y has class index 1 but the module outputs 1 logits; the last layer needs at least 2 outputs \(or, for two "
     r"classes with one output, use loss='bce'\)"),
    (nn.Linear(3, 2), Y_CLASS + (X[:, 1] > 0), nn.CrossEntropyLoss(), ValueError,
     r"^y has class index 2 but the module outputs 2 logits; the last layer needs at least 3 outputs"),
    (nn.Linear(3, 2), Y_REG, "cross_entropy", ValueError,
     r"^y has class index 39 but the module outputs 2 logits.*y holds 40 distinct float values: if it is a "
     r"regression target, pass loss='mse'"),
    # bce is for two classes (three were trained on as targets 0, 1, 2)
    (nn.Linear(3, 1), Y_CLASS + (X[:, 1] > 0), "bce", ValueError,
     r"^loss='bce' is for two classes \(one output, a logit per sample\), but y has 3: \[0, 1, 2\]; use "
     r"loss='cross_entropy' and a module with 3 outputs"),
])
def test_outputs_that_do_not_fit_the_targets_and_loss_are_named_before_training(net, y, loss, exc, match):
    _fails_before_training(exc, match, net=net, y=y, loss=loss)


def test_float_class_labels_train_as_labels():
    """Cross entropy with float targets that are labels (0.0, 1.0: a pandas
    column, a float tensor) trains on them as class indices."""
    for y in (Y_CLASS.astype(np.float64), torch.as_tensor(Y_CLASS, dtype=torch.float32)):
        res = train_module(nn.Linear(3, 2), X, y, X_test=X, y_test=y, epochs=50, lr=0.5, seed=0,
                           loss="cross_entropy")
        assert res.metrics["train_accuracy"] > 0.9 and res.metrics["test_accuracy"] > 0.9


# -- a failure in the middle of training ------------------------------------------------------------------------

class FailsOnStep(nn.Module):
    """Raises (as an out-of-memory error or a bug on some minibatch would) on its ``fail_at``-th training step."""

    def __init__(self, fail_at):
        super().__init__()
        self.linear = nn.Linear(3, 2)
        self.norm = nn.BatchNorm1d(2)  # running statistics are weights too
        self.fail_at, self.steps = fail_at, 0

    def forward(self, x):
        if self.training:
            self.steps += 1
            if self.steps == self.fail_at:
                raise RuntimeError("CUDA out of memory (simulated)")
        return self.norm(self.linear(x))


class Snapshots(Callback):
    def __init__(self):
        self.kept = {}

    def on_epoch_end(self, record, model, **kw):
        self.kept[record["epoch"]] = [t.detach().clone() for t in model.state_dict().values()]


@pytest.mark.parametrize("fail_at, last_epoch", [(2 * 5 + 3, 2), (3, 0)])  # 5 minibatches of 8 per epoch
def test_a_failure_in_the_middle_of_training_keeps_the_last_completed_epoch(fail_at, last_epoch):
    """An error two steps into epoch 3 used to leave the module two steps into
    epoch 3 (weights and batch-norm statistics that no epoch ended with). The
    error still reaches the caller, with a note; the module keeps the weights of
    the last completed epoch (the initial ones when epoch 1 fails)."""
    torch.manual_seed(0)
    net = FailsOnStep(fail_at)
    initial = _weights(net)
    snapshots = Snapshots()
    with pytest.raises(RuntimeError, match=r"^CUDA out of memory \(simulated\)") as info:
        train_module(net, X, Y_CLASS, epochs=10, batch_size=8, lr=0.5, callbacks=[snapshots])
    assert sorted(snapshots.kept) == list(range(1, last_epoch + 1))
    expected = snapshots.kept[last_epoch] if last_epoch else initial
    assert _same_weights(net, expected)
    assert not _same_weights(net, initial) or last_epoch == 0
    assert info.value.__notes__ == [
        f"train_module: training failed in epoch {last_epoch + 1}; the module keeps "
        + (f"its weights from the end of epoch {last_epoch}" if last_epoch else "its initial weights")
    ]


# -- 4. float64 / float32 -----------------------------------------------------------------------------------------

class RecordsDtype(nn.Module):
    def __init__(self, n_out):
        super().__init__()
        self.linear = nn.Linear(3, n_out)
        self.seen = set()

    def forward(self, x):
        self.seen.add(x.dtype)
        return self.linear(x)


@pytest.mark.parametrize("module_dtype, data", [
    (torch.float64, X),                                      # model.double() with float32 data: was a dtype crash
    (torch.float64, torch.as_tensor(X, dtype=torch.float64)),
    (torch.float64, X.tolist()),
    (torch.float32, X.astype(np.float64)),                   # float64 data, float32 module
    (torch.float32, torch.as_tensor(X, dtype=torch.float64)),
    (torch.bfloat16, X),
])
@pytest.mark.parametrize("loss", ["mse", "cross_entropy", "bce"])
def test_data_follow_the_modules_dtype(module_dtype, data, loss):
    """Data (X, and regression / bce targets) are converted to the module's
    floating dtype; the module is never converted (model.double() stays
    float64, a default float32 module gets float64 data cast down)."""
    torch.manual_seed(0)
    net = RecordsDtype(2 if loss == "cross_entropy" else 1).to(module_dtype)
    y = Y_REG if loss == "mse" else Y_CLASS
    res = train_module(net, data, y, X_val=data, y_val=y, X_test=data, y_test=y, epochs=60, lr=0.1, loss=loss,
                       batch_size=16, seed=0)
    assert net.seen == {module_dtype} and net.linear.weight.dtype == module_dtype
    assert res.epochs == 60 and res.loss_curve[-1] < 0.7 * res.loss_curve[0]
    predicted = res.predict(data)
    if loss == "mse":
        assert res.metrics["test_r2"] > 0.9 and predicted.shape == (40,)
        assert np.allclose(predicted, res.predictions["y_pred"], atol=1e-5 if module_dtype != torch.bfloat16 else 0.1)
    else:
        assert res.metrics["test_accuracy"] > 0.8 and list(predicted) == list(res.predictions["y_pred"])


# -- 5. nll without log-probabilities -------------------------------------------------------------------------------

@pytest.mark.parametrize("net, loss, match", [
    (nn.Linear(3, 2), "nll",
     r"^loss='nll' expects log-probabilities \(the output of nn\.LogSoftmax\(dim=1\)\), but the module's outputs "
     r"are not \(on the first samples: values up to .*, rows whose exp sums to .* instead of 1\): it would train the "
     r"loss below 0 without limit; end the module with nn\.LogSoftmax\(dim=1\), or use loss='cross_entropy' on its "
     r"raw outputs \(logits\)"),
    (nn.Sequential(nn.Linear(3, 2), nn.Softmax(dim=1)), "nll",
     r"^loss='nll' expects log-probabilities .* they look like probabilities \(nn\.Softmax\): use "
     r"nn\.LogSoftmax\(dim=1\) instead, or loss='cross_entropy' on the outputs before the softmax"),
    (nn.Linear(3, 2), nn.NLLLoss(), r"^loss='NLLLoss' expects log-probabilities"),
])
def test_nll_on_outputs_that_are_not_log_probabilities_is_an_error(net, loss, match):
    """Without LogSoftmax, NLL is minus the raw output of the true class: the
    loss fell to -25 in 300 epochs (and on without limit) with no error."""
    _fails_before_training(ValueError, match, net=net, loss=loss)


def test_nll_with_log_softmax_trains():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 2), nn.LogSoftmax(dim=1))
    res = train_module(net, X, Y_CLASS, epochs=100, lr=0.5, loss="nll", seed=0)
    assert 0 < res.loss_curve[-1] < 0.5 * res.loss_curve[0] and res.metrics["train_accuracy"] > 0.9
