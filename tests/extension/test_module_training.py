"""train_module: the decoding lecture's loop as one call (simulated fMRI data)."""


import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from nnwidgets.datasets import simulate_fmri_categories  # noqa: E402
from nnwidgets.trainer.events import STOP, Callback, StopSignal  # noqa: E402
from nnwidgets.trainer.module_training import train_module  # noqa: E402
from nnwidgets.trainer.results import TrainResult  # noqa: E402


class DecodingReLuNN(nn.Module):
    """The lecture's decoder: Linear -> ReLU -> Dropout(0.25) -> Linear(26)."""

    def __init__(self, n_inputs, n_hidden):
        super().__init__()
        self.in_layer = nn.Linear(n_inputs, n_hidden)
        self.dropout = nn.Dropout(0.25)
        self.out_layer = nn.Linear(n_hidden, 26)
        self.modes = []

    def forward(self, x):
        self.modes.append(self.training)
        x = torch.relu(self.in_layer(x))
        return self.out_layer(self.dropout(x))


@pytest.fixture(scope="module")
def fmri():
    X, y, _ = simulate_fmri_categories(n_voxels=120)  # simulated stand-in, fewer voxels for speed
    rng = np.random.default_rng(42)
    idx = rng.permutation(len(y))
    train, test = idx[:416], idx[416:]
    return X[train], y[train], X[test], y[test]


def test_lecture_decoder_loop_as_one_call(fmri):
    X_train, y_train, X_test, y_test = fmri
    torch.manual_seed(1)
    net = DecodingReLuNN(X_train.shape[1], 256)
    res = train_module(net, X_train, y_train, X_test=X_test, y_test=y_test, epochs=300,
                       optimizer="sgd", lr=0.1, weight_decay=1e-4, loss="cross_entropy", seed=1)
    assert isinstance(res, TrainResult)
    assert res.model is net and res.stop_reason == "max_iter" and res.epochs == 300
    loss = res.loss_curve
    assert loss[-1] < 0.5 * loss[0]  # gradient descent lowers the cross entropy
    assert res.metrics["train_accuracy"] > 0.9
    assert 0 <= res.metrics["test_accuracy"] <= 1 and "test_loss" in res.metrics
    assert res.params["weight_decay"] == 1e-4 and res.params["optimizer"] == "sgd"
    assert res.timings["per_epoch_s"] > 0 and res.timings["samples_per_s"] > 0
    assert res.device == "cpu" and res.history[-1]["device"] == "cpu"
    # dropout: train() while stepping, eval() afterwards (final metrics and the returned model)
    assert True in net.modes and not net.training
    assert net.modes[-1] is False
    assert res.predictions["y_pred"].shape == y_test.shape


def test_same_seed_same_curve(fmri):
    X_train, y_train, *_ = fmri
    curves = []
    for _ in range(2):
        torch.manual_seed(3)
        net = DecodingReLuNN(X_train.shape[1], 16)
        curves.append(train_module(net, X_train, y_train, epochs=5, lr=0.1, seed=3).loss_curve)
    assert curves[0] == curves[1]


