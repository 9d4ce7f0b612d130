"""`nnwidgets lab`: the workspace copy never overwrites a student's work."""

import sys

from nnwidgets.cli import main
from nnwidgets.lab import prepare_workspace


def test_prepare_workspace_copies_once(tmp_path):
    src = tmp_path / "release" / "a1"
    src.mkdir(parents=True)
    (src / "a1.ipynb").write_text("{}")
    ws = tmp_path / "ws"
    copied = prepare_workspace(ws, tmp_path / "release")
    assert [p.relative_to(ws).as_posix() for p in copied] == ["a1/a1.ipynb"]
    (ws / "a1" / "a1.ipynb").write_text("student work")
    assert prepare_workspace(ws, tmp_path / "release") == []
    assert (ws / "a1" / "a1.ipynb").read_text() == "student work"


def test_lab_dry_run_prints_jupyterlab_command(tmp_path, capsys):
    src = tmp_path / "course"
    src.mkdir()
    (src / "l.ipynb").write_text("{}")
    rc = main(["lab", "--dry-run", "--no-browser", "--workspace", str(tmp_path / "ws"), "--course", str(src)])
    assert rc == 0
    out = capsys.readouterr().out
    assert f"{sys.executable} -m jupyterlab --notebook-dir={tmp_path / 'ws'}" in out
    assert "--no-browser" in out
    assert (tmp_path / "ws" / "l.ipynb").exists()


def test_extra_arguments_after_double_dash_go_to_jupyterlab(tmp_path):
    from nnwidgets.lab import lab_command

    cmd = lab_command(tmp_path, 8890, True, ["--", "--ServerApp.token=abc"])
    assert cmd[-1] == "--ServerApp.token=abc" and "--" not in cmd
    assert "--port=8890" in cmd
