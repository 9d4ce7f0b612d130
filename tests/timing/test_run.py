"""Timing code on several devices and sizes: namespace, setup, sweeps, verdicts."""

import time

import pytest
import torch

from nnwidgets.timing import CPUDevice, resolve_devices, time_code, time_function
from nnwidgets.timing.run import CellCode, check_sizes

FAST = dict(min_run_time=0.01, max_run_time=0.1, warmup=0)
NO_CUDA = not torch.cuda.is_available()


def test_namespace_injection_and_isolation():
    seen = []
    user = {"seen": seen, "keep": 1}
    code = "seen.append((device, n, dtype))\nkeep = 2\nout = n"
    run = time_code(code, namespace=user, devices="cpu", sizes=[3, 5], dtype="float64", repeat=1, number=1, warmup=0)
    assert {s[1] for s in seen} == {3, 5}
    assert all(s[0] == torch.device("cpu") and s[2] is torch.float64 for s in seen)
    # the user's namespace is not changed by the cell (like %%timeit)
    assert user["keep"] == 1 and "device" not in user and "n" not in user
    assert run.row("cpu", 5).output.arrays[""] == 5


def test_setup_runs_once_per_device_and_size_untimed():
    counts = {"setup": 0, "timed": 0}
    code = "counts['setup'] += 1\ntime.sleep(0.05)\n# --- timed ---\ncounts['timed'] += 1\ncounts['timed']"
    run = time_code(code, namespace={"counts": counts, "time": time}, devices="cpu", repeat=3, number=2, warmup=0)
    assert counts["setup"] == 1
    assert counts["timed"] == 1 + 3 * 2
    m = run.row("cpu").measurement
    assert m.first_call < 0.05 and m.median < 0.05  # the 50 ms setup is not timed
    # the output is the first call's last expression
    assert run.row("cpu").output.arrays[""] == 1


def test_cell_code_tracebacks_show_cell_lines():
    code = "x = 1\n# timed\ny = x +\n"
    with pytest.raises(SyntaxError) as info:
        CellCode(code)
    assert info.value.lineno == 3
    with pytest.raises(ValueError, match="nothing to time"):
        CellCode("x = 1\n# --- timed ---\n")
    with pytest.raises(ZeroDivisionError) as exc:
        time_code("a = 1\n# --- timed ---\n1 / 0", devices="cpu")
    assert any("while timing" in note for note in exc.value.__notes__)
    assert "1 / 0" in "".join(__import__("traceback").format_exception(exc.value))


def test_sweep_finds_where_the_async_device_starts_to_win(fake_registered):
    # CPU cost grows with n (1 µs per element); the fake GPU costs 5 ms whatever n
    # (wide margins: sleeps wake up late on a busy machine)
    code = (
        "if hasattr(device, 'launch'):\n"
        "    device.launch(time.sleep, 0.005)\n"
        "else:\n"
        "    time.sleep(n * 1e-6)\n"
    )
    run = time_code(code, namespace={"time": time}, devices="cpu,fake", sizes=[200, 1000, 25000],
                    repeat=5, number=1, warmup=0)
    assert run.speedup("fake", 200) < 1 < run.speedup("fake", 25000)
    assert run.crossover("fake") == 25000
    below, above, estimate = run.crossover_estimate("fake")
    # true crossover: 5 ms = n x 1 µs at n = 5000 (interpolated between 1000 and 25000)
    assert (below, above) == (1000, 25000) and 1000 < estimate < 25000
    assert run.row("fake", 25000).median >= 0.005
    df = run.to_dataframe()
    assert set(df["device"]) == {"cpu", "fake"} and len(df) == 6
    assert {"median_s", "q1_s", "q3_s", "first_call_s", "threads"} <= set(df.columns)


def test_outputs_compared_across_devices(fake_registered):
    agree = time_code("import torch\ntorch.arange(5.0) * 2", devices="cpu,fake", repeat=1, number=1, warmup=0)
    assert agree.row("fake").agreement.ok is True
    assert agree.row("cpu").agreement is None  # the reference
    differ = time_code("import torch\ntorch.arange(5.0) * (2 if str(device) == 'cpu' else 3)",
                       devices="cpu,fake", repeat=1, number=1, warmup=0)
    assert differ.row("fake").agreement.ok is False
    assert "4 of 5 values differ" in differ.row("fake").agreement.message


def test_seed_makes_setup_data_identical_on_each_device(fake_registered):
    code = "import numpy as np, torch\nx = np.random.random(4); t = torch.rand(4)\n# --- timed ---\nout = (x, t)"
    run = time_code(code, devices="cpu,fake", repeat=1, number=1, warmup=0, seed=3)
    assert run.row("fake").agreement.ok is True
    other = time_code(code, devices="cpu", repeat=1, number=1, warmup=0, seed=4)
    assert not (other.row("cpu").output.arrays["[0]"] == run.row("cpu").output.arrays["[0]"]).all()


def test_threads_are_set_reported_and_restored():
    before = torch.get_num_threads()
    run = time_code("torch.get_num_threads()", namespace={"torch": torch}, devices="cpu", threads=2,
                    repeat=1, number=1, warmup=0)
    assert run.row("cpu").output.arrays[""] == 2
    assert run.row("cpu").threads == 2
    assert torch.get_num_threads() == before


