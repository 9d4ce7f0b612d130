"""scikit-learn's MLPs vs nnwidgets' on the lectures' workloads, side by side.

    python benchmarks/bench_mlp.py                 # all workloads, 1 thread, 3 repeats
    python benchmarks/bench_mlp.py --quick         # fewer epochs and repeats
    python benchmarks/bench_mlp.py --threads 2 --device cuda --only diabetes

Both libraries train the same network on the same data for the same number of
epochs (``tol=0`` and a huge ``n_iter_no_change`` so that neither stops early),
with the same thread count (torch intra-op threads, and numpy's BLAS threads
through threadpoolctl; nnwidgets uses 1 thread for networks under 1 GFLOP per
step, which is also what BLAS does for such small products). Runs are
interleaved (sklearn, nnwidgets, nnwidgets, sklearn, ...) and the median of the
repeats is reported, with the test metric of each library.

nnwidgets trains in float32 (its default, the drop-in comparison: only the
import changes); scikit-learn trains in the dtype of X (float64 for the
diabetes, mice and choice data, float32 for the V1 data). ``--dtype float64``
makes nnwidgets train in float64 too.

Data: diabetes from scikit-learn (lecture split), mice protein from
``../shared/datasets/Data_Cortex_Nuclear.csv`` (processed as in the lecture),
and SIMULATED stand-ins of the lecture's V1 (360 x 23589) and mouse-choice
(276 x 691) recordings from ``nnwidgets.datasets``.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import platform
import statistics
import sys
import time
import warnings

REPO = pathlib.Path(__file__).resolve().parents[1]
# NNWIDGETS_MICE_CSV: where the CSV is when ../shared is not beside the checkout (the GPU machine)
MICE_CSV = pathlib.Path(os.environ.get("NNWIDGETS_MICE_CSV")
                        or REPO.parent / "shared" / "datasets" / "Data_Cortex_Nuclear.csv")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="fewer epochs and 2 repeats (a smoke run)")
    p.add_argument("--threads", type=int, default=1, help="threads for both libraries (default 1)")
    p.add_argument("--device", default="cpu", help="nnwidgets device for the main column (default cpu)")
    p.add_argument("--cuda", action="store_true", help="add a CUDA column (nnwidgets on device='cuda')")
    p.add_argument("--dtype", default="float32", choices=["float32", "float64", "bfloat16"], help="nnwidgets dtype")
    p.add_argument("--repeats", type=int, default=None, help="timed repeats per library (default 3, quick 2)")
    p.add_argument("--only", default=None, help="run only workloads whose name contains this text")
    p.add_argument("--stack", action="store_true",
                   help="also time fit_stack (4 alphas x 5 folds of the choice network) against one-by-one fits")
    return p.parse_args(argv)


def load_workloads(quick):
    import numpy as np
    import pandas as pd
    from sklearn.datasets import load_diabetes
    from sklearn.model_selection import train_test_split

    from nnwidgets.datasets import load_mouse_choice, load_v1_orientations

    f = 0.2 if quick else 1.0

    def ep(n):
        return max(2, int(round(n * f)))

    X, y = load_diabetes(return_X_y=True, scaled=False)
    diabetes = train_test_split(X, y, shuffle=True, test_size=0.4, random_state=3)
    v1 = load_v1_orientations()  # simulated
    v1_split = train_test_split(v1.data, v1.target, shuffle=True, test_size=0.4, random_state=3)
    choice = load_mouse_choice()  # simulated
    choice_split = train_test_split(choice.data, choice.target, shuffle=True, test_size=0.3, random_state=3)
    work = [
        ("diabetes [100]", "reg", [100], ep(500), diabetes),
        ("diabetes [5000]", "reg", [5000], ep(100), diabetes),
        ("diabetes [30]*5", "reg", [30] * 5, ep(500), diabetes),
        ("diabetes [1000]*10", "reg", [1000] * 10, ep(10), diabetes),
        ("V1 sim [100]*3", "reg", [100] * 3, ep(30), v1_split),
        ("V1 sim [300]*3", "reg", [300] * 3, ep(20), v1_split),
        ("V1 sim [1000]", "reg", [1000], ep(10), v1_split),
    ]
    if MICE_CSV.exists():
        mice = pd.read_csv(MICE_CSV)
        miss_too_many = mice.isnull().sum() > 10
        mice2 = mice.loc[:, ~miss_too_many]
        mice3 = mice2.dropna()
        Xm = mice3.loc[:, "DYRK1A_N":"CaNA_N"]
        ym = mice3["class"]
        work.append(("mice protein [100]", "clf", [100], ep(300),
                     train_test_split(Xm, ym, shuffle=True, test_size=0.3, random_state=3)))
    else:
        print(f"(mice protein skipped: {MICE_CSV} not found)", file=sys.stderr)
    work.append(("choice sim [100,100,30,30,10]", "clf", [100, 100, 30, 30, 10], ep(200), choice_split))
    del np
    return work


def main(argv=None):
    args = parse_args(argv)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    os.environ["NNWIDGETS_NUM_THREADS"] = str(args.threads)
    import numpy as np
    import torch
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.metrics import accuracy_score, mean_squared_error
    from sklearn.neural_network import MLPClassifier as SkC
    from sklearn.neural_network import MLPRegressor as SkR
    from threadpoolctl import threadpool_limits

    from nnwidgets import MLPClassifier as NwC
    from nnwidgets import MLPRegressor as NwR

    torch.set_num_threads(args.threads)
    threadpool_limits(args.threads)
    warnings.simplefilter("ignore", ConvergenceWarning)
    repeats = args.repeats or (2 if args.quick else 3)
    cuda = args.cuda and torch.cuda.is_available()
    if args.cuda and not cuda:
        print("(--cuda given but CUDA is not available: CUDA column not measured)", file=sys.stderr)

    print(f"# bench_mlp: {platform.processor() or platform.machine()}, {os.cpu_count()} cores visible, "
          f"threads={args.threads}, torch {torch.__version__}, nnwidgets dtype={args.dtype}, "
          f"device={args.device}, repeats={repeats} (median), quick={args.quick}")
    cols = ["workload", "epochs", "sklearn s", "nnwidgets s", "speed-up", "sklearn metric", "nnwidgets metric"]
    if cuda:
        cols += ["cuda s", "cuda speed-up"]
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for name, kind, hidden, epochs, (X_train, X_test, y_train, y_test) in load_workloads(args.quick):
        if args.only and args.only.lower() not in name.lower():
            continue
        kw = dict(hidden_layer_sizes=hidden, random_state=1, max_iter=epochs, tol=0.0,
                  n_iter_no_change=10 ** 9)
        Sk, Nw = (SkR, NwR) if kind == "reg" else (SkC, NwC)

        def metric(model):
            pred = model.predict(X_test)
            if kind == "reg":
                return f"MSE {mean_squared_error(y_test, pred):.4g}"
            return f"acc {accuracy_score(y_test, pred):.3f}"

        makers = {
            "sklearn": lambda: Sk(**kw),
            "nnwidgets": lambda: Nw(device=args.device, dtype=args.dtype, **kw),
        }
        if cuda:
            makers["cuda"] = lambda: Nw(device="cuda", dtype=args.dtype, **kw)
        times = {k: [] for k in makers}
        metrics = {}
        order = list(makers)
        # one untimed warm-up of nnwidgets (first torch calls allocate / load kernels)
        Nw(device=args.device, dtype=args.dtype, **{**kw, "max_iter": 1}).fit(X_train[:50], y_train[:50])
        for rep in range(repeats):
            for lib in (order if rep % 2 == 0 else order[::-1]):
                model = makers[lib]()
                t0 = time.perf_counter()
                model.fit(X_train, y_train)
                times[lib].append(time.perf_counter() - t0)
                assert model.n_iter_ == epochs, (lib, model.n_iter_, epochs)
                metrics[lib] = metric(model)
        med = {k: statistics.median(v) for k, v in times.items()}
        row = [name, str(epochs), f"{med['sklearn']:.3f}", f"{med['nnwidgets']:.3f}",
               f"{med['sklearn'] / med['nnwidgets']:.2f}x", metrics["sklearn"], metrics["nnwidgets"]]
        if cuda:
            row += [f"{med['cuda']:.3f}", f"{med['sklearn'] / med['cuda']:.1f}x"]
        print("| " + " | ".join(row) + " |", flush=True)
    if args.stack:
        bench_stack(args, repeats)
    del np


def bench_stack(args, repeats):
    """fit_stack of a small alpha grid x 5 folds against the same fits one by one."""
    import numpy as np
    from sklearn.base import clone
    from sklearn.model_selection import StratifiedKFold, train_test_split

    from nnwidgets import MLPClassifier
    from nnwidgets.datasets import load_mouse_choice
    from nnwidgets.trainer.batched import fit_stack

    choice = load_mouse_choice()  # simulated
    X_train, _, y_train, _ = train_test_split(choice.data, choice.target, test_size=0.3, random_state=3)
    epochs = 12 if args.quick else 60
    base = MLPClassifier(hidden_layer_sizes=[100, 100, 30, 30, 10], random_state=1, max_iter=epochs, tol=0.0,
                         n_iter_no_change=10 ** 9, device=args.device, dtype=args.dtype)
    folds = list(StratifiedKFold(5).split(X_train, y_train))
    grid = np.logspace(-5, -1, 4)

    def jobs():
        ests = [clone(base).set_params(alpha=a) for a in grid for _ in folds]
        data = [(X_train[tr], y_train[tr]) for _ in grid for tr, _ in folds]
        return ests, data

    times = {"stacked": [], "one by one": []}
    for rep in range(repeats):
        for how in (["stacked", "one by one"] if rep % 2 == 0 else ["one by one", "stacked"]):
            ests, data = jobs()
            t0 = time.perf_counter()
            if how == "stacked":
                fit_stack(ests, data)
            else:
                for est, (X, y) in zip(ests, data):
                    est.fit(X, y)
            times[how].append(time.perf_counter() - t0)
    k = len(grid) * len(folds)
    st, one = statistics.median(times["stacked"]), statistics.median(times["one by one"])
    print(f"\nfit_stack, choice (simulated) [100,100,30,30,10], {len(grid)} alphas x {len(folds)} folds = {k} "
          f"models, {epochs} epochs: stacked {st:.2f} s ({st / k * 1e3:.0f} ms/model), one by one {one:.2f} s "
          f"({one / k * 1e3:.0f} ms/model), speed-up {one / st:.2f}x")


if __name__ == "__main__":
    main()
