"""The measurement core: synchronized timing, first call apart, adaptive repeats,
statistics. The fake asynchronous device shows the error of %timeit-style timing."""

import math
import time

import pytest

from nnwidgets.timing import FakeAsyncDevice, Measurement, format_speedup, format_time, measure, naive_time
from nnwidgets.timing.stats import quantile

WORK = 0.005  # seconds of "GPU" work per launch


def test_naive_timing_measures_the_launch_but_measure_measures_the_work(fake):
    work = lambda: fake.launch(time.sleep, WORK)  # noqa: E731
    naive = naive_time(work, number=20)
    fake.synchronize()
    m = measure(work, fake, repeat=5, number=4, warmup=0)
    # the launch returns at once: the naive figure is far below the real work
    assert naive < 0.2 * WORK
    # synchronized blocks measure the work itself (sleep never returns early)
    assert WORK * 0.98 <= m.median < WORK * 3
    assert m.runs == 5 and m.number == 4
    assert fake.pending() == 0


def test_ipython_timeit_is_wrong_on_an_async_device_and_the_panel_is_right(fake):
    from IPython.testing import globalipapp

    from nnwidgets.timing import time_code

    ip = (globalipapp.start_ipython() or globalipapp.get_ipython())
    ip.user_ns.update(dev=fake, time=time)
    res = ip.run_line_magic("timeit", f"-o -q -n 20 -r 3 dev.launch(time.sleep, {WORK})")
    fake.synchronize()
    run = time_code(f"device.launch(time.sleep, {WORK})", namespace={"time": time}, devices=[fake],
                    repeat=5, number=2, warmup=0)
    right = run.row("fake").median
    assert res.average < 0.2 * WORK, f"%timeit should only see the launch, got {res.average}"
    assert WORK * 0.98 <= right < WORK * 3
    assert right / res.average > 5


def test_first_call_is_reported_apart_from_steady_state():
    calls = []

    def fn():
        calls.append(1)
        time.sleep(0.03 if len(calls) == 1 else 0.001)  # "compilation" on the first call

    m = measure(fn, "cpu", repeat=5, number=2, warmup=0)
    assert m.first_call >= 0.03
    assert m.median < 0.01
    assert len(calls) == 1 + 5 * 2  # first call + 5 blocks of 2 (no warm-up asked, number fixed)


def test_first_call_waits_for_async_work(fake):
    m = measure(lambda: fake.launch(time.sleep, 0.02), fake, repeat=3, number=1, warmup=0)
    assert m.first_call >= 0.02


def test_adaptive_block_size_and_stop():
    m = measure(lambda: sum(range(50)), "cpu", min_run_time=0.02, max_run_time=0.5)
    # a ~1 µs call is grouped in blocks of many calls: the timer's overhead is
    # a small fraction of a block (target: 200x the overhead)
    assert m.number >= 20
    assert m.timer_overhead < 0.02 * m.number * m.median
    assert m.runs >= 3
    # on a loaded machine the spread may never settle: a limit stops it then
    assert m.stop_reason.startswith(("converged", "time limit", "run limit"))
    assert m.total_time <= 0.5 * 1.5 + 0.1


def test_time_limit_stops_noisy_code():
    state = {"k": 0}
    pattern = (0.0005, 0.002, 0.004, 0.008)  # spread far above 1 % of the median

    def noisy():
        state["k"] += 1
        time.sleep(pattern[state["k"] % 4])

    m = measure(noisy, "cpu", number=1, min_run_time=0.01, max_run_time=0.1, threshold=0.01, warmup=0)
    assert m.runs >= 3
    assert m.stop_reason.startswith("time limit")
    assert m.relative_iqr > 0.01


def test_capture_output_copies_the_first_result_before_later_calls_change_it():
    import numpy as np

    from nnwidgets.timing import to_host

    y = np.zeros(3)

    def step():
        y[:] += 1
        return y

    m = measure(step, "cpu", repeat=3, number=2, warmup=0, capture_output=to_host)
    assert m.extra["output"].arrays[""].tolist() == [1.0, 1.0, 1.0]
    assert y[0] > 1


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"repeat": 0}, "repeat=0"),
        ({"number": -1}, "number=-1"),
        ({"min_run_time": 0}, "min_run_time=0"),
        ({"max_run_time": 0.01, "min_run_time": 1.0}, "max_run_time=0.01"),
        ({"threshold": -1}, "threshold=-1"),
        ({"warmup": -0.5}, "warmup=-0.5"),
    ],
)
def test_bad_options_name_the_value(kwargs, match):
    with pytest.raises(ValueError, match=match):
        measure(lambda: None, "cpu", **kwargs)


def test_exceptions_on_the_async_device_surface_at_synchronize():
    dev = FakeAsyncDevice("boom")
    dev.launch(lambda: 1 / 0)
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        dev.synchronize()
    dev.launch(time.sleep, 0)  # usable again
    dev.synchronize()


