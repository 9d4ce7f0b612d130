"""Mouse V1 responses to oriented gratings (Stringer et al. 2019): 360 orientations x 23,589 neurons.

``source="simulated"`` (default) generates a deterministic stand-in; ``source="neuromatch"``
downloads the public Neuromatch Academy file (W3D4_stringer_oribinned1.npz, OSF 683xc).
"""

from __future__ import annotations

import numpy as np

from nnwidgets.datasets.remote import RemoteFile, fetch
from nnwidgets.datasets.sources import check_source

N_ORIENTATIONS = 360
N_NEURONS = 23589

NEUROMATCH_FILE = RemoteFile(
    url="https://osf.io/683xc/download",
    filename="W3D4_stringer_oribinned1.npz",
    md5="436599dfd8ebe6019f066c38aed20580",  # published by Neuromatch Academy (W1D5/W3D4 tutorials)
    citation=(
        "Stringer C, Michaelos M, Pachitariu M (2019). High precision coding in visual cortex. "
        "bioRxiv 679324. Binned data as distributed by Neuromatch Academy."
    ),
)

_SIM_DESCR = """\
SIMULATED mouse V1 orientation responses (stand-in for Stringer et al. 2019)
--------------------------------------------------------------------------------
NOT real data: a deterministic simulation (seed {seed}) with the shape of the
lecture's data, {n_stim} grating orientations (0-359 degrees, one per degree) x
{n_neurons} neurons, z-scored over stimuli for each neuron.

Generative model, for neuron i and orientation theta (degrees):
  preferred angle      phi_i ~ Uniform[0, 360)
  tuning width         kappa_i ~ LogNormal(log 2, 0.5)        (von Mises concentration)
  direction share      d_i ~ Beta(2, 3)   (mean 0.4; 0: pure orientation tuning,
                       1: pure direction tuning; a substantial share of mouse V1
                       cells is direction selective, so theta and theta+180 differ)
  gain                 a_i ~ LogNormal(log {gain}, 0.6)
  tuning  f_i(theta) = a_i [ (1-d_i) exp(kappa_i (cos 2(theta-phi_i) - 1))
                              +  d_i  exp(kappa_i (cos (theta-phi_i) - 1)) ]
  shared fluctuations  g(theta) = L_i . z(theta), z ~ N(0, I_3) per stimulus,
                       loadings L_i ~ N(0, 0.3^2)  (arousal-like, not stimulus locked)
  response  r_i(theta) = f_i(theta) + g(theta) + eps,  eps ~ N(0, 1)
then each neuron's responses are z-scored over the {n_stim} stimuli (so expect
negative numbers, as in the real data). Responses are averaged over trials per
degree, so single neurons are reliable but not clean (median tuning peak about
{gain} noise standard deviations), and the population encodes the grating's
direction well enough that linear regression and neural networks (scikit-learn
or nnwidgets MLPRegressor, lecture split) learn it: test MSE well below the
target's variance. What remains is mostly the 0/359 degree wrap-around, which
no regression on raw degrees can avoid.
Everything computed from this data must be labelled "simulated".
"""


def simulate_v1_orientations(n_neurons: int = N_NEURONS, n_orientations: int = N_ORIENTATIONS,
                             gain: float = 3.0, random_state: int = 2019):
    """Simulate z-scored V1 responses; returns ``(responses, orientations)`` as float32 / float64.

    See :data:`_SIM_DESCR` (and the loader's ``DESCR``) for the generative model.
    """
    if n_neurons < 1 or n_orientations < 2:
        raise ValueError(
            f"n_neurons={n_neurons!r} and n_orientations={n_orientations!r} must be >= 1 and >= 2."
        )
    rng = np.random.default_rng(random_state)
    theta = np.deg2rad(np.arange(n_orientations) * (360.0 / n_orientations))
    phi = rng.uniform(0, 2 * np.pi, n_neurons)
    kappa = np.exp(rng.normal(np.log(2.0), 0.5, n_neurons))
    direction = rng.beta(2, 3, n_neurons)
    amp = np.exp(rng.normal(np.log(gain), 0.6, n_neurons))
    delta = theta[:, None] - phi[None, :]
    tuning = (1 - direction) * np.exp(kappa * (np.cos(2 * delta) - 1))
    tuning += direction * np.exp(kappa * (np.cos(delta) - 1))
    tuning *= amp
    shared = rng.normal(0, 1, (n_orientations, 3)) @ rng.normal(0, 0.3, (3, n_neurons))
    resp = tuning + shared + rng.normal(0, 1, (n_orientations, n_neurons))
    resp -= resp.mean(axis=0)
    resp /= resp.std(axis=0)
    return resp.astype(np.float32), np.rad2deg(theta)


def load_v1_orientations(source: str = "simulated", data_home=None, verify: bool = True,
                         random_state: int = 2019):
    """Mouse V1 responses to gratings of 360 orientations (lecture: 360 x 23589).

    Parameters
    ----------
    source : "simulated" (default, offline, deterministic) or "neuromatch"
        (downloads the public Neuromatch Academy file, ~35 MB, into the cache).
    data_home : cache directory for downloads (see ``nnwidgets.datasets.remote``).
    verify : check the download's published MD5 digest (default True).
    random_state : seed of the simulation.

    Returns
    -------
    Bunch with ``data`` / ``neural_responses`` (360 x 23589 float32),
    ``target`` / ``grating_orientations`` (360 degrees), ``feature_names``,
    ``simulated`` and ``DESCR``.
    """
    from sklearn.utils import Bunch

    source = check_source(source, ("simulated", "neuromatch"), "load_v1_orientations")
    if source == "simulated":
        responses, orientations = simulate_v1_orientations(random_state=random_state)
        descr = _SIM_DESCR.format(seed=random_state, n_stim=N_ORIENTATIONS,
                                  n_neurons=N_NEURONS, gain=3.0)
        simulated = True
    else:
        path = fetch(NEUROMATCH_FILE, data_home, verify=verify)
        with np.load(path) as npz:
            responses = np.asarray(npz["resp"], dtype=np.float32)
            orientations = np.asarray(npz["stimuli"], dtype=np.float64).ravel()
        if responses.shape[0] != orientations.shape[0]:
            responses = responses.T
        descr = (
            "Mouse V1 orientation responses (real data, Neuromatch Academy copy)\n"
            f"{NEUROMATCH_FILE.citation}\nSource: {NEUROMATCH_FILE.url}\n"
            "Time-averaged calcium responses, normalized by spontaneous activity, z-scored over\n"
            "stimuli and averaged per degree of orientation."
        )
        simulated = False
    return Bunch(
        data=responses,
        target=orientations,
        neural_responses=responses,
        grating_orientations=orientations,
        feature_names=[f"neuron_{i}" for i in range(responses.shape[1])],
        target_names=["orientation_deg"],
        simulated=simulated,
        source=source,
        DESCR=descr,
    )
