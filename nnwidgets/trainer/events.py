"""Training events: the contract between the trainer and whatever watches it.

The trainer knows nothing of widgets. It calls hooks on a list of callbacks
(skorch-style: every hook takes ``**kwargs`` so new keywords never break old
callbacks) and appends one plain ``dict`` per epoch to a :class:`History`
(livelossplot-style: a pure log, with outputs that subscribe to it).

Events and their keywords (always passed by keyword; a callback may ignore any):

``on_fit_begin(model, n_models, max_epochs, device, run_labels, **kw)``
    ``model`` is the estimator or module being trained; ``n_models`` is K for
    batched training (1 otherwise); ``run_labels`` is a list of K strings.
``on_epoch_end(run, record, model, records, **kw)``
    ``run`` is the model's index in the batch (0 for a single model) and
    ``record`` is the dict just appended to the history: ``epoch`` (1-based),
    ``loss`` (training loss, float), ``val_loss`` / ``val_score`` (float or
    None), ``elapsed`` (seconds since fit began), ``epoch_time`` (seconds),
    ``samples_per_s``, ``device`` (str), ``lr`` (float). Batched training calls
    it once per model per epoch. ``records`` (where the trainer passes it) is
    the list of this run's records since the previous call, ending with
    ``record``: ``[record]`` when the hook is called every epoch.
``on_fit_end(model, history, stop_reason, **kw)``
    ``stop_reason`` is one of ``"max_iter"``, ``"converged"``,
    ``"early_stopping"``, ``"diverged"``, ``"interrupted"``, ``"stopped"``.

A callback asks training to stop at the next epoch boundary by returning
``STOP`` from ``on_epoch_end`` (or by setting a :class:`StopSignal`).
Losses are synchronised from the device once per epoch, never per step.

Paced callbacks. A callback that has no use for every epoch (a live plot
that redraws ten times a second) may set an attribute ``next_epoch_end``: the
``time.perf_counter()`` time before which it needs no ``on_epoch_end`` call.
The trainer then calls the list's hooks only at the first epoch end at or
after the earliest such time, and at each run's last epoch; the records of
the epochs in between come with that call, in ``records``. The attribute is
read after each call, so the callback sets its next time there; it must
exist when the callback list is made (a class attribute or one set in
``__init__``), or the callback counts as one that wants every epoch. A list that
holds any callback without ``next_epoch_end`` is called every epoch (then a
paced callback simply gets one record per call). Calling a Python hook after
each of 1000 short epochs costs about 1% of a 0.2-second training, in the
callback mechanism alone (``benchmarks/bench_lossplot.py``); a paced live
plot is called two or three times in all (once per update, and at the end).
"""

from __future__ import annotations

import math
import threading
import warnings
from typing import Any, Iterable

STOP = "stop"

_HOOKS = ("on_fit_begin", "on_epoch_end", "on_fit_end")

STOP_REASONS = ("max_iter", "converged", "early_stopping", "diverged", "interrupted", "stopped")


class Callback:
    """Base class for training callbacks. Override the hooks you need.

    A callback is shared, not copied, by ``sklearn.base.clone`` (which
    deep-copies an estimator's parameters): the callback you pass to an
    estimator sees the fits of its clones too (a grid search's folds and
    refit), as a Stop button stops them all."""

    def __deepcopy__(self, memo) -> "Callback":
        return self

    def on_fit_begin(self, **kwargs: Any) -> None:
        pass

    def on_epoch_end(self, **kwargs: Any) -> Any:
        pass

    def on_fit_end(self, **kwargs: Any) -> None:
        pass


class StopSignal(Callback):
    """A thread-safe flag that stops training at the next epoch boundary.

    A Stop button sets it; the trainer polls it through ``on_epoch_end``.
    """

    def __init__(self) -> None:
        self._event = threading.Event()

    def __getstate__(self) -> dict:
        return {"is_set": self._event.is_set()}

    def __setstate__(self, state: dict) -> None:
        self._event = threading.Event()
        if state.get("is_set"):
            self._event.set()

    def set(self) -> None:
        self._event.set()

    def clear(self) -> None:
        self._event.clear()

    @property
    def is_set(self) -> bool:
        return self._event.is_set()

    def on_fit_begin(self, **kwargs: Any) -> None:
        self._event.clear()

    def on_epoch_end(self, **kwargs: Any) -> Any:
        return STOP if self._event.is_set() else None


def _shown(value) -> str:
    """How a ``callbacks=`` value was probably written: print, [3], 'text'."""
    import reprlib

    if isinstance(value, (list, tuple)):
        inner = ", ".join(_shown(v) for v in value[:4]) + (", ..." if len(value) > 4 else "")
        return f"[{inner}]"
    name = getattr(value, "__name__", None)
    return name if isinstance(name, str) and callable(value) else reprlib.repr(value)


