"""LiveLossPlot's state through its traits and the messages it sends (no browser)."""

import io

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from nnwidgets.trainer.module_training import train_module  # noqa: E402
from nnwidgets.widgets.lossplot import LiveLossPlot, progress_mode  # noqa: E402


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4)).astype(np.float32)
    y = X @ np.array([1.0, -1.0, 2.0, 0.5]) + 0.1 * rng.normal(size=60)
    return X, y


def recording(plot):
    """Records the point batches (trait points_update) and custom messages the plot sends."""
    sent = []
    plot.observe(lambda change: sent.append({"type": "points", **change["new"]}), "points_update")
    plot.send = lambda content, buffers=None: sent.append(content)
    return sent


def unpack(buf):
    """A points_update series (a binary buffer of little-endian float64) as the
    browser reads it (lossplot.js): a list where NaN / inf (no value, a
    diverged epoch) are None, a gap in the curve."""
    if buf is None:
        return None
    assert isinstance(buf, memoryview) and buf.format == "B", type(buf)
    vals = np.frombuffer(bytes(buf), dtype="<f8").tolist()
    return [v if np.isfinite(v) else None for v in vals]


def points(sent, run=None):
    out = []
    for msg in sent:
        if msg["type"] != "points":
            continue
        for k, epochs, loss, val in msg["data"]:
            if run is None or k == run:
                epochs, loss, val = unpack(epochs), unpack(loss), unpack(val)
                out.extend(zip([int(e) for e in epochs], loss, val or [None] * len(epochs)))
    return out


def test_only_new_points_are_sent_and_traits_follow(data):
    X, y = data
    plot = LiveLossPlot(mode="widget", update_interval=0, max_overhead=None)
    sent = recording(plot)
    res = train_module(nn.Linear(4, 1), X, y, X_val=X[:10], y_val=y[:10], epochs=25, loss="mse",
                       lr=0.05, callbacks=[plot])
    got = points(sent)
    assert [p[0] for p in got] == list(range(1, 26))  # each epoch exactly once, in order
    assert [p[1] for p in got] == res.loss_curve
    assert [p[2] for p in got] == res.val_loss_curve
    assert all(len(unpack(m["data"][0][1])) == 1 for m in sent if m["type"] == "points")  # incremental
    assert [m["seq"] for m in sent] == list(range(1, 26))
    assert plot.n_points == 25 and plot.epoch == 25 and plot.max_epochs == 25
    assert plot.status == "done" and plot.device == "cpu" and plot.samples_per_s > 0
    assert plot.run_labels == ["Linear"]
    assert repr(plot) == "LiveLossPlot(Linear on cpu, epoch 25/25, done)"  # the text/plain fallback


def test_update_rate_adapts_to_the_cost_of_an_update(data):
    X, y = data
    plot = LiveLossPlot(mode="widget", update_interval=0, max_overhead=0.01)
    sent = recording(plot)
    slow = plot._set_progress

    def costly(rec, now):  # as if sending took 2 ms (a loaded kernel)
        slow(rec, now)
        t0 = __import__("time").perf_counter()
        while __import__("time").perf_counter() - t0 < 0.002:
            pass

    plot._set_progress = costly
    train_module(nn.Linear(4, 1), X, y, epochs=300, loss="mse", callbacks=[plot])
    assert plot._interval >= 0.1  # 2 ms per update, 1% budget: at most one update per 0.2 s
    assert len(points(sent)) == 300  # nothing lost, only batched
    assert plot.updates_sent < 300


