"""Fixtures for the browser tests: JupyterLab 4 driven by Debian's Chromium.

Every test here is marked ``browser`` and skipped, with the reason, when
Playwright (Python) or a Chromium executable is missing. Playwright's own
browser download is never used: Chromium comes from the system
(``which chromium``, or ``NNWIDGETS_CHROMIUM=/path/to/chrome``).

Screenshots of every step, and each page's console log, are written to
``test-artifacts/browser/``.
"""

from __future__ import annotations

import pytest

from lab_harness import ARTIFACTS, ConsoleWatch, LabPage, find_chromium, start_jupyterlab


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "tests/browser/" in item.nodeid.replace("\\", "/") or item.nodeid.startswith("browser/"):
            item.add_marker(pytest.mark.browser)
            # with `--dist loadgroup` all browser tests share one worker, one server
            item.add_marker(pytest.mark.xdist_group("browser"))


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture(scope="session")
def chromium_executable():
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("Playwright for Python is not installed (pip install playwright)")
    path = find_chromium()
    if path is None:
        pytest.skip("no Chromium executable: install Debian's chromium (apt-get install chromium) "
                    "or set NNWIDGETS_CHROMIUM")
    return path


@pytest.fixture(scope="session")
def browser(chromium_executable):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=chromium_executable,
            headless=True,
            args=["--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"],
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="session")
def jupyterlab(tmp_path_factory, chromium_executable, worker_id):
    lab = start_jupyterlab(tmp_path_factory.mktemp("jupyterlab"))
    try:
        yield lab
    finally:
        lab.stop()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / f"jupyterlab-server-{worker_id}.log").write_text(lab.log_tail(200_000))


class PageFactory:
    """Opens pages in fresh browser contexts (one per simulated person)."""

    def __init__(self, browser, lab, request):
        self.browser = browser
        self.lab = lab
        self.request = request
        self.opened: list[tuple[LabPage, ConsoleWatch, object]] = []

    def __call__(self, who: str = "student") -> LabPage:
        context = self.browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        watch = ConsoleWatch()
        watch.attach(page)
        name = f"{self.request.node.name}-{who}"
        lab_page = LabPage(page, self.lab, name, console=watch)
        self.opened.append((lab_page, watch, context))
        return lab_page

    def close(self, failed: bool) -> list[str]:
        problems = []
        for lab_page, watch, context in self.opened:
            if failed:
                lab_page.screenshot("failure")
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            (ARTIFACTS / f"{lab_page.name}--console.log").write_text(
                "\n".join(str(r) for r in watch.records) + "\n")
            problems += [f"{lab_page.name}: {r}" for r in watch.nnwidgets_errors()]
            try:
                context.close()
            except Exception:
                pass
        return problems


@pytest.fixture
def open_page(browser, jupyterlab, request):
    """``open_page(who)`` -> a LabPage in a new browser context.

    After the test, fails if any page logged an error coming from nnwidgets,
    and stops every kernel the test started.
    """
    factory = PageFactory(browser, jupyterlab, request)
    yield factory
    rep = getattr(request.node, "rep_call", None)
    problems = factory.close(failed=bool(rep and rep.failed))
    jupyterlab.shutdown_kernels()
    if problems and not (rep and rep.failed):
        pytest.fail("browser console errors from nnwidgets:\n" + "\n".join(problems), pytrace=False)

