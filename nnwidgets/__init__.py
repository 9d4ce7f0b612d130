"""nnwidgets: a teaching toolkit for neural-network courses in Jupyter.

``import nnwidgets`` is light: torch, scikit-learn and the widget stack are
imported only when one of the names below is first used.

- ``MLPRegressor``, ``MLPClassifier``: drop-in replacements for scikit-learn's,
  trained with PyTorch on CPU or CUDA.
- ``GridSearchCV``, ``RandomizedSearchCV``, ``cross_validate``: scikit-learn's
  searches, with nnwidgets MLPs trained as one batched network.
- ``train_module``: train any ``torch.nn.Module`` with callbacks and history.
- ``Asker``: a class-quiz question widget.
- ``%load_ext nnwidgets``: the ``%%nntrain``, ``%nnruns``, ``%%gputime`` and
  ``%%asker`` magics.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it (imported on first access)
_LAZY = {
    "MLPRegressor": "nnwidgets.trainer.estimators",
    "MLPClassifier": "nnwidgets.trainer.estimators",
    "Callback": "nnwidgets.trainer.events",
    "History": "nnwidgets.trainer.events",
    "train_module": "nnwidgets.trainer.module_training",
    "train_estimator": "nnwidgets.trainer.estimator_training",
    "TrainResult": "nnwidgets.trainer.results",
    "GridSearchCV": "nnwidgets.trainer.search",
    "RandomizedSearchCV": "nnwidgets.trainer.search",
    "cross_validate": "nnwidgets.trainer.search",
    "cross_val_score": "nnwidgets.trainer.search",
    "BatchFallbackWarning": "nnwidgets.trainer.search",
    "sweep": "nnwidgets.trainer.sweeps",
    "SweepResult": "nnwidgets.trainer.sweeps",
    "Asker": "nnwidgets.widgets.asker",
    "LiveLossPlot": "nnwidgets.widgets.lossplot",
    "time_code": "nnwidgets.timing.run",
    "time_function": "nnwidgets.timing.run",
    "GPUTimePanel": "nnwidgets.widgets.gputime",
    "gputime": "nnwidgets.widgets.gputime",
}

__all__ = sorted(_LAZY) + ["load_ipython_extension", "unload_ipython_extension", "__version__"]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'nnwidgets' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


def load_ipython_extension(ipython) -> None:
    """Called by ``%load_ext nnwidgets``: registers the nnwidgets magics."""
    from nnwidgets.magics import load_ipython_extension as _load

    _load(ipython)


def unload_ipython_extension(ipython) -> None:
    from nnwidgets.magics import unload_ipython_extension as _unload

    _unload(ipython)


def _jupyter_server_extension_points():
    """Jupyter server extension entry point: the quiz REST API and dashboard."""
    return [{"module": "nnwidgets.quiz.serverext"}]