@pytest.mark.skipif(not NO_CUDA, reason="checks the message given when CUDA is absent")
def test_missing_cuda_is_skipped_with_the_reason():
    run = time_code("1 + 1", devices="cpu,cuda", **FAST)
    row = run.row("cuda")
    assert row.measurement is None
    assert "no CUDA GPU is available" in row.skipped and torch.__version__ in row.skipped
    assert run.row("cpu").measurement is not None
    assert [d.name for d in resolve_devices("auto")] == ["cpu"]


def test_time_function_factory():
    def make(device, n):
        x = torch.ones(n, device=device)
        return lambda: x * 2

    run = time_function(make, devices="cpu", sizes=[10, 100], **FAST)
    assert run.label == "make"
    assert run.row("cpu", 100).output.shape == (100,)
    with pytest.raises(TypeError, match="returned int, not a callable"):
        time_function(lambda device: 3, devices="cpu")


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"devices": "tpu"}, "device 'tpu' is not known"),
        ({"devices": "gpu"}, "did you mean 'cuda'"),
        ({"devices": "cpu,,cuda"}, "empty device"),
        ({"devices": "cpu,cpu"}, "cpu more than once"),
        ({"devices": "cuda:x"}, "cuda:N"),
        ({"sizes": "10,abc"}, "whole numbers separated by commas"),
        ({"sizes": [10, 10]}, "repeats a size"),
        ({"sizes": [-1]}, ">= 0"),
        ({"dtype": "int8"}, "dtype='int8' is not supported"),
        ({"clock": "wall"}, "clock='wall'"),
        ({"threads": 0}, "threads=0"),
        ({"threads": 100_000}, r"threads=100000 is more than 4 per CPU of this machine \(\d+ CPUs\): use at most"),
        ({"threads": True}, "threads=True"),
        ({"rtol": -1.0}, "rtol=-1.0"),
    ],
)
def test_bad_arguments_name_the_value_and_the_fix(kwargs, match):
    with pytest.raises(ValueError, match=match):
        time_code("1", **kwargs)


def test_sizes_accept_scientific_notation_and_underscores():
    assert check_sizes("1e3, 1_000_000") == [1000, 1000000]
    assert check_sizes(None) is None


def test_cpu_device_describes_threads_and_tf32():
    info = CPUDevice().describe()
    assert info["torch_threads"] == torch.get_num_threads()
    assert info["tf32"] is None  # not a CPU setting
    assert info["float32_matmul_precision"] in ("highest", "high", "medium")


def _synthetic_run(gpu_time):
    from nnwidgets.timing import Measurement, TimingRun
    from nnwidgets.timing.run import DeviceTiming

    sizes = [10, 100, 1000, 10000]
    rows = []
    for n in sizes:
        rows.append(DeviceTiming("s", "cpu", "cpu", n, Measurement((n * 1e-6,) * 3, 1)))
        rows.append(DeviceTiming("s", "cuda", "cuda", n, Measurement((gpu_time,) * 3, 1)))
    return TimingRun("s", rows, ["cpu", "cuda"], sizes)


def test_crossover_interpolates_in_log_log_and_panel_sentences():
    from nnwidgets.widgets.gputime import GPUTimePanel

    run = _synthetic_run(3e-4)  # cpu = n µs: equal at n = 300
    assert run.crossover("cuda") == 1000
    below, above, est = run.crossover_estimate("cuda")
    assert (below, above) == (100, 1000) and est == pytest.approx(300, rel=1e-6)
    assert run.speedup("cuda", 10000) == pytest.approx(10000e-6 / 3e-4)
    panel = GPUTimePanel("synthetic").add(run)
    assert "cuda starts to win between n = 100 and n = 1,000 (about n = 300 by interpolation)" in panel.to_text()
    assert "faster than cpu at every measured size" in GPUTimePanel("a").add(_synthetic_run(1e-6)).to_text()
    assert "not faster than cpu at any measured size" in GPUTimePanel("b").add(_synthetic_run(1.0)).to_text()
    assert _synthetic_run(1.0).crossover_estimate("cuda") is None


def test_ctrl_c_keeps_what_was_measured():
    from nnwidgets.widgets.gputime import GPUTimePanel

    code = "if n == 20:\n    raise KeyboardInterrupt\nn"
    run = time_code(code, label="stopped", devices="cpu", sizes=[10, 20, 30], repeat=2, number=1, warmup=0)
    assert run.interrupted
    assert run.row("cpu", 10).measurement is not None
    assert "interrupted" in run.row("cpu", 20).skipped and "not measured" in run.row("cpu", 30).skipped
    panel = GPUTimePanel("stop").add(run)
    assert "stopped: interrupted; 1 of 3 measurements kept" in panel.to_text()
    assert panel.to_html().count('data-status="skipped">') == 2


@pytest.mark.parametrize("timed", [
    "b = torch.ones(4, 4) @ torch.ones(4, 4)",  # function fast path
    "global b\nb = torch.ones(4, 4) @ torch.ones(4, 4)",  # exec fallback
])
def test_an_out_left_by_an_earlier_cell_is_not_the_output(timed):
    # a3's test cell leaves a float64 `out` behind; the next %%gputime cell
    # times a float32 product and must not report that array as its output
    import numpy as np

    user = {"out": np.ones(5), "torch": torch}
    run = time_code(timed, namespace=user, devices="cpu", repeat=1, number=1, warmup=0)
    assert run.row("cpu").output is None or not run.row("cpu").output.arrays
    # the same code assigning `out` itself: that is its output
    run = time_code(timed + "\nout = b", namespace=user, devices="cpu", repeat=1, number=1, warmup=0)
    assert run.row("cpu").output.arrays[""].dtype == np.float32