def test_updates_are_spaced_by_what_they_cost_the_epochs_after_them(monkeypatch):
    """In a kernel an update also slows the next epochs down (the message is
    sent and handled by other threads and processes): the trainer's epoch
    times show it, and updates are spaced so that this stays within
    max_overhead."""
    from nnwidgets.widgets import lossplot

    now = [100.0]  # a clock the test moves: an update's own time is 0 here
    monkeypatch.setattr(lossplot.time, "perf_counter", lambda: now[0])
    plot = LiveLossPlot(mode="widget", update_interval=0.1, max_overhead=0.01)
    sent = recording(plot)
    plot.on_fit_begin(n_models=1, max_epochs=10**6, device="cpu")
    epoch = 0

    def train(n, slow_after_update=0):
        """n epochs of 0.2 ms; the first ones after each update lose 1.8 ms each."""
        nonlocal epoch
        slow = 0
        for _ in range(n):
            epoch += 1
            dt = 0.002 if slow else 0.0002
            slow = max(0, slow - 1)
            now[0] += dt
            before = plot.updates_sent
            plot.on_epoch_end(run=0, record={"epoch": epoch, "loss": 1.0, "epoch_time": dt})
            if plot.updates_sent > before:
                slow = slow_after_update

    train(700, slow_after_update=5)  # 0.14 s: the first update at 0.1 s, then 5 slow epochs
    assert plot.updates_sent == 1 and plot._interval == pytest.approx(0.1)
    train(500)  # when the next update is due, its cost is known: 5 x 1.8 ms = 9 ms
    assert plot._interval == pytest.approx(0.9)  # 9 ms within 1%: one update per 0.9 s
    assert plot.updates_sent == 1  # the update due at 0.2 s was not sent
    train(4000)  # 0.8 s more: the second update, this one without after-effects
    assert plot.updates_sent == 2
    train(5000)  # 1 s more: when the third is due, the estimate has come down
    assert plot.updates_sent == 3 and plot._interval == pytest.approx(0.7 * 0.9)
    assert [p[0] for p in points(sent)] == list(range(1, plot.n_points + 1))  # nothing lost, only batched


def test_updates_are_rate_limited_and_batched(data):
    X, y = data
    plot = LiveLossPlot(mode="widget", update_interval=60.0)
    sent = recording(plot)
    train_module(nn.Linear(4, 1), X, y, epochs=50, loss="mse", callbacks=[plot])
    msgs = [m for m in sent if m["type"] == "points"]
    # no update is due before 60 s: the 50 points go in one batch with the final status
    assert len(msgs) == 1 and len(unpack(msgs[0]["data"][0][1])) == 50
    assert len(points(sent)) == 50 and plot.n_points == 50
    assert plot.updates_sent == 1 and plot.status == "done"


def test_the_first_update_comes_one_interval_into_training(monkeypatch):
    from nnwidgets.widgets import lossplot

    now = [100.0]  # a clock the test moves (a loaded machine cannot make it flaky)
    monkeypatch.setattr(lossplot.time, "perf_counter", lambda: now[0])
    plot = LiveLossPlot(mode="widget", update_interval=0.1, max_overhead=None)
    sent = recording(plot)
    plot.on_fit_begin(n_models=1, max_epochs=100, device="cpu")
    now[0] += 0.01
    plot.on_epoch_end(run=0, record={"epoch": 1, "loss": 1.0})
    assert points(sent) == []  # a fast first epoch waits for the first update
    now[0] += 0.1
    plot.on_epoch_end(run=0, record={"epoch": 2, "loss": 0.5})
    assert points(sent) == [(1, 1.0, None), (2, 0.5, None)] and plot.epoch == 2
    now[0] += 5.0  # a slow epoch is sent as soon as it ends
    plot.on_epoch_end(run=0, record={"epoch": 3, "loss": 0.25})
    assert points(sent)[-1] == (3, 0.25, None)


def test_sweep_runs_overlay_with_labels():
    plot = LiveLossPlot(mode="widget", update_interval=0, max_overhead=None)
    sent = recording(plot)
    plot.on_fit_begin(model=None, n_models=3, max_epochs=4, device="cpu", run_labels=["lr=0.1", "lr=0.01", "lr=0.001"])
    for epoch in range(1, 5):
        for k in range(3):
            plot.on_epoch_end(run=k, record={"epoch": epoch, "loss": 1.0 / (epoch + k), "samples_per_s": 10.0})
    plot.on_fit_end(stop_reason="max_iter")
    assert plot.run_labels == ["lr=0.1", "lr=0.01", "lr=0.001"]
    assert [p[1] for p in points(sent, run=2)] == [1.0 / (e + 2) for e in range(1, 5)]
    assert plot.n_points == 12
    # a later fit on the same plot adds runs; a repeated label gets a suffix
    plot.on_fit_begin(n_models=1, max_epochs=2, device="cpu", run_labels=["lr=0.1"])
    plot.on_epoch_end(run=0, record={"epoch": 1, "loss": 0.5})
    plot.on_fit_end(stop_reason="max_iter")
    assert plot.run_labels[-1] == "lr=0.1 (2)"
    assert points(sent, run=3) == [(1, 0.5, None)]
    assert [c[0] for c in plot.curves()] == plot.run_labels