def _not_a_callback(given, cb) -> str:
    """The TypeError's message for ``callbacks=given`` holding ``cb``: what a callback is."""
    item = f"the class {cb.__name__}" if isinstance(cb, type) else repr(cb)
    item = item if len(item) <= 80 else item[:77] + "..."
    message = (f"callbacks={_shown(given)}: {item} is not a callback. A callback is an object "
               "with on_fit_begin/on_epoch_end/on_fit_end methods, such as LiveLossPlot() or an instance "
               "of a subclass of nnwidgets.Callback; pass one callback or a list of them")
    if isinstance(cb, type):
        message += f"; {cb.__name__} is the class: pass an instance, {cb.__name__}()"
    elif callable(cb):
        message += ("; a function is not one: call it from a Callback's on_epoch_end(self, record, **kwargs) "
                    "(record holds the epoch, loss, ...)")
    return message


class CallbackList:
    """Dispatches events to callbacks; a failing callback never kills training."""

    def __init__(self, callbacks: Iterable[Callback] | Callback | None = None) -> None:
        given = callbacks
        if callbacks is None:
            callbacks = []
        elif isinstance(callbacks, Callback) or callable(getattr(callbacks, "on_epoch_end", None)):
            callbacks = [callbacks]
        elif isinstance(callbacks, (str, bytes)) or not hasattr(callbacks, "__iter__"):
            callbacks = [callbacks]  # callbacks=print: reported below as the item it is
        self.callbacks = list(callbacks)
        for cb in self.callbacks:
            if isinstance(cb, type) or not any(callable(getattr(cb, hook, None)) for hook in _HOOKS):
                raise TypeError(_not_a_callback(given, cb))
        # each hook's bound methods, looked up once (the list is fixed after
        # construction); Callback's own do-nothing hooks are left out
        self._hooks = {hook: [(cb, fn) for cb in self.callbacks
                              for fn in (getattr(cb, hook, None),)
                              if callable(fn) and getattr(fn, "__func__", None) is not getattr(Callback, hook)]
                       for hook in _HOOKS}
        epoch_hooks = [cb for cb, _ in self._hooks["on_epoch_end"]]
        # paced: every epoch hook has a next_epoch_end (see the module's docstring)
        self._paced = [cb for cb in epoch_hooks if hasattr(cb, "next_epoch_end")]
        if len(self._paced) < len(epoch_hooks):
            self._paced = []
        #: The trainer calls :meth:`epoch_end` at an epoch that ends at or
        #: after this ``time.perf_counter()`` time (and at a run's last epoch):
        #: -inf when some hook wants every epoch, +inf when none is called.
        self.due = -math.inf if epoch_hooks else math.inf

    def _refresh_due(self) -> None:
        """``due``: the earliest ``next_epoch_end`` of the paced callbacks (one
        that is not a number, None included, asks for every epoch)."""
        due = math.inf
        for cb in self._paced:
            try:
                t = float(cb.next_epoch_end)
            except Exception:
                t = -math.inf
            due = min(due, t if t == t else -math.inf)
        self.due = due

    def _call(self, hook: str, kwargs: dict) -> bool:
        """Calls ``hook`` on every callback; True when any returned STOP. (Runs
        once per epoch and model: a plain loop over bound methods found once.)"""
        stop = False
        for cb, fn in self._hooks[hook]:
            try:
                if fn(**kwargs) == STOP:
                    stop = True
            except KeyboardInterrupt:
                raise
            except Exception as exc:  # a broken display must not lose the training
                warnings.warn(
                    f"callback {type(cb).__name__}.{hook} raised {type(exc).__name__}: {exc}; "
                    "training continues",
                    RuntimeWarning,
                    stacklevel=3,
                )
        return stop

    def fit_begin(self, **kwargs: Any) -> None:
        self._call("on_fit_begin", kwargs)
        if self._paced:
            self._refresh_due()

    def epoch_end(self, **kwargs: Any) -> bool:
        """Returns True when any callback asked to stop."""
        stop = self._call("on_epoch_end", kwargs)
        if self._paced:
            self._refresh_due()
        return stop

    def epoch_end_many(self, events: list) -> bool:
        """``epoch_end`` for several models' records (a list of kwargs dicts),
        in order; True when any callback asked to stop."""
        stop = False
        for kwargs in events:
            stop = self._call("on_epoch_end", kwargs) or stop
        if self._paced:
            self._refresh_due()
        return stop

    def fit_end(self, **kwargs: Any) -> None:
        self._call("on_fit_end", kwargs)


class History(list):
    """Per-epoch records (dicts), in order. ``history[-1]["loss"]``,
    ``history.column("loss")``. Plain data: picklable, no device tensors."""

    def column(self, key: str) -> list:
        return [rec.get(key) for rec in self]

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame(list(self))
