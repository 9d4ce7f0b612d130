"""The kernels `nnwidgets course release` starts (to tag the cells that raise)
do not print ipykernel's "running over TCP without encryption" warning."""

import nbformat
import pytest

from nnwidgets.course.release_tags import TAG, tag_raising_cells


@pytest.mark.parametrize("transport", ["curve", "ipc"])
def test_release_kernel_is_not_plain_tcp(tmp_path, monkeypatch, capfd, transport):
    if transport == "ipc":  # the fallback where jupyter_client cannot provision CurveZMQ keys
        import zmq

        if not zmq.has("ipc"):
            pytest.skip("ZeroMQ without IPC (Windows)")
        has = zmq.has
        monkeypatch.setattr(zmq, "has", lambda what: False if what == "curve" else has(what))
    folder = tmp_path / "release" / "a1"  # the kernel runs here, not in the cwd
    folder.mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    path = folder / "a1.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("import sys; print('ok', file=sys.stderr)"),
        nbformat.v4.new_code_cell("raise NotImplementedError()"),
    ]), path)
    assert tag_raising_cells(path, timeout=60) == [1]
    assert [c.metadata.get("tags") for c in nbformat.read(path, as_version=4).cells] == [None, [TAG]]
    err = capfd.readouterr().err
    assert "without encryption" not in err, err