def test_without_a_seed_each_run_shuffles_anew_and_manual_seed_repeats_them():
    """Unseeded minibatch orders follow torch's global generator, as a
    DataLoader's do: two runs in a row differ (they used to shuffle
    identically: the order came from torch.initial_seed()), and the same
    torch.manual_seed gives the same run again."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 3)).astype(np.float32)
    y = X.sum(axis=1)

    def run():
        net = nn.Linear(3, 1)
        with torch.no_grad():  # the same start, so only the minibatch order can differ
            net.weight.fill_(0.1)
            net.bias.zero_()
        return train_module(net, X, y, epochs=3, lr=0.05, loss="mse", batch_size=8).loss_curve

    torch.manual_seed(5)
    first, second = run(), run()
    assert first != second
    torch.manual_seed(5)
    assert run() == first


def test_minibatches_validation_and_adam():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 5)).astype(np.float32)
    y = X @ np.array([1.0, -2.0, 0.5, 0.0, 3.0]) + 1
    net = nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Linear(16, 1))
    res = train_module(net, X[:240], y[:240], X_val=X[240:], y_val=y[240:], X_test=X[240:], y_test=y[240:],
                       epochs=40, optimizer="adam", lr=0.01, loss="mse", batch_size=32, seed=0)
    assert res.task == "regression"
    rec = res.history[-1]
    # the validation set is the test set here: the last epoch's val_loss / val_score
    # (R^2 for a regression) are the final model's test MSE / R^2
    assert rec["val_loss"] == pytest.approx(res.metrics["test_mse"], rel=1e-4)
    assert rec["val_score"] == pytest.approx(res.metrics["test_r2"], rel=1e-4)
    assert res.history[-1]["val_loss"] < res.history[0]["val_loss"]
    assert res.metrics["test_r2"] > 0.8 and res.metrics["test_mse"] == pytest.approx(res.metrics["test_loss"], rel=1e-4)
    assert res.predictions["y_pred"].shape == (60,)
    assert np.allclose(res.predict(X[240:]), res.predictions["y_pred"], atol=1e-5)


def test_string_labels_round_trip():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(90, 4)).astype(np.float32)
    labels = np.array(["c-CS-m", "t-SC-s", "c-SC-s"])
    y = labels[(X[:, 0] > 0).astype(int) + (X[:, 1] > 1).astype(int)]
    res = train_module(nn.Linear(4, 3), X, y, X_test=X, y_test=y, epochs=30, lr=0.5, seed=0)
    assert set(res.predictions["y_pred"]) <= set(labels)
    assert list(res.predict(X)) == list(res.predictions["y_pred"])  # labels back, not indices
    assert res.params["classes"] == sorted(labels.tolist())
    assert res.metrics["test_accuracy"] == res.metrics["train_accuracy"]


def test_a_loss_that_turns_nan_in_the_first_epoch_stops_with_the_initial_weights():
    """The other half of the divergence rule (the exploding loss is the next
    test): minibatch steps at lr=1e20 make the first epoch's loss NaN. Training
    stops there and the module is given back with the weights it started with."""
    from nnwidgets.trainer.estimators import TrainingDivergedWarning

    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 3)).astype(np.float32)
    y = X.sum(axis=1) * 100
    net = nn.Linear(3, 1)
    initial = [p.detach().clone() for p in net.parameters()]
    with pytest.warns(TrainingDivergedWarning, match=r"diverged at epoch 1: the training loss became non-finite "
                                                     r"\(nan\).*weights from the start of epoch 1.*got lr=1e\+20"):
        res = train_module(net, X, y, epochs=200, lr=1e20, loss="mse", batch_size=10)
    assert res.stop_reason == "diverged" and res.epochs == 0 and res.loss_curve == []
    for p, q in zip(net.parameters(), initial):
        assert torch.equal(p, q)


def test_an_exploding_loss_is_divergence_before_it_overflows():
    """Unscaled features at the default lr: the loss grows a million-fold in a
    few epochs while still finite. The estimators' rule stops it there, keeps
    the last good weights, and says which lr was used and what to try."""
    from nnwidgets.trainer.estimators import TrainingDivergedWarning

    rng = np.random.default_rng(0)
    X = (rng.normal(size=(200, 10)) * 50 + 100).astype(np.float32)  # like the diabetes columns
    y = X @ rng.normal(size=10) + 150
    net = nn.Linear(10, 1)
    with pytest.warns(TrainingDivergedWarning, match=r"exploded to .* times its value.*got lr=0.01; try 0.001"
                                                     r".*standardize X") as caught:
        res = train_module(net, X, y, epochs=50, lr=0.01, loss="mse")
    assert len(caught) == 1
    assert res.stop_reason == "diverged" and res.epochs < 10
    assert max(res.loss_curve) < 1e6 * max(res.loss_curve[0], 1.0)  # no exploded epoch is kept
    out = net(torch.as_tensor(X)).detach()
    assert torch.isfinite(out).all() and float(out.abs().max()) < 1e8


def test_stop_signal_and_callback_stop():
    X = np.random.default_rng(0).normal(size=(40, 3)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    stop = StopSignal()

    class StopAt(Callback):
        def on_epoch_end(self, record, **kw):
            if record["epoch"] == 7:
                stop.set()

    res = train_module(nn.Linear(3, 2), X, y, epochs=100, callbacks=[StopAt(), stop])
    assert res.stop_reason == "stopped" and res.epochs == 7

    class Stop3(Callback):
        def on_epoch_end(self, record, **kw):
            return STOP if record["epoch"] == 3 else None

    assert train_module(nn.Linear(3, 2), X, y, epochs=100, callbacks=Stop3()).epochs == 3


def test_ctrl_c_in_the_middle_of_an_epoch_keeps_the_last_completed_epoch():
    X = np.random.default_rng(0).normal(size=(40, 3)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    kept = {}

    class Net(nn.Linear):
        calls = 0

        def forward(self, x):
            Net.calls += 1
            if Net.calls == 3 * 5 + 3:  # epoch 4 (5 minibatches of 8 and the probe), third step
                raise KeyboardInterrupt
            return super().forward(x)

    class Snapshot(Callback):
        def on_epoch_end(self, record, model, **kw):
            kept[record["epoch"]] = [p.detach().clone() for p in model.parameters()]

    net = Net(3, 2)
    with pytest.warns(UserWarning, match=r"last completed epoch \(3\)"):
        res = train_module(net, X, y, epochs=10, batch_size=8, callbacks=[Snapshot()])
    assert res.stop_reason == "interrupted" and res.epochs == 3
    for p, q in zip(net.parameters(), kept[3]):  # not two steps into epoch 4
        assert torch.equal(p, q)


def test_keyboard_interrupt_keeps_model():
    X = np.random.default_rng(0).normal(size=(40, 3)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    events = []

    class Interrupt(Callback):
        def on_epoch_end(self, record, **kw):
            if record["epoch"] == 5:
                raise KeyboardInterrupt

        def on_fit_end(self, stop_reason, **kw):
            events.append(stop_reason)

    net = nn.Linear(3, 2)
    with pytest.warns(UserWarning, match=r"interrupted by user.*last completed epoch \(5\)"):
        res = train_module(net, X, y, epochs=100, callbacks=[Interrupt()])
    assert res.stop_reason == "interrupted" and res.epochs == 5 and res.model is net
    assert events == ["interrupted"]
    assert "train_accuracy" in res.metrics


def test_events_follow_the_contract():
    X = np.random.default_rng(0).normal(size=(20, 3)).astype(np.float32)
    y = np.arange(20) % 2
    seen = {}

    class Spy(Callback):
        def on_fit_begin(self, **kw):
            seen["begin"] = kw

        def on_epoch_end(self, **kw):
            seen.setdefault("records", []).append(kw["record"])
            assert kw["run"] == 0

        def on_fit_end(self, **kw):
            seen["end"] = kw

    train_module(nn.Linear(3, 2), X, y, epochs=4, callbacks=[Spy()], label="tiny")
    assert seen["begin"]["n_models"] == 1 and seen["begin"]["max_epochs"] == 4
    assert seen["begin"]["run_labels"] == ["tiny"] and seen["begin"]["device"] == "cpu"
    rec = seen["records"][-1]
    for key in ("epoch", "loss", "val_loss", "val_score", "elapsed", "epoch_time", "samples_per_s", "device", "lr"):
        assert key in rec
    assert isinstance(rec["loss"], float) and rec["epoch"] == 4
    assert seen["end"]["stop_reason"] == "max_iter" and len(seen["end"]["history"]) == 4


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"loss": "hinge"}, "loss='hinge' is not known"),
        ({"optimizer": "lion"}, "optimizer='lion' is not known"),
        ({"lr": 0}, "lr=0 must be a positive"),
        ({"epochs": 0}, "epochs=0 must be at least 1"),
        ({"nesterov": True}, "nesterov=True needs momentum > 0"),
        ({"optimizer": "adam", "momentum": 0.9}, "momentum/nesterov apply to optimizer='sgd'"),
        ({"device": "tpu"}, "device='tpu'"),
    ],
)
def test_bad_settings_say_what_to_do(kwargs, match):
    X = np.zeros((4, 2), dtype=np.float32)
    with pytest.raises(ValueError, match=match):
        train_module(nn.Linear(2, 2), X, [0, 1, 0, 1], **kwargs)


def test_bad_data_is_named():
    X = np.zeros((4, 2), dtype=np.float32)
    with pytest.raises(ValueError, match="X has 4 samples but y has 3"):
        train_module(nn.Linear(2, 2), X, [0, 1, 0])
    with pytest.raises(ValueError, match="class index 4 but the module outputs 2 logits"):
        train_module(nn.Linear(2, 2), X, [0, 1, 4, 1])
    with pytest.raises(TypeError, match="torch.nn.Module"):
        train_module("net", X, [0, 1, 0, 1])


@pytest.mark.cuda
def test_cuda_device_when_available():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU on this machine")
    X = np.random.default_rng(0).normal(size=(64, 3)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    res = train_module(nn.Linear(3, 2), X, y, X_test=X, y_test=y, epochs=20, lr=0.5, device="cuda")
    assert res.device.startswith("cuda") and next(res.model.parameters()).is_cuda
    assert res.metrics["test_accuracy"] > 0.5


def test_without_cuda_an_explicit_cuda_request_says_so():
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    X = np.zeros((4, 2), dtype=np.float32)
    with pytest.raises(ValueError, match="CUDA is not available"):
        train_module(nn.Linear(2, 2), X, [0, 1, 0, 1], device="cuda")


def test_tensors_in_tensors_out():
    X = torch.randn(50, 3)
    y = (X[:, 0] > 0).long()
    res = train_module(nn.Linear(3, 2), X, y, X_test=X, y_test=y, epochs=30, lr=0.5, seed=0)
    assert res.task == "classification" and res.metrics["test_accuracy"] > 0.7


def test_small_networks_train_on_one_thread_and_threads_are_restored():
    X = np.random.default_rng(0).normal(size=(30, 3)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    seen = []

    class Threads(Callback):
        def on_epoch_end(self, **kw):
            seen.append(torch.get_num_threads())

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        train_module(nn.Linear(3, 2), X, y, epochs=3, callbacks=[Threads()])
        assert seen == [1, 1, 1]  # a parallel region costs more than this network's work
        assert torch.get_num_threads() == 2  # the session's setting is given back
    finally:
        torch.set_num_threads(before)


def test_inputs_are_checked_before_the_first_epoch():
    """A mistake in the validation or test data, or a NaN anywhere, is an error
    naming it before training starts (not after every epoch, or as a
    'divergence')."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    seen = []

    class Epochs(Callback):
        def on_epoch_end(self, **kw):
            seen.append(1)

    Xn = X.copy()
    Xn[3, 2] = np.nan
    cases = [
        (dict(X=Xn, y=y), r"X contains NaN or infinity \(first at index \(3, 2\)\)"),
        (dict(X=X, y=np.where(np.arange(60) == 5, np.nan, 1.0), loss="mse"), r"y contains NaN"),
        (dict(X=X, y=y, X_test=X[:, :3], y_test=y), r"X_test has samples of shape \(3,\) but X has \(4,\)"),
        (dict(X=X, y=y, X_test=X[:-1], y_test=y), r"X_test has 59 samples but y_test has 60"),
        (dict(X=X, y=y, X_test=X, y_test=np.r_[7, y[1:]]), r"y_test has class index 7 but the module outputs 2"),
        (dict(X=X, y=np.array(list("ab"))[y], X_test=X, y_test=np.array(list("AB"))[y]),
         r"y_test holds labels not seen in y"),
    ]
    for kwargs, match in cases:
        with pytest.raises(ValueError, match=match):
            train_module(nn.Linear(4, 2), epochs=50, callbacks=[Epochs()], **kwargs)
    assert not seen  # no epoch was run for any of them


