"""Datasets of the nnwidgets course, as scikit-learn style ``Bunch`` objects.

Every loader returns a :class:`sklearn.utils.Bunch` with ``data``, ``target``,
``feature_names``, ``DESCR`` and ``simulated`` (``frame`` too for tabular data).

Real data that may be redistributed comes from scikit-learn (diabetes, digits)
or from a local file / OpenML (mice protein). The three neuroscience recordings
of the lectures (V1 orientations, mouse choice, fMRI categories) are not
redistributable here: their loaders default to a deterministic *simulated*
stand-in with the lecture's shapes, and download the public Neuromatch Academy
files with ``source="neuromatch"`` when online.

>>> from nnwidgets.datasets import load_diabetes
>>> bunch = load_diabetes()
>>> bunch.frame.shape
(442, 11)
"""

from __future__ import annotations

from nnwidgets.datasets.fmri_categories import load_fmri_categories, simulate_fmri_categories
from nnwidgets.datasets.mice_protein import load_mice_protein
from nnwidgets.datasets.mouse_choice import load_mouse_choice, simulate_mouse_choice
from nnwidgets.datasets.sklearn_tabular import load_diabetes, load_digits
from nnwidgets.datasets.v1_orientations import load_v1_orientations, simulate_v1_orientations

__all__ = [
    "load_diabetes",
    "load_digits",
    "load_mice_protein",
    "load_v1_orientations",
    "load_mouse_choice",
    "load_fmri_categories",
    "simulate_v1_orientations",
    "simulate_mouse_choice",
    "simulate_fmri_categories",
]
