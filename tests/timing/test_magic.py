"""%%gputime through a real IPython shell."""

import pytest
from IPython.core.error import UsageError
from IPython.testing import globalipapp

from nnwidgets.magics.timing import TimingMagics
from nnwidgets.timing import TimingOptionError
from nnwidgets.widgets.gputime import GPUTimePanel, get_panel

FAST = "--repeat 2 --number 1 --warmup 0"


@pytest.fixture(scope="module")
def ip():
    shell = (globalipapp.start_ipython() or globalipapp.get_ipython())
    shell.register_magics(TimingMagics)
    return shell


def run(ip, line, cell):
    result = ip.run_cell(f"%%gputime {line}\n{cell}")
    return result


def test_device_and_n_are_injected_and_the_panel_is_returned(ip):
    ip.user_ns["seen"] = []
    res = run(ip, f"--label inj --sizes 10,20 --devices cpu --panel magic-inj --reset {FAST}",
              "seen.append((type(device).__name__, str(device), n))\nlocal_var = 1\nn * 2")
    assert res.success, res.error_in_exec
    panel = res.result
    assert isinstance(panel, GPUTimePanel) and panel.name == "magic-inj"
    assert set(ip.user_ns["seen"]) == {("device", "cpu", 10), ("device", "cpu", 20)}
    assert "local_var" not in ip.user_ns  # the cell runs in a copy of the namespace
    run_ = panel.runs[0]
    assert run_.row("cpu", 20).output.arrays[""] == 40


def test_cells_accumulate_in_one_panel(ip):
    ip.user_ns["np"] = pytest.importorskip("numpy")
    a = run(ip, f"--label 'numba kernel' --devices cpu --panel lecture --reset {FAST}", "x = np.ones(8)\nx + 1")
    b = run(ip, f"-l 'NumPy x += y' -d cpu -p lecture {FAST}",
            "x = np.ones(8); y = np.ones(8)\n# --- timed ---\nx += y\nout = x")
    assert a.success and b.success
    assert b.result is a.result is get_panel("lecture")
    assert get_panel("lecture").labels == ["numba kernel", "NumPy x += y"]
    assert "numba kernel" in repr(b.result) and "NumPy x += y" in repr(b.result)


def test_setup_and_ipython_syntax_in_the_cell(ip):
    res = run(ip, f"--label magic --devices cpu --panel syntax --reset {FAST}",
              "y = %time 21 * 2\n# --- timed ---\ny")
    assert res.success, res.error_in_exec
    assert res.result.runs[0].row("cpu").output.arrays[""] == 42


@pytest.mark.parametrize(
    "line, message",
    [
        ("--sizes ten", "--sizes 'ten' must be whole numbers"),
        ("--devices tpu", "--devices: device 'tpu' is not known"),
        ("--repeat 0", "--repeat 0 must be a whole number >= 1"),
        ("--repeat two", "argument --repeat/-r: invalid int value: 'two'"),
        ("--dtype int8", "--dtype 'int8' is not supported"),
        ("--min-time 1 --max-time 0.5", "--max-time 0.5 is smaller than --min-time"),
        ("--clock wall", "argument --clock: invalid choice: 'wall'"),
        ("--nope 3", "unrecognized arguments: --nope"),
        ("--panel ''", "--panel '' must be a non-empty name"),
        ("--seed -1", "--seed -1 must be a whole number from 0 to 4294967295"),
        ("--seed 99999999999", "--seed 99999999999 must be a whole number from 0 to 4294967295"),
        ("--sizes 1e400", "--sizes '1e400' must be whole numbers"),
        ("--atol nan", "--atol nan must be a number >= 0"),
        ("--warmup nan", "--warmup nan must be a number of seconds >= 0"),
        ("--threads 100000", "is more than 4 per CPU of this machine"),
    ],
)
def test_misuse_is_a_one_line_usage_error_naming_the_option(ip, line, message):
    with pytest.raises(UsageError) as info:
        ip.run_cell_magic("gputime", line, "1 + 1")
    text = str(info.value)
    assert text.startswith("%%gputime: ") and message in text, text
    assert "\n" not in text


def test_empty_cell_and_errors_in_the_cell(ip):
    with pytest.raises(UsageError, match="the cell is empty"):
        ip.run_cell_magic("gputime", "", "\n")
    res = run(ip, f"--devices cpu {FAST}", "1 / 0")
    assert isinstance(res.error_in_exec, ZeroDivisionError)
    assert any("while timing" in n for n in res.error_in_exec.__notes__)


def test_help_describes_the_options(ip):
    doc = ip.find_cell_magic("gputime").__doc__
    for text in ("--label", "--sizes", "--devices", "--repeat", "--panel", "# --- timed ---", "%timeit"):
        assert text in doc
    # what `%gputime?` (and `%%gputime?`) show
    for name in ("%gputime", "%%gputime"):
        info = ip._object_find(name)
        assert info.found and "--sizes SIZES" in info.obj.__doc__


