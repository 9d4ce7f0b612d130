"""A live loss plot for training: a light anywidget fed by training callbacks.

>>> plot = LiveLossPlot()
>>> train_module(net, X, y, epochs=1000, callbacks=[plot])      # or est.fit(..., callbacks=[plot])

- The browser draws the curves (plain SVG, ``lossplot.js``); the kernel sends
  only the new points, batched with the progress figures in one comm message,
  at most ``1 / update_interval`` times a second. Each update costs well under a millisecond of kernel time
  (``benchmarks/bench_lossplot.py``) and never syncs the device: the trainer
  hands over plain floats once per epoch.
- Train (solid) and validation (dashed) curves, log-scale toggle, epoch,
  samples/s, ETA and device; several runs (a sweep) overlay with a legend.
- A Stop button ends training at the next epoch boundary and keeps the model
  (see :mod:`nnwidgets.widgets.kernel_comm` for how the click reaches a busy
  kernel).
- Nothing is sent while a training is fast: the view appears with its first
  update, one ``update_interval`` into training (or after ``show_delay``
  seconds if the first epoch is slower), and the state at the start of a fit
  goes out with that update. A training shorter than that sends nothing
  while it runs; its cell shows the static image. At the end of a fit the
  final points and status wait for the end of the cell (or ``show_delay``,
  if the cell goes on). So live plotting sends two messages while a short
  training runs (one update, the display), which is what keeps its cost to a
  few percent of a 0.2-second training (``benchmarks/bench_lossplot.py``).
- When the cell that trained finishes, the live view is replaced in place by a
  static PNG of the final curves (or the PNG is shown, for a training too
  short to have been shown live), so saved notebooks, nbconvert, nbgrader and
  nbval show them; other output of the cell is left alone.
- In a terminal or a plain script, progress is printed as throttled text.
  ``NNWIDGETS_PROGRESS=widget|text|none`` overrides the choice.
"""

from __future__ import annotations

import base64
import math
import os
import pathlib
import sys
import threading
import time
from array import array
from operator import itemgetter
from typing import Any

import anywidget
import traitlets as t

from nnwidgets.trainer.events import STOP, Callback
from nnwidgets.widgets.alarm import Alarm
from nnwidgets.widgets.kernel_comm import current_kernel, route_to_subshell

_HERE = pathlib.Path(__file__).parent
MODES = ("auto", "widget", "text", "none")
_END_STATUS = {
    "max_iter": "done",
    "converged": "done",
    "early_stopping": "done",
    "stopped": "stopped",
    "interrupted": "stopped",
    "diverged": "diverged",
}


#: the longest a paced plot lets the trainer go without calling on_epoch_end:
#: a Stop click waits at most this long (or one epoch, when epochs are longer)
_STOP_POLL = 0.25


def _did_you_mean(value, choices) -> str:
    """'; did you mean 'widget'?' for a near miss among ``choices``, else ''."""
    from nnwidgets.near_names import closest_name

    close = closest_name(value, choices)
    return f"; did you mean {close!r}?" if close else ""


def progress_mode(mode: str = "auto") -> str:
    """Resolves ``"auto"``: ``NNWIDGETS_PROGRESS`` if set, else ``"widget"``
    inside a Jupyter kernel and ``"text"`` anywhere else."""
    if mode not in MODES:
        raise ValueError(f"mode={mode!r} is not one of {MODES}{_did_you_mean(mode, MODES)}")
    if mode != "auto":
        return mode
    env = os.environ.get("NNWIDGETS_PROGRESS", "").strip().lower()
    if env:
        if env not in MODES[1:]:
            raise ValueError(f"NNWIDGETS_PROGRESS={env!r} must be one of {MODES[1:]}{_did_you_mean(env, MODES[1:])}")
        return env
    return "widget" if current_kernel() is not None else "text"


def _fmt_seconds(s: float) -> str:
    if s is None or not math.isfinite(s):
        return "?"
    if s < 1:
        return "<1 s"
    if s < 90:
        return f"{s:.0f} s"
    if s < 5400:
        return f"{s / 60:.0f} min"
    return f"{s / 3600:.1f} h"


