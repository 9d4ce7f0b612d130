"""Would one shared-input GEMM per fold speed up the stacked first layer?

    python benchmarks/bench_first_layer.py                 # bf16 and float32, 1 thread
    python benchmarks/bench_first_layer.py --threads 2

In the lectures' choice search (30 alphas x 5 folds = 150 stacked models,
154 x 691 inputs, first layer 691 -> 100, one-batch epochs) the 30 models of
a fold see the same rows, so the first layer's forward product and its
weight gradient can be one GEMM per fold over the 30 models' weights side by
side, instead of one batched product over 150 models. This times both at
those shapes, with the layout copies the shared form needs (weights into a
fold-major layout and gradients back, activations and deltas between the two
layouts), so that the saving per training step can be read off. It informed
the decision not to change the engine's parameter layout (benchmarks/RESULTS.md,
"Batched search").
"""

from __future__ import annotations

import argparse
import os
import sys
import time


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=10)
    args = ap.parse_args(argv)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    import torch

    torch.set_num_threads(args.threads)
    K, B, I, O, F = 150, 154, 691, 100, 5
    Kg = K // F

    def bench(f):
        f()
        t0 = time.perf_counter()
        for _ in range(args.repeats):
            f()
        return (time.perf_counter() - t0) / args.repeats * 1e3

    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s); K={K} models in {F} folds, "
          f"batch {B}, first layer {I} -> {O}; ms per full-stack step (mean of {args.repeats})")
    for dt in (torch.bfloat16, torch.float32):
        x = torch.randn(K, B, I, dtype=dt)
        W = torch.randn(K, I, O, dtype=dt)
        b = torch.randn(K, 1, O, dtype=dt)
        out = torch.empty(K, B, O, dtype=dt)
        d = torch.randn(K, B, O, dtype=dt)
        gW = torch.empty(K, I, O, dtype=dt)
        Xf = torch.randn(F, B, I, dtype=dt)
        Wf = torch.empty(F, I, Kg * O, dtype=dt)
        of = torch.empty(F, B, Kg * O, dtype=dt)
        df = torch.randn(F, B, Kg * O, dtype=dt)
        gf = torch.empty(F, I, Kg * O, dtype=dt)
        master = torch.randn(K, I, O)  # float32 master weights / gradients
        t = {
            "batched forward (baddbmm)": bench(lambda: torch.baddbmm(b, x, W, out=out)),
            "batched weight gradient (bmm)": bench(lambda: torch.bmm(x.transpose(1, 2), d, out=gW)),
            "shared forward (one GEMM per fold)": bench(lambda: torch.bmm(Xf, Wf, out=of)),
            "shared weight gradient": bench(lambda: torch.bmm(Xf.transpose(1, 2), df, out=gf)),
            "weights into the fold layout": bench(
                lambda: Wf.view(F, I, Kg, O).permute(0, 2, 1, 3).copy_(master.view(F, Kg, I, O))),
            "weights, plain copy": bench(lambda: W.copy_(master)),
            "gradients back from the fold layout": bench(
                lambda: master.view(F, Kg, I, O).copy_(gf.view(F, I, Kg, O).permute(0, 2, 1, 3))),
            "gradients, plain copy": bench(lambda: master.copy_(gW)),
            "deltas into the fold layout": bench(
                lambda: df.view(F, B, Kg, O).copy_(d.view(F, Kg, B, O).permute(0, 2, 1, 3))),
            "activations out of the fold layout": bench(
                lambda: out.view(F, Kg, B, O).copy_(of.view(F, B, Kg, O).permute(0, 2, 1, 3))),
        }
        name = str(dt).replace("torch.", "")
        print(f"\n{name}:")
        for k, v in t.items():
            print(f"  {k:40s} {v:7.2f} ms")
        batched = t["batched forward (baddbmm)"] + t["batched weight gradient (bmm)"]
        shared = (t["shared forward (one GEMM per fold)"] + t["shared weight gradient"]
                  + t["deltas into the fold layout"] + t["activations out of the fold layout"])
        extra_copies = (t["weights into the fold layout"] - t["weights, plain copy"]
                        + t["gradients back from the fold layout"] - t["gradients, plain copy"])
        if dt == torch.float32:  # float32 has no shadow copy: the whole permuted copies are extra
            extra_copies = t["weights into the fold layout"] + t["gradients back from the fold layout"]
        print(f"  => first layer per step: batched {batched:.1f} ms; shared {shared:.1f} ms + layout copies "
              f"{extra_copies:.1f} ms = {shared + extra_copies:.1f} ms (saving {batched - shared - extra_copies:.1f} ms); "
              f"with the master weights kept in the fold layout: saving {batched - shared:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