def test_stop_message_from_the_browser_stops_training_and_keeps_model(data):
    X, y = data
    plot = LiveLossPlot(mode="widget")
    recording(plot)

    class Clicker:
        def on_epoch_end(self, record, **kw):
            if record["epoch"] == 4:  # what the kernel does when the Stop button's comm message arrives
                plot._on_frontend_msg(plot, {"type": "stop"}, [])
                assert plot.stop_requested

    net = nn.Linear(4, 1)
    res = train_module(net, X, y, epochs=1000, loss="mse", callbacks=[Clicker(), plot])
    assert res.stop_reason == "stopped" and res.epochs == 4 and res.model is net
    assert plot.status == "stopped"
    assert not plot.stop_requested  # cleared for the next training
    res2 = train_module(net, X, y, epochs=3, loss="mse", callbacks=[plot])
    assert res2.epochs == 3 and res2.stop_reason == "max_iter"


def test_each_update_is_one_comm_message(data):
    X, y = data
    plot = LiveLossPlot(mode="widget", update_interval=0, max_overhead=None)
    messages = []
    plot.comm.publish_msg = lambda msg_type, data=None, **kw: messages.append((msg_type, data))
    train_module(nn.Linear(4, 1), X, y, epochs=10, loss="mse", callbacks=[plot])
    updates = [d for t, d in messages if t == "comm_msg" and "points_update" in d.get("state", {})]
    assert len(updates) == 10  # one per epoch here (no rate limit) ...
    for d in updates:  # ... each carrying the points and the progress together
        assert {"n_points", "epoch", "samples_per_s"} <= set(d["state"])
    others = [d for t, d in messages if t == "comm_msg" and "points_update" not in d.get("state", {})]
    assert len(others) <= 3  # fit begin / end status changes only


def test_sync_request_gets_a_snapshot_of_sent_points():
    plot = LiveLossPlot(mode="widget", update_interval=0, max_overhead=None)
    sent = recording(plot)
    plot.on_fit_begin(n_models=2, max_epochs=3, device="cpu", run_labels=["a", "b"])
    for epoch in (1, 2):
        plot.on_epoch_end(run=0, record={"epoch": epoch, "loss": 2.0 / epoch})
        plot.on_epoch_end(run=1, record={"epoch": epoch, "loss": 3.0 / epoch, "val_loss": 4.0})
    plot._on_frontend_msg(plot, {"type": "sync"}, [])
    snap = sent[-1]
    assert snap["type"] == "snapshot" and snap["seq"] == plot.updates_sent == 4
    assert snap["data"][0][:3] == [0, [1, 2], [2.0, 1.0]]
    assert snap["data"][1][3] == [4.0, 4.0]


def test_text_mode_prints_throttled_progress(data):
    X, y = data
    out = io.StringIO()
    plot = LiveLossPlot(mode="text", text_interval=3600, stream=out)
    sent = recording(plot)
    train_module(nn.Linear(4, 1), X, y, epochs=200, loss="mse", callbacks=[plot])
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("Training Linear on cpu for 200 epochs")
    assert lines[1].startswith("epoch 1/200  loss ")  # first epoch at once, then throttled
    assert lines[-1].startswith("done: epoch 200/200  loss ")
    assert len(lines) == 3
    assert sent == []  # no widget messages in text mode


def test_text_mode_reports_each_interval(data):
    X, y = data
    out = io.StringIO()
    plot = LiveLossPlot(mode="text", text_interval=0, update_interval=0, stream=out)
    train_module(nn.Linear(4, 1), X, y, epochs=5, loss="mse", callbacks=[plot])
    lines = out.getvalue().splitlines()
    assert [ln.split()[1] for ln in lines[1:-1]] == ["1/5", "2/5", "3/5", "4/5", "5/5"]
    assert "samples/s" in lines[1] and "ETA" in lines[1] and lines[1].rstrip().endswith("cpu")


def test_none_mode_is_silent(data, capsys):
    X, y = data
    plot = LiveLossPlot(mode="none")
    sent = recording(plot)
    train_module(nn.Linear(4, 1), X, y, epochs=5, loss="mse", callbacks=[plot])
    assert sent == [] and capsys.readouterr().out == ""


def test_static_png_of_the_final_curves():
    plot = LiveLossPlot(mode="none")
    plot.on_fit_begin(n_models=1, max_epochs=3, device="cpu", run_labels=["net"])
    for e in (1, 2, 3):
        plot.on_epoch_end(run=0, record={"epoch": e, "loss": 10.0 / e, "val_loss": 12.0 / e})
    plot.on_fit_end(stop_reason="max_iter")
    png = plot.static_png()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 2000
    plot.log_y = True
    assert plot.static_png()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "net: 3 epochs, final loss 3.333, final val_loss 4" in plot.summary()


