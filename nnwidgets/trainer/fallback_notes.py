"""Say each "runs one model at a time" fallback once per call, however the searches nest.

Nested cross-validation (``cross_val_score(GridSearchCV(...), X, y)``) fits a
fresh clone of the inner search in every outer fold, and scikit-learn re-applies
the warning filters around each of those fits (its ``Parallel`` calls
``warnings.resetwarnings``), which empties the registries behind Python's
"default" and "once" actions: the inner search's :class:`BatchFallbackWarning`
would be shown once per outer fold. So an nnwidgets search or
``cross_validate`` opens a record of the messages said; the fits nested in it
say each distinct message once. Under scikit-learn's own ``cross_val_score``
there is no nnwidgets call around the folds; there the clones of one search
share that search's record (see ``_BatchedSearchMixin.__sklearn_clone__``).
Different messages are always said.
"""

from __future__ import annotations

import contextlib
import contextvars
import warnings

_said: contextvars.ContextVar[set | None] = contextvars.ContextVar("nnwidgets_fallbacks_said", default=None)


@contextlib.contextmanager
def fallback_record(shared: set | None = None):
    """Within this block each fallback message is warned once. Nested blocks
    use the outermost block's record; ``shared`` is the record to use when this
    block is the outermost (a fresh one if None)."""
    if _said.get() is not None:
        yield
        return
    token = _said.set(set() if shared is None else shared)
    try:
        yield
    finally:
        _said.reset(token)


def warn_fallback(message: str, category: type[Warning], stacklevel: int = 1) -> None:
    """``warnings.warn(message, category)`` unless the current record has said it."""
    said = _said.get()
    if said is not None:
        if message in said:
            return
        said.add(message)
    warnings.warn(message, category, stacklevel=stacklevel + 1)
