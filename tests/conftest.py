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
def _no_leaked_running_event_loop():
    """A test that leaves an asyncio loop marked as running in the main thread
    (IPython's test shell and tornado helpers can, under nest-asyncio) makes
    every later Playwright sync-API test in the same xdist worker fail with
    "using Playwright Sync API inside the asyncio loop". Clear the stale mark."""
    import asyncio

    if asyncio._get_running_loop() is not None:
        asyncio._set_running_loop(None)
    yield