def test_progress_mode_choice(monkeypatch):
    monkeypatch.delenv("NNWIDGETS_PROGRESS", raising=False)
    assert progress_mode() == "text"  # no kernel in the test process
    monkeypatch.setenv("NNWIDGETS_PROGRESS", "none")
    assert progress_mode() == "none"
    assert progress_mode("widget") == "widget"
    monkeypatch.setenv("NNWIDGETS_PROGRESS", "fancy")
    with pytest.raises(ValueError, match="NNWIDGETS_PROGRESS='fancy'"):
        progress_mode()
    with pytest.raises(ValueError, match="mode='tv'"):
        LiveLossPlot(mode="tv")


def test_a_mistyped_setting_is_an_error_with_a_suggestion(monkeypatch):
    """Unknown keywords used to be dropped silently (traitlets ignores them), so
    LiveLossPlot(update_intervall=5) ran with the default interval."""
    with pytest.raises(TypeError, match=r"LiveLossPlot\(\) got an unexpected keyword argument "
                                        r"'update_intervall'; did you mean 'update_interval'\?"):
        LiveLossPlot(update_intervall=5)
    with pytest.raises(TypeError, match=r"'logy'; did you mean 'log_y'\?"):
        LiveLossPlot(logy=True)
    with pytest.raises(TypeError, match=r"'colour'; its settings are title, mode, update_interval, ") as info:
        LiveLossPlot(colour="red")
    assert "did you mean" not in str(info.value)
    with pytest.raises(ValueError, match=r"mode='widgte' is not one of .*; did you mean 'widget'\?"):
        LiveLossPlot(mode="widgte")
    monkeypatch.setenv("NNWIDGETS_PROGRESS", "txt")
    with pytest.raises(ValueError, match=r"NNWIDGETS_PROGRESS='txt' must be one of .*; did you mean 'text'\?"):
        LiveLossPlot()
    monkeypatch.delenv("NNWIDGETS_PROGRESS")
    assert LiveLossPlot(mode="none", log_y=True).log_y  # its traits are settings too


def test_the_browser_side_keeps_the_stable_dom_contract():
    esm = LiveLossPlot._esm
    for hook in ('"nnw-lossplot"', '"nnw-lossplot-canvas"', "dataset.npoints", '"nnw-lossplot-status"',
                 '"nnw-stop"', '"nnw-log-toggle"', 'type: "stop"', 'type: "sync"'):
        assert hook in esm, hook
    assert "http" not in esm.replace("http://www.w3.org/2000/svg", "")  # nothing loaded from outside


def test_live_plot_with_the_nnwidgets_estimator(data):
    from nnwidgets.trainer.estimator_training import train_estimator
    from nnwidgets.trainer.estimators import MLPRegressor

    X, y = data
    plot = LiveLossPlot(mode="widget", update_interval=0, max_overhead=None)
    sent = recording(plot)
    est = MLPRegressor(hidden_layer_sizes=[8], max_iter=15, random_state=0, learning_rate_init=0.01)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = train_estimator(est, X, y, X_test=X, y_test=y, callbacks=[plot])
    assert len(points(sent)) == res.epochs == len(est.loss_curve_)
    assert est.callbacks is None  # the estimator is left as it was
    assert "test_mse" in res.metrics and res.task == "regression"


def test_a_sweep_overlays_its_models_live(data):
    from nnwidgets.trainer.estimators import MLPRegressor
    from nnwidgets.trainer.sweeps import sweep

    X, y = data
    plot = LiveLossPlot(mode="widget", update_interval=0, max_overhead=None, finalize_on_fit_end=False)
    sent = recording(plot)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = sweep(MLPRegressor(hidden_layer_sizes=[8], max_iter=6, random_state=0),
                       {"learning_rate_init": [0.1, 0.01, 0.001]}, X, y, callbacks=[plot])
    plot.finalize()
    assert plot.run_labels == list(result.labels) and len(plot.run_labels) == 3
    for k in range(3):
        assert [p[1] for p in points(sent, run=k)] == pytest.approx(result.loss_curves[k])
    assert plot.n_points == 18 and plot.status == "done"


