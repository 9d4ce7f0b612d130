"""What the live loss plot costs: the same training with and without it.

    python benchmarks/bench_lossplot.py                  # fake comm, 1 thread, 9 interleaved pairs
    python benchmarks/bench_lossplot.py --kernel         # the same measurement inside a real ipykernel
    python benchmarks/bench_lossplot.py --pairs 5 --threads 2
    python benchmarks/bench_lossplot.py --decompose [--kernel]   # where the cost comes from

Workload: the diabetes lecture's network, ``MLPRegressor(hidden_layer_sizes=[100],
random_state=1, max_iter=1000)`` (nnwidgets' drop-in, adam, minibatches of
200) on the lecture's split (``test_size=0.4, random_state=3``), with
``tol=0, n_iter_no_change=1000`` so that every run does exactly 1000 epochs.

What the plot sends while a fit runs: nothing when it starts (its state goes
with the first update) or ends (the final state goes with the end of the
cell); one update one ``update_interval`` (0.1 s) into training, with the
display of the view, and one more per interval after that.

Runs alternate (without, no-op callback, live plot; then the reverse order);
each timed fit is preceded by the same short untimed fit and a garbage
collection, and each round's ratios are taken against that round's run
without a callback (medians and quartiles of those paired ratios). The no-op
callback shows what the callback mechanism alone costs. The plot is the
default ``LiveLossPlot()``: in a notebook its static image (a matplotlib PNG)
is made when the cell finishes, not inside ``fit``; here ``finalize()`` is
called after each timed fit and timed apart, and "fit + finalize" is reported
too. Because 1-3% differences drown in the noise of a shared machine, the
plot's own cost is also measured directly, in separate runs after those: the
time spent inside its callback hooks (per epoch, and per update sent to the
browser) as a fraction of the training time of the same run.

Without a kernel (default) ipywidgets' comm is replaced by a fake comm that
JSON-encodes every message as ipykernel's session would (the encoding is the
kernel-side cost that grows with the message; the zmq send is not included).
``--kernel`` runs the same function in a real ipykernel through
jupyter_client, so messages go through the real comm, session and IOPub
thread (nobody renders them).
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import pathlib
import platform
import statistics
import sys
import time

HERE = pathlib.Path(__file__).resolve()


def _install_fake_comm():
    """ipywidgets asks ``comm.create_comm`` for its comm: answer with one that
    JSON-encodes what it would send and counts the bytes."""
    import comm
    from comm.base_comm import BaseComm

    class FakeComm(BaseComm):
        messages = 0
        nbytes = 0

        def publish_msg(self, msg_type, data=None, metadata=None, buffers=None, **keys):
            payload = json.dumps({"msg_type": msg_type, "content": {"data": data, "comm_id": self.comm_id, **keys},
                                  "metadata": metadata or {}})
            FakeComm.messages += 1
            FakeComm.nbytes += len(payload) + sum(memoryview(b).nbytes for b in buffers or ())

    comm.create_comm = lambda *a, **kw: FakeComm(*a, **kw)
    return FakeComm


class _Timed:
    """Wraps a plot's hooks and measures the time spent inside them, and
    counts the messages it sends while the fit runs."""

    def __init__(self, plot):
        self.plot = plot
        self.hook_s = 0.0
        self.hook_cpu_s = 0.0
        self.flush_times: list[float] = []
        self.flush_cpu: list[float] = []
        self.end_s = 0.0
        self.in_fit = False
        self.fit_messages = 0  # comm messages and displays sent between fit begin and fit end
        update, send, show = plot._update, plot._send, plot._show

        self.show_times: list[float] = []
        self.show_cpu: list[float] = []

        def timed_update(now, force=False):  # an update: new points, progress, held state
            t0, c0 = time.perf_counter(), time.thread_time()
            n_shown = len(self.show_times)
            update(now, force)
            shown = sum(self.show_times[n_shown:])  # the first update also displays the view: timed apart
            shown_cpu = sum(self.show_cpu[n_shown:])
            self.flush_times.append(time.perf_counter() - t0 - shown)
            self.flush_cpu.append(time.thread_time() - c0 - shown_cpu)

        def counted_send(*args, **kwargs):
            self.fit_messages += self.in_fit
            return send(*args, **kwargs)

        def counted_show():  # (a display only in IPython)
            shown = plot._handle is not None
            t0, c0 = time.perf_counter(), time.thread_time()
            show()
            self.show_times.append(time.perf_counter() - t0)
            self.show_cpu.append(time.thread_time() - c0)
            self.fit_messages += self.in_fit and not shown and plot._handle is not None

        plot._update, plot._send, plot._show = timed_update, counted_send, counted_show

    @property
    def next_epoch_end(self):  # paced as the plot is (nnwidgets.trainer.events)
        return self.plot.next_epoch_end

    def on_fit_begin(self, **kw):
        self.in_fit = True
        t0 = time.perf_counter()
        self.plot.on_fit_begin(**kw)
        self.begin_s = time.perf_counter() - t0  # its state is held for the first update
        self.hook_s += self.begin_s

    def on_epoch_end(self, **kw):
        t0, c0 = time.perf_counter(), time.thread_time()
        r = self.plot.on_epoch_end(**kw)
        self.hook_s += time.perf_counter() - t0
        self.hook_cpu_s += time.thread_time() - c0
        return r

    def on_fit_end(self, **kw):
        t0 = time.perf_counter()
        self.plot.on_fit_end(**kw)
        self.end_s = time.perf_counter() - t0  # the final points and status (held for the end of the cell)
        self.in_fit = False


def _workload(epochs: int, threads: int, fake_comm: bool):
    """The lecture's split and a timed fit of its network: returns
    ``fit(callbacks, max_iter=epochs) -> (wall seconds, estimator)`` and the
    fake comm class (installed first when ``fake_comm``; else None)."""
    os.environ["NNWIDGETS_NUM_THREADS"] = str(threads)
    import warnings

    import torch
    from sklearn.model_selection import train_test_split

    from nnwidgets.datasets import load_diabetes
    from nnwidgets.trainer.estimators import MLPRegressor

    torch.set_num_threads(threads)
    fake = _install_fake_comm() if fake_comm else None
    bunch = load_diabetes()
    X_train, _, y_train, _ = train_test_split(
        bunch.data, bunch.target, shuffle=True, test_size=0.4, random_state=3)

    def fit(callbacks, max_iter=epochs):
        net = MLPRegressor(hidden_layer_sizes=[100], random_state=1, max_iter=max_iter, tol=0.0,
                           n_iter_no_change=max_iter, callbacks=callbacks)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            net.fit(X_train, y_train)
            return time.perf_counter() - t0, net

    return fit, fake


def measure(pairs: int = 9, epochs: int = 1000, threads: int = 1, fake_comm: bool = True) -> dict:
    import torch

    fit, fake = _workload(epochs, threads, fake_comm)
    from nnwidgets.widgets.lossplot import LiveLossPlot

    from nnwidgets.trainer.events import Callback

    class Null(Callback):
        """A callback that does nothing: what the callback mechanism alone costs."""

    fit(None)  # warm-up: imports, allocator, first-call costs
    warm_plot = LiveLossPlot(mode="widget")
    fit([warm_plot])
    warm_plot.static_png()  # matplotlib import and font cache, once per process

    def run(arm):
        """One timed fit; garbage of earlier runs (widgets hold reference cycles)
        is collected before, not during, the timed fit. The plot is finalized
        (static PNG, display update) after the timed fit, as at the end of a
        cell, and that is timed apart."""
        plot = None if arm in ("without", "null") else LiveLossPlot(mode="widget")
        cbs = {"without": None, "null": [Null()]}.get(arm, [plot])
        if arm == "timed":
            cbs = [_Timed(plot)]
        # the same start for every arm: whatever ran before (another arm's
        # static PNG leaves matplotlib in the caches) is followed by a short
        # untimed fit, then a garbage collection
        fit(None, max_iter=20)
        gc.collect()
        wall, net = fit(cbs)
        final_s = 0.0
        if plot is not None:
            assert len(net.history_) == epochs and plot.n_points == epochs
            t0 = time.perf_counter()
            plot.finalize()
            final_s = time.perf_counter() - t0
        return wall, (cbs[0] if arm == "timed" else None), plot, final_s

    # 1. the ratio: plain runs (no measuring wrapper), interleaved in turn; each
    # round's ratios against that round's run without a callback
    arms = ("without", "null", "with")
    walls = {a: [] for a in arms}
    finals = []
    for i in range(pairs):
        for arm in (arms if i % 2 == 0 else arms[::-1]):
            wall, _, plot, final_s = run(arm)
            walls[arm].append(wall)
            if plot is not None:
                finals.append(final_s)
                plot.close()
    # 2. where the plot's time goes: the same runs with its hooks timed
    hook_fracs, per_epoch_us, flushes, end_s, cpu_fracs, flush_cpu, begin_s = [], [], [], [], [], [], []
    fit_messages, show_s = [], []
    for _ in range(pairs):
        wall, timed, plot, _ = run("timed")
        train_s = wall - timed.end_s
        hook_fracs.append(timed.hook_s / train_s)
        per_epoch_us.append(1e6 * timed.hook_s / epochs)
        flushes.extend(timed.flush_times)
        flush_cpu.extend(timed.flush_cpu)
        cpu_fracs.append(timed.hook_cpu_s / train_s)
        end_s.append(timed.end_s)
        begin_s.append(timed.begin_s)
        fit_messages.append(timed.fit_messages)
        show_s.extend(timed.show_times)
        plot.close()
    without, with_plot, null = walls["without"], walls["with"], walls["null"]
    paired = [w / b for w, b in zip(with_plot, without)]
    paired_null = [n / b for n, b in zip(null, without)]
    paired_cell = [(w + f) / b for w, f, b in zip(with_plot, finals, without)]

    t0 = time.perf_counter()
    png_runs = 5
    for _ in range(png_runs):
        warm_plot.static_png()
    png_s = (time.perf_counter() - t0) / png_runs

    med_without, med_with = statistics.median(without), statistics.median(with_plot)
    return {
        "threads": torch.get_num_threads(),
        "epochs": epochs,
        "pairs": pairs,
        "comm": "fake (JSON-encoded)" if fake_comm else "ipykernel",
        "without_s": med_without,
        "with_s": med_with,
        "ratio": med_with / med_without,
        "null_s": statistics.median(null),
        "null_ratio": statistics.median(null) / med_without,
        "paired_ratio": statistics.median(paired),
        "paired_ratio_q": statistics.quantiles(paired, n=4) if len(paired) > 1 else [paired[0]] * 3,
        "paired_null_ratio": statistics.median(paired_null),
        "finalize_ms": 1e3 * statistics.median(finals),
        "paired_cell_ratio": statistics.median(paired_cell),
        "hook_fraction_median": statistics.median(hook_fracs),
        "hook_fraction_max": max(hook_fracs),
        "hook_us_per_epoch": statistics.median(per_epoch_us),
        "hook_cpu_fraction_median": statistics.median(cpu_fracs),
        "update_cpu_ms_median": 1e3 * statistics.median(flush_cpu),
        "update_cpu_ms_max": 1e3 * max(flush_cpu),
        "load_avg": os.getloadavg()[0],
        "updates_per_run": len(flushes) / pairs,
        "fit_messages_per_run": statistics.mean(fit_messages),
        "show_ms_median": 1e3 * statistics.median(show_s) if show_s else 0.0,
        "update_ms_median": 1e3 * statistics.median(flushes),
        "update_ms_p95": 1e3 * sorted(flushes)[int(0.95 * (len(flushes) - 1))],
        "update_ms_max": 1e3 * max(flushes),
        "fit_end_ms_median": 1e3 * statistics.median(end_s),
        "fit_begin_ms_median": 1e3 * statistics.median(begin_s),
        "static_png_ms": 1e3 * png_s,
        "fake_messages": fake.messages if fake else None,
        "fake_bytes": fake.nbytes if fake else None,
    }


def decompose(pairs: int = 9, epochs: int = 1000, threads: int = 1, fake_comm: bool = True) -> dict:
    """Where live plotting's cost comes from: arms that add one ingredient at a
    time, interleaved as in :func:`measure`, paired ratios against the fit
    without callbacks (medians and quartiles)."""
    import torch

    from nnwidgets.trainer.events import Callback

    timed_fit, _ = _workload(epochs, threads, fake_comm)
    from nnwidgets.widgets.lossplot import LiveLossPlot

    def fit(callbacks, max_iter=epochs):
        return timed_fit(callbacks, max_iter)[0]

    class Hook(Callback):
        """An epoch hook that does nothing (unlike a bare Callback, it is called)."""

        def on_epoch_end(self, **kwargs):
            return None

    class PacedHook(Callback):
        """A no-op epoch hook that asks to be called every 0.1 s, as the plot does."""
        next_epoch_end = -math.inf

        def on_epoch_end(self, **kwargs):
            self.next_epoch_end = time.perf_counter() + 0.1

    def hook_and_two_messages():
        carrier = LiveLossPlot(mode="none")  # only its comm is used
        hook = Hook()

        def on_epoch_end(record=None, **kw):  # as many messages as the plot sends in this fit
            if record and record.get("epoch") == epochs // 2:
                carrier.send({"type": "one"})
                carrier.send({"type": "two"})

        hook.on_epoch_end = on_epoch_end
        return [hook], carrier

    def plot_sending_nothing():
        plot = LiveLossPlot(mode="widget")
        plot._send = lambda *a, **kw: None
        plot._show = lambda: None
        return [plot], plot

    def plot_widget_not_displayed():
        plot = LiveLossPlot(mode="widget")
        plot._show = lambda: None
        return [plot], plot

    def plot(mode):
        def make():
            p = LiveLossPlot(mode=mode)
            return [p], p
        return make

    arms = {
        "a no-op epoch hook, called every epoch": lambda: ([Hook()], None),
        "a no-op paced hook, called every 0.1 s": lambda: ([PacedHook()], None),
        "  + 2 comm messages half-way": hook_and_two_messages,
        "LiveLossPlot's hooks, nothing sent": plot_sending_nothing,
        "LiveLossPlot, not displayed (+ its update message)": plot_widget_not_displayed,
        "LiveLossPlot() as shipped (+ the display)": plot("widget"),
    }
    names = ["without"] + list(arms)
    for make in arms.values():  # warm-up
        cbs, widget = make()
        fit(cbs)
        if widget is not None:
            widget.close()
    fit(None)
    walls = {n: [] for n in names}
    for i in range(pairs):
        for name in (names if i % 2 == 0 else names[::-1]):
            cbs, widget = arms[name]() if name != "without" else (None, None)
            fit(None, max_iter=20)
            gc.collect()
            walls[name].append(fit(cbs))
            if widget is not None:
                if hasattr(widget, "finalize"):
                    widget.finalize()
                widget.close()
    base = walls["without"]
    out = {"threads": torch.get_num_threads(), "pairs": pairs, "epochs": epochs,
           "comm": "fake (JSON-encoded)" if fake_comm else "ipykernel", "without_s": statistics.median(base),
           "load_avg": os.getloadavg()[0], "arms": {}}
    for name in arms:
        ratios = [w / b for w, b in zip(walls[name], base)]
        q1, med, q3 = statistics.quantiles(ratios, n=4)
        out["arms"][name] = {"median_s": statistics.median(walls[name]), "paired": statistics.median(ratios),
                             "q1": q1, "q3": q3}
    return out


def _in_kernel(args) -> dict:
    from jupyter_client.manager import start_new_kernel

    env = dict(os.environ, NNWIDGETS_NUM_THREADS=str(args.threads), OMP_NUM_THREADS=str(args.threads))
    km, kc = start_new_kernel(kernel_name="python3", env=env, startup_timeout=120)
    try:
        code = (f"import json, runpy\nns = runpy.run_path({str(HERE)!r}, run_name='bench')\n"
                f"print('RESULT' + json.dumps(ns[{'decompose' if args.decompose else 'measure'!r}]"
                f"(pairs={args.pairs}, epochs={args.epochs}, "
                f"threads={args.threads}, fake_comm=False)))")
        msg_id = kc.execute(code)
        out = ""
        while True:
            msg = kc.get_iopub_msg(timeout=1800)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "stream":
                out += msg["content"]["text"]
            elif msg["msg_type"] == "error":
                raise RuntimeError("\n".join(msg["content"]["traceback"]))
            elif msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                break
        line = [ln for ln in out.splitlines() if ln.startswith("RESULT")][-1]
        return json.loads(line[len("RESULT"):])
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=9)
    parser.add_argument("--epochs", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--kernel", action="store_true", help="measure inside a real ipykernel")
    parser.add_argument("--decompose", action="store_true",
                        help="where the cost comes from: arms that add one ingredient at a time")
    args = parser.parse_args(argv)
    os.environ.setdefault("MPLBACKEND", "Agg")
    if args.decompose:
        r = _in_kernel(args) if args.kernel else decompose(args.pairs, args.epochs, args.threads)
        print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
              f"python {platform.python_version()}; torch threads: {r['threads']}; comm: {r['comm']}; "
              f"load average at the end {r['load_avg']:.1f}")
        print(f"diabetes [100] MLPRegressor, {r['epochs']} epochs, {r['pairs']} interleaved rounds; "
              f"without callbacks {r['without_s']:.3f} s; paired ratios, median (quartiles)")
        for name, a in r["arms"].items():
            print(f"  {name:52s} {a['paired']:.3f} ({a['q1']:.3f}-{a['q3']:.3f})")
        return 0
    r = _in_kernel(args) if args.kernel else measure(args.pairs, args.epochs, args.threads)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"python {platform.python_version()}; torch threads: {r['threads']}; comm: {r['comm']}; "
          f"load average at the end {r['load_avg']:.1f}")
    print(f"diabetes [100] MLPRegressor, {r['epochs']} epochs, {r['pairs']} interleaved rounds (medians)")
    print(f"  without plot          {r['without_s']:.3f} s")
    print(f"  with a no-op callback {r['null_s']:.3f} s   ratio {r['null_ratio']:.3f}, paired "
          f"{r['paired_null_ratio']:.3f}  (the callback mechanism alone)")
    q1, _, q3 = r["paired_ratio_q"]
    print(f"  with LiveLossPlot     {r['with_s']:.3f} s   ratio {r['ratio']:.3f}, paired {r['paired_ratio']:.3f} "
          f"(quartiles {q1:.3f}-{q3:.3f})  (live plotting: the fit's wall time)")
    print(f"  finalize at the end of the cell (static PNG, display update): {r['finalize_ms']:.1f} ms; "
          f"fit + finalize against the fit without a plot, paired: {r['paired_cell_ratio']:.3f}")
    print(f"  plot hooks during training: {100 * r['hook_fraction_median']:.2f}% of training time "
          f"(max {100 * r['hook_fraction_max']:.2f}%), {r['hook_us_per_epoch']:.1f} us per epoch")
    print(f"    (CPU time of the kernel thread in the hooks: {100 * r['hook_cpu_fraction_median']:.2f}%)")
    print(f"  messages sent while the fit runs (comm messages and displays): {r['fit_messages_per_run']:.1f} per fit")
    print(f"  showing the view (once per fit, with the first update): {r['show_ms_median']:.2f} ms")
    print(f"  updates sent per run {r['updates_per_run']:.1f}; kernel time per update: median "
          f"{r['update_ms_median']:.3f} ms, p95 {r['update_ms_p95']:.3f} ms, max {r['update_ms_max']:.3f} ms wall; "
          f"CPU median {r['update_cpu_ms_median']:.3f} ms, max {r['update_cpu_ms_max']:.3f} ms")
    print(f"  start of training (state held for the first update): {r['fit_begin_ms_median']:.1f} ms")
    print(f"  end of training (final points and status, held for the end of the cell): {r['fit_end_ms_median']:.1f} ms; "
          f"static PNG alone {r['static_png_ms']:.1f} ms")
    if r.get("fake_messages"):
        print(f"  fake comm: {r['fake_messages']} messages, {r['fake_bytes'] / 1e3:.0f} kB in all")


if __name__ == "__main__":
    sys.exit(main())
