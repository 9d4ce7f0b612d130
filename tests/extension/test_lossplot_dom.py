"""lossplot.js rendered in headless Chromium with a fake widget model (no
JupyterLab): the stable DOM, points arriving, log toggle, Stop button."""

import base64
import os
import pathlib
import shutil

import pytest

JS = pathlib.Path(__file__).resolve().parents[2] / "nnwidgets" / "widgets" / "lossplot.js"

PAGE = """<!doctype html><html><body><div id="host"></div><script type="module">
const src = "data:text/javascript;base64,%s";
const mod = await import(src);
const state = { title: "Training loss: net", run_labels: ["net"], max_epochs: 100, epoch: 0,
  n_points: 0, status: "training", device: "cpu", samples_per_s: 0, eta_s: 0, elapsed_s: 0,
  log_y: false, stop_requested: false, points_update: {} };
const handlers = {};
window.sent = []; window.saved = 0;
const model = {
  get: (k) => state[k],
  set: (k, v) => { state[k] = v; },
  save_changes: () => { window.saved += 1; },
  on: (ev, fn) => { (handlers[ev] = handlers[ev] || []).push(fn); },
  off: (ev, fn) => { handlers[ev] = (handlers[ev] || []).filter((f) => f !== fn); },
  send: (m) => window.sent.push(m),
};
window.update = (changes) => {
  for (const [k, v] of Object.entries(changes)) { state[k] = v; (handlers["change:" + k] || []).forEach((f) => f()); }
};
mod.default.initialize({ model });
mod.default.render({ model, el: document.getElementById("host") });
window.ready = true;
</script></body></html>"""


def _chromium():
    explicit = os.environ.get("NNWIDGETS_CHROMIUM")
    if explicit:
        return explicit if pathlib.Path(explicit).exists() else None
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


@pytest.mark.browser
def test_live_plot_dom_in_chromium():
    sync_api = pytest.importorskip("playwright.sync_api")
    exe = _chromium()
    if exe is None:
        pytest.skip("no Chromium (install Debian's chromium or set NNWIDGETS_CHROMIUM)")
    html = PAGE % base64.b64encode(JS.read_bytes()).decode("ascii")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            errors = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.set_content(html)
            page.wait_for_function("window.ready === true", timeout=10000)
            root = page.locator(".nnw-lossplot")
            assert root.get_attribute("data-npoints") == "0"
            assert page.locator("svg.nnw-lossplot-canvas").count() == 1
            page.evaluate("""window.update({points_update: {seq: 1, data: [[0, [1, 2, 3], [9.0, 4.0, 2.0], [9.5, 5.0, 3.0]]]},
                                           epoch: 3, n_points: 3, samples_per_s: 12345, eta_s: 42})""")
            page.wait_for_function("document.querySelector('.nnw-lossplot').dataset.npoints === '3'")
            status = page.locator(".nnw-lossplot-status").inner_text()
            assert "epoch 3/100" in status and "12,345 samples/s" in status and "ETA 42 s" in status and "cpu" in status
            assert page.locator("path.nnw-train").count() == 1 and page.locator("path.nnw-val").count() == 1
            assert "net · loss 2" in page.locator(".nnw-lossplot-legend").inner_text()  # the last loss, labelled
            # a second run of a sweep: overlaid, with its own legend entry
            page.evaluate("""window.update({run_labels: ["net", "lr=0.01"],
                              points_update: {seq: 2, data: [[1, [1, 2], [7.0, 6.0], null]]}})""")
            page.wait_for_function("document.querySelector('.nnw-lossplot').dataset.npoints === '5'")
            assert page.locator("path.nnw-train").count() == 2
            assert "lr=0.01" in page.locator(".nnw-lossplot-legend").inner_text()
            # log scale toggle syncs log_y back to the kernel
            page.locator("input.nnw-log-toggle").check()
            assert page.evaluate("window.saved") == 1
            # the redraw follows the toggle asynchronously: wait for it, then check it
            page.wait_for_function(
                "document.querySelector('svg.nnw-lossplot-canvas').innerHTML.includes('log scale')")
            assert "log scale" in page.locator("svg.nnw-lossplot-canvas").inner_html()
            # Stop: one custom message, the button disables itself
            page.locator("button.nnw-stop").click()
            assert page.evaluate("window.sent") == [{"type": "stop"}]
            assert page.locator("button.nnw-stop").is_disabled()
            page.evaluate("window.update({status: 'stopped', elapsed_s: 3})")
            page.wait_for_function("document.querySelector('.nnw-lossplot').dataset.status === 'stopped'")
            assert "stopped in 3 s" in page.locator(".nnw-lossplot-status").inner_text()
            assert errors == []
        finally:
            browser.close()