def test_the_trainer_calls_the_plot_per_update_not_per_epoch(data):
    """The plot is a paced callback (next_epoch_end): 400 epochs of a fast
    training make a handful of calls that carry every epoch's record."""
    from nnwidgets.trainer.estimators import MLPRegressor

    X, y = data
    plot = LiveLossPlot(mode="widget")
    sent = recording(plot)
    calls = []
    hook = plot.on_epoch_end
    plot.on_epoch_end = lambda **kw: (calls.append(len(kw["records"])), hook(**kw))[1]
    est = MLPRegressor(hidden_layer_sizes=[8], max_iter=400, tol=0.0, n_iter_no_change=1000, random_state=0)
    with pytest.warns(UserWarning, match="Maximum iterations"):  # (sklearn's ConvergenceWarning)
        est.set_params(callbacks=[plot]).fit(X, y)
    assert sum(calls) == 400 and len(calls) < 40  # (about one call per 0.1 s update, and one at the end)
    assert plot.n_points == 400
    assert [p[1] for p in points(sent)] == pytest.approx(est.loss_curve_)


def test_a_stop_request_from_another_thread_ends_a_paced_training(data):
    """Stop from the browser arrives on another thread (a subshell): the
    paced plot is still called at least every 0.25 s to hear it."""
    import threading

    from nnwidgets.trainer.estimators import MLPRegressor

    X, y = data
    plot = LiveLossPlot(mode="widget")
    recording(plot)
    est = MLPRegressor(hidden_layer_sizes=[8], max_iter=200_000, tol=0.0, n_iter_no_change=10**6,
                       random_state=0, callbacks=[plot])
    clicker = threading.Timer(0.3, plot.stop)
    clicker.start()
    est.fit(X, y)
    clicker.join()
    assert plot.status == "stopped" and 0 < est.n_iter_ < 200_000
    assert plot.n_points == len(est.history_) == est.n_iter_


def test_stop_button_with_the_nnwidgets_estimator(data):
    from nnwidgets.trainer.estimator_training import train_estimator
    from nnwidgets.trainer.estimators import MLPRegressor

    X, y = data
    plot = LiveLossPlot(mode="widget")
    recording(plot)

    class Clicker:
        def on_epoch_end(self, record, **kw):
            if record["epoch"] == 3:
                plot._on_frontend_msg(plot, {"type": "stop"}, [])

    est = MLPRegressor(hidden_layer_sizes=[8], max_iter=500, random_state=0)
    res = train_estimator(est, X, y, callbacks=[Clicker(), plot])
    assert res.stop_reason == "stopped" and res.epochs == 3 and plot.status == "stopped"
    assert hasattr(est, "coefs_")  # the fitted model is kept


def test_non_finite_losses_are_sent_as_gaps():
    import json

    plot = LiveLossPlot(mode="widget", update_interval=0, max_overhead=None)
    sent = recording(plot)
    plot.on_fit_begin(n_models=1, max_epochs=3, device="cpu", run_labels=["sgd lr=1e6"])
    for e, v in ((1, 5.0), (2, float("inf")), (3, float("nan"))):
        plot.on_epoch_end(run=0, record={"epoch": e, "loss": v, "samples_per_s": float("inf")})
    plot.on_fit_end(stop_reason="diverged")
    assert [p[1] for p in points(sent)] == [5.0, None, None]
    from ipywidgets.widgets.widget import _remove_buffers

    state, _, buffers = _remove_buffers(plot.get_state())  # what ipywidgets sends: JSON + binary buffers
    json.dumps(state, allow_nan=False)  # strict JSON: nothing for the kernel to warn about
    assert buffers  # the points travel as binary buffers
    assert plot.status == "diverged" and plot.static_png()[:4] == b"\x89PNG"


def test_without_a_kernel_nothing_is_rerouted():
    from nnwidgets.widgets.kernel_comm import current_kernel, nnwidgets_subshell, route_to_subshell

    plot = LiveLossPlot(mode="widget")
    assert current_kernel() is None
    assert nnwidgets_subshell() is None
    assert route_to_subshell(plot) == "none"
    assert plot.routing == "none"  # set to "subshell" when shown in an ipykernel 7 kernel


class _Handle:
    """Stands for IPython's DisplayHandle: records the bundles it is updated with."""

    def __init__(self):
        self.updates = []

    def update(self, bundle, raw=False):
        self.updates.append(bundle)


class _ManualAlarm:
    """Stands for nnwidgets.widgets.alarm.Alarm: the test fires it."""

    def __init__(self, fn):
        self.fn, self.armed, self.delay = fn, False, None

    def arm(self, delay):
        if not self.armed:
            self.armed, self.delay = True, delay

    def disarm(self):
        self.armed = False

    def fire(self):
        assert self.armed, "the alarm is not armed"
        self.armed = False
        self.fn()


