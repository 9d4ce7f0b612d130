"""Shared test settings.

pytest-xdist runs two workers on a 2-core machine: each worker gets one BLAS /
OpenMP / torch thread so that they do not oversubscribe the cores.
"""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("NNWIDGETS_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")

import pathlib  # noqa: E402
import sys  # noqa: E402

import pytest  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
MICE_CSV = SHARED / "datasets" / "Data_Cortex_Nuclear.csv"

# nbgrader shells out to `alembic`: the venv's bin/ must be on PATH.
_bin = str(pathlib.Path(sys.executable).parent)
if _bin not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = _bin + os.pathsep + os.environ.get("PATH", "")


@pytest.fixture(scope="session")
def mice_csv():
    if not MICE_CSV.exists():
        pytest.skip(f"the mice protein CSV is not at {MICE_CSV} (../shared/datasets)")
    return MICE_CSV



@pytest.fixture(autouse=True)
def _isolate_running_event_loop_mark(request):
    """Playwright's sync API marks its own loop as running in the main thread
    for as long as a session-scoped browser (tests/browser/conftest.py) is
    open. In the same xdist worker that mark makes every other test that uses
    asyncio (``asyncio.run``, tornado, its own ``sync_playwright()``) fail with
    "cannot be called from a running event loop". Tests that do not use the
    session browser run without the mark; it is put back afterwards."""
    import asyncio

    if "browser" in request.fixturenames:
        yield
        return
    saved = asyncio._get_running_loop()
    if saved is not None:
        asyncio._set_running_loop(None)
    try:
        yield
    finally:
        if saved is not None:
            asyncio._set_running_loop(saved)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """Real-browser tests drive JupyterLab on a 2-core runner while the other
    xdist worker runs the rest of the suite: a UI timing glitch (a key press
    lost while Lab re-renders) gets one retry, reported as a rerun in the
    summary; a real bug fails both times."""
    if not config.pluginmanager.hasplugin("rerunfailures"):
        return
    for item in items:
        if item.get_closest_marker("browser") is not None and item.get_closest_marker("flaky") is None:
            item.add_marker(pytest.mark.flaky(reruns=1, reruns_delay=5))
