"""Mouse left/right choices and cortical spike rates (Steinmetz et al. 2019): 276 trials x 691 neurons.

``source="simulated"`` (default) generates a deterministic stand-in; ``source="neuromatch"``
downloads the public Neuromatch Academy file (W1D4_steinmetz_data.npz, OSF r9gh8).
"""

from __future__ import annotations

import numpy as np

from nnwidgets.datasets.remote import RemoteFile, fetch
from nnwidgets.datasets.sources import check_source

N_TRIALS = 276
N_NEURONS = 691

NEUROMATCH_FILE = RemoteFile(
    url="https://osf.io/r9gh8/download",
    filename="W1D4_steinmetz_data.npz",
    md5="d19716354fed0981267456b80db07ea8",  # published by Neuromatch Academy (W1D4 tutorial 2)
    citation=(
        "Steinmetz NA, Zatka-Haas P, Carandini M, Harris KD (2019). Distributed coding of choice, "
        "action and engagement across the mouse brain. Nature 576:266-273. One session as "
        "distributed by Neuromatch Academy."
    ),
)

_SIM_DESCR = """\
SIMULATED mouse choice data (stand-in for Steinmetz et al. 2019)
----------------------------------------------------------------------
NOT real data: a deterministic simulation (seed {seed}) with the lecture's
shapes: normalized spike rates of {n_neurons} cortical neurons on {n_trials}
trials, and the mouse's choice on each trial (0 = left, 1 = right).

Generative model, for trial t and neuron i:
  choice               c_t ~ Bernoulli(0.5)
  decision variable    d_t = {separation} (2 c_t - 1) + e_t,  e_t ~ N(0, 1)
                       (so an ideal observer of d_t is right on about 90% of trials)
  nuisance latents     z_t in R^4: engagement drift (a slow random walk over
                       trials), movement vigour and two N(0, 1) factors
  log firing rate      log lambda_ti = b_i + w_i d_t + V_i . z_t
                       b_i ~ N(log 5, 0.8^2), w_i ~ N(0, {choice_weight}^2) for the
                       {frac:.0%} choice-selective neurons and 0 otherwise,
                       V_i ~ N(0, 0.15^2)
  spike count          n_ti ~ Poisson(lambda_ti)  (1-second window)
  normalized rate      spikes_ti = n_ti / mean_t(n_ti)
The choice is therefore carried by a one-dimensional latent signal spread over
many noisy neurons, as in the recordings: logistic regression decodes it from
held-out trials with about 90% accuracy (the lecture reports 0.90). Everything
computed from this data must be labelled "simulated".
"""


def simulate_mouse_choice(n_trials: int = N_TRIALS, n_neurons: int = N_NEURONS,
                          separation: float = 1.3, choice_weight: float = 0.2,
                          frac_selective: float = 0.4, random_state: int = 2019):
    """Simulate ``(spikes, choices)``: normalized spike rates and 0/1 choices."""
    if n_trials < 2 or n_neurons < 1:
        raise ValueError(f"n_trials={n_trials!r} must be >= 2 and n_neurons={n_neurons!r} >= 1.")
    rng = np.random.default_rng(random_state)
    choices = (rng.random(n_trials) < 0.5).astype(float)
    decision = separation * (2 * choices - 1) + rng.normal(0, 1, n_trials)
    drift = np.cumsum(rng.normal(0, 0.15, n_trials))
    latents = np.column_stack([drift - drift.mean(), rng.normal(0, 1, (n_trials, 3))])
    base = rng.normal(np.log(5.0), 0.8, n_neurons)
    selective = rng.random(n_neurons) < frac_selective
    weights = np.where(selective, rng.normal(0, choice_weight, n_neurons), 0.0)
    loadings = rng.normal(0, 0.15, (latents.shape[1], n_neurons))
    log_rate = base + np.outer(decision, weights) + latents @ loadings
    counts = rng.poisson(np.exp(log_rate))
    mean = counts.mean(axis=0)
    spikes = counts / np.where(mean > 0, mean, 1.0)
    return spikes, choices


def load_mouse_choice(source: str = "simulated", data_home=None, verify: bool = True,
                      random_state: int = 2019):
    """Cortical spike rates and left/right choices (lecture: 276 trials x 691 neurons).

    Parameters
    ----------
    source : "simulated" (default, offline, deterministic) or "neuromatch"
        (downloads the public Neuromatch Academy file into the cache).
    data_home, verify : see ``nnwidgets.datasets.remote``.
    random_state : seed of the simulation.

    Returns
    -------
    Bunch with ``data`` / ``spikes`` (276 x 691), ``target`` / ``choices`` (0 = left,
    1 = right, float as in the lecture), ``feature_names``, ``target_names``,
    ``simulated`` and ``DESCR``.
    """
    from sklearn.utils import Bunch

    source = check_source(source, ("simulated", "neuromatch"), "load_mouse_choice")
    if source == "simulated":
        spikes, choices = simulate_mouse_choice(random_state=random_state)
        descr = _SIM_DESCR.format(seed=random_state, n_trials=N_TRIALS, n_neurons=N_NEURONS,
                                  separation=1.3, choice_weight=0.2, frac=0.4)
        simulated = True
    else:
        path = fetch(NEUROMATCH_FILE, data_home, verify=verify)
        with np.load(path) as npz:
            spikes = np.asarray(npz["spikes"], dtype=np.float64)
            choices = np.asarray(npz["choices"], dtype=np.float64).ravel()
        descr = (
            "Mouse choice and cortical spike rates (real data, Neuromatch Academy copy)\n"
            f"{NEUROMATCH_FILE.citation}\nSource: {NEUROMATCH_FILE.url}"
        )
        simulated = False
    return Bunch(
        data=spikes,
        target=choices,
        spikes=spikes,
        choices=choices,
        feature_names=[f"neuron_{i}" for i in range(spikes.shape[1])],
        target_names=["left", "right"],
        simulated=simulated,
        source=source,
        DESCR=descr,
    )
