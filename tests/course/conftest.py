"""Fixtures of the course tests."""

import pytest
from course_testlib import SHARED_DATA


@pytest.fixture
def course_env(tmp_path, monkeypatch):
    """Environment for nbgrader runs: private gradebook, data dir for the mice CSV."""
    monkeypatch.setenv("NNWIDGETS_GRADEBOOK_URL", f"sqlite:///{tmp_path / 'gradebook.db'}")
    if (SHARED_DATA / "Data_Cortex_Nuclear.csv").exists():
        monkeypatch.setenv("NNWIDGETS_DATA_DIR", str(SHARED_DATA))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    return tmp_path
