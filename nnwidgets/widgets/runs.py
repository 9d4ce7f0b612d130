"""Comparing recorded training runs: the bar charts, overlaid loss curves and
predicted-vs-true plots the lectures draw by hand, for every ``%%nntrain`` run.

>>> import nnwidgets.widgets.runs as runs
>>> runs.show()               # all runs of this session
>>> runs.show(last=3)         # the last three
>>> runs.compare([2, 5]).table

The figures are static matplotlib PNGs (nbconvert/nbgrader friendly).
"""

from __future__ import annotations

import base64
import functools
from typing import Iterable

from nnwidgets.trainer.registry import RUNS, RunRegistry
from nnwidgets.widgets.figures import format_number

_table_number = functools.partial(format_number, digits=4)  # the table's cells: 4 digits, bars 3

_TABLE_COLUMNS = [
    "label", "device", "epochs", "stop_reason", "test_accuracy", "test_mse", "test_r2",
    "test_loss", "train_accuracy", "train_mse", "train_loss", "total_s", "per_epoch_s", "samples_per_s",
]


class RunComparison:
    """A table and comparison charts of some runs. Displays itself in Jupyter
    (an HTML table, then a PNG figure) and prints as a text table."""

    def __init__(self, runs, *, log_y: bool = False) -> None:
        self.runs = list(runs)
        self.log_y = log_y
        self._png: bytes | None = None

    @property
    def table(self):
        """pandas DataFrame, one row per run (index: run number)."""
        return _frame(self.runs)

    def png(self) -> bytes:
        if self._png is None:
            from nnwidgets.widgets import figures

            try:
                self._png = figures.figure_png(figures.comparison_figure(self.runs, log_y=self.log_y), dpi=80)
            except Exception as exc:  # the table is shown all the same
                self._png = figures.figure_png(figures.message_figure(
                    f"The comparison charts cannot be drawn ({type(exc).__name__}: {str(exc)[:200]})."), dpi=80)
        return self._png

    def __repr__(self) -> str:
        if not self.runs:
            return "No training runs recorded yet: train with %%nntrain first."
        with _pd_options():
            return f"{len(self.runs)} run(s):\n{self.table.to_string()}"

    def _repr_mimebundle_(self, include=None, exclude=None):
        if not self.runs:
            return {"text/plain": repr(self)}
        with _pd_options():
            table_html = self.table.to_html(float_format=_table_number, na_rep="–", border=0)
        img = base64.b64encode(self.png()).decode("ascii")
        html_out = (
            f'<div class="nnw-runs"><b>{len(self.runs)} training run(s)</b>{table_html}'
            f'<img src="data:image/png;base64,{img}" alt="run comparison charts" style="max-width:100%"/></div>'
        )
        return {"text/plain": repr(self), "text/html": html_out, "image/png": img}

    def _ipython_display_(self):
        from IPython.display import display

        if not self.runs:
            print(repr(self))
            return
        with _pd_options():
            table_html = self.table.to_html(float_format=_table_number, na_rep="–", border=0)
        display({"text/html": table_html, "text/plain": repr(self)}, raw=True)
        display(
            {"image/png": base64.b64encode(self.png()).decode("ascii"), "text/plain": "<run comparison charts>"},
            raw=True,
        )


class _pd_options:
    def __enter__(self):
        import pandas as pd

        self._ctx = pd.option_context("display.width", 160, "display.max_columns", 30, "display.precision", 4)
        self._ctx.__enter__()

    def __exit__(self, *exc):
        return self._ctx.__exit__(*exc)


def _frame(runs):
    import pandas as pd

    rows = [r.summary() for r in runs]
    frame = pd.DataFrame(rows)
    if not len(frame):
        return frame
    frame = frame.set_index("run")
    frame = frame.dropna(axis=1, how="all")  # (a metric no run has: a column of dashes)
    if "samples_per_s" in frame.columns:  # whole samples per second, not 3.9161e+05
        frame["samples_per_s"] = pd.to_numeric(frame["samples_per_s"], errors="coerce").round(0)
    cols = [c for c in _TABLE_COLUMNS if c in frame.columns]
    return frame[cols + [c for c in frame.columns if c not in cols]]


def compare(runs: Iterable[int] | None = None, *, last: int | None = None, log_y: bool = False,
            registry: RunRegistry | None = None) -> RunComparison:
    """The comparison of recorded runs (by number, the ``last`` n, or all);
    a run number given twice is compared once."""
    registry = RUNS if registry is None else registry
    if runs is not None:
        runs = list(dict.fromkeys(runs))
    return RunComparison(registry.select(runs, last=last), log_y=log_y)


def show(runs: Iterable[int] | None = None, *, last: int | None = None, log_y: bool = False,
         registry: RunRegistry | None = None) -> None:
    """Displays the table and charts comparing recorded runs."""
    comparison = compare(runs, last=last, log_y=log_y, registry=registry)
    try:
        from IPython import get_ipython

        ip = get_ipython()
    except ImportError:  # pragma: no cover
        ip = None
    if ip is None:
        print(repr(comparison))
    else:
        comparison._ipython_display_()


def clear(registry: RunRegistry | None = None) -> None:
    """Forgets all recorded runs."""
    (RUNS if registry is None else registry).clear()
