"""The Stop button in real JupyterLab 4 (Chromium): a %%nntrain cell trains,
the live plot draws, a click ends training; the cell keeps the model and ends
with the static image. Uses the browser tests' JupyterLab harness."""

import pathlib
import sys

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

BROWSER_TESTS = pathlib.Path(__file__).resolve().parents[1] / "browser"


def test_stop_button_in_jupyterlab(tmp_path):
    pytest.importorskip("playwright.sync_api")
    sys.path.insert(0, str(BROWSER_TESTS))
    try:
        from lab_harness import ConsoleWatch, LabPage, find_chromium, start_jupyterlab, write_notebook
    except ImportError as exc:
        pytest.skip(f"the JupyterLab harness (tests/browser/lab_harness.py) is not available: {exc}")
    finally:
        sys.path.remove(str(BROWSER_TESTS))
    chromium = find_chromium()
    if chromium is None:
        pytest.skip("no Chromium (install Debian's chromium or set NNWIDGETS_CHROMIUM)")
    from playwright.sync_api import sync_playwright

    lab = start_jupyterlab(tmp_path)
    try:
        write_notebook(lab.root / "stop.ipynb", [
            "%load_ext nnwidgets\nimport numpy as np\nfrom torch import nn\n"
            "rng = np.random.default_rng(0)\nX = rng.normal(size=(120, 6)).astype(np.float32)\n"
            "y = X @ np.arange(1.0, 7.0) * 10 + 150",
            "%%nntrain --data X,y --epochs 1000000 --optimizer adam --lr 0.01 --out res -q\n"
            "nn.Sequential(nn.Linear(6, 32), nn.ReLU(), nn.Linear(32, 1))",
            "print(res.stop_reason, res.epochs < 1000000)",
        ])
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, headless=True,
                                         args=["--disable-gpu", "--disable-dev-shm-usage"])
            try:
                page = browser.new_context(viewport={"width": 1200, "height": 900}).new_page()
                console = ConsoleWatch()
                console.attach(page)
                lab_page = LabPage(page, lab, "extension-stop", console=console)
                lab_page.open_notebook("stop.ipynb")
                page.wait_for_function("() => document.body.innerText.includes('| Idle')", timeout=180_000)
                lab_page.run_cell(0, timeout_ms=180_000)
                lab_page.run_cell(1, wait=False)
                page.wait_for_function(
                    "() => { const r = document.querySelector('.nnw-lossplot');"
                    " return r && Number(r.dataset.npoints) > 20; }", timeout=120_000)
                assert "samples/s" in page.locator(".nnw-lossplot-status").inner_text()
                lab_page.screenshot("training")
                page.locator("button.nnw-stop").click()
                lab_page.wait_cell_done(1, timeout_ms=60_000)  # raises if the click did not end it
                assert lab_page.cell(1).locator("img").count() == 1  # the static image replaced the widget
                lab_page.run_cell(2)
                assert lab_page.output_text(2).split() == ["stopped", "True"]
                lab_page.assert_console_clean()
            finally:
                browser.close()
    finally:
        lab.stop()
