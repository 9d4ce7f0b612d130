"""Fixtures of the quiz tests: real quiz servers (subprocesses on free loopback
ports), a real PostgreSQL server when one is installed, isolated identities."""

from __future__ import annotations

import glob
import os
import pathlib
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import pytest

INSTRUCTOR = "instructor-secret-token"


@pytest.fixture(autouse=True)
def _isolated_quiz_env(tmp_path, monkeypatch):
    """Each test gets its own embedded database and config dir, no ambient server."""
    monkeypatch.setenv("NNWIDGETS_QUIZ_DB", str(tmp_path / "embedded.sqlite"))
    monkeypatch.setenv("NNWIDGETS_CONFIG_DIR", str(tmp_path / "config"))
    for name in ("NNWIDGETS_QUIZ_SERVER", "NNWIDGETS_QUIZ_STUDENT", "JUPYTERHUB_USER",
                 "NNWIDGETS_QUIZ_INSTRUCTOR_TOKEN"):
        monkeypatch.delenv(name, raising=False)


class ServerProcess:
    """``nnwidgets quiz serve`` in a subprocess on a free port of 127.0.0.1."""

    def __init__(self, db, *extra):
        self.db = str(db)
        self.instructor = INSTRUCTOR
        self.extra = extra
        self.proc = None
        self.url = None
        self.log = pathlib.Path(tempfile.mkstemp(prefix="quiz-server-", suffix=".log")[1])

    def start(self, timeout: float = 30.0) -> "ServerProcess":
        cmd = [sys.executable, "-m", "nnwidgets.cli", "quiz", "serve", "--db", self.db,
               "--host", "127.0.0.1", "--port", "0", "--instructor-token", INSTRUCTOR, *self.extra]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=open(self.log, "w"),
                                     text=True)
        deadline = time.monotonic() + timeout
        line = ""
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if line or self.proc.poll() is not None:
                break
        m = re.search(r"listening on (http://\S+)", line)
        if not m:
            self.stop()
            raise RuntimeError(f"quiz server did not start: {line!r} {self.log.read_text()[-2000:]}")
        self.url = m.group(1)
        return self

    def kill9(self) -> None:
        self.proc.kill()  # SIGKILL: no cleanup, no flush
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if self.proc is not None and self.proc.stdout:
            self.proc.stdout.close()


@pytest.fixture
def start_server():
    started = []

    def start(db, *extra):
        server = ServerProcess(db, *extra).start()
        started.append(server)
        return server

    yield start
    for s in started:
        s.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = ServerProcess(tmp_path_factory.mktemp("quizdb") / "quiz.sqlite").start()
    yield s
    s.stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ---- PostgreSQL ---------------------------------------------------------------------

def _pg_bin() -> pathlib.Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return pathlib.Path(found[-1]).parent if found else None


@pytest.fixture(scope="session")
def pg_url():
    """A throw-away PostgreSQL server (initdb + pg_ctl on a free port, unix socket
    in a temporary directory), or a skip saying why there is none."""
    pytest.importorskip("psycopg", reason="psycopg 3 is not installed (pip install 'psycopg[binary]')")
    bindir = _pg_bin()
    if bindir is None:
        pytest.skip("no PostgreSQL server binaries in /usr/lib/postgresql/*/bin (apt install postgresql)")
    run_as: list[str] = []
    owner = None
    if os.geteuid() == 0:
        import pwd

        for user in ("postgres", "nobody"):
            try:
                owner = pwd.getpwnam(user)
                break
            except KeyError:
                continue
        if owner is None or shutil.which("runuser") is None:
            pytest.skip("running as root and neither a 'postgres' user nor runuser is available")
        run_as = ["runuser", "-u", owner.pw_name, "--"]
    base = pathlib.Path(tempfile.mkdtemp(prefix="nnw-pg-"))
    if owner is not None:
        os.chown(base, owner.pw_uid, owner.pw_gid)
    data, sock = base / "data", base / "sock"
    port = free_port()
    env = {**os.environ, "LC_ALL": "C", "LANG": "C"}

    def run(*cmd, **kw):
        return subprocess.run([*run_as, *map(str, cmd)], capture_output=True, text=True, env=env,
                              cwd=base, **kw)

    try:
        run("mkdir", "-p", sock)
        r = run(bindir / "initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8",
                "--no-sync")
        if r.returncode != 0:
            pytest.skip(f"initdb failed: {r.stderr.strip()[-500:]}")
        opts = f"-p {port} -k {sock} -c listen_addresses='' -c fsync=on -c max_connections=100"
        r = run(bindir / "pg_ctl", "-D", data, "-o", opts, "-l", base / "pg.log", "-w", "-t", "60",
                "start")
        if r.returncode != 0:
            log = (base / "pg.log").read_text() if (base / "pg.log").exists() else r.stderr
            pytest.skip(f"pg_ctl start failed: {log.strip()[-500:]}")
        url = f"postgresql://postgres@/postgres?host={sock}&port={port}"
        yield url
    finally:
        run(bindir / "pg_ctl", "-D", data, "-m", "immediate", "-w", "stop")
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def pg_db(pg_url):
    """A fresh database on the session's PostgreSQL server."""
    import uuid

    import psycopg

    name = "quiz_" + uuid.uuid4().hex[:10]
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield pg_url.replace("/postgres?", f"/{name}?")
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
