"""Timing one zero-argument callable on one device, correctly.

The recipe (after ``torch.utils.benchmark.Timer.adaptive_autorange`` and
``triton.testing.do_bench``):

1. **First call** timed on its own, synchronized: it includes one-off costs
   (numba/torch.compile compilation, cuBLAS handle creation, lazy module
   loading, caches) and is reported apart from the steady state. The CUDA
   context itself usually exists already by then (describing the device and
   moving the inputs there create it), so it is not counted in the first call.
2. **Timer overhead**: median of five empty synchronized blocks.
3. **Warm-up and block size**: calls are run in blocks of ``number`` calls,
   growing ``number`` until one block takes at least ``min_run_time / 1000``
   and 200x the timer overhead, so that synchronizing and reading the clock
   cost under 0.5% of what is measured, while blocks stay short enough that
   the median ignores blocks hit by preemption. These calls also warm caches.
4. **Adaptive repeats**: timed blocks (device synchronized before the start
   and before the stop of every block) until the interquartile range is
   below ``threshold`` x median, with at least ``min_runs`` blocks and
   ``min_run_time`` seconds, or until ``max_run_time`` is spent.

The result is a :class:`~nnwidgets.timing.stats.Measurement` of per-call
times (block time / number): its median and IQR are what the panel shows.
"""

from __future__ import annotations

import math
import time
from typing import Any, Callable

from nnwidgets.timing.devices import TimingDevice, get_device
from nnwidgets.timing.errors import TimingOptionError
from nnwidgets.timing.stats import Measurement, quantile

MIN_RUNS = 5
MAX_RUNS = 10_000
_MAX_NUMBER = 10**8


def check_timing_options(
    *,
    repeat: int | None = None,
    number: int | None = None,
    min_run_time: float = 0.2,
    max_run_time: float = 2.0,
    threshold: float = 0.1,
    warmup: float = 0.025,
) -> None:
    """Raises TimingOptionError (a ValueError) naming the first bad option and how to fix it."""
    if repeat is not None and (not isinstance(repeat, int) or repeat < 1):
        raise TimingOptionError(
            "repeat", f"repeat={repeat!r} must be a whole number >= 1 (timed blocks), or None for adaptive.")
    if number is not None and (not isinstance(number, int) or number < 1):
        raise TimingOptionError(
            "number", f"number={number!r} must be a whole number >= 1 (calls per block), or None for automatic.")
    for name, value in (("min_run_time", min_run_time), ("max_run_time", max_run_time), ("threshold", threshold)):
        if not isinstance(value, (int, float)) or not value > 0 or math.isinf(value):
            raise TimingOptionError(name, f"{name}={value!r} must be a positive number of seconds" + (
                "" if name != "threshold" else " (a ratio: IQR / median, e.g. 0.1)"
            ) + ".")
    if max_run_time < min_run_time:
        raise TimingOptionError(
            "max_run_time",
            f"max_run_time={max_run_time!r} is smaller than min_run_time={min_run_time!r}; "
            "raise max_run_time or lower min_run_time."
        )
    if not isinstance(warmup, (int, float)) or not warmup >= 0:  # (NaN too)
        raise TimingOptionError("warmup", f"warmup={warmup!r} must be a number of seconds >= 0.")


def _run_block(fn: Callable[[], Any], number: int, clock) -> float:
    clock.start()
    for _ in range(number):
        fn()
    return clock.stop()


def measure(
    fn: Callable[[], Any],
    device: TimingDevice | str = "cpu",
    *,
    clock: str = "sync",
    repeat: int | None = None,
    number: int | None = None,
    min_run_time: float = 0.2,
    max_run_time: float = 2.0,
    threshold: float = 0.1,
    warmup: float = 0.025,
    capture_output: Callable[[Any], Any] | None = None,
) -> Measurement:
    """Times ``fn()`` on ``device`` and returns a :class:`Measurement`.

    ``repeat`` fixes the number of timed blocks (adaptive otherwise);
    ``number`` fixes the calls per block (estimated otherwise). When
    ``capture_output`` is given, it is applied to the first call's return
    value right after that call has finished on the device (before later
    calls can modify it in place); the result is in
    ``measurement.extra["output"]``.
    """
    check_timing_options(
        repeat=repeat, number=number, min_run_time=min_run_time,
        max_run_time=max_run_time, threshold=threshold, warmup=warmup,
    )
    dev = get_device(device)
    if not dev.available():
        raise TimingOptionError("device", f"cannot time on {dev.name!r}: {dev.unavailable_reason()}")
    clk = dev.clock(clock if dev.kind == "cuda" else "sync")
    extra: dict = {}

    # 1. first call, apart; always on the host clock (synchronized): CUDA
    # events would miss host-side initialisation and compilation
    first_clk = dev.clock("sync")
    first_clk.start()
    out = fn()
    first = first_clk.stop()
    if capture_output is not None:
        extra["output"] = capture_output(out)
    del out

    # 2. timer overhead (synchronize + clock, nothing queued)
    empties = []
    for _ in range(5):
        clk.start()
        empties.append(clk.stop())
    overhead = quantile(sorted(empties), 0.5)

    # 3. warm-up and block size
    # Short blocks (like torch's Timer: min_run_time / 1000) give many
    # replicates, and a median that ignores the blocks hit by preemption on a
    # busy machine; 200 x overhead keeps sync + clock under 0.5 % of a block.
    target_block = max(min_run_time / 1000.0, 200.0 * overhead, 5e-5)
    warm_calls = 0
    warm_time = 0.0
    if number is None:
        number = 1
        while True:
            t = _run_block(fn, number, clk)
            warm_calls += number
            warm_time += t
            if t >= target_block or warm_time >= max_run_time / 4 or number >= _MAX_NUMBER:
                break
            per_call = max(t / number, 1e-9)
            # jump towards the target, at most x100 per step (noise in tiny blocks)
            wanted = math.ceil(1.2 * target_block / per_call)
            number = int(min(max(wanted, number * 2), number * 100, _MAX_NUMBER))
    while warm_time < warmup and warm_calls < 10 * number:
        warm_time += _run_block(fn, number, clk)
        warm_calls += number

    # 4. timed blocks
    times: list[float] = []
    total = 0.0
    reason = ""
    while True:
        t = _run_block(fn, number, clk)
        times.append(t / number)
        total += t
        runs = len(times)
        if repeat is not None:
            if runs >= repeat:
                reason = f"fixed: {repeat} runs"
                break
            continue
        if runs >= MIN_RUNS and total >= min_run_time:
            s = sorted(times)
            med = quantile(s, 0.5)
            if med > 0 and (quantile(s, 0.75) - quantile(s, 0.25)) / med <= threshold:
                reason = f"converged: IQR <= {threshold:g} x median"
                break
        if total >= max_run_time and (runs >= 3 or total >= 3 * max_run_time):
            reason = f"time limit: {max_run_time:g} s spent"
            break
        if runs >= MAX_RUNS:
            reason = f"run limit: {MAX_RUNS} runs"
            break

    return Measurement(
        times=tuple(times),
        number=number,
        first_call=first,
        warmup_calls=warm_calls,
        timer_overhead=overhead,
        stop_reason=reason,
        extra=extra,
    )


def naive_time(fn: Callable[[], Any], number: int = 100) -> float:
    """What ``%timeit`` does: per-call wall time of ``number`` calls with no
    device synchronization. Wrong for asynchronous devices (it measures the
    launch, not the work); kept to show the error next to the right figure."""
    t0 = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - t0) / number