@pytest.fixture
def cell_events(monkeypatch):
    """An IPython whose cells end when the test says so (post_run_cell); its
    alarms are fired by the test, and what it would display is recorded in
    ``cell_events.displayed``."""
    import IPython
    from IPython.core.events import EventManager, available_events

    from nnwidgets.widgets import lossplot

    class Shell:
        execution_count = 7

    shell = Shell()
    shell.events = EventManager(shell, available_events)
    shell.events.shell = shell
    shell.events.displayed = []
    monkeypatch.setattr(IPython, "get_ipython", lambda: shell)
    monkeypatch.setattr(lossplot, "Alarm", _ManualAlarm)
    monkeypatch.setattr(lossplot, "_display", shell.events.displayed.append)
    return shell.events


def _shown_plot(**kw):
    plot = LiveLossPlot(mode="widget", **kw)
    plot._show = lambda: setattr(plot, "_handle", _Handle())  # as if displayed in a notebook
    plot.messages = []  # the comm messages ipywidgets sends (trait updates)
    plot._send = lambda msg, buffers=None: plot.messages.append(msg)
    return plot


def _one_fit(plot, epochs=3):
    plot.on_fit_begin(n_models=1, max_epochs=epochs, device="cpu")
    for e in range(1, epochs + 1):
        plot.on_epoch_end(run=0, record={"epoch": e, "loss": 1.0 / e})
    plot.on_fit_end(stop_reason="max_iter")


def test_a_fast_training_sends_nothing_before_its_first_update(cell_events, monkeypatch):
    from nnwidgets.widgets import lossplot

    now = [100.0]
    monkeypatch.setattr(lossplot.time, "perf_counter", lambda: now[0])
    plot = _shown_plot(update_interval=0.1, max_overhead=None)
    plot.on_fit_begin(n_models=1, max_epochs=100, device="cpu", run_labels=["net"])
    now[0] += 0.05
    plot.on_epoch_end(run=0, record={"epoch": 1, "loss": 1.0})
    assert plot.messages == [] and plot._handle is None  # nothing yet: not even the view
    assert plot._alarm.armed and plot._alarm.delay == pytest.approx(0.15)  # in case the next epoch is slow
    now[0] += 0.06
    plot.on_epoch_end(run=0, record={"epoch": 2, "loss": 0.5})
    # one message: the state of the start of training with the first points
    assert len(plot.messages) == 1
    state = plot.messages[0]["state"]
    assert state["status"] == "training" and state["run_labels"] == ["net"] and state["max_epochs"] == 100
    assert state["epoch"] == 2 and state["points_update"]["seq"] == 1
    assert plot._handle is not None and not plot._alarm.armed  # then the view
    now[0] += 0.01
    plot.on_epoch_end(run=0, record={"epoch": 3, "loss": 0.25})
    plot.on_fit_end(stop_reason="max_iter")
    assert len(plot.messages) == 1 and plot._alarm.armed  # the final state waits for the end of the cell


def test_the_static_image_comes_when_the_cell_ends(cell_events):
    plot = _shown_plot(update_interval=0, max_overhead=None)
    _one_fit(plot)
    handle = plot._handle
    assert handle is not None and handle.updates == []  # fit is over, the view is still live
    sent = len(plot.messages)
    assert "done" not in [m["state"].get("status") for m in plot.messages]  # the final status waits for the cell's end
    _one_fit(plot)  # a second fit of the same cell: same live view, a second run
    assert plot._handle is handle and plot.run_labels == ["run 1", "run 2"]
    assert len(plot.messages) == sent + 3  # its 3 epochs, one update each; nothing at its start or end
    cell_events.trigger("post_run_cell", None)
    assert plot.messages[-1]["state"]["status"] == "done"  # the model is right for a later display
    assert len(handle.updates) == 1 and "image/png" in handle.updates[0]
    assert "run 1: 3 epochs" in handle.updates[0]["text/plain"] and "run 2: 3 epochs" in handle.updates[0]["text/plain"]
    assert plot._handle is None and cell_events.displayed == []
    cell_events.trigger("post_run_cell", None)  # the next cell: nothing more happens
    assert len(handle.updates) == 1 and cell_events.callbacks["post_run_cell"] == []


