"""The quiz API mounted in a real Jupyter server (subprocess on a free port)."""

from __future__ import annotations

import http.client
import json
import os
import pathlib
import socket
import subprocess
import sys
import time

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
JUPYTER_TOKEN = "jupyter-test-token"
INSTRUCTOR = "ext-instructor-token"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def request(port, method, path, body=None, headers=None, jupyter_auth=True):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    h = dict(headers or {})
    if jupyter_auth:
        h["Authorization"] = f"token {JUPYTER_TOKEN}"
    conn.request(method, path, body=None if body is None else json.dumps(body), headers=h)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    try:
        return resp.status, json.loads(data)
    except ValueError:
        return resp.status, data.decode("utf-8", "replace")


@pytest.fixture(scope="module")
def jupyter(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("jupyter")
    cfg = tmp / "config"
    cfg.mkdir()
    # only our extension: the others of the environment would only slow the start
    off = ["jupyterlab", "notebook", "notebook_shim", "jupyter_lsp", "jupyter_server_terminals",
           "nbgrader.server_extensions.formgrader", "nbgrader.server_extensions.validate_assignment",
           "nbgrader.server_extensions.assignment_list", "nbgrader.server_extensions.course_list"]
    (cfg / "jupyter_server_config.json").write_text(json.dumps(
        {"ServerApp": {"jpserver_extensions": {"nnwidgets": True, **{k: False for k in off}}}}))
    port = _free_port()
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(cfg), "JUPYTER_RUNTIME_DIR": str(tmp / "rt"),
           "JUPYTER_DATA_DIR": str(tmp / "data"), "NNWIDGETS_QUIZ_DB": str(tmp / "quiz.sqlite"),
           "NNWIDGETS_QUIZ_INSTRUCTOR_TOKEN": INSTRUCTOR}
    log = open(tmp / "server.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter_server", "--no-browser", f"--port={port}",
         "--ip=127.0.0.1", f"--IdentityProvider.token={JUPYTER_TOKEN}", f"--ServerApp.root_dir={tmp}",
         "--ServerApp.port_retries=0", *(["--allow-root"] if os.geteuid() == 0 else [])],
        stdout=log, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            if request(port, "GET", "/api/status")[0] == 200:
                break
        except OSError:
            time.sleep(0.2)
    else:  # pragma: no cover
        proc.kill()
        pytest.fail("jupyter server did not start: " + (tmp / "server.log").read_text()[-2000:])
    if proc.poll() is not None:
        pytest.fail("jupyter server exited: " + (tmp / "server.log").read_text()[-2000:])
    yield port, tmp
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:  # pragma: no cover
        proc.kill()
    log.close()


def test_extension_serves_the_quiz_api(jupyter):
    port, tmp = jupyter
    status, body = request(port, "PUT", "/api/quiz/ext1",
                           {"question": "Served by Jupyter?", "answers": ["yes", "no"], "correct": 0},
                           {"X-Quiz-Token": INSTRUCTOR})
    assert status == 201, body
    status, issued = request(port, "POST", "/api/quiz/students", {"student": "alice"})
    assert status == 201
    token = issued["token"]
    status, reply = request(port, "POST", "/api/quiz/ext1/answer",
                            {"student": "alice", "answer": 1}, {"X-Quiz-Token": token})
    assert status == 200, reply
    status, state = request(port, "GET", "/api/quiz/ext1?mine=1", headers={"X-Quiz-Token": token})
    assert status == 200 and state["counts"] == [0, 1] and state["mine"] == 1
    # the same rules as the standalone server
    status, err = request(port, "POST", "/api/quiz/ext1/answer",
                          {"student": "bob", "answer": 0}, {"X-Quiz-Token": token})
    assert status == 403 and "another student" in err["error"]
    status, err = request(port, "POST", "/api/quiz/ext1/lock", {})
    assert status == 401
    status, _ = request(port, "POST", "/api/quiz/ext1/answer", "{bad")
    assert status == 400
    status, _ = request(port, "GET", "/quiz/dashboard")
    assert status == 200
    # stored in the database the server was configured with
    from nnwidgets.quiz.store import open_store

    with open_store(tmp / "quiz.sqlite") as store:
        assert store.answers("ext1")[0][1:3] == ("alice", 1)


def test_extension_requires_jupyter_authentication(jupyter):
    port, _ = jupyter
    status, _ = request(port, "GET", "/api/quiz/ext1", jupyter_auth=False)
    assert status == 403
    status, _ = request(port, "POST", "/api/quiz/students", {"student": "mallory"},
                        jupyter_auth=False)
    assert status == 403


def test_config_file_enables_the_extension_on_install():
    path = REPO / "jupyter-config" / "jupyter_server_config.d" / "nnwidgets.json"
    assert json.loads(path.read_text()) == {"ServerApp": {"jpserver_extensions": {"nnwidgets": True}}}
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    data_files = project["tool"]["setuptools"]["data-files"]
    assert str(path.relative_to(REPO)) in data_files["etc/jupyter/jupyter_server_config.d"]
    import nnwidgets

    assert nnwidgets._jupyter_server_extension_points() == [{"module": "nnwidgets.quiz.serverext"}]
