"""The panel: stable DOM, text fallback, no-GPU message, accumulation, speedups, plot."""

import re
import time

import pytest
import torch

from nnwidgets.timing import time_code
from nnwidgets.widgets.gputime import GPUTimePanel, get_panel, gputime

QUICK = dict(repeat=3, number=1, warmup=0)
SWEEP = dict(repeat=5, number=1, warmup=0)
# CPU: 1 µs per element; fake GPU: 5 ms whatever n (wide margins for a busy machine)
SLEEPY = "if hasattr(device, 'launch'):\n    device.launch(time.sleep, 0.005)\nelse:\n    time.sleep(n * 1e-6)\nout = n"


@pytest.fixture
def panel():
    return GPUTimePanel("test")


def test_html_has_stable_classes_and_one_row_per_device_and_size(panel, fake_registered):
    panel.add(time_code(SLEEPY, namespace={"time": time}, label="sleep", devices="cpu,fake",
                        sizes=[200, 25000], **SWEEP))
    html = panel._repr_mimebundle_()["text/html"]
    assert html.startswith('<div class="nnw-gputime"')
    rows = re.findall(r'<tr class="nnw-gputime-row" ([^>]*)>', html)
    assert len(rows) == 4
    assert 'data-device="fake" data-n="25000" data-status="measured"' in html
    for header in ("median", "spread (IQR/2)", "first call", "speedup", "threads", "dtype", "TF32", "outputs"):
        assert f">{header}</th>" in html
    assert "baseline" in html and "allclose ✓" in html
    assert "fake starts to win between n = 200 and n = 25,000 (about n = " in html
    assert 'class="nnw-gputime-plot"' in html  # the sweep plot, embedded for static viewers


def test_speedup_is_baseline_median_over_row_median(panel, fake_registered):
    run = time_code(SLEEPY, namespace={"time": time}, label="s", devices="cpu,fake", sizes=[25000], **SWEEP)
    panel.add(run)
    cpu, fake = run.row("cpu", 25000), run.row("fake", 25000)
    assert panel.baseline(25000) is cpu
    assert panel.speedup(fake) == pytest.approx(cpu.median / fake.median)
    assert panel.speedup(fake) > 1


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the panel on a machine without CUDA")
def test_without_cuda_the_panel_says_so_and_shows_cpu_figures(panel):
    panel.add(time_code("sum(range(100))", label="py", devices="auto", min_run_time=0.01, max_run_time=0.05))
    bundle = panel._repr_mimebundle_()
    for text in (bundle["text/plain"], bundle["text/html"]):
        assert "No GPU is available on this machine" in text
        assert "only CPU figures are shown" in text
    assert 'data-device="cpu"' in bundle["text/html"] and 'data-status="measured"' in bundle["text/html"]
    asked = GPUTimePanel("asked")
    asked.add(time_code("1", label="x", devices="cpu,cuda", **QUICK))
    html = asked.to_html()
    assert 'data-device="cuda" data-n="" data-status="skipped"' in html
    assert "skipped: no CUDA GPU is available" in html


def test_runs_accumulate_and_a_rerun_replaces_its_label(panel):
    panel.add(time_code("1 + 1", label="numba kernel", devices="cpu", **QUICK))
    panel.add(time_code("2 + 2", label="NumPy x += y", devices="cpu", **QUICK))
    assert panel.labels == ["numba kernel", "NumPy x += y"]
    panel.add(time_code("3 + 3", label="numba kernel", devices="cpu", **QUICK))
    assert panel.labels == ["NumPy x += y", "numba kernel"]
    assert len(panel.rows()) == 2
    text = panel.to_text()
    assert "numba kernel" in text and "NumPy x += y" in text
    assert panel.clear().labels == []
    with pytest.raises(TypeError, match="TimingRun"):
        panel.add("not a run")


def test_text_table_lists_every_column(panel):
    panel.add(time_code("import torch\ntorch.ones(3, dtype=torch.float64)", label="ones", devices="cpu", **QUICK))
    lines = panel.to_text().splitlines()
    header = next(line for line in lines if line.startswith("label"))
    assert header.split() == ["label", "device", "n", "median", "spread", "(IQR/2)", "first", "call",
                              "speedup", "runs×calls", "threads", "dtype", "TF32", "outputs"]
    row = next(line for line in lines if line.startswith("ones"))
    assert "float64" in row and "reference" in row and f" {torch.get_num_threads()} " in row


def test_differing_outputs_are_flagged(panel, fake_registered):
    run = time_code("import torch\ntorch.ones(4) * (1 if str(device) == 'cpu' else 2)", label="bug",
                    devices="cpu,fake", **QUICK)
    panel.add(run)
    html = panel.to_html()
    assert 'class="nnw-gputime-text nnw-gputime-differ"' in html and "DIFFER" in html
    assert "4 of 4 values differ from cpu" in panel.to_text()


def test_figure_bars_without_sweep_and_lines_with_sweep(panel, fake_registered):
    assert panel.figure() is None
    panel.add(time_code("1", label="a", devices="cpu", **QUICK))
    panel.add(time_code("2", label="b", devices="cpu", **QUICK))
    bars = panel.figure()
    assert len(bars.axes[0].patches) == 2
    panel.add(time_code(SLEEPY, namespace={"time": time}, label="sweep", devices="cpu,fake",
                        sizes=[200, 25000], **SWEEP))
    lines = panel.figure().axes[0]
    assert lines.get_xscale() == "log" and len(lines.get_lines()) >= 2
    assert lines.get_xlabel() == "size n"


def test_get_panel_registry_and_gputime_function():
    a = get_panel("reg-test", reset=True)
    assert get_panel("reg-test") is a
    p = gputime("1 + 1", label="one", panel="reg-test", devices="cpu", live=False, **QUICK)
    assert p is a and p.labels == ["one"]
    assert get_panel("reg-test", reset=True).labels == []
    with pytest.raises(ValueError, match="panel=''"):
        get_panel("")


def test_dataframe_has_speedup(panel):
    panel.add(time_code("1", label="a", devices="cpu", **QUICK))
    df = panel.to_dataframe()
    assert df.loc[0, "speedup"] == pytest.approx(1.0)
    assert df.loc[0, "label"] == "a"
