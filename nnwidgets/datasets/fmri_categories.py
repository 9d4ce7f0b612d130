"""fMRI voxel patterns for 26 image categories (the PyTorch decoding lecture): 520 maps x voxels.

The lecture used per-run z-maps of left V1v from OpenNeuro ds001506 (Horikawa &
Kamitani, "Generic decoding of seen and imagined objects"), preprocessed by the
lecture's author; that preprocessing is not published. ``source="simulated"``
(default) generates a deterministic stand-in with the lecture's layout;
``source="local"`` reads your own ``.npz`` with arrays ``X`` (maps x voxels),
``y`` (categories 0-25) and optionally ``sessions``.
"""

from __future__ import annotations

import pathlib

import numpy as np

from nnwidgets.datasets.remote import data_dir
from nnwidgets.datasets.sources import check_source

FILENAME = "fmri_categories.npz"  # in $NNWIDGETS_DATA_DIR

N_CATEGORIES = 26
N_SESSIONS = 4
N_RUNS = 5
N_MAPS = N_CATEGORIES * N_SESSIONS * N_RUNS  # 520
#: 992 voxels: the lecture's 509 hidden units = (inputs + 26 outputs) / 2
N_VOXELS = 992
#: category signal of the simulation (a logistic regression decodes about 60% of held-out maps)
SIGNAL = 0.3

_SIM_DESCR = """\
SIMULATED fMRI category patterns (stand-in for the decoding lecture's z-maps)
--------------------------------------------------------------------------------
NOT real data: a deterministic simulation (seed {seed}). Layout as in the
lecture: {n_sessions} sessions x {n_categories} categories x {n_runs} runs = {n_maps} z-maps
of {n_voxels} voxels, ordered session by session, each category's {n_runs} runs in a
row; target = category 0-25, ``sessions`` = session label "1".."4".

Generative model (voxels laid out on a 1-D strip, smoothed with a Gaussian
kernel of width 3 voxels so that neighbouring voxels are correlated):
  category pattern     P_c = smooth(N(0, I))       c = 0..25
  session offset       S_s = smooth(N(0, 0.5^2 I))  s = 1..4
  map (session s, category c, run r)
                       x = {signal} P_c + S_s + smooth(N(0, I)) + N(0, 0.5^2 I)
then every map is z-scored over voxels (like a z-map). The category signal is
weaker than the noise in every single voxel but consistent over runs, so a
regularized linear or neural-network decoder learns it (chance is 1/26 = 3.8%).
Everything computed from this data must be labelled "simulated".
"""


def _smooth(noise, width=3.0):
    half = int(3 * width)
    kernel = np.exp(-0.5 * (np.arange(-half, half + 1) / width) ** 2)
    kernel /= np.sqrt((kernel ** 2).sum())
    return np.apply_along_axis(lambda row: np.convolve(row, kernel, mode="same"), -1, noise)


def simulate_fmri_categories(n_voxels: int = N_VOXELS, signal: float = SIGNAL,
                             random_state: int = 1506):
    """Simulate ``(X, y, sessions)``: 520 z-maps x voxels, categories 0-25, session labels."""
    if n_voxels < 2:
        raise ValueError(f"n_voxels={n_voxels!r} must be >= 2.")
    rng = np.random.default_rng(random_state)
    patterns = _smooth(rng.normal(0, 1, (N_CATEGORIES, n_voxels)))
    offsets = _smooth(rng.normal(0, 0.5, (N_SESSIONS, n_voxels)))
    sessions = np.repeat(np.arange(N_SESSIONS), N_CATEGORIES * N_RUNS)
    y = np.tile(np.repeat(np.arange(N_CATEGORIES), N_RUNS), N_SESSIONS)
    X = signal * patterns[y] + offsets[sessions]
    X += _smooth(rng.normal(0, 1, (N_MAPS, n_voxels))) + rng.normal(0, 0.5, (N_MAPS, n_voxels))
    X -= X.mean(axis=1, keepdims=True)
    X /= X.std(axis=1, keepdims=True)
    return X, y, (sessions + 1).astype(str)


def load_fmri_categories(source: str = "simulated", path=None, random_state: int = 1506):
    """z-maps of 520 fMRI runs for 26 image categories (lecture: 520 x V1v voxels).

    Parameters
    ----------
    source : "simulated" (default) or "local" (read ``path``, or
        ``$NNWIDGETS_DATA_DIR/fmri_categories.npz``; arrays ``X``, ``y``, optional ``sessions``).
    random_state : seed of the simulation.

    Returns
    -------
    Bunch with ``data`` (520 x 992 float64 when simulated), ``target`` (0-25),
    ``sessions``, ``feature_names``, ``target_names``, ``simulated`` and ``DESCR``.
    """
    from sklearn.utils import Bunch

    source = check_source(source, ("simulated", "local"), "load_fmri_categories")
    if source == "simulated":
        X, y, sessions = simulate_fmri_categories(random_state=random_state)
        descr = _SIM_DESCR.format(seed=random_state, n_sessions=N_SESSIONS,
                                  n_categories=N_CATEGORIES, n_runs=N_RUNS, n_maps=N_MAPS,
                                  n_voxels=N_VOXELS, signal=SIGNAL)
        simulated = True
    else:
        if path is None:
            local = data_dir()
            if local is None:
                raise ValueError(
                    f"load_fmri_categories(source='local') needs path=... or the NNWIDGETS_DATA_DIR "
                    f"environment variable pointing at a folder with {FILENAME}."
                )
            path = local / FILENAME
            if not path.exists():
                raise FileNotFoundError(
                    f"NNWIDGETS_DATA_DIR ({local}) has no {FILENAME}: put your maps there under that "
                    "name (arrays X, y, optional sessions), or pass path=<your .npz>."
                )
        path = pathlib.Path(path)
        if not path.exists():
            raise FileNotFoundError(f"fMRI file {path} does not exist; pass path=<your .npz>.")
        with np.load(path, allow_pickle=False) as npz:
            X = np.asarray(npz["X"], dtype=np.float64)
            y = np.asarray(npz["y"]).astype(int).ravel()
            sessions = np.asarray(npz["sessions"]).astype(str) if "sessions" in npz else None
        descr = f"fMRI category z-maps read from {path} (user-provided, not simulated)."
        simulated = False
    return Bunch(
        data=X,
        target=y,
        sessions=sessions,
        feature_names=[f"voxel_{i}" for i in range(X.shape[1])],
        target_names=[f"category_{c}" for c in range(N_CATEGORIES)],
        simulated=simulated,
        source=source,
        DESCR=descr,
    )
