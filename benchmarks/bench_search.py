"""Batched grid search vs scikit-learn's one-by-one search, side by side.

Workloads (from the lectures):

1. ``choice``: the alpha search on the 5-layer choice classifier
   ``MLPClassifier([100, 100, 30, 30, 10], random_state=1, max_iter=10000)``,
   ``GridSearchCV(..., {'alpha': np.logspace(-5, -1, 30)}, cv=5,
   scoring='accuracy')`` on the 193 training trials of the 276 x 691 mouse
   choice data (``train_test_split(test_size=0.3, random_state=3)``). The
   data are nnwidgets' deterministic SIMULATED stand-in
   (``nnwidgets.datasets.load_mouse_choice()``), not the recordings.
2. ``mice``: the SVC-free part of the mice-protein search: an alpha grid for
   the lecture's ``MLPClassifier([100], random_state=1, max_iter=10000)``,
   cv=5, accuracy, on the real ``Data_Cortex_Nuclear.csv`` prepared exactly as
   in the lecture (751 x 69 training rows, 8 classes).

Each workload runs nnwidgets (once per ``--dtype``: float32, the default,
and bfloat16 mixed precision), then scikit-learn, then nnwidgets again
(interleaved, same process, same thread count; nnwidgets' time is the mean
of its two runs, both shown). Wall-clock and CPU seconds (``process_time``)
are both reported: on a shared machine the CPU-time ratio is the steadier
one. Printed per workload and dtype: seconds, speed-up, selected alpha and
CV score of each (when the alphas differ, scikit-learn's own CV score at
nnwidgets' alpha against its best, with the standard error), and the FLOP
rate nnwidgets achieved against this machine's measured matmul peak for that
dtype (a large ``torch.mm`` at the same thread count).

FLOPs are counted from the epochs each model actually trained (the search's
callbacks report them): per sample and epoch, 2 x weights for the forward
pass, 2 x weights for the weight gradients, 2 x (weights - first layer) for
propagating deltas (the input needs none). Element-wise work, validation and
scoring are not counted, so the rate is a lower bound on work done.

    python benchmarks/bench_search.py            # full: 30 alphas (choice), 10 alphas (mice)
    python benchmarks/bench_search.py --quick    # smoke run: 4 and 3 alphas
    python benchmarks/bench_search.py --threads 1 --workload choice --dtype float32
    python benchmarks/bench_search.py --device cuda   # nnwidgets on the GPU, scikit-learn on the CPU
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
# NNWIDGETS_MICE_CSV: where the CSV is when ../shared is not beside the checkout (the GPU machine)
MICE_CSV = pathlib.Path(os.environ.get("NNWIDGETS_MICE_CSV")
                        or REPO.parent / "shared" / "datasets" / "Data_Cortex_Nuclear.csv")


def _set_threads(n: int) -> None:
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NNWIDGETS_NUM_THREADS"):
        os.environ[var] = str(n)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer alphas (smoke run)")
    ap.add_argument("--threads", type=int, default=2, help="torch and BLAS threads for both sides")
    ap.add_argument("--workload", choices=("choice", "mice", "all"), default="all")
    ap.add_argument("--dtype", default="float32,bfloat16",
                    help="nnwidgets dtype(s), comma-separated: float32 (the default, as shipped), bfloat16 "
                         "(mixed precision), float64")
    ap.add_argument("--device", default="cpu",
                    help="nnwidgets' device (cpu, cuda); scikit-learn always runs on the CPU")
    args = ap.parse_args(argv)
    _set_threads(args.threads)  # before numpy/torch start their pools

    import warnings

    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")  # ConvergenceWarning noise on both sides

    if args.device != "cpu" and not (args.device.startswith("cuda") and torch.cuda.is_available()):
        print(f"--device {args.device}: no such device here (torch.cuda.is_available() is "
              f"{torch.cuda.is_available()}); use --device cpu")
        return 2
    if args.device.startswith("cuda"):
        torch.backends.cuda.matmul.allow_tf32 = False  # float32 means float32, as on the CPU
    peak = measure_peak(torch, args.threads, device=args.device)
    peak_bf16 = measure_peak(torch, args.threads, torch.bfloat16, device=args.device)
    peaks = {"float32": peak, "bfloat16": peak_bf16,
             "float64": measure_peak(torch, args.threads, torch.float64, device=args.device)}
    gpu = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else "no GPU used"
    print(f"machine: {os.cpu_count()} CPUs visible, {gpu}; nnwidgets on {args.device}; threads: {args.threads} "
          f"(torch.set_num_threads + OMP/MKL/OpenBLAS, both sides); torch {torch.__version__}")
    size = 8192 if args.device.startswith("cuda") else 4096
    print(f"measured matmul peaks on {args.device} ({size}x{size} torch.mm, best of 5): float32 {peak:.1f} "
          f"GFLOP/s, bfloat16 {peak_bf16:.1f} GFLOP/s, float64 {peaks['float64']:.1f} GFLOP/s")

    rows = []
    if args.workload in ("choice", "all"):
        rows += run_workload("choice", *choice_setup(np, args.quick), args, np, peaks)
    if args.workload in ("mice", "all"):
        setup = mice_setup(np, args.quick)
        if setup is None:
            print(f"mice: skipped, {MICE_CSV} not found")
        else:
            rows += run_workload("mice", *setup, args, np, peaks)

    print()
    print(f"{'workload':18s} {'fits':>5s} {'sklearn s':>10s} {'nnwidgets s':>12s} {'speed-up':>9s} "
          f"{'CPU-s ratio':>11s} {'GFLOP/s':>8s} {'% peak':>7s}  selected alpha (sklearn / nnwidgets)")
    for r in rows:
        print(f"{r['name']:18s} {r['fits']:5d} {r['t_sk']:10.1f} {r['t_nn']:12.1f} {r['ratio']:8.1f}x "
              f"{r['c_sk'] / r['c_nn']:10.1f}x "
              f"{r['gflops']:8.2f} {100 * r['gflops'] / r['peak']:6.1f}%  "
              f"{r['alpha_sk']:.3g} / {r['alpha_nn']:.3g} ({r['same']})")
    return 0


def measure_peak(torch, threads: int, dtype=None, device="cpu") -> float:
    cuda = str(device).startswith("cuda")
    n = 8192 if cuda else 4096
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    a = torch.randn(n, n, dtype=dtype, device=device)
    b = torch.randn(n, n, dtype=dtype, device=device)
    a @ b
    sync()
    best = 0.0
    for _ in range(5):
        t0 = time.perf_counter()
        a @ b
        sync()
        dt = time.perf_counter() - t0
        best = max(best, 2 * n**3 / dt / 1e9)
    return best


def choice_setup(np, quick):
    from sklearn.model_selection import train_test_split

    from nnwidgets.datasets import load_mouse_choice

    bunch = load_mouse_choice()  # deterministic simulated stand-in (276 x 691)
    X_train, X_test, y_train, y_test = train_test_split(
        bunch.data, bunch.target, shuffle=True, test_size=0.3, random_state=3)
    alphas = np.logspace(-5, -1, 4 if quick else 30)
    desc = (f"5-layer choice classifier [100,100,30,30,10], {len(alphas)} alphas x 5 folds, "
            f"SIMULATED mouse-choice data {bunch.data.shape}, train {X_train.shape}")
    return desc, [100, 100, 30, 30, 10], {"alpha": alphas}, X_train, y_train, X_test, y_test


def mice_setup(np, quick):
    if not MICE_CSV.exists():
        return None
    import pandas as pd
    from sklearn.model_selection import train_test_split

    mice = pd.read_csv(MICE_CSV)  # as in the lecture
    miss_too_many = mice.isnull().sum() > 10
    mice3 = mice.loc[:, ~miss_too_many].dropna()
    X = mice3.loc[:, "DYRK1A_N":"CaNA_N"]
    y = mice3["class"]
    X_train, X_test, y_train, y_test = train_test_split(X, y, shuffle=True, test_size=0.3, random_state=3)
    alphas = np.logspace(-5, -1, 3 if quick else 10)
    desc = (f"mice protein [100] classifier, {len(alphas)} alphas x 5 folds, real data "
            f"(Data_Cortex_Nuclear.csv), train {X_train.shape}, 8 classes")
    return desc, [100], {"alpha": alphas}, X_train, y_train, X_test, y_test


class EpochCounter:
    """Counts the epochs each (candidate, fold) model trained."""

    def __init__(self):
        self.epochs = {}

    def on_fit_begin(self, **kw):
        pass

    def on_epoch_end(self, run=0, record=None, **kw):
        self.epochs[run] = self.epochs.get(run, 0) + 1

    def on_fit_end(self, **kw):
        pass


def run_workload(name, desc, hidden, grid, X_train, y_train, X_test, y_test, args, np, peaks):
    from sklearn.model_selection import GridSearchCV as SkGridSearchCV
    from sklearn.model_selection import StratifiedKFold
    from sklearn.neural_network import MLPClassifier as SkMLPClassifier

    from nnwidgets.trainer.estimators import MLPClassifier
    from nnwidgets.trainer.search import GridSearchCV

    dtypes = [d.strip() for d in args.dtype.split(",") if d.strip()]
    print(f"\n== {name}: {desc}")
    sk_est = SkMLPClassifier(hidden_layer_sizes=hidden, random_state=1, max_iter=10000)
    # warm-up (library initialisation, first-call allocations): not timed
    Xs, ys = np.asarray(X_train)[:40], np.asarray(y_train)[:40]
    SkMLPClassifier(hidden_layer_sizes=hidden, max_iter=3).fit(Xs, ys)
    for dt in dtypes:
        MLPClassifier(hidden_layer_sizes=hidden, max_iter=3, dtype=dt, device=args.device).fit(Xs, ys)

    def nn_run(dt, label):
        counter = EpochCounter()
        nn_est = MLPClassifier(hidden_layer_sizes=hidden, random_state=1, max_iter=10000, dtype=dt,
                               device=args.device)
        t0, c0 = time.perf_counter(), time.process_time()
        s = GridSearchCV(nn_est, grid, cv=5, scoring="accuracy", callbacks=[counter]).fit(X_train, y_train)
        dt_, dc = time.perf_counter() - t0, time.process_time() - c0
        print(f"  nnwidgets GridSearchCV dtype={dt} ({label}): {dt_:7.1f} s wall, {dc:7.1f} s CPU  "
              f"best {s.best_params_} cv {s.best_score_:.4f}  refit {s.refit_time_:.2f} s  [{s.batch_note_}]",
              flush=True)
        return s, dt_, dc, counter

    first = {dt: nn_run(dt, "run 1") for dt in dtypes}
    t0, c0 = time.perf_counter(), time.process_time()
    sk = SkGridSearchCV(sk_est, grid, cv=5, scoring="accuracy", n_jobs=1).fit(X_train, y_train)
    t_sk, c_sk = time.perf_counter() - t0, time.process_time() - c0
    print(f"  sklearn   GridSearchCV (n_jobs=1): {t_sk:7.1f} s wall, {c_sk:7.1f} s CPU  best {sk.best_params_} "
          f"cv {sk.best_score_:.4f}", flush=True)
    second = {dt: nn_run(dt, "run 2") for dt in dtypes}

    # FLOPs from the epochs actually trained (fold sizes from the same splitter)
    folds = [len(tr) for tr, _ in StratifiedKFold(5).split(np.asarray(X_train), np.asarray(y_train))]
    n_classes = len(np.unique(np.asarray(y_train)))
    units = [np.asarray(X_train).shape[1]] + list(hidden) + [1 if n_classes == 2 else n_classes]
    weights = sum(units[i] * units[i + 1] for i in range(len(units) - 1))
    first_layer = units[0] * units[1]
    per_sample_epoch = 2 * weights + 2 * weights + 2 * (weights - first_layer)
    test_sk = sk.score(X_test, y_test)
    a_sk = float(sk.best_params_["alpha"])
    sd = sk.cv_results_["std_test_score"][sk.best_index_] / np.sqrt(5)
    rows = []
    for dt in dtypes:
        nn1, t_nn1, c_nn1, counter = first[dt]
        _, t_nn2, c_nn2, _ = second[dt]
        t_nn, c_nn = (t_nn1 + t_nn2) / 2, (c_nn1 + c_nn2) / 2
        n_models = len(counter.epochs)
        flops = sum(counter.epochs[k] * folds[k % 5] * per_sample_epoch for k in counter.epochs)
        fit_share = float(np.sum(nn1.cv_results_["mean_fit_time"]) * 5)  # time in batched training
        gflops = flops / t_nn / 1e9
        gflops_fit = flops / fit_share / 1e9 if fit_share > 0 else float("nan")
        peak = peaks.get(dt, peaks["float32"])
        epochs = np.array(list(counter.epochs.values()))
        print(f"  dtype={dt}: {n_models} models, epochs min/median/max {epochs.min()}/{int(np.median(epochs))}/"
              f"{epochs.max()}, {flops / 1e9:.1f} GFLOP; {gflops:.2f} GFLOP/s over the whole search, "
              f"{gflops_fit:.2f} GFLOP/s in the batched fits ({100 * gflops_fit / peak:.1f}% of the {peak:.0f} "
              f"GFLOP/s {dt} peak); sklearn (same epochs, estimated): {flops / t_sk / 1e9:.2f} GFLOP/s")
        a_nn = float(nn1.best_params_["alpha"])
        if np.isclose(a_sk, a_nn):
            same = "same"
        else:
            sk_at_nn = sk.cv_results_["mean_test_score"][int(nn1.best_index_)]
            within = (sk.best_score_ - sk_at_nn) <= 2 * sd
            same = (f"differs, {'within' if within else 'OUTSIDE'} noise: sklearn's CV score at nnwidgets' alpha "
                    f"{sk_at_nn:.4f} vs its best {sk.best_score_:.4f} (standard error {sd:.4f})")
        test_nn = nn1.score(X_test, y_test)
        print(f"  dtype={dt}: selected alpha: sklearn {a_sk:.4g}, nnwidgets {a_nn:.4g} ({same}); CV score "
              f"sklearn {sk.best_score_:.4f}, nnwidgets {nn1.best_score_:.4f}; test accuracy of the refitted "
              f"best: sklearn {test_sk:.4f}, nnwidgets {test_nn:.4f}")
        print(f"  dtype={dt}: => speed-up {t_sk / t_nn:.1f}x wall, {c_sk / c_nn:.1f}x CPU time "
              f"(nnwidgets runs: {t_nn1:.1f} s, {t_nn2:.1f} s wall)")
        rows.append(dict(name=f"{name} {dt}", fits=n_models, t_sk=t_sk, t_nn=t_nn, ratio=t_sk / t_nn,
                         gflops=gflops_fit, peak=peak, c_sk=c_sk, c_nn=c_nn, alpha_sk=a_sk, alpha_nn=a_nn,
                         same="same" if same == "same" else ("within noise" if "within" in same else "differs")))
    return rows


if __name__ == "__main__":
    sys.exit(main())
