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


def test_released_notebooks_ship_with_the_package_and_are_found_outside_a_clone(tmp_path, monkeypatch):
    """Every release/ folder is in pyproject's data-files (installed under
    <prefix>/share/nnwidgets/release), and `nnwidgets lab` finds that copy
    when neither ./release nor a source checkout is there."""
    import tomllib

    from nnwidgets import lab

    repo = lab.REPO_ROOT
    data_files = tomllib.loads((repo / "pyproject.toml").read_text())["tool"]["setuptools"]["data-files"]
    for folder in sorted(p.parent for p in (repo / "release").rglob("*.ipynb")):
        rel = folder.relative_to(repo).as_posix()
        key = "share/nnwidgets/" + rel
        assert data_files.get(key) == [f"{rel}/*.ipynb"], f"{rel} is not installed: add {key!r} to data-files"

    prefix = tmp_path / "venv"
    installed = prefix / "share" / "nnwidgets" / "release" / "a1"
    installed.mkdir(parents=True)
    (installed / "a1.ipynb").write_text("{}")
    monkeypatch.delenv("NNWIDGETS_COURSE_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(lab, "REPO_ROOT", tmp_path / "not-a-clone")
    monkeypatch.setattr(lab.sys, "prefix", str(prefix))
    assert lab.course_dir() == prefix / "share" / "nnwidgets" / "release"
    copied = lab.prepare_workspace(tmp_path / "ws")
    assert [p.relative_to(tmp_path / "ws").as_posix() for p in copied] == ["a1/a1.ipynb"]


def test_lab_saves_widget_state_in_notebooks_without_touching_other_settings(tmp_path, monkeypatch):
    """`nnwidgets lab` starts JupyterLab with ipywidgets' saveState on (so a
    reopened notebook shows its widgets, not "model not found"): read back
    through jupyterlab_server's own settings code, as the server does."""
    import json
    from pathlib import Path

    from jupyterlab_server.settings_utils import _get_overrides

    from nnwidgets.lab import LAB_CONFIG_DIR, lab_env

    user_cfg = tmp_path / "mine"
    env = lab_env({"JUPYTER_CONFIG_PATH": str(user_cfg), "PATH": "/bin"})
    paths = env["JUPYTER_CONFIG_PATH"].split(":")
    assert paths == [str(LAB_CONFIG_DIR), str(user_cfg)]  # the user's config path is kept, after ours
    assert lab_env(env)["JUPYTER_CONFIG_PATH"] == env["JUPYTER_CONFIG_PATH"]  # not added twice
    assert env["PATH"] == "/bin"

    app_settings = tmp_path / "app-settings"  # an instructor's own overrides.json still applies
    app_settings.mkdir()
    (app_settings / "overrides.json").write_text(json.dumps(
        {"@jupyterlab/apputils-extension:themes": {"theme": "JupyterLab Dark"}}))
    monkeypatch.setenv("JUPYTER_CONFIG_PATH", env["JUPYTER_CONFIG_PATH"])
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(tmp_path / "cfg"))
    overrides, error = _get_overrides(str(app_settings))
    assert not error
    assert overrides["@jupyter-widgets/jupyterlab-manager:plugin"] == {"saveState": True}
    assert overrides["@jupyterlab/apputils-extension:themes"] == {"theme": "JupyterLab Dark"}
    assert set(overrides) == {"@jupyter-widgets/jupyterlab-manager:plugin", "@jupyterlab/apputils-extension:themes"}

    monkeypatch.setenv("JUPYTER_CONFIG_PATH", str(user_cfg))  # a plain `jupyter lab` is left alone
    assert "@jupyter-widgets/jupyterlab-manager:plugin" not in _get_overrides(str(app_settings))[0]
    # the file ships inside the package (pyproject's package-data takes **/*.json)
    assert Path(LAB_CONFIG_DIR, "labconfig", "default_setting_overrides.json").is_file()


def test_stopping_nnwidgets_lab_stops_jupyterlab_too(tmp_path):
    """SIGTERM to the `nnwidgets lab` wrapper reaches the JupyterLab it
    started (a stand-in child here), which used to be left running."""
    import os
    import signal
    import subprocess
    import textwrap
    import time

    child_pid = tmp_path / "child.pid"
    child = tmp_path / "child.py"
    child.write_text(textwrap.dedent(f"""
        import os, signal, sys, time, pathlib
        signal.signal(signal.SIGTERM, lambda *a: (pathlib.Path({str(tmp_path / 'child.stopped')!r}).write_text('1'), sys.exit(0)))
        pathlib.Path({str(child_pid)!r}).write_text(str(os.getpid()))
        time.sleep(60)
    """))
    wrapper = subprocess.Popen([sys.executable, "-c",
                                "import sys; from nnwidgets.lab import run_jupyterlab; "
                                f"sys.exit(run_jupyterlab([sys.executable, {str(child)!r}], dict(__import__('os').environ)))"])
    deadline = time.monotonic() + 30
    while not child_pid.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert child_pid.exists(), "the stand-in JupyterLab did not start"
    wrapper.send_signal(signal.SIGTERM)
    assert wrapper.wait(timeout=30) == 0  # the child's exit status
    assert (tmp_path / "child.stopped").read_text() == "1"
    pid = int(child_pid.read_text())
    time.sleep(0.1)
    try:
        os.kill(pid, 0)
        alive = True
    except ProcessLookupError:
        alive = False
    assert not alive
