"""The instructor dashboard in a real Chromium (skipped without one): question
and answer texts with HTML/JS are shown as text and never run; the buttons work."""

from __future__ import annotations

import os
import shutil

import pytest

from nnwidgets.quiz.client import QuizClient

pytestmark = pytest.mark.browser

EVIL_Q = "<img src=x onerror=\"window.__pwned=1\">Which <b>one</b>?"
EVIL_A = ["<script>window.__pwned=2</script>", "plain & simple"]


def _chromium():
    explicit = os.environ.get("NNWIDGETS_CHROMIUM")
    if explicit and os.path.exists(explicit):
        return explicit
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


@pytest.fixture
def page():
    pytest.importorskip("playwright", reason="playwright (python) is not installed")
    exe = _chromium()
    if exe is None:
        pytest.skip("no Chromium executable (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, headless=True,
                                     args=["--disable-gpu", "--disable-dev-shm-usage"])
        # without the server's CSP: the escaping alone must keep the texts inert
        pg = browser.new_context(bypass_csp=True).new_page()
        errors = []
        pg.on("pageerror", lambda exc: errors.append(str(exc)))
        pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        pg.on("dialog", lambda d: (errors.append("dialog: " + d.message), d.dismiss()))
        pg.errors = errors
        yield pg
        browser.close()


def test_dashboard_escapes_and_controls(server, page):
    alice = QuizClient(server.url, student="dash-alice", save=False)
    alice.register("dashxss", EVIL_Q, EVIL_A, correct=1)
    alice.submit("dashxss", 1)
    page.goto(server.url + "quiz/dashboard#token=" + server.instructor)
    card = page.locator('section.nnq-question[data-qid="dashxss"]')
    card.wait_for(timeout=15000)
    assert card.locator("h2").text_content() == EVIL_Q
    labels = card.locator(".nnq-label").all_text_contents()
    assert labels == EVIL_A
    assert card.locator("img, script, b").count() == 0
    assert page.evaluate("window.__pwned === undefined")
    assert "#token" not in page.url  # the token is taken out of the address bar
    assert card.locator(".nnq-count").all_text_contents() == ["0", "1"]
    # the instructor sees the correct answer marked before revealing it
    assert card.locator(".nnq-row.nnq-correct .nnq-label").text_content() == EVIL_A[1]
    card.locator("button.nnq-reveal").click()
    page.wait_for_function(
        "document.querySelector('section[data-qid=dashxss] .nnq-flags').textContent.includes('revealed')",
        timeout=10000)
    assert alice.state("dashxss")["revealed"] is True
    card.locator("button.nnq-lock").click()
    page.wait_for_function(
        "document.querySelector('section[data-qid=dashxss] .nnq-flags').textContent.includes('locked')",
        timeout=10000)
    assert alice.state("dashxss")["locked"] is True
    assert page.errors == []


def test_dashboard_rejects_a_wrong_token(server, page):
    page.goto(server.url + "quiz/dashboard#token=wrong")
    page.wait_for_function("document.getElementById('nnq-status').textContent.includes('wrong')",
                           timeout=10000)
    assert page.locator("#nnq-login").is_visible()
    assert page.locator("section.nnq-question").count() == 0