def _finite(v):
    """NaN/inf become None: JSON has no NaN (the curve shows a gap instead)."""
    if v is None:
        return None
    v = float(v)
    return v if math.isfinite(v) else None


_NAN = float("nan")

#: what the plot takes from each epoch's record (nnwidgets.trainer.events)
_COLUMNS = itemgetter("epoch", "loss", "val_loss", "epoch_time")
#: run 0's epoch times kept after each update: what _learn_cost reads (the
#: 10 epochs just after it, against the median of the next 30)
_EPOCH_TIMES_KEPT = 40


def _packed(values: list) -> memoryview:
    """The values as little-endian float64 bytes (None -> NaN, a gap in the
    curve): sent as a binary comm buffer, which ipywidgets passes through
    without walking or JSON-encoding each point."""
    try:
        a = array("d", values)
    except TypeError:  # None, or a value that is not a plain number (a 0-d tensor, ...)
        a = array("d", [_NAN if v is None else float(v) for v in values])
    if sys.byteorder != "little":
        a.byteswap()
    return memoryview(a).cast("B")


def _shell():
    """The running IPython shell, or None."""
    from IPython import get_ipython

    return get_ipython()


def _cell_number():
    """The running notebook cell's execution count (None outside IPython)."""
    return getattr(_shell(), "execution_count", None)


def _in_ipython() -> bool:
    return _shell() is not None


def _display(bundle: dict) -> None:
    """Publishes a raw mime bundle in the running cell."""
    from IPython.display import display

    display(bundle, raw=True)


def _streams_idle() -> bool:
    """True when ipykernel's stdout and stderr hold nothing waiting to be sent."""
    return all(getattr(s, "_flush_pending", None) is False and getattr(s, "_subprocess_flush_pending", None) is False
               for s in (sys.stdout, sys.stderr))


def _display_unflushed(data: dict, metadata):
    """IPython's ``display(data, raw=True, display_id=True)``, without the
    flush of stdout and stderr that ipykernel's display publisher does first
    when neither holds anything (each flush waits for the kernel's IOPub
    thread: about 0.5 ms apiece on a 2-core machine, in the middle of a
    training). With text waiting, another publisher, or off the main thread
    (the publisher is shared: another thread's display must keep its
    flushes), a plain display."""
    from IPython.display import display

    pub = getattr(_shell(), "display_pub", None)
    if (pub is None or not hasattr(pub, "_flush_streams") or "_flush_streams" in vars(pub)
            or threading.current_thread() is not threading.main_thread() or not _streams_idle()):
        return display(data, metadata=metadata, raw=True, display_id=True)
    pub._flush_streams = lambda: None  # this call only (an instance attribute over the method)
    try:
        return display(data, metadata=metadata, raw=True, display_id=True)
    finally:
        del pub._flush_streams


def _fmt_loss(v) -> str:
    if v is None:
        return "-"
    return f"{v:.4g}"


def _fresh_plot(title, mode, update_interval, static_image) -> "LiveLossPlot":
    """Unpickling a LiveLossPlot: a new plot with the same settings."""
    return LiveLossPlot(title, mode=mode, update_interval=update_interval, static_image=static_image)


