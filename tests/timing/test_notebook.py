"""%%gputime in a real kernel: a notebook executed through nbclient."""

import json

import nbformat
import pytest
from nbclient import NotebookClient

pytestmark = pytest.mark.slow

CELLS = [
    "%load_ext nnwidgets\nimport numpy as np",
    "%%gputime --label 'NumPy x += y' --sizes 1000,100000 --repeat 5\n"
    "x = np.random.random(n); y = np.random.random(n)\n# --- timed ---\nx += y\nout = x",
    "%%gputime --label 'torch add' --sizes 1000,100000 --repeat 5\n"
    "import torch\nx = torch.from_numpy(np.random.random(n)).to(device)\n"
    "y = torch.from_numpy(np.random.random(n)).to(device)\n# --- timed ---\nx.add_(y)",
    "from nnwidgets.widgets.gputime import get_panel\nprint(get_panel().labels)",
    "get_panel()",
]


def _html(output):
    return output.get("data", {}).get("text/html", "")


def test_gputime_cells_in_a_kernel(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in CELLS]
    NotebookClient(nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    path = tmp_path / "timing.ipynb"
    nbformat.write(nb, path)
    saved = nbformat.read(path, as_version=4)

    for cell in saved.cells:
        stderr = [o for o in cell.outputs if o.get("name") == "stderr" or o["output_type"] == "error"]
        assert not stderr, f"stderr/error output in {cell.source[:40]!r}: {stderr}"

    first, second = saved.cells[1].outputs, saved.cells[2].outputs
    # one panel display per cell, saved as HTML + text (static-friendly)
    assert len(first) == 1 and len(second) == 1, (first, second)
    for outs in (first, second):
        assert outs[0]["output_type"] == "display_data"
        assert "text/plain" in outs[0]["data"]
        html = _html(outs[0])
        assert html.startswith('<div class="nnw-gputime"') and "measuring" not in html
    # the second cell's run was added to the first cell's panel too (display updated)
    assert 'data-label="torch add"' in _html(first[0]) and 'data-label="NumPy x += y"' in _html(first[0])
    assert _html(first[0]) == _html(second[0])
    assert _html(second[0]).count('class="nnw-gputime-row"') == 4 * (1 if "cuda" not in _html(second[0]) else 2)
    assert 'class="nnw-gputime-plot"' in _html(second[0])
    import torch

    if not torch.cuda.is_available():
        assert "No GPU is available on this machine" in _html(second[0])
    assert json.loads(saved.cells[3].outputs[0]["text"].replace("'", '"')) == ["NumPy x += y", "torch add"]
    # showing the panel again in a later cell works (not swallowed by the live display)
    again = saved.cells[4].outputs
    assert len(again) == 1 and 'data-label="torch add"' in _html(again[0])


def test_a_cell_with_a_bad_option_shows_only_its_error(tmp_path):
    """The panel appears when measuring starts: a typo in an option is a
    one-line error, with no panel above it (which would fill up later with
    other cells' rows)."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in (
        "%load_ext nnwidgets",
        "%gputime --sizes abc x = 1",
        "%%gputime --label ok --min-time 0.01 --max-time 0.05\nx = 1",
    )]
    NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    bad, good = nb.cells[1].outputs, nb.cells[2].outputs
    # (IPython prints a UsageError on stderr, as one line)
    assert [o["output_type"] for o in bad] == ["stream"] and "UsageError" in bad[0]["text"]
    assert "--sizes" in bad[0]["text"] and not any("data" in o for o in bad)
    assert len(good) == 1 and 'data-label="ok"' in _html(good[0])


def _traceback(cell):
    import re

    (error,) = [o for o in cell.outputs if o["output_type"] == "error"]
    return error, re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(error["traceback"]))


def test_an_error_of_the_cell_names_its_cell_and_line(tmp_path):
    """In a kernel, the traceback of an error raised by the timed code names the
    cell it is in (Cell In[3], not the next one) and quotes the failing line."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in (
        "%load_ext nnwidgets",
        "x = 1",
        "%%gputime --devices cpu --repeat 2 --number 1 --warmup 0\nimport numpy as np\nnp.zeros(3).reshape(2, 2)",
    )]
    NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    error, text = _traceback(nb.cells[2])
    assert error["ename"] == "ValueError" and "cannot reshape array of size 3" in error["evalue"]
    assert "Cell In[3], line 3" in text and "np.zeros(3).reshape(2, 2)" in text.split("Cell In[3], line 3")[1], text
