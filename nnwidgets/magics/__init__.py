"""IPython magics: a thin layer that parses arguments and calls one public
function of the trainer, the widgets or the quiz package.

``%load_ext nnwidgets`` registers every magics class listed here.
"""

from __future__ import annotations

import importlib

# module -> Magics class registered by %load_ext nnwidgets
MAGICS = {
    "nnwidgets.magics.training": "TrainingMagics",  # %%nntrain, %nnruns
    "nnwidgets.magics.timing": "TimingMagics",  # %%gputime
    "nnwidgets.magics.quiz": "QuizMagics",  # %%asker
}


def load_ipython_extension(ipython) -> None:
    for module, cls in MAGICS.items():
        ipython.register_magics(getattr(importlib.import_module(module), cls))


def unload_ipython_extension(ipython) -> None:
    # IPython has no public unregister; reloading re-registers the same names.
    pass
