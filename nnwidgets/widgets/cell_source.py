"""Code a magic runs, registered where tracebacks find it.

``%%nntrain`` runs its cell body and ``%%gputime`` its timed code with
``exec``; registered in IPython's own cell cache under the running cell's
number, a traceback says ``Cell In[5], line 3`` and quotes the failing line.
"""

from __future__ import annotations

import itertools
import linecache

_cell_ids = itertools.count(1)


def _cell_number(shell) -> int:
    """The number of the cell being run (``In[5]``): IPython 9 counts the
    next one in ``shell.execution_count`` while a stored cell runs."""
    running = getattr(getattr(shell, "displayhook", None), "exec_result", None)
    number = getattr(running, "execution_count", None)
    return number if isinstance(number, int) else getattr(shell, "execution_count", 0)


def cache_cell_source(source: str, shell=None, name: str = "cell") -> str:
    """A filename under which ``source`` is in :mod:`linecache` (IPython's
    own cell cache when there is a shell, under the running cell's number;
    else ``<{name} cell N>``)."""
    compiler = getattr(shell, "compile", None)
    if compiler is not None and hasattr(compiler, "cache"):
        try:
            return compiler.cache(source, _cell_number(shell))
        except Exception:  # an unusual shell: fall back to a plain cache entry
            pass
    filename = f"<{name} cell {next(_cell_ids)}>"
    linecache.cache[filename] = (len(source), None, [ln + "\n" for ln in source.splitlines()], filename)
    return filename
