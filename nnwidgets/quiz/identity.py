"""Who the student is, and the quiz tokens their kernel has been issued.

The student id is, in order: an explicit ``student=``, ``$NNWIDGETS_QUIZ_STUDENT``,
JupyterHub's ``$JUPYTERHUB_USER``, else a random id generated once and kept in
``quiz.json`` in the user's config directory (``$NNWIDGETS_CONFIG_DIR`` or
platformdirs' ``user_config_dir("nnwidgets")``), so that a student keeps one
vote per question across kernels and notebooks. Tokens issued by quiz servers
are kept in the same file (mode 0600), per server and student.

Nothing here raises on a read-only or broken config directory: the id and
tokens then live for the session only.
"""

from __future__ import annotations

import json
import os
import pathlib
import secrets
import tempfile

# path -> data, for config directories that cannot be written
_memory: dict[str, dict] = {}


def config_dir() -> pathlib.Path:
    env = os.environ.get("NNWIDGETS_CONFIG_DIR")
    if env:
        return pathlib.Path(env).expanduser()
    import platformdirs

    return pathlib.Path(platformdirs.user_config_dir("nnwidgets"))


def _path() -> pathlib.Path:
    return config_dir() / "quiz.json"


def _load() -> dict:
    path = _path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, dict):
            return data
    except (OSError, ValueError):
        pass
    return dict(_memory.get(str(path), {}))


def _save(data: dict) -> None:
    path = _path()
    _memory[str(path)] = dict(data)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".quiz-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=1, sort_keys=True)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except OSError:
        pass  # read-only home: keep the id in memory for this session


def student_id(explicit: str | None = None) -> str:
    """The id this kernel answers as (see the module docstring for the order)."""
    for value in (explicit, os.environ.get("NNWIDGETS_QUIZ_STUDENT"), os.environ.get("JUPYTERHUB_USER")):
        if value:
            return value
    data = _load()
    sid = data.get("student")
    if not isinstance(sid, str) or not sid:
        sid = "student-" + secrets.token_hex(8)
        data["student"] = sid
        _save(data)
    return sid


def _key(server: str, student: str) -> str:
    return server.rstrip("/") + "/|" + student


def saved_token(server: str, student: str) -> str | None:
    token = _load().get("tokens", {}).get(_key(server, student))
    return token if isinstance(token, str) and token else None


def save_token(server: str, student: str, token: str) -> None:
    data = _load()
    tokens = data.get("tokens")
    if not isinstance(tokens, dict):
        tokens = {}
    if tokens.get(_key(server, student)) == token:
        return
    tokens[_key(server, student)] = token
    data["tokens"] = tokens
    _save(data)