def test_fake_queue_is_bounded_like_a_gpu():
    dev = FakeAsyncDevice("small", queue_depth=2)
    t0 = time.perf_counter()
    for _ in range(5):
        dev.launch(time.sleep, 0.01)
    # with a 2-deep queue the 5th launch waits for earlier work to finish
    assert time.perf_counter() - t0 >= 0.015
    dev.synchronize()
    with pytest.raises(ValueError, match="queue_depth=0"):
        FakeAsyncDevice(queue_depth=0)


def test_statistics_median_iqr_like_numpy():
    np = pytest.importorskip("numpy")
    times = (5.0, 1.0, 3.0, 2.0, 4.0, 100.0)
    m = Measurement(times=times, number=10)
    assert m.median == pytest.approx(np.median(times))
    assert m.q1 == pytest.approx(np.percentile(times, 25))
    assert m.q3 == pytest.approx(np.percentile(times, 75))
    assert m.iqr == pytest.approx(np.percentile(times, 75) - np.percentile(times, 25))
    assert m.calls == 60 and m.runs == 6
    assert m.mean == pytest.approx(np.mean(times))
    # robust: the outlier moves the mean, barely the median
    assert m.median < m.mean
    assert quantile([1.0], 0.3) == 1.0
    with pytest.raises(ValueError, match="empty"):
        quantile([], 0.5)
    with pytest.raises(ValueError, match="at least one"):
        Measurement(times=(), number=1)


@pytest.mark.parametrize(
    "seconds, text",
    [(47.5e-6, "47.5 µs"), (826e-6, "826 µs"), (1.234, "1.23 s"), (3e-9, "3 ns"), (0.0125, "12.5 ms"),
     (None, "–"), (math.inf, "inf"), (125.0, "2 min 5 s"), (0.9996, "1000 ms")],
)
def test_format_time_like_timeit(seconds, text):
    assert format_time(seconds) == text


def test_format_speedup():
    assert format_speedup(17.39) == "17.4×"
    assert format_speedup(0.41) == "0.41×"
    assert format_speedup(None) == "–"


def test_a_missing_device_is_a_clear_error():
    # cuda:99 exists on no machine: without a GPU torch's own error was
    # "AssertionError: Torch not compiled with CUDA enabled"
    with pytest.raises(ValueError, match=r"cannot time on 'cuda:99': (no CUDA GPU is available|cuda:99 does not exist)"):
        measure(lambda: None, "cuda:99")


def test_cuda_event_clock_records_on_the_timed_devices_stream(monkeypatch):
    # Event.record() without a stream records on the *current* device's stream:
    # timing cuda:1 while cuda:0 is current put both events on cuda:0, which
    # measured an idle GPU. Simulated without a GPU: torch.cuda.Event and
    # torch.cuda.current_stream are replaced by fakes that note the device.
    import torch

    from nnwidgets.timing import CudaEventClock

    recorded = []

    class FakeEvent:
        def __init__(self, enable_timing=False):
            self.stream = None

        def record(self, stream=None):
            self.stream = stream if stream is not None else torch.cuda.current_stream()
            recorded.append(self.stream)

        def synchronize(self):
            pass

        def elapsed_time(self, end):
            return 1.0

    def current_stream(device=None):
        index = 0 if device is None or torch.device(device).index is None else torch.device(device).index
        return f"stream of cuda:{index}"

    monkeypatch.setattr(torch.cuda, "Event", FakeEvent)
    monkeypatch.setattr(torch.cuda, "current_stream", current_stream)
    clock = CudaEventClock(torch.device("cuda:1"))
    clock.start()
    assert clock.stop() == pytest.approx(1e-3)
    assert recorded == ["stream of cuda:1", "stream of cuda:1"]


def test_device_settings_survive_torchs_new_tf32_api():
    # torch >= 2.9: after torch.backends.cuda.matmul.fp32_precision = "tf32" (the API
    # torch's docs advise), get_float32_matmul_precision() and matmul.allow_tf32 raise
    # 'mix of the legacy and new APIs'; describe() then lost every setting (the row
    # showed hardware 'unknown (RuntimeError ...)') and, on a GPU, TF32 went unreported,
    # so TF32 matmuls were held to float32's tolerance. Run apart: the setting is global.
    import subprocess
    import sys

    import torch

    if not hasattr(torch.backends.cuda.matmul, "fp32_precision"):
        pytest.skip(f"torch {torch.__version__} has no fp32_precision API")
    code = """
import types, torch
from nnwidgets.timing.devices import CPUDevice, CUDADevice
torch.backends.cuda.matmul.fp32_precision = "tf32"
cpu = CPUDevice().describe()
assert cpu["tf32_matmul"] is True and cpu["hardware"] and cpu["torch_threads"] >= 1, cpu
# a CUDA device simulated without a GPU: an Ampere-or-newer card with TF32 on
torch.cuda.get_device_properties = lambda dev: types.SimpleNamespace(name="fake", major=9, minor=0,
                                                                      total_memory=2**37)
gpu = CUDADevice().describe()
assert gpu["tf32"] is True and gpu["hardware"] == "fake", gpu
torch.backends.cuda.matmul.fp32_precision = "ieee"
assert CUDADevice().describe()["tf32"] is False
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]
