"""The Asker in a real JupyterLab 4 + Chromium (skipped without Chromium):
with a quiz server, submitting and the live count keep working while the
kernel is busy; the instructor's reveal marks the correct answer; the embedded
mode answers through the kernel. Uses the browser tests' Lab harness."""

from __future__ import annotations

import pathlib
import sys

import pytest

from nnwidgets.quiz.client import QuizClient

pytestmark = [pytest.mark.browser, pytest.mark.slow]

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "browser"))


@pytest.fixture
def lab_page(tmp_path):
    harness = pytest.importorskip("lab_harness", reason="tests/browser/lab_harness.py is missing")
    pytest.importorskip("playwright", reason="playwright (python) is not installed")
    exe = harness.find_chromium()
    if exe is None:
        pytest.skip("no Chromium executable (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    lab = harness.start_jupyterlab(tmp_path / "lab")
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=exe, headless=True,
                                         args=["--disable-gpu", "--disable-dev-shm-usage"])
            page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            watch = harness.ConsoleWatch()
            watch.attach(page)
            yield harness, lab, harness.LabPage(page, lab, "quiz-asker", console=watch), watch
            browser.close()
    finally:
        lab.stop()


def test_asker_live_in_jupyterlab_while_the_kernel_is_busy(server, lab_page):
    harness, lab, lp, watch = lab_page
    page = lp.page
    harness.write_notebook(lab.root / "quiz.ipynb", [
        # shows the question, then keeps the kernel busy until the test is done with it
        # (at most 120 s), whatever the speed of the machine
        "import pathlib, time\nfrom IPython.display import display\nfrom nnwidgets import Asker\n"
        "display(Asker(id='labnand', question='NAND <b>outputs</b>?', "
        "answers=['0,0,0,1', '1,1,1,0', '0,1,1,0'], "
        f"correct=1, server='{server.url}', student='lab-student'))\n"
        "t0 = time.time()\n"
        "while time.time() - t0 < 120 and not pathlib.Path('busy.done').exists():\n"
        "    time.sleep(0.1)",
        "Asker(id='labself', question='Local?', answers=['yes', 'no'], correct=0, student='me')",
        "Asker(id='labjup', question='Via Jupyter?', answers=['a', 'b'], server='jupyter', student='me')",
    ])
    lp.open_notebook("quiz.ipynb")  # waits for the kernel to exist and be idle
    lp.run_cell(0, wait=False)
    w = page.locator(".nnw-asker").first
    w.wait_for()
    assert w.locator(".nnw-asker-question").inner_text() == "NAND <b>outputs</b>?"  # as text
    assert w.locator(".nnw-asker-chart").is_hidden()  # no chart before answering
    w.locator(".nnw-asker-answer").nth(1).click()
    w.locator(".nnw-asker-submit").click()
    count = "document.querySelector('.nnw-asker .nnw-asker-count').textContent"
    page.wait_for_function(f"{count} === '1 answer'", timeout=20_000)
    assert w.locator(".nnw-asker-chart").is_visible()
    other = QuizClient(server.url, student="lab-other", save=False)
    other.submit("labnand", 2)  # another student: arrives by polling, kernel still busy
    page.wait_for_function(f"{count} === '2 answers'", timeout=20_000)
    assert "[*]" in lp.prompt(0)  # the kernel really was busy all along
    other.instructor("reveal", "labnand", server.instructor)
    page.wait_for_function(
        "document.querySelector('.nnw-asker .nnw-asker-answer.nnw-asker-correct') !== null",
        timeout=20_000)
    assert "1,1,1,0" in w.locator(".nnw-asker-answer.nnw-asker-correct").inner_text()
    assert "[*]" in lp.prompt(0)  # still busy: all of the above happened while it ran
    lp.screenshot("server-mode", locator=w)

    (lab.root / "busy.done").write_text("")
    lp.wait_cell_done(0, timeout_ms=60_000)
    lp.run_cell(1)
    w2 = page.locator(".nnw-asker").nth(1)
    w2.wait_for()
    w2.locator(".nnw-asker-answer").nth(0).click()
    w2.locator(".nnw-asker-submit").click()
    page.wait_for_function(
        "document.querySelectorAll('.nnw-asker .nnw-asker-count')[1].textContent === '1 answer'",
        timeout=20_000)
    w2.locator(".nnw-asker-reveal").click()
    page.wait_for_function(
        "document.querySelectorAll('.nnw-asker')[1].querySelector('.nnw-asker-correct') !== null",
        timeout=20_000)
    lp.screenshot("embedded-mode", locator=w2)

    # server="jupyter": the Lab server's own quiz API (cookie + XSRF auth), when
    # the extension is enabled in this environment (an editable install lacks
    # the data file that enables it)
    try:
        lab.api("quiz")  # GET {base}api/quiz
        extension = True
    except Exception:
        extension = False
    if extension:
        lp.run_cell(2)
        w3 = page.locator(".nnw-asker").nth(2)
        w3.wait_for()
        w3.locator(".nnw-asker-answer").nth(1).click()
        w3.locator(".nnw-asker-submit").click()
        page.wait_for_function(
            "document.querySelectorAll('.nnw-asker .nnw-asker-count')[2].textContent === '1 answer'",
            timeout=20_000)
        lp.screenshot("jupyter-mode", locator=w3)
    assert [str(r) for r in watch.all_errors()] == []


def test_a_new_student_answers_every_question_of_a_page_while_the_kernel_is_busy(server, lab_page):
    """A lecture page holds many questions; the quiz server issues a student's
    token only once (a second request gets 409). Every question on the page
    shares the one token, obtained once, also while the kernel is busy."""
    harness, lab, lp, watch = lab_page
    page = lp.page
    asks = "".join(
        f"display(Asker(id='page{i}', question='Q{i}?', answers=['a', 'b', 'c'], "
        f"server='{server.url}', student='new-student'))\n"
        for i in range(3)
    )
    harness.write_notebook(lab.root / "page.ipynb", [
        "import pathlib, time\nfrom IPython.display import display\nfrom nnwidgets import Asker\n"
        + asks +
        "t0 = time.time()\n"
        "while time.time() - t0 < 120 and not pathlib.Path('busy.done').exists():\n"
        "    time.sleep(0.1)",
    ])
    lp.open_notebook("page.ipynb")
    lp.run_cell(0, wait=False)
    page.wait_for_function("document.querySelectorAll('.nnw-asker').length === 3", timeout=30_000)
    for i in range(3):
        w = page.locator(".nnw-asker").nth(i)
        w.locator(".nnw-asker-answer").nth(i).click()
        w.locator(".nnw-asker-submit").click()
    for i in range(3):
        page.wait_for_function(
            f"document.querySelectorAll('.nnw-asker .nnw-asker-count')[{i}].textContent === '1 answer'",
            timeout=20_000)
    statuses = page.locator(".nnw-asker-status").all_inner_texts()
    assert statuses == ["Your answer: A", "Your answer: B", "Your answer: C"]
    assert "[*]" in lp.prompt(0)  # all while the kernel was busy
    (lab.root / "busy.done").write_text("")
    lp.wait_cell_done(0, timeout_ms=60_000)
    viewer = QuizClient(server.url, student="viewer", save=False)
    for i in range(3):  # the server recorded each answer
        assert viewer.state(f"page{i}")["counts"][i] == 1
    assert [str(r) for r in watch.all_errors()] == []
