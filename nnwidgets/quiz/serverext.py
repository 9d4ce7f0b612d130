"""The quiz API and dashboard inside a Jupyter server.

Enabled by ``jupyter-config/jupyter_server_config.d/nnwidgets.json`` (installed
with the package). The routes are those of the standalone server under the
Jupyter server's base URL (``{base_url}api/quiz/...``,
``{base_url}quiz/dashboard``), and every request must also pass the Jupyter
server's own authentication (its token or login cookie, plus the XSRF header
for writes), on top of the quiz's student and instructor tokens.

Configuration (``jupyter_server_config.py`` or the command line)::

    c.NNWidgetsQuiz.db = "postgresql://quiz@db.example.org/class"  # default: $NNWIDGETS_QUIZ_DB
    c.NNWidgetsQuiz.instructor_token = "..."   # default: $NNWIDGETS_QUIZ_INSTRUCTOR_TOKEN
    c.NNWidgetsQuiz.registration = "open"      # or "instructor"

Loading is light: nothing is opened until the first quiz request.
"""

from __future__ import annotations

import os

from jupyter_server.base.handlers import APIHandler, JupyterHandler
from jupyter_server.utils import url_path_join

from nnwidgets.quiz.server import (
    ROUTES,
    AssetMixin,
    DashboardMixin,
    QuizHandlerMixin,
    QuizService,
)


class _ExtensionMixin:
    """Jupyter authentication first: an unauthenticated request gets a 403."""

    async def prepare(self):
        await super().prepare()
        if self.current_user is None:
            from tornado.web import HTTPError

            raise HTTPError(403, "log in to the Jupyter server first")


class _ApiBase(_ExtensionMixin, APIHandler):
    def write_error(self, status_code, **kwargs):
        QuizHandlerMixin.write_error(self, status_code, **kwargs)


class _PageBase(_ExtensionMixin, JupyterHandler):
    pass


def _config(serverapp) -> dict:
    section = serverapp.config.get("NNWidgetsQuiz", {})
    return {
        "db": section.get("db") or os.environ.get("NNWIDGETS_QUIZ_DB") or None,
        "instructor_token": section.get("instructor_token")
        or os.environ.get("NNWIDGETS_QUIZ_INSTRUCTOR_TOKEN")
        or None,
        "registration": section.get("registration", "open"),
    }


def handlers(base_url: str) -> list:
    out = []
    for path, mixin in ROUTES:
        base = _PageBase if mixin in (DashboardMixin, AssetMixin) else _ApiBase
        cls = type("Jupyter" + mixin.__name__.replace("Mixin", "Handler"), (mixin, base), {})
        out.append((url_path_join(base_url, path), cls))
    return out


def _load_jupyter_server_extension(serverapp) -> None:
    cfg = _config(serverapp)
    service = QuizService(
        cfg["db"], instructor_token=cfg["instructor_token"], registration=cfg["registration"]
    )
    web_app = serverapp.web_app
    web_app.settings["nnwidgets_quiz"] = service
    web_app.add_handlers(".*$", handlers(web_app.settings["base_url"]))
    serverapp.log.info(
        "nnwidgets quiz API at %sapi/quiz (database: %s)",
        web_app.settings["base_url"],
        cfg["db"] or "default SQLite file",
    )


# jupyter_server < 2 and notebook-era names
load_jupyter_server_extension = _load_jupyter_server_extension