def test_line_form_times_a_statement_or_shows_the_panel(ip):
    res = ip.run_cell(f"%gputime --label line --devices cpu --panel line-form --reset {FAST} sum(range(10))")
    assert res.success, res.error_in_exec
    assert res.result.labels == ["line"]
    assert res.result.runs[0].row("cpu").output.arrays[""] == 45
    shown = ip.run_cell("%gputime --panel line-form")
    assert shown.result is res.result and shown.result.labels == ["line"]
    assert ip.run_cell("%gputime --panel line-form --reset").result.labels == []
    with pytest.raises(UsageError, match="unrecognized arguments: extra"):
        ip.run_cell_magic("gputime", "extra", "1 + 1")


def test_lecture_comparison_timeit_flatters_the_kernel_the_panel_does_not(ip, fake_registered):
    """Lecture 001 times a numba CUDA kernel (47.5 µs) against NumPy (826 µs) with
    %timeit. With an asynchronous "GPU" whose kernel really takes 8 ms and a
    CPU loop that takes 1 ms, %timeit calls the kernel the faster one; the
    panel, which waits for the device, does not."""
    import time

    ip.user_ns.update(time=time, fake_dev=fake_registered)
    kernel = ip.run_line_magic("timeit", "-o -q -n 10 -r 3 fake_dev.launch(time.sleep, 0.008)")
    fake_registered.synchronize()
    numpy_like = ip.run_line_magic("timeit", "-o -q -n 10 -r 3 time.sleep(0.001)")
    assert kernel.average < numpy_like.average, (kernel, numpy_like)  # the launch looks cheap

    opts = "--repeat 5 --number 1 --warmup 0 --panel lecture-001 "
    a = run(ip, opts + "--reset --label 'numba kernel' --devices fake", "device.launch(time.sleep, 0.008)")
    b = run(ip, opts + "--label 'NumPy x += y' --devices cpu", "time.sleep(0.001)")
    assert a.success and b.success
    panel = b.result
    kernel_row = panel.runs[0].row("fake")
    numpy_row = panel.runs[1].row("cpu")
    assert panel.baseline(None) is numpy_row  # speedups are against the CPU row
    assert kernel_row.median >= 0.008, kernel_row.measurement
    assert panel.speedup(kernel_row) < 1, (kernel_row.measurement, numpy_row.measurement)
    html = panel.to_html()
    assert 'data-label="numba kernel" data-device="fake"' in html
    assert 'data-label="NumPy x += y" data-device="cpu"' in html


@pytest.mark.parametrize("cell, error, message", [
    ("raise ValueError('my own bad value')", ValueError, "my own bad value"),
    ("import numpy as np\nnp.zeros(3).reshape(2, 2)", ValueError, "cannot reshape array of size 3"),
    ("x = 1\n# --- timed ---\n{}['missing']", KeyError, "missing"),
    # the timing core's own option error, raised by the cell's code, is the cell's error too
    ("from nnwidgets.timing import measure\nmeasure(lambda: 1, repeat=0)", TimingOptionError, "repeat=0"),
])
def test_an_error_of_the_cell_is_the_users_own_not_a_usage_error(ip, capsys, cell, error, message):
    """A ValueError the timed code raises is not a bad option: it keeps its type
    and message, and its traceback starts at the cell's line, with no nnwidgets frames."""
    res = run(ip, f"--devices cpu --panel own-error {FAST}", cell)
    exc = res.error_in_exec
    assert type(exc) is error and message in str(exc), repr(exc)
    assert any("while timing" in n and "on cpu" in n for n in exc.__notes__)
    shown = capsys.readouterr().out
    # the failing line, quoted at its line number in the notebook cell (line 1 is the magic's)
    where = f"Cell In[1], line {cell.count(chr(10)) + 2}"
    assert where in shown and cell.splitlines()[-1] in shown.split(where)[1], shown
    assert "UsageError" not in shown
    # no nnwidgets frames between the notebook's line and the cell's code
    above_the_cell = shown.split(where)[0]
    for frame in ("magics/timing.py", "widgets/gputime.py", "timing/run.py", "timing/measure.py"):
        assert frame not in above_the_cell, shown



def test_a_failed_run_leaves_the_panel_as_it_was(ip):
    ok = run(ip, f"--label kept --devices cpu --panel unchanged --reset {FAST}", "1 + 1")
    assert ok.success
    before = list(get_panel("unchanged").runs)
    for line, cell in [
        ("--label kept", "1 / 0"),  # same label: the earlier rows stay
        ("--label other", "1 / 0"),
        ("--label other --reset", "1 / 0"),  # --reset empties the panel only for a run that succeeds
        ("--label other --reset --sizes ten", "1 + 1"),  # a bad option with --reset
    ]:
        res = run(ip, f"{line} --devices cpu --panel unchanged {FAST}", cell)
        assert not res.success
        assert get_panel("unchanged").runs == before, line
        assert get_panel("unchanged").status == ""