def test_a_training_too_short_to_be_shown_live_ends_as_the_image_alone(cell_events):
    plot = _shown_plot()  # update_interval 0.1 s: 3 quick epochs end before any update is due
    _one_fit(plot)
    assert plot.messages == [] and plot._handle is None  # fit sent nothing at all
    cell_events.trigger("post_run_cell", None)
    assert len(cell_events.displayed) == 1 and "image/png" in cell_events.displayed[0]
    assert "run 1: 3 epochs" in cell_events.displayed[0]["text/plain"]
    assert len(plot.messages) == 1 and plot.messages[0]["state"]["status"] == "done"
    assert plot._handle is None and not plot._alarm.armed
    plot.finalize()  # again: nothing new to show
    assert len(cell_events.displayed) == 1


def test_a_slow_first_epoch_is_shown_by_the_alarm(cell_events):
    plot = _shown_plot()
    plot.on_fit_begin(n_models=1, max_epochs=5, device="cpu")
    assert plot._handle is None and plot._alarm.armed
    plot._alarm.fire()  # show_delay later, the first epoch still running
    assert plot._handle is not None and plot.messages[-1]["state"]["status"] == "training"
    assert plot.stop_requested is False and plot.routing == "none"


def test_a_cell_that_goes_on_after_training_gets_the_final_state(cell_events):
    plot = _shown_plot()
    _one_fit(plot)
    assert plot.messages == [] and plot._alarm.armed
    plot._alarm.fire()  # the cell is still running show_delay after the fit
    assert plot._handle is not None and plot.messages[-1]["state"]["status"] == "done"
    assert plot.messages[-1]["state"]["n_points"] == 3
    handle = plot._handle
    cell_events.trigger("post_run_cell", None)  # the image then replaces the view
    assert len(handle.updates) == 1 and "image/png" in handle.updates[0] and cell_events.displayed == []


def test_the_alarm_does_not_show_a_plot_in_a_later_cell(cell_events):
    plot = _shown_plot(finalize_on_fit_end=False)  # as a sweep does, finalize is up to its owner
    _one_fit(plot)
    assert plot.messages[-1]["state"]["status"] == "done"  # sent at the fit's end: no cell end to wait for
    sent = len(plot.messages)
    cell_events.shell.execution_count += 1  # the cell ended and another one runs
    plot._alarm.fire()
    assert plot._handle is None and len(plot.messages) == sent


def test_finalize_before_the_cell_ends_is_not_repeated(cell_events):
    plot = _shown_plot(static_image=False, update_interval=0)
    _one_fit(plot)
    handle = plot._handle
    plot.finalize()
    assert len(handle.updates) == 1 and "image/png" not in handle.updates[0]
    cell_events.trigger("post_run_cell", None)
    assert len(handle.updates) == 1 and cell_events.callbacks["post_run_cell"] == []


def test_training_in_a_thread_finalizes_at_once(cell_events):
    import threading

    plot = _shown_plot(static_image=False, update_interval=0)
    worker = threading.Thread(target=_one_fit, args=(plot,))
    worker.start()
    worker.join()
    assert plot._handle is None and cell_events.callbacks["post_run_cell"] == []
    assert plot.messages[-1]["state"]["status"] == "done"


def test_training_in_a_thread_shows_its_view_when_it_starts(cell_events):
    import threading

    plot = _shown_plot()  # the default interval: 3 quick epochs would not reach an update
    shown_at_start = []
    plot.on_epoch_end = lambda _f=plot.on_epoch_end, **kw: (shown_at_start.append(plot._handle is not None), _f(**kw))[1]
    worker = threading.Thread(target=_one_fit, args=(plot,))
    worker.start()
    worker.join()
    assert shown_at_start == [True, True, True]  # shown from the cell that started the thread
    assert plot.messages[0]["state"]["status"] == "training"


def test_a_stop_click_does_not_stop_the_next_fit(cell_events):
    plot = _shown_plot()
    plot.on_fit_begin(n_models=1, max_epochs=5, device="cpu")
    plot.stop()
    assert plot.on_epoch_end(run=0, record={"epoch": 1, "loss": 1.0}) == "stop"
    plot.on_fit_end(stop_reason="stopped")
    assert plot.status == "stopped" and plot.stop_requested is False
    plot.on_fit_begin(n_models=1, max_epochs=5, device="cpu")
    assert plot.on_epoch_end(run=1, record={"epoch": 1, "loss": 1.0}) is None