def test_class_labels_that_are_not_output_indices_and_regression_targets():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(90, 4)).astype(np.float32)
    y = np.digitize(X[:, 0], [-0.5, 0.5]) + 1  # labels 1, 2, 3 for a 3-logit module
    res = train_module(nn.Linear(4, 3), X, y.reshape(-1, 1), epochs=30, lr=0.5)  # a column, too
    assert res.params["classes"] == [1, 2, 3] and set(res.predict(X)) <= {1, 2, 3}
    y_float = X @ np.array([30.0, 10.0, 5.0, 1.0]) + 150  # a regression target, loss left at its default
    with pytest.raises(ValueError, match=r"90 distinct float values: if it is a regression target, pass loss='mse'"):
        train_module(nn.Linear(4, 1), X, y_float, epochs=3)


def test_batch_norm_trains_when_the_last_minibatch_has_one_sample():
    X = np.random.default_rng(0).normal(size=(101, 4)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    net = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))
    res = train_module(net, X, y, epochs=3, batch_size=50)  # batches of 50, 50 and 1
    assert res.epochs == 3 and res.stop_reason == "max_iter"


@pytest.mark.parametrize("n, batch_size, why", [
    (5, 1, r"batch_size=1 makes every minibatch one sample \(n_samples=5\); use batch_size=2 or more"),
    (2, 1, r"batch_size=1 makes every minibatch one sample \(n_samples=2\)"),  # (not one batch of 2)
    (1, None, r"X holds a single sample \(n_samples=1\); train on at least 2 samples"),
])
def test_batch_norm_on_one_sample_minibatches_is_a_clear_error(n, batch_size, why):
    X = np.random.default_rng(0).normal(size=(n, 4)).astype(np.float32)
    net = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))
    with pytest.raises(ValueError, match=r"^the module's BatchNorm1d layer cannot train on a minibatch of one "
                                         r"sample \(torch: Expected more than 1 value per channel.*\): " + why):
        train_module(net, X, np.arange(n) % 2, epochs=2, batch_size=batch_size)
    # batch norm over pixels (BatchNorm2d) has more than one value per channel: one image is fine
    conv = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten(), nn.Linear(2 * 2 * 2, 2))
    images = np.random.default_rng(1).normal(size=(n, 1, 4, 4)).astype(np.float32)
    assert train_module(conv, images, np.arange(n) % 2, epochs=2, batch_size=batch_size).epochs == 2
