"""nnwidgets' widgets in JupyterLab 4 in Chromium: live loss plot, %%gputime, Asker."""

from __future__ import annotations

import time

from lab_harness import write_notebook

SETUP = """\
import torch
torch.manual_seed(0)
X = torch.randn(2000, 10)
y = torch.randn(2000, 1)  # noise: the loss keeps falling slowly, no early stop
X, y = X.numpy(), y.numpy().ravel()
"""


def test_live_loss_plot_grows_then_final_figure_remains(jupyterlab, open_page):
    write_notebook(jupyterlab.root / "train.ipynb", [
        "%load_ext nnwidgets",
        SETUP,
        # exactly 3000 epochs (tol=0: no early stop), a few seconds: long enough to watch
        # the curve grow however fast the trainer gets (the lecture data converged in
        # 0.6 s once denormals were flushed, faster than the test samples)
        "%%nntrain --data X,y --seed 0 --out res\n"
        "import warnings\n"
        "from sklearn.exceptions import ConvergenceWarning\n"
        "warnings.filterwarnings('ignore', category=ConvergenceWarning)  # max_iter is the point here\n"
        "from nnwidgets import MLPRegressor\n"
        "MLPRegressor(hidden_layer_sizes=[100, 100], max_iter=3000, tol=0.0, n_iter_no_change=3000, random_state=0)",
        "res.history[-1]['epoch'] if hasattr(res, 'history') else res",
    ])
    lab = open_page("student")
    lab.open_notebook("train.ipynb")
    lab.run_cell(0)
    lab.assert_no_error_output(0)
    lab.run_cell(1)

    lab.run_cell(2, wait=False)
    plot = lab.cell(2).locator(".nnw-lossplot").first
    plot.wait_for(state="visible", timeout=90_000)
    lab.cell(2).locator(".nnw-lossplot-canvas").first.wait_for(state="visible")
    samples, curve = [], None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and lab.prompt(2) == "[*]:":
        try:
            n = plot.get_attribute("data-npoints", timeout=2000)
        except Exception:  # the live plot is replaced by the final figure at the end
            break
        if n is not None and n.isdigit():
            samples.append(int(n))
            if len(samples) == 2:
                lab.screenshot("training")
            if curve is None or curve.count("L") < 2:  # until a curve of 3+ points is drawn
                try:  # the points (binary float64 buffers) decoded into a drawn curve
                    curve = plot.locator("path.nnw-train").first.get_attribute("d", timeout=2000)
                except Exception:  # (not drawn yet, or the view just went away: asserted below)
                    pass
        time.sleep(0.4)
    lab.wait_cell_done(2)
    lab.screenshot("trained")
    growing = sorted(set(samples))
    assert len(growing) >= 2 and samples == sorted(samples), (
        f"data-npoints should grow while training runs; sampled {samples}")
    assert curve is not None, f"the live plot drew no training curve while it ran; sampled {samples}"
    assert curve.startswith("M") and curve.count("L") >= 2 and "NaN" not in curve, curve[:200]
    # after training the static final figure stays in the output
    lab.cell(2).locator(".jp-OutputArea-output img").first.wait_for(state="visible", timeout=60_000)
    lab.assert_no_error_output(2)
    lab.assert_console_clean()


def test_gputime_panel_shows_cpu_rows_and_no_gpu_message(jupyterlab, open_page):
    write_notebook(jupyterlab.root / "gputime.ipynb", [
        "%load_ext nnwidgets",
        "%%gputime\nimport torch\na = torch.ones(128, 128, device=device)\nb = a @ a",
    ])
    lab = open_page("student")
    lab.open_notebook("gputime.ipynb")
    lab.run_cell(0)
    lab.run_cell(1, timeout_ms=180_000)
    panel = lab.cell(1).locator(".nnw-gputime").last
    panel.wait_for(state="visible")
    rows = panel.locator(".nnw-gputime-row")
    assert rows.count() >= 1
    assert "cpu" in rows.first.inner_text().lower()
    import torch

    if not torch.cuda.is_available():
        assert "GPU" in panel.locator(".nnw-gputime-nogpu").inner_text()
    lab.screenshot("gputime-panel", locator=panel)
    lab.assert_no_error_output(1)
    lab.assert_console_clean()


