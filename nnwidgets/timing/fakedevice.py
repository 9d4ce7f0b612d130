"""A fake asynchronous device: shows, without a GPU, why naive timing lies.

``FakeAsyncDevice.launch(fn, *args)`` behaves like a CUDA kernel launch: it
puts the work on a queue and returns at once; a background thread (the
"GPU") runs the queue in order; ``synchronize()`` waits until it is empty.
Timing ``launch`` with ``%timeit`` measures the launch (microseconds), not the
work; the harness synchronizes around every timed block and measures the
work. Like a real GPU, the queue is bounded (``queue_depth`` launches): once
it is full, ``launch`` blocks.

    >>> from nnwidgets.timing import FakeAsyncDevice
    >>> dev = FakeAsyncDevice()
    >>> import time
    >>> dev.launch(time.sleep, 0.002)      # returns immediately
    >>> dev.synchronize()                  # waits ~2 ms
"""

from __future__ import annotations

import queue
import threading
from typing import Any, Callable

from nnwidgets.timing.devices import TimingDevice, register_device


class FakeAsyncDevice(TimingDevice):
    kind = "fake"
    is_async = True

    def __init__(self, name: str = "fake", *, queue_depth: int = 1024):
        if queue_depth < 1:
            raise ValueError(f"queue_depth={queue_depth!r} must be >= 1")
        self.name = name
        self.queue_depth = queue_depth
        self._queue: queue.Queue = queue.Queue(maxsize=queue_depth)
        self._error: BaseException | None = None
        self.launches = 0
        self.completed = 0
        self._worker = threading.Thread(target=self._run, name=f"nnwidgets-{name}", daemon=True)
        self._worker.start()

    def _run(self) -> None:
        while True:
            fn, args, kwargs = self._queue.get()
            try:
                if self._error is None:
                    fn(*args, **kwargs)
            except BaseException as exc:  # reported at the next synchronize, like CUDA
                self._error = exc
            finally:
                self.completed += 1
                self._queue.task_done()

    def launch(self, fn: Callable[..., Any], *args, **kwargs) -> None:
        """Queues ``fn(*args, **kwargs)`` and returns without waiting for it."""
        self.launches += 1
        self._queue.put((fn, args, kwargs))

    def pending(self) -> int:
        """Launches queued or running, not finished yet."""
        return self._queue.unfinished_tasks

    def synchronize(self) -> None:
        self._queue.join()
        if self._error is not None:
            error, self._error = self._error, None
            raise RuntimeError(f"work launched on {self.name!r} failed: {error!r}") from error

    def namespace_value(self):
        # The timed code gets the device itself, to call device.launch(...).
        return self

    def describe(self) -> dict:
        return {"hardware": "fake asynchronous device (a background thread)", "queue_depth": self.queue_depth}


_SHARED: dict[str, FakeAsyncDevice] = {}


def _factory(spec: str) -> FakeAsyncDevice:
    # One worker thread per name for the whole process.
    if spec not in _SHARED:
        _SHARED[spec] = FakeAsyncDevice(spec)
    return _SHARED[spec]


def register_fake_device(name: str = "fake") -> FakeAsyncDevice:
    """Makes ``--devices cpu,fake`` work (for tests and demonstrations) and
    returns the device."""
    register_device(name, _factory)
    return _factory(name)
