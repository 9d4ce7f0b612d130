"""Benchmark of the GPU timing harness (nnwidgets.timing).

1. Harness accuracy/overhead on the CPU: the per-call median that
   ``time_code`` (the ``%%gputime`` path: the cell is exec'd each call) and
   ``time_function`` (a callable) report for the same op, against
   ``torch.utils.benchmark.Timer.blocked_autorange`` (the peer: a compiled
   timeit loop), and the best ~1 ms block of plain ``timeit`` (a lower bound
   of the undisturbed time). Runs are interleaved in one process; ratios are
   medians over rounds. Also the spread each reports (IQR / median) and the
   wall time each needs to produce its answer.
2. With CUDA: CPU vs CUDA on an elementwise add and a matmul sweep (time per
   call, speedup, first call). Without CUDA this part says so and is skipped.

    OMP_NUM_THREADS=1 python benchmarks/bench_gputime.py [--rounds 5] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--min-time", type=float, default=0.2)
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))

    import torch
    from torch.utils.benchmark import Timer

    from nnwidgets.timing import format_time, time_code, time_function

    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, threads={torch.get_num_threads()}, "
          f"cores={len(os.sched_getaffinity(0))}, CUDA available: {torch.cuda.is_available()}")

    print("\n## 1. Harness vs torch.utils.benchmark.Timer (CPU, same op, interleaved)\n")
    print("| op | timeit best block (lower bound) | Timer median (IQR/med) | time_code median (IQR/med) | "
          "time_function median (IQR/med) | time_code / Timer | time_function / Timer | "
          "time_code / lower bound | wall s: Timer / time_code / time_function |")
    print("|---|---|---|---|---|---|---|---|---|")
    import timeit as _timeit

    cases = [("pass (empty)", 0, "pass"), ("torch.add n=1e3", 1000, "torch.add(a, b, out=c)"),
             ("torch.add n=1e6", 1_000_000, "torch.add(a, b, out=c)")]
    for name, n, stmt in cases:
        g = {"torch": torch, "a": torch.rand(max(n, 1)), "b": torch.rand(max(n, 1)), "c": torch.empty(max(n, 1))}
        fn = (lambda: None) if stmt == "pass" else (lambda: torch.add(g["a"], g["b"], out=g["c"]))
        res = {"timer": [], "code": [], "fn": [], "best": []}
        iqr = {"timer": [], "code": [], "fn": []}
        walls = {"timer": [], "code": [], "fn": []}
        plain = _timeit.Timer(stmt, globals=g)
        per_block = max(1, int(1e-3 / max(plain.timeit(10) / 10, 1e-9)))  # ~1 ms blocks
        for _ in range(args.rounds):
            res["best"].append(min(plain.repeat(repeat=50, number=per_block)) / per_block)
            t0 = time.perf_counter()
            m = Timer(stmt, globals=g, num_threads=args.threads).blocked_autorange(min_run_time=args.min_time)
            walls["timer"].append(time.perf_counter() - t0)
            res["timer"].append(m.median)
            iqr["timer"].append(m.iqr / m.median)
            for key, runner in (
                ("code", lambda: time_code(stmt, namespace=g, devices="cpu", min_run_time=args.min_time,
                                           threads=args.threads)),
                ("fn", lambda: time_function(lambda device: fn, devices="cpu", min_run_time=args.min_time,
                                             threads=args.threads)),
            ):
                t0 = time.perf_counter()
                row = runner().row("cpu")
                walls[key].append(time.perf_counter() - t0)
                res[key].append(row.median)
                iqr[key].append(row.measurement.relative_iqr)
        med = {k: statistics.median(v) for k, v in res.items()}
        ratio = {k: statistics.median(a / b for a, b in zip(res[k], res["timer"])) for k in ("code", "fn")}
        to_best = statistics.median(a / b for a, b in zip(res["code"], res["best"]))
        print(f"| {name} | {format_time(med['best'])} | {format_time(med['timer'])} ({statistics.median(iqr['timer']):.0%}) | "
              f"{format_time(med['code'])} ({statistics.median(iqr['code']):.0%}) | "
              f"{format_time(med['fn'])} ({statistics.median(iqr['fn']):.0%}) | {ratio['code']:.2f} | {ratio['fn']:.2f} | "
              f"{to_best:.2f} | {statistics.median(walls['timer']):.2f} / {statistics.median(walls['code']):.2f} / "
              f"{statistics.median(walls['fn']):.2f} |")

    print("\n## 2. CPU vs CUDA\n")
    if not torch.cuda.is_available():
        print(f"No GPU on this machine (torch {torch.__version__}, CUDA build {torch.version.cuda}): "
              "CPU-vs-CUDA timings are not measurable here; skipped.")
        return
    print(f"GPU: {torch.cuda.get_device_name(0)}; TF32 matmul: {torch.backends.cuda.matmul.allow_tf32}")
    add = time_code("x = torch.rand(n).to(device); y = torch.rand(n).to(device)\n# --- timed ---\nx + y",
                    namespace={"torch": torch}, devices="cpu,cuda", sizes=[10**3, 10**5, 10**6, 10**7],
                    label="add", threads=args.threads)
    mm = time_code("a = torch.rand(n, n).to(device)\n# --- timed ---\na @ a", namespace={"torch": torch},
                   devices="cpu,cuda", sizes=[16, 64, 256, 1024, 2048], label="matmul", threads=args.threads,
                   rtol=1e-4, atol=1e-4, max_run_time=1.0)
    print("| op | n | cpu median | cuda median | speedup | cuda first call | outputs |")
    print("|---|---|---|---|---|---|---|")
    for run in (add, mm):
        for n in run.sizes:
            c, g = run.row("cpu", n), run.row("cuda", n)
            print(f"| {run.label} | {n:,} | {format_time(c.median)} | {format_time(g.median)} | "
                  f"{run.speedup('cuda', n):.2f}× | {format_time(g.first_call)} | {g.agreement.verdict} |")
        print(f"\n{run.label}: cuda wins from n = {run.crossover('cuda')}\n")


if __name__ == "__main__":
    main()
