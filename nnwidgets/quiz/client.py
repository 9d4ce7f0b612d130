"""A small blocking client of the quiz REST API (standard library only).

Used by the kernel side of the Asker widget (``Asker.submit`` / ``refresh``),
and handy in scripts and tests::

    client = QuizClient("http://127.0.0.1:8765/", student="alice")
    client.register("nand", "Outputs of NAND?", ["0,0,0,1", "1,1,1,0"], correct=1)
    client.submit("nand", 1)
    client.state("nand")["counts"]
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request

from nnwidgets.quiz import identity
from nnwidgets.quiz.errors import QuizError


def normalize_server(url: str) -> str:
    url = url.strip()
    if not url.startswith(("http://", "https://")):
        raise ValueError(
            f"quiz server {url!r} is not an http(s) URL; e.g. server='http://127.0.0.1:8765/'"
        )
    return url if url.endswith("/") else url + "/"


class QuizClient:
    def __init__(self, server: str, student: str | None = None, token: str | None = None,
                 timeout: float = 5.0, save: bool = True):
        self.server = normalize_server(server)
        self.student = identity.student_id(student)
        self.timeout = timeout
        self.save = save
        self.token = token or (identity.saved_token(self.server, self.student) if save else None)

    def request(self, method: str, path: str, body=None, token: str | None = None,
                raw: bool = False):
        data = None if body is None else json.dumps(body).encode("utf-8")
        req = urllib.request.Request(self.server + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("X-Quiz-Token", token)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                payload = resp.read()
        except urllib.error.HTTPError as exc:
            payload = exc.read()
            try:
                message = json.loads(payload)["error"]
            except (ValueError, KeyError, TypeError):
                message = payload[:200].decode("utf-8", "replace") or exc.reason
            raise QuizError(f"{message} (HTTP {exc.code})", exc.code) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise QuizError(f"quiz server {self.server} unreachable: {reason}", 503) from None
        return payload.decode("utf-8") if raw else json.loads(payload)

    def ensure_token(self) -> str:
        """This student's token: the saved one, else issued by the server (first contact)."""
        if not self.token:
            reply = self.request("POST", "api/quiz/students", {"student": self.student})
            self.token = reply["token"]
            if self.save:
                identity.save_token(self.server, self.student, self.token)
        return self.token

    def register(self, qid, question, answers, extra=None, correct=None, token=None) -> dict:
        body = {"question": question, "answers": list(answers), "extra": extra, "correct": correct}
        return self.request("PUT", "api/quiz/" + urllib.parse.quote(qid, safe=""), body,
                            token=token or self.ensure_token())

    def submit(self, qid: str, answer: int) -> dict:
        return self.request("POST", "api/quiz/" + urllib.parse.quote(qid, safe="") + "/answer",
                            {"student": self.student, "answer": answer}, token=self.ensure_token())

    def state(self, qid: str) -> dict:
        """Counts, flags and (``mine``) this student's answer."""
        return self.request("GET", "api/quiz/" + urllib.parse.quote(qid, safe="") + "?mine=1",
                            token=self.ensure_token())

    def questions(self, token: str | None = None) -> list[dict]:
        return self.request("GET", "api/quiz", token=token)["questions"]

    def instructor(self, action: str, qid: str, token: str, body=None) -> dict:
        return self.request("POST", f"api/quiz/{urllib.parse.quote(qid, safe='')}/{action}",
                            body or {}, token=token)
