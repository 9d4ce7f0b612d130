"""A one-shot alarm: calls a function a little later, on one shared thread.

The live loss plot uses it to show itself during a slow first epoch and to
send its final state when the cell goes on after training, without sending
anything while training is fast (:mod:`nnwidgets.widgets.lossplot`).

All alarms of the process share one daemon thread, started on first use (a
forked child starts afresh), so arming one costs a few microseconds, not a thread
start (~0.1 ms): ``threading.Timer`` would start a thread per call.
"""

from __future__ import annotations

import heapq
import itertools
import os
import threading
import time
import warnings
from typing import Callable


class _Scheduler:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, "Alarm", int]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def add(self, alarm: "Alarm", deadline: float, generation: int) -> None:
        with self._cond:
            entry = (deadline, next(self._order), alarm, generation)
            heapq.heappush(self._heap, entry)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="nnwidgets-alarm", daemon=True)
                self._thread.start()
            elif self._heap[0] is entry:  # the thread sleeps until a later deadline
                self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._heap:
                    self._cond.wait()
                deadline, _, alarm, generation = self._heap[0]
                wait = deadline - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                heapq.heappop(self._heap)
            alarm._fire(generation)


_SCHEDULER = _Scheduler()
if hasattr(os, "register_at_fork"):  # a forked child has no alarm thread, and its lock may be held
    os.register_at_fork(after_in_child=_SCHEDULER.__init__)


class Alarm:
    """``Alarm(fn)``: ``arm(delay)`` calls ``fn()`` once, ``delay`` seconds
    later, on the shared alarm thread, unless ``disarm()`` comes first.
    Arming an armed alarm keeps its first deadline. ``fn`` must not block for
    long: every alarm of the process waits for it."""

    def __init__(self, fn: Callable[[], None]) -> None:
        self._fn = fn
        self._lock = threading.Lock()
        self._generation = 0
        self._armed = False

    @property
    def armed(self) -> bool:
        return self._armed

    def arm(self, delay: float) -> None:
        with self._lock:
            if self._armed:
                return
            self._armed = True
            self._generation += 1
            generation = self._generation
        _SCHEDULER.add(self, time.monotonic() + max(0.0, float(delay)), generation)

    def disarm(self) -> None:
        with self._lock:
            self._armed = False
            self._generation += 1  # an entry still in the queue finds a newer generation and does nothing

    def _fire(self, generation: int) -> None:
        with self._lock:
            if not self._armed or generation != self._generation:
                return
            self._armed = False
        try:
            self._fn()
        except Exception as exc:  # the shared thread must survive any one alarm
            warnings.warn(f"{self._fn!r} raised {type(exc).__name__}: {exc}", RuntimeWarning, stacklevel=1)