@pytest.mark.parametrize("shown_live", [True, False])
def test_the_view_of_a_fit_that_raised_ends_as_its_image_when_the_cell_ends(cell_events, shown_live):
    plot = _shown_plot(update_interval=0 if shown_live else 0.1, max_overhead=None)
    plot.on_fit_begin(n_models=1, max_epochs=10, device="cpu")
    for e in (1, 2):
        plot.on_epoch_end(run=0, record={"epoch": e, "loss": 1.0 / e})
    handle = plot._handle
    assert (handle is not None) is shown_live
    # the training raises here: no on_fit_end; the cell ends with the error
    cell_events.trigger("post_run_cell", None)
    bundle = handle.updates[-1] if shown_live else cell_events.displayed[-1]
    assert "image/png" in bundle and "Loss curves (failed)" in bundle["text/plain"]
    assert "run 1: 2 epochs" in bundle["text/plain"]
    assert plot.status == "failed" and plot._handle is None
    assert plot.messages[-1]["state"]["status"] == "failed"


def test_the_view_is_shown_without_waiting_for_idle_streams(monkeypatch):
    """ipykernel's display publisher flushes stdout and stderr before each
    display, and each flush waits for the IOPub thread. The live view skips
    that when neither stream holds text, and only then; the publisher is
    left as it was."""
    import sys

    from IPython.core.interactiveshell import InteractiveShell

    from nnwidgets.widgets import lossplot

    shell = InteractiveShell.instance()
    pub = shell.display_pub
    flushes, shown = [], []
    monkeypatch.setattr(type(pub), "_flush_streams", lambda self: flushes.append(1), raising=False)
    monkeypatch.setattr(type(pub), "publish", lambda self, data, metadata=None, **kw: (self._flush_streams(),
                                                                                      shown.append(data)))

    class Stream:
        def __init__(self, pending):
            self._flush_pending = pending
            self._subprocess_flush_pending = False

        def write(self, text):
            pass

        def flush(self):
            pass

    try:
        monkeypatch.setattr(sys, "stdout", Stream(False))
        monkeypatch.setattr(sys, "stderr", Stream(False))
        lossplot._display_unflushed({"text/plain": "view"}, None)
        assert shown == [{"text/plain": "view"}] and flushes == []
        assert "_flush_streams" not in vars(pub)  # the method is back
        sys.stderr._flush_pending = True  # a warning waits in stderr: it must come out first
        lossplot._display_unflushed({"text/plain": "view"}, None)
        assert len(shown) == 2 and flushes == [1]
        sys.stderr._flush_pending = False
        import threading  # off the main thread (the alarm's): the shared publisher is left alone

        worker = threading.Thread(target=lossplot._display_unflushed, args=({"text/plain": "view"}, None))
        worker.start()
        worker.join()
        assert len(shown) == 3 and flushes == [1, 1]
    finally:
        InteractiveShell.clear_instance()


def test_text_mode_asks_to_be_called_when_its_next_line_is_due(monkeypatch):
    """In text mode the plot only prints: a paced trainer calls it when the
    next progress line is due (text_interval after the last), or after 0.25 s
    to hear Stop; a poll that prints nothing does not delay the next line."""
    from nnwidgets.widgets import lossplot

    clock = [64.0]  # (binary fractions of a second below: exact sums)
    monkeypatch.setattr(lossplot.time, "perf_counter", lambda: clock[0])
    out = io.StringIO()
    plot = LiveLossPlot(mode="text", text_interval=0.375, stream=out)
    plot.on_fit_begin(max_epochs=100, run_labels=["a"])
    assert plot.next_epoch_end == -float("inf")  # the first epoch is printed at once
    plot.on_epoch_end(run=0, record={"epoch": 1, "loss": 1.0}, records=[{"epoch": 1, "loss": 1.0}])
    assert plot.next_epoch_end == 64.25  # min(the next line at 64.375, the Stop poll)
    clock[0] = 64.3125  # a call (the epoch ended after the poll time): no line yet
    plot.on_epoch_end(run=0, record={"epoch": 9, "loss": 0.5})
    assert plot.next_epoch_end == 64.375  # still when the next line is due
    clock[0] = 64.375
    plot.on_epoch_end(run=0, record={"epoch": 12, "loss": 0.4})
    assert [ln.split()[1] for ln in out.getvalue().splitlines()[1:]] == ["1/100", "12/100"]


@pytest.mark.parametrize("mode", ["text", "none"])
def test_the_plots_figures_are_final_after_a_fit_in_every_mode(data, mode):
    """plot.epoch and plot.n_points (and the ETA) say where training ended,
    with or without a widget view."""
    X, y = data
    plot = LiveLossPlot(mode=mode, stream=io.StringIO())
    train_module(nn.Linear(4, 1), X, y, epochs=30, loss="mse", callbacks=[plot])
    assert (plot.epoch, plot.n_points, plot.eta_s, plot.status) == (30, 30, 0.0, "done")