def test_asker_answer_updates_count_and_chart(jupyterlab, open_page):
    write_notebook(jupyterlab.root / "quiz.ipynb", [
        "from nnwidgets import Asker\n"
        "Asker('browser-q1', 'Which activation is linear?', ['ReLU', 'identity', 'tanh'], student='alice')",
    ])
    lab = open_page("alice")
    lab.open_notebook("quiz.ipynb")
    lab.run_cell(0)
    asker = lab.cell(0).locator(".nnw-asker").first
    asker.wait_for(state="visible")
    count = asker.locator(".nnw-asker-count")
    before = count.inner_text()
    lab.screenshot("asker-before")
    asker.locator(".nnw-asker-answer").nth(1).click()
    asker.locator(".nnw-asker-submit").click()
    lab.page.wait_for_function("([el, b]) => el.innerText !== b",
                               arg=[count.element_handle(), before], timeout=30_000)
    assert "1" in count.inner_text()
    chart = asker.locator(".nnw-asker-chart")
    chart.wait_for(state="visible")
    lab.page.wait_for_function(
        "el => [...el.querySelectorAll('.nnw-asker-row-count')].map(e => e.innerText).join(',') === '0,1,0'",
        arg=chart.element_handle(), timeout=30_000)
    lab.screenshot("asker-answered", locator=asker)
    lab.assert_console_clean()


def test_reopened_notebook_shows_its_widgets_not_model_not_found(jupyterlab, open_page):
    """JupyterLab as `nnwidgets lab` starts it saves widget state in the
    notebook: after the kernel is gone and the page reloads, the quiz question
    and the student's answer are drawn again from the saved file, where stock
    JupyterLab shows "Error displaying widget: model not found". Answering
    there, with no kernel behind the view, tells the student to re-run it."""
    import json

    path = write_notebook(jupyterlab.root / "reopen.ipynb", [
        "from nnwidgets import Asker\n"
        "Asker('browser-reopen', 'Which activation is linear?', ['ReLU', 'identity', 'tanh'], student='bob')",
    ])
    lab = open_page("bob")
    lab.open_notebook("reopen.ipynb")
    lab.run_cell(0)
    asker = lab.cell(0).locator(".nnw-asker").first
    asker.wait_for(state="visible")
    asker.locator(".nnw-asker-answer").nth(1).click()
    asker.locator(".nnw-asker-submit").click()
    lab.page.wait_for_function("el => el.innerText.includes('1')",
                               arg=asker.locator(".nnw-asker-count").element_handle(), timeout=30_000)
    lab.cell(0).locator(".jp-InputArea-editor .cm-content").first.click()
    lab.page.keyboard.press("Control+s")
    deadline = time.monotonic() + 30
    state = {}
    while time.monotonic() < deadline:
        saved = json.loads(path.read_text())
        state = saved["metadata"].get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {})
        if state.get("state"):
            break
        time.sleep(0.5)
    models = state.get("state", {})
    askers = [m for m in models.values() if m.get("state", {}).get("question") == "Which activation is linear?"]
    assert len(askers) == 1, f"the saved notebook holds no Asker state; widget models saved: {len(models)}"

    jupyterlab.shutdown_kernels()
    again = open_page("bob-again")
    again.open_notebook("reopen.ipynb")
    view = again.cell(0).locator(".nnw-asker").first
    view.wait_for(state="visible", timeout=60_000)
    assert "Which activation is linear?" in view.inner_text()
    again.screenshot("reopened", locator=view)
    assert "model not found" not in again.output_text(0)
    assert view.locator(".nnw-asker-answer input").nth(1).is_checked()  # bob's saved answer
    # the restored view has no kernel behind it: answering says what to do
    view.locator(".nnw-asker-answer").nth(2).click()
    view.locator(".nnw-asker-submit").click()
    again.page.wait_for_function("el => el.innerText.includes('run this cell again')",
                                 arg=view.locator(".nnw-asker-status").element_handle(), timeout=30_000)
    again.screenshot("answered-without-kernel", locator=view)
    again.assert_console_clean()