class LiveLossPlot(anywidget.AnyWidget, Callback):
    """Live training curves; pass it in ``callbacks=``.

    Parameters
    ----------
    title : shown above the plot.
    mode : ``"auto"`` (widget in Jupyter, text elsewhere), ``"widget"``,
        ``"text"`` or ``"none"``.
    update_interval : the shortest time between updates sent to the browser
        (0.1: at most 10 updates per second).
    max_overhead : the share of the training's time that updates may take
        (default 0.01). An update's cost is its own time plus what the epochs
        just after it lose while the kernel sends the message (measured from
        the trainer's epoch times); when that is more than this share of
        ``update_interval`` (a loaded machine, a busy IOPub thread), updates
        are spaced further apart. None: always ``update_interval``.
    text_interval : seconds between progress lines in text mode.
    static_image : replace the live view by a PNG of the final curves when
        the cell that trained finishes (kept in saved notebooks).
    finalize_on_fit_end : finish after each fit (in a notebook: when its cell
        finishes); a sweep that trains several models one after another sets
        False and calls :meth:`finalize`.
    show_delay : seconds after the start of a fit at which the view is shown
        if no update has shown it yet (a slow first epoch), and after the end
        of a fit at which its final state is sent if the cell goes on
        (default: 1.5 times ``update_interval``, at least 0.15 s).
    """

    _esm = (_HERE / "lossplot.js").read_text(encoding="utf-8")
    _css = (_HERE / "lossplot.css").read_text(encoding="utf-8")

    title = t.Unicode("Training loss").tag(sync=True)
    run_labels = t.List(t.Unicode()).tag(sync=True)
    max_epochs = t.Int(0).tag(sync=True)
    epoch = t.Int(0).tag(sync=True)
    n_points = t.Int(0).tag(sync=True)
    status = t.Unicode("idle").tag(sync=True)
    device = t.Unicode("").tag(sync=True)
    samples_per_s = t.Float(0.0).tag(sync=True)
    eta_s = t.Float(0.0).tag(sync=True)
    elapsed_s = t.Float(0.0).tag(sync=True)
    log_y = t.Bool(False).tag(sync=True)
    stop_requested = t.Bool(False).tag(sync=True)
    #: the latest batch of new points, {"seq": n, "data": [[run, epochs, losses, val_losses], ...]},
    #: each series a binary float64 buffer (val_losses None when the run has no validation):
    #: sent with the progress traits in ONE comm message per update (the browser appends it)
    points_update = t.Dict().tag(sync=True)

    def __init__(
        self,
        title: str = "Training loss",
        *,
        mode: str = "auto",
        update_interval: float = 0.1,
        max_overhead: float | None = 0.01,
        text_interval: float = 2.0,
        static_image: bool = True,
        finalize_on_fit_end: bool = True,
        show_delay: float | None = None,
        stream=None,
        **kwargs: Any,
    ) -> None:
        unknown = [name for name in kwargs if name not in type(self).class_trait_names()]
        if unknown:  # (traitlets would drop them silently: a typo would keep the default)
            raise TypeError(self._unknown_setting(unknown[0]))
        super().__init__(title=title, **kwargs)
        self.mode = progress_mode(mode)
        if update_interval < 0:
            raise ValueError(f"update_interval={update_interval!r} must be >= 0 seconds")
        self.update_interval = float(update_interval)
        if max_overhead is not None and not 0 < max_overhead < 1:
            raise ValueError(f"max_overhead={max_overhead!r} must be a fraction between 0 and 1, or None")
        self.max_overhead = max_overhead
        self._interval = self.update_interval  # adapted to the measured cost of an update
        self._update_cost: float | None = None  # what one update costs the training, all told (see _learn_cost)
        self._own_cost: float | None = None  # the last update's own time, its after-effects not yet known
        self._epoch_times: list = []  # run 0's first epoch times since the last update
        self.text_interval = float(text_interval)
        self.static_image = bool(static_image)
        self.finalize_on_fit_end = bool(finalize_on_fit_end)
        if show_delay is not None and not show_delay >= 0:
            raise ValueError(f"show_delay={show_delay!r} must be >= 0 seconds, or None for the default")
        # (not a multiple of update_interval: the alarm thread's wake-up would
        # fall on the second update when the first one has already shown the view)
        self.show_delay = max(1.5 * self.update_interval, 0.15) if show_delay is None else float(show_delay)
        self.stream = stream
        self.routing = "none"  # how Stop clicks reach a busy kernel (see kernel_comm)
        self.updates_sent = 0
        self._runs: list[dict] = []  # per run: epoch, loss, val lists and the sent index
        self._pending: list[tuple] = []  # (run index, [records]) not yet filed into _runs, one per call
        self._lock = threading.RLock()  # the data, the held state and the view: the training and the alarm thread
        self._stop_flag = False  # set by stop() (any thread), read at every epoch end
        self._handle = None  # the live view's display handle, once shown
        self._held = None  # an entered hold_sync(): trait changes wait for the next update (see _hold)
        self._alarm = Alarm(self._on_alarm)
        self._fit_cell = None  # the notebook cell (execution count) of the latest fit
        self._fit_shell = None  # the IPython shell of the latest fit (None outside IPython)
        self._finalized_points = 0  # points already in a final image or summary
        self._said_empty_end = False  # a fit that ended with no epoch at all was reported
        self._finalize_hook = None  # the post_run_cell callback that will finalize, when one is due
        self._offset = 0
        self._fit_t0 = time.perf_counter()
        self._last_flush = -math.inf
        self._last_text = -math.inf
        self._last_record: dict | None = None
        self._stop_reason: str | None = None
        #: paced callback (nnwidgets.trainer.events): the trainer need not call
        #: on_epoch_end before this time.perf_counter() time; the epochs in
        #: between come in one call, as ``records``
        self.next_epoch_end = -math.inf
        self.on_msg(self._on_frontend_msg)

    @classmethod
    def _unknown_setting(cls, name: str) -> str:
        import inspect

        settings = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "kwargs")]
        # (of its traits, only log_y is a setting: the others are its live state)
        return (f"LiveLossPlot() got an unexpected keyword argument {name!r}"
                + (_did_you_mean(name, settings + ["log_y"]) or f"; its settings are {', '.join(settings)}, log_y"))

    def __deepcopy__(self, memo) -> "LiveLossPlot":
        # clone() of an estimator that has this plot as a callback (a grid
        # search): the clones draw on this plot (ipywidgets refuses copies)
        return self

    def __reduce__(self):
        # a pickled estimator keeps a fresh plot with the same settings, not
        # this live widget (its comm and view belong to this kernel)
        return (_fresh_plot, (self.title, self.mode, self.update_interval, self.static_image))

    def __repr__(self) -> str:
        # also the text/plain fallback shown by frontends without widget support
        labels = ", ".join(self.run_labels) or "no runs yet"
        where = f" on {self.device}" if self.device else ""
        epochs = f", epoch {self.epoch}" + (f"/{self.max_epochs}" if self.max_epochs else "")
        return f"LiveLossPlot({labels}{where}{epochs}, {self.status})"

    # -- the data ----------------------------------------------------------
    def _drain(self) -> None:
        """Files the records queued by :meth:`on_epoch_end` into the per-run
        lists (called with ``_lock`` held). Safe against a concurrent append:
        only the batches present when it starts are taken."""
        pending = self._pending
        n = len(pending)
        if not n:
            return
        batch = pending[:n]
        del pending[:n]
        runs, offset = self._runs, self._offset
        for run, records in batch:  # one batch per call, taken apart column by column
            r = runs[offset + run]
            epochs = r["epoch"]
            try:  # the trainers' records: every key there (C speed)
                numbers, losses, vals, times = zip(*map(_COLUMNS, records))
            except (KeyError, TypeError):  # a record of another source: keys may be missing
                first = len(epochs) + 1
                numbers = [rec.get("epoch", first + i) for i, rec in enumerate(records)]
                losses = [rec.get("loss") for rec in records]
                vals = [rec.get("val_loss") for rec in records]
                times = [rec.get("epoch_time") for rec in records]
            if run == 0 and len(self._epoch_times) < _EPOCH_TIMES_KEPT:
                self._epoch_times.extend(times[:_EPOCH_TIMES_KEPT - len(self._epoch_times)])
            epochs.extend(numbers)
            r["loss"].extend(losses)  # raw: made finite-or-None when read or sent
            r["val"].extend(vals)
            if not r["has_val"] and vals.count(None) < len(vals):
                r["has_val"] = True
        self._last_record = batch[-1][1][-1]

    def curves(self) -> list[tuple]:
        """[(label, epochs, loss, val_loss or None)] for every run so far."""
        with self._lock:
            self._drain()
            out = []
            for k, r in enumerate(self._runs):
                label = self.run_labels[k] if k < len(self.run_labels) else f"run {k + 1}"
                val = [_finite(v) for v in r["val"]]
                has_val = any(v is not None for v in val)
                out.append((label, list(r["epoch"]), [_finite(v) for v in r["loss"]], val if has_val else None))
            return out

    def stop(self) -> None:
        """Asks training to stop at the next epoch boundary (what the button does)."""
        self._stop_flag = True
        self.stop_requested = True

    # -- callback hooks ----------------------------------------------------
    def on_fit_begin(self, *, max_epochs=None, device=None, run_labels=None, n_models=1, **kwargs) -> None:
        n_models = int(n_models or 1)
        labels = list(run_labels or [])
        with self._lock:
            self._drain()  # anything left from an earlier fit belongs to its runs
            self._offset = len(self._runs)
            existing = list(self.run_labels)
            while len(labels) < n_models:
                labels.append(f"run {self._offset + len(labels) + 1}")
            for lab in labels:
                name, i = str(lab), 2
                while name in existing:
                    name = f"{lab} ({i})"
                    i += 1
                existing.append(name)
                self._runs.append({"epoch": [], "loss": [], "val": [], "sent": 0, "has_val": False})
        self._fit_t0 = time.perf_counter()
        # the widget's first update comes one interval into training, not at
        # epoch 1: a training shorter than that sends its points once, with the
        # final status (text mode prints the first epoch at once)
        self._last_flush = self._fit_t0 if self.mode == "widget" else -math.inf
        self._pace(self._fit_t0)
        self._fit_epochs = int(max_epochs or 0)
        self._last_record = None
        self._own_cost = None  # (the epochs of a new fit tell nothing about an update of the last one)
        self._epoch_times.clear()
        widget = self.mode == "widget"
        with self._lock:
            if widget:
                self._fit_shell = _shell()
                self._fit_cell = getattr(self._fit_shell, "execution_count", None)
                self._hold()  # this state goes out with the first update: no message as training starts
            with self.hold_sync():
                self.run_labels = existing
                self.max_epochs = max(self.max_epochs, self._fit_epochs)
                self.device = str(device or "")
                self.status = "training"
                self.epoch = 0
                self.eta_s = 0.0
        if widget and threading.current_thread() is not threading.main_thread():
            # training in a thread of its own: the cell that started it has
            # usually ended before any update, so the view is shown now, there
            self._update(self._fit_t0, force=True)
        elif widget:
            self._alarm.arm(self.show_delay)  # shows the view if the first epoch is slow
            if self.finalize_on_fit_end:
                self._register_cell_end()  # also ends the view of a fit that raises
        elif self.mode == "text":
            self._print(
                f"Training {', '.join(labels)} on {device or '?'}"
                + (f" for {self._fit_epochs} epochs" if self._fit_epochs else "")
            )

    def on_epoch_end(self, *, run=0, record=None, records=None, **kwargs) -> Any:
        # Between training steps: it only queues the records (the trainer keeps
        # them in history_ anyway); they are filed in batches when an update is
        # due. The plot is a paced callback: a trainer that honours
        # next_epoch_end calls it about once per update, with the epochs in
        # between in `records`; others call it every epoch
        # (benchmarks/bench_lossplot.py).
        run = int(run)
        if records:
            self._pending.append((run, records))
        elif record is not None:
            self._pending.append((run, (record,)))
        now = time.perf_counter()
        if now >= self._update_due():
            self._update(now, force=self.mode == "text")  # (text mode: _update's own gate is the widget's)
        self._pace(now)
        return STOP if self._stop_flag else None

    def _update_due(self) -> float:
        """When the next update is due: the widget's, or in text mode (whose
        updates only print) the next progress line's."""
        if self.mode == "text":
            return self._last_text + self.text_interval
        return self._last_flush + self._interval

    def _pace(self, now: float) -> None:
        """When the trainer should call :meth:`on_epoch_end` next: when the
        next update is due, and at least every ``_STOP_POLL`` seconds so that
        a Stop click is heard soon."""
        self.next_epoch_end = min(self._update_due(), now + _STOP_POLL)

    def on_fit_end(self, *, stop_reason=None, **kwargs) -> None:
        self._stop_reason = stop_reason
        widget = self.mode == "widget"
        # in a notebook cell, the final points and status wait for the end of
        # the cell, where the static image replaces the view anyway (or for the
        # alarm, if the cell goes on): fit returns without sending anything.
        # (registered when the fit began; again if finalize() came in between)
        wait = self.finalize_on_fit_end and self._register_cell_end()
        with self._lock:
            if widget:
                self._hold()
            self._finish(_END_STATUS.get(stop_reason, "done"))
            if widget and not wait:
                self._release()
        if wait:
            self._alarm.arm(self.show_delay)
        if self.mode == "text":
            rec = self._last_record or {}
            self._print(
                f"{self.status}: epoch {rec.get('epoch', 0)}"
                + (f"/{self._fit_epochs}" if self._fit_epochs else "")
                + f"  loss {_fmt_loss(rec.get('loss'))}"
                + (f"  val_loss {_fmt_loss(rec.get('val_loss'))}" if rec.get("val_loss") is not None else "")
                + f"  in {_fmt_seconds(time.perf_counter() - self._fit_t0)}"
            )
        if self.finalize_on_fit_end:
            self._clear_stop()  # a later fit must not stop at its first epoch
            if not wait:
                self.finalize()  # no cell to wait for: no IPython, or training ran in a thread of its own

    # -- updates -----------------------------------------------------------
    def _finish(self, status: str) -> None:
        """The fit's last points and its end status, in one message (or held)."""
        with self._lock, self.hold_sync():
            self._flush(time.perf_counter(), final=True)
            self.status = status

    def _hold(self) -> None:
        """Holds trait changes back until :meth:`_release` (called with
        ``_lock`` held): they go out in one message with the next update."""
        if self._held is None:
            held = self.hold_sync()
            held.__enter__()
            self._held = held

    def _release(self) -> None:
        """Sends the held trait changes, in one message."""
        held, self._held = self._held, None
        if held is not None:
            held.__exit__(None, None, None)

    def _update(self, now: float, force: bool = False) -> None:
        """A widget update: the new points, the progress and any held state
        in one message; the first one also shows the view."""
        with self._lock:
            if not force and now - self._last_flush < self._interval:
                return  # the alarm thread has just sent one
            if self.max_overhead is not None and self.mode == "widget" and not force:
                self._drain()
                self._learn_cost()  # the last update's full cost may space updates further apart
                if now - self._last_flush < self._interval:
                    return
            self._flush(now)
            if self.mode != "widget":
                return
            self._release()
            if self.max_overhead is not None:
                self._own_cost = time.perf_counter() - now
                self._epoch_times.clear()  # the epochs after this update show its after-effects
            if self._handle is None and self._fit_cell == getattr(self._fit_shell, "execution_count", None):
                self._show()
        self._alarm.disarm()  # nothing is held, and the view is shown (when there is a frontend)

    def _learn_cost(self) -> None:
        """What the last update cost the training, all told: its own time on
        the training thread, plus what the epochs just after it lost. In a
        kernel the message is sent and handled by other threads and
        processes (IOPub, the frontend), which on a small machine slow the
        training down for a millisecond or two after the update has
        returned; the trainer's ``epoch_time`` of the first epochs after an
        update, against the median of the next ones (``_EPOCH_TIMES_KEPT`` in
        all), shows it. Updates are
        then spaced so that this full cost stays within ``max_overhead``."""
        own, self._own_cost = self._own_cost, None
        if own is None:
            self._epoch_times.clear()
            return
        times = [t for t in self._epoch_times if t is not None and math.isfinite(t)]
        self._epoch_times.clear()
        excess = 0.0
        if len(times) >= 12:  # (with fewer, slower epochs, a millisecond is lost in the noise anyway)
            k = min(10, len(times) // 4)
            rest = sorted(times[k:])
            excess = max(0.0, sum(times[:k]) - k * rest[len(rest) // 2])
        cost = own + excess
        self._update_cost = cost if self._update_cost is None else 0.7 * self._update_cost + 0.3 * cost
        self._interval = max(self.update_interval, self._update_cost / self.max_overhead)

    def _on_alarm(self) -> None:
        """On the alarm thread: a first epoch slower than ``show_delay``, or a
        cell that goes on after training: send what is held, show the view."""
        with self._lock:
            if self._fit_cell != _cell_number():
                self._release()  # its cell has ended (a sweep's owner did not finalize): show nothing elsewhere
            elif self._held is not None or self._handle is None:
                self._update(time.perf_counter(), force=True)

    def _flush(self, now: float, final: bool = False) -> None:
        self._last_flush = now
        with self._lock:
            self._drain()
            rec = self._last_record
            if self.mode == "widget":
                data = []
                for k, r in enumerate(self._runs):
                    i0 = r["sent"]
                    if i0 < len(r["epoch"]):  # binary float64 buffers: see _packed
                        data.append([k, _packed(r["epoch"][i0:]), _packed(r["loss"][i0:]),
                                     _packed(r["val"][i0:]) if r["has_val"] else None])
                        r["sent"] = len(r["epoch"])
                npoints = sum(len(r["epoch"]) for r in self._runs)
                with self.hold_sync():  # one comm message: the new points and the progress
                    if data:
                        self.updates_sent += 1
                        self.points_update = {"seq": self.updates_sent, "data": data}
                    self.n_points = npoints
                    self._set_progress(rec, now)
            elif self.mode == "text" and rec is not None and not final and now - self._last_text >= self.text_interval:
                self._last_text = now
                self._set_progress(rec, now)
                self._print(self.progress_line())
            if final and self.mode != "widget":  # (the widget sets them with every update)
                with self.hold_sync():
                    self.n_points = sum(len(r["epoch"]) for r in self._runs)
                    self._set_progress(rec, now)

    def _set_progress(self, rec, now) -> None:
        if rec is None:
            return
        epoch = int(rec.get("epoch", 0))
        elapsed = now - self._fit_t0
        self.epoch = epoch
        self.elapsed_s = elapsed
        sps = rec.get("samples_per_s")
        if sps is not None and math.isfinite(sps):
            self.samples_per_s = float(sps)
        if self._fit_epochs and epoch:
            self.eta_s = max(0.0, (self._fit_epochs - epoch) * elapsed / epoch)

    def progress_line(self) -> str:
        rec = self._last_record or {}
        parts = [f"epoch {self.epoch}" + (f"/{self._fit_epochs}" if self._fit_epochs else "")]
        parts.append(f"loss {_fmt_loss(rec.get('loss'))}")
        if rec.get("val_loss") is not None:
            parts.append(f"val_loss {_fmt_loss(rec.get('val_loss'))}")
        if self.samples_per_s:
            parts.append(f"{self.samples_per_s:,.0f} samples/s")
        parts.append(f"ETA {_fmt_seconds(self.eta_s)}")
        if self.device:
            parts.append(self.device)
        return "  ".join(parts)

    def _print(self, line: str) -> None:
        stream = self.stream or sys.stdout
        try:
            print(line, file=stream, flush=True)
        except Exception:  # a closed stream must not stop training
            pass

    # -- display -----------------------------------------------------------
    def _show(self) -> None:
        if not _in_ipython():
            return  # no frontend at all (benchmarks, scripts with mode="widget")
        self.routing = route_to_subshell(self)
        # the widget's own mime bundle, published as is: IPython's formatters
        # would only find the same bundle again, at a cost paid once per fit
        bundle = self._repr_mimebundle_()  # anywidget: (data, metadata); ipywidgets: data
        data, metadata = bundle if isinstance(bundle, tuple) else (bundle, {})
        self._handle = _display_unflushed(data, metadata or None)

    def summary(self) -> str:
        """One line per run: epochs, final loss (and validation loss)."""
        return self._summary(self.curves())

    def _summary(self, curves: list[tuple]) -> str:
        if not curves:
            return "Loss curves: no epochs recorded"
        lines = []
        for label, epochs, loss, val in curves:
            if not epochs:
                lines.append(f"{label}: no epochs")
                continue
            line = f"{label}: {len(epochs)} epochs, final loss {_fmt_loss(loss[-1])}"
            if val:
                line += f", final val_loss {_fmt_loss(val[-1])}"
            lines.append(line)
        return f"Loss curves ({self.status}):\n  " + "\n  ".join(lines)

    def static_png(self, dpi: int = 80) -> bytes:
        """PNG bytes of the current curves (honours the log-scale toggle)."""
        return self._png(self.curves(), dpi)

    def _png(self, curves: list[tuple], dpi: int = 80) -> bytes:
        from nnwidgets.widgets.figures import loss_curves_png

        title = self.title
        if self.status in ("stopped", "diverged", "failed"):
            title += f" ({self.status} at epoch {self.epoch})"
        return loss_curves_png(curves, log_y=self.log_y, title=title, dpi=dpi)

    def _cell_end_shell(self):
        """The IPython shell whose ``post_run_cell`` will finalize this plot,
        or None (no IPython, or training in a thread of its own)."""
        if self.mode != "widget" or threading.current_thread() is not threading.main_thread():
            return None
        return _shell()

    def _register_cell_end(self) -> bool:
        """Has :meth:`finalize` called when the running notebook cell finishes
        (IPython's ``post_run_cell``); False when there is no such cell (no
        IPython, not widget mode, or training in a thread of its own).

        The static image (a matplotlib PNG, ~20 ms) is then not part of the
        training: ``fit`` returns when its last epoch ends, and a plot that
        several fits of one cell feed stays one live view and ends as one
        image. The kernel sends the image before the cell's reply, so
        nbclient, nbval and nbgrader still save it with the cell."""
        ip = self._cell_end_shell()
        if ip is None:
            return False
        if self._finalize_hook is not None:
            return True  # already due at the end of this cell

        def at_cell_end(*args: Any, **kwargs: Any) -> None:
            ip.events.unregister("post_run_cell", at_cell_end)
            if self._finalize_hook is at_cell_end:
                if self.status == "training":  # the cell ended without on_fit_end: the fit raised
                    self._finish("failed")
                self.finalize()

        self._finalize_hook = at_cell_end
        ip.events.register("post_run_cell", at_cell_end)
        return True

    def _clear_stop(self) -> None:
        self._stop_flag = False
        if self.stop_requested:
            self.stop_requested = False

    def finalize(self) -> None:
        """Ends the live view: replaces it by a static PNG of the final curves
        (in widget mode) and clears the stop request for the next training.
        A training too short to have been shown live gets the PNG on its own;
        the view of a fit that raised ends the same way, its status "failed".
        Called by itself when the cell that trained finishes (unless
        ``finalize_on_fit_end=False``); calling it earlier is fine."""
        self._finalize_hook = None
        self._alarm.disarm()
        with self._lock:
            self._release()  # what is held (the final status): the model stays right for a later display
            if self.mode == "widget" and (self._handle is not None or _in_ipython()):
                curves = self.curves()  # read once for the text and the image
                npoints = sum(len(c[1]) for c in curves)
                # (a fit that diverged or failed in its first epoch has no curve,
                # but its end is said, once, where the plot would have been)
                empty_end = (not npoints and self.status in ("diverged", "failed")
                             and not self._said_empty_end)
                if self._handle is not None or npoints > self._finalized_points or empty_end:
                    self._finalized_points = npoints
                    self._said_empty_end = self._said_empty_end or empty_end
                    bundle = {"text/plain": self._summary(curves)}
                    if self.static_image and npoints:
                        try:
                            bundle["image/png"] = base64.b64encode(self._png(curves)).decode("ascii")
                        except Exception as exc:  # never lose the training for a picture
                            bundle["text/plain"] += f"\n(static image failed: {type(exc).__name__}: {exc})"
                    if self._handle is not None:
                        self._handle.update(bundle, raw=True)
                        self._handle = None
                    else:  # never shown live: the image alone, where the view would have been
                        _display(bundle)
        self._clear_stop()

    def close(self) -> None:
        alarm = getattr(self, "_alarm", None)  # (ipywidgets may close a half-built widget)
        if alarm is not None:
            alarm.disarm()
        super().close()

    # -- messages from the browser -----------------------------------------
    def _on_frontend_msg(self, widget, content, buffers) -> None:
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "stop":
            self.stop()
        elif kind == "sync":
            with self._lock:
                self._drain()
                data = [  # JSON lists (no NaN in JSON: non-finite values are null)
                    [k, r["epoch"][: r["sent"]], [_finite(v) for v in r["loss"][: r["sent"]]],
                     [_finite(v) for v in r["val"][: r["sent"]]]]
                    for k, r in enumerate(self._runs)
                ]
                self.send({"type": "snapshot", "seq": self.updates_sent, "data": data})
