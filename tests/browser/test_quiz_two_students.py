"""Two students answer one Asker question in JupyterLab 4 (two browser
contexts, two notebooks, two kernels) against a real ``nnwidgets quiz serve``:
each student's count and chart follow the other's answer live (browser
polling, nothing re-run), and the instructor dashboard shows both answers."""

from __future__ import annotations

import re
import secrets
import subprocess
import sys
import time

import pytest

from lab_harness import ARTIFACTS, stop_process, write_notebook

QID = "twostu"
QUESTION = "Which activation is linear for positive inputs?"
ANSWERS = ["sigmoid", "ReLU", "tanh"]


@pytest.fixture
def quiz_server(tmp_path):
    """``nnwidgets quiz serve`` on a free port of 127.0.0.1, with a known instructor token."""
    token = secrets.token_hex(16)
    log = tmp_path / "quiz-server.log"
    cmd = [sys.executable, "-m", "nnwidgets.cli", "quiz", "serve", "--db", str(tmp_path / "quiz.sqlite"),
           "--host", "127.0.0.1", "--port", "0", "--instructor-token", token]
    with open(log, "w") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True,
                                start_new_session=True)
    try:
        line = ""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None:
            line = proc.stdout.readline()
            if line:
                break
        m = re.search(r"listening on (http://\S+)", line)
        if not m:
            raise RuntimeError(f"quiz server did not start: {line!r}\n{log.read_text()[-2000:]}")
        url = m.group(1)
        yield url if url.endswith("/") else url + "/", token
    finally:
        stop_process(proc)
        if proc.stdout:
            proc.stdout.close()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        if log.exists():
            (ARTIFACTS / "test_quiz_two_students--quiz-server.log").write_text(log.read_text())


def _asker_notebook(path, server_url, student):
    write_notebook(path, [
        "from nnwidgets import Asker\n"
        f"Asker(id={QID!r}, question={QUESTION!r}, answers={ANSWERS!r}, "
        f"server={server_url!r}, student={student!r})",
    ])


def _open_asker(lab, notebook):
    """Open the notebook, run its one cell like a student, return the widget."""
    lab.open_notebook(notebook)
    # the idle indicator can show before the kernel exists on a loaded machine
    lab.page.wait_for_function(
        "!document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-NotebookPanel-toolbar')"
        ".innerText.includes('No Kernel')", timeout=120_000)
    lab.wait_kernel_idle()
    lab.run_cell(0)
    lab.assert_no_error_output(0)
    widget = lab.cell(0).locator(".nnw-asker").first
    widget.wait_for(state="visible", timeout=60_000)
    return widget


def _wait_count(lab, text, timeout_ms=20_000):
    lab.page.wait_for_function(
        "t => { const e = document.querySelector('.nnw-asker .nnw-asker-count');"
        " return e !== null && e.textContent === t; }",
        arg=text, timeout=timeout_ms)


def _chart(widget):
    """Per-answer counts shown by the widget's chart, and the bar widths (in %)."""
    rows = widget.locator(".nnw-asker-chart .nnw-asker-row")
    counts = [int(c) for c in rows.locator(".nnw-asker-row-count").all_text_contents()]
    widths = rows.locator(".nnw-asker-bar").evaluate_all(
        "bars => bars.map(b => parseFloat(b.style.width) || 0)")
    return counts, widths


def test_two_students_see_each_others_answers_live(jupyterlab, open_page, quiz_server):
    url, instructor = quiz_server
    _asker_notebook(jupyterlab.root / "alice.ipynb", url, "alice")
    _asker_notebook(jupyterlab.root / "bob.ipynb", url, "bob")
    alice = open_page("alice")
    bob = open_page("bob")

    # Alice answers B (ReLU): her count and chart show her answer
    a = _open_asker(alice, "alice.ipynb")
    assert a.locator(".nnw-asker-chart").is_hidden()  # no chart before answering
    a.locator(".nnw-asker-answer").nth(1).click()
    a.locator(".nnw-asker-submit").click()
    _wait_count(alice, "1 answer")
    a.locator(".nnw-asker-chart").wait_for(state="visible")
    alice.page.wait_for_function(
        "() => document.querySelectorAll('.nnw-asker-chart .nnw-asker-row-count')[1].textContent === '1'",
        timeout=10_000)
    assert _chart(a) == ([0, 1, 0], [0, 100, 0])
    assert "B" in a.locator(".nnw-asker-status").inner_text()  # "Your answer: B"
    alice.page.wait_for_timeout(500)  # let the bars' 0.4 s width transition end
    alice.screenshot("alice-answered", locator=a)

    # Bob opens his own notebook: Alice's answer is already counted (by polling)
    b = _open_asker(bob, "bob.ipynb")
    _wait_count(bob, "1 answer")
    assert b.locator(".nnw-asker-chart").is_hidden()  # Bob has not answered: no spoilers
    bob.screenshot("bob-sees-one", locator=b)
    b.locator(".nnw-asker-answer").nth(2).click()  # C (tanh)
    b.locator(".nnw-asker-submit").click()
    _wait_count(bob, "2 answers")
    b.locator(".nnw-asker-chart").wait_for(state="visible")
    assert _chart(b)[0] == [0, 1, 1]
    bob.page.wait_for_timeout(500)
    bob.screenshot("bob-answered", locator=b)

    # Alice's widget follows live: no cell re-run, her kernel stays idle
    prompt_before = alice.prompt(0)
    _wait_count(alice, "2 answers")
    alice.page.wait_for_function(
        "() => document.querySelectorAll('.nnw-asker-chart .nnw-asker-row-count')[2].textContent === '1'",
        timeout=10_000)
    assert _chart(a) == ([0, 1, 1], [0, 100, 100])
    assert alice.prompt(0) == prompt_before
    # her own answer stays hers (Bob's does not overwrite it)
    assert a.locator(".nnw-asker-row.nnw-asker-mine").get_attribute("data-index") == "1"
    assert b.locator(".nnw-asker-row.nnw-asker-mine").get_attribute("data-index") == "2"
    alice.page.wait_for_timeout(500)
    alice.screenshot("alice-sees-two", locator=a)

    # the instructor's dashboard (third context) shows both answers
    teacher = open_page("instructor")
    teacher.page.goto(url + "quiz/dashboard#token=" + instructor)
    card = teacher.page.locator(f'section.nnq-question[data-qid="{QID}"]')
    card.wait_for(timeout=20_000)
    teacher.page.wait_for_function(
        f"() => {{ const t = document.querySelector('section[data-qid={QID}] .nnq-total');"
        " return t !== null && t.textContent === '2 answers'; }", timeout=20_000)
    assert card.locator("h2").text_content() == QUESTION
    assert card.locator(".nnq-label").all_text_contents() == ANSWERS
    assert card.locator(".nnq-count").all_text_contents() == ["0", "1", "1"]
    teacher.screenshot("dashboard")

    for lab in (alice, bob):
        lab.assert_console_clean()
    assert [str(r) for r in teacher.console.all_errors()] == []
