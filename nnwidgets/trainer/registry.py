"""The session's record of training runs (plain data, no UI).

Every ``%%nntrain`` run (and every :func:`record` call) lands here so that
``%nnruns`` / :func:`nnwidgets.widgets.runs.show` can compare them. A run is a
:class:`~nnwidgets.trainer.results.TrainResult`; the registry numbers runs
from 1 in the order they were recorded.
"""

from __future__ import annotations

import threading
from typing import Iterable, Iterator

from nnwidgets.trainer.results import TrainResult


class RunRegistry:
    """An ordered, numbered list of :class:`TrainResult` objects."""

    def __init__(self) -> None:
        self._runs: list[TrainResult] = []
        self._next_id = 1
        self._lock = threading.Lock()

    def record(self, result: TrainResult) -> TrainResult:
        """Adds ``result`` (numbering it) and returns it."""
        if not isinstance(result, TrainResult):
            raise TypeError(f"only TrainResult objects can be recorded, got {type(result).__name__}")
        with self._lock:
            if any(r is result for r in self._runs):
                return result
            result.run_id = self._next_id
            self._next_id += 1
            if not result.label:
                result.label = f"run {result.run_id}"
            self._runs.append(result)
        return result

    def __len__(self) -> int:
        return len(self._runs)

    def __iter__(self) -> Iterator[TrainResult]:
        return iter(list(self._runs))

    def __getitem__(self, run_id: int) -> TrainResult:
        """``registry[3]`` is run 3 (the number shown in tables), not the 4th item."""
        for run in self._runs:
            if run.run_id == run_id:
                return run
        known = ", ".join(str(r.run_id) for r in self._runs) or "none recorded yet"
        raise KeyError(f"no run {run_id!r}; recorded runs: {known}")

    def select(self, ids: Iterable[int] | None = None, last: int | None = None) -> list[TrainResult]:
        """Runs by number (``ids``) or the ``last`` n runs; all runs by default."""
        runs = list(self._runs)
        if ids is not None:
            runs = [self[i] for i in ids]
        if last is not None:
            if last < 1:
                raise ValueError(f"last={last!r} must be a positive number of runs")
            runs = runs[-last:]
        return runs

    def clear(self) -> None:
        with self._lock:
            self._runs.clear()
            self._next_id = 1

    def to_frame(self, runs: Iterable[TrainResult] | None = None):
        """A pandas DataFrame with one row per run (index: run number)."""
        import pandas as pd

        rows = [r.summary() for r in (self._runs if runs is None else runs)]
        frame = pd.DataFrame(rows)
        if len(frame):
            frame = frame.set_index("run")
        return frame


#: The registry of this Python session (what ``%nnruns`` shows).
RUNS = RunRegistry()


def record(result: TrainResult) -> TrainResult:
    """Records ``result`` in the session registry and returns it."""
    return RUNS.record(result)
