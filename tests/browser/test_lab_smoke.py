"""The harness itself: JupyterLab 4 opens a notebook and runs a cell in Chromium."""

from __future__ import annotations

from lab_harness import write_notebook


def test_lab_runs_a_cell_and_shows_its_result(jupyterlab, open_page):
    write_notebook(jupyterlab.root / "smoke.ipynb", ["1 + 1", "print('hello from the kernel')"])
    lab = open_page("student")
    lab.open_notebook("smoke.ipynb")

    lab.run_cell(0)
    assert lab.prompt(0) == "[1]:"
    assert lab.output_text(0).strip() == "2"
    lab.screenshot("ran-1+1")

    lab.run_cell(1)
    assert lab.output_text(1).strip() == "hello from the kernel"
    lab.assert_no_error_output(1)
    lab.assert_console_clean()


def test_console_watch_attributes_errors_to_nnwidgets():
    from lab_harness import ConsoleRecord

    ours = ConsoleRecord("console.error", "Error: boom\n    at render (blob:http://127.0.0.1:8888/ab12)")
    widget = ConsoleRecord("console.error", "Could not create model: nnwidgets.widgets.asker")
    theirs = ConsoleRecord("console.error", "Failed to load resource: the server responded with 404",
                           "http://127.0.0.1:8888/lab/api/translations")
    assert ours.is_from_nnwidgets() and widget.is_from_nnwidgets()
    assert not theirs.is_from_nnwidgets()
