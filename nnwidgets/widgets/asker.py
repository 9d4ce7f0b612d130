"""The class-quiz question widget (successor of the lectures' asker.js).

``Asker(id, question, answers, extra=None, correct=None, server=None, student=None)``
shows the question with radio answers, Submit, the live number of answers and,
once the student has answered, a bar chart of the class's answers. A student
may change the answer until the instructor locks the question; once revealed,
the correct answer is marked.

Backends, in order:

1. ``server="http://host:port/"``: a quiz server (``nnwidgets quiz serve``);
   ``server="jupyter"``: the quiz API of the Jupyter server the notebook runs
   in (the nnwidgets server extension).
2. ``$NNWIDGETS_QUIZ_SERVER`` (same values).
3. Otherwise the embedded SQLite store (one person, no server), at
   ``$NNWIDGETS_QUIZ_DB`` or in the user data directory.

With a server, the browser talks to it directly (``fetch``): polling (about
once a second) and submitting keep working while the kernel is busy running
another cell, and the kernel never waits on the network. The kernel only
knows the student id and the saved token (``nnwidgets.quiz.identity``);
``Asker.submit`` and ``Asker.refresh`` do the same from Python.

Without a widget frontend (nbconvert, a terminal, nbval) the output is the
question as text and HTML; nothing raises.
"""

from __future__ import annotations

import html
import os
import pathlib
import string
import threading
from typing import Sequence

import anywidget
import traitlets

from nnwidgets.quiz import identity
from nnwidgets.quiz.errors import QuizError
from nnwidgets.quiz.questions import check_student, make_question

_HERE = pathlib.Path(__file__).parent
LETTERS = string.ascii_uppercase
# When the kernel announces the token to the browser, in seconds after the
# widget is made. A busy kernel cannot answer the browser's "token?" (the
# question waits until the cell ends), so the kernel tells it unasked, from a
# thread, a few times: the first messages may reach the page before the
# widget's code is loaded there, and nobody listens to them yet.
TOKEN_PUSH_DELAYS = (0.0, 0.3, 1.0, 2.5, 5.0, 10.0, 20.0)


def _resolve_backend(server: str | None) -> tuple[str, str]:
    """``(mode, url)`` with mode ``local``, ``server`` or ``jupyter``."""
    if server is None:
        server = os.environ.get("NNWIDGETS_QUIZ_SERVER") or None
    if not server:
        return "local", ""
    if server.strip().lower() == "jupyter":
        return "jupyter", ""
    from nnwidgets.quiz.client import normalize_server

    return "server", normalize_server(server)


class Asker(anywidget.AnyWidget):
    """A multiple-choice question answered by the whole class.

    Parameters
    ----------
    id : str
        Question id, unique in the course (letters, digits, ``_``, ``-``).
    question : str
        The question text.
    answers : list of str
        The answers (2 to 26), shown as A, B, C, ...
    extra : list of str, optional
        One extra explanation per answer, shown under it.
    correct : int or str, optional
        Index (0 for the first answer) or text of the correct answer; marked
        once the instructor reveals the question.
    server : str, optional
        Quiz server URL, or ``"jupyter"``; default ``$NNWIDGETS_QUIZ_SERVER``,
        else the embedded SQLite store.
    student : str, optional
        Student id; default JupyterHub's user, else a stable generated id.
    """

    _esm = _HERE / "asker.js"
    _css = _HERE / "asker.css"

    qid = traitlets.Unicode().tag(sync=True)
    question = traitlets.Unicode().tag(sync=True)
    answers = traitlets.List(traitlets.Unicode()).tag(sync=True)
    extra = traitlets.List(traitlets.Unicode(), allow_none=True, default_value=None).tag(sync=True)
    correct = traitlets.Int(None, allow_none=True).tag(sync=True)
    mode = traitlets.Unicode("local").tag(sync=True)
    server = traitlets.Unicode("").tag(sync=True)
    student = traitlets.Unicode("").tag(sync=True)
    selected = traitlets.Int(None, allow_none=True).tag(sync=True)
    counts = traitlets.List(traitlets.Int()).tag(sync=True)
    total = traitlets.Int(0).tag(sync=True)
    locked = traitlets.Bool(False).tag(sync=True)
    revealed = traitlets.Bool(False).tag(sync=True)
    status = traitlets.Unicode("").tag(sync=True)

    def __init__(
        self,
        id: str,
        question: str,
        answers: Sequence[str],
        extra: Sequence[str] | None = None,
        correct: int | str | None = None,
        server: str | None = None,
        student: str | None = None,
    ):
        answers = list(answers) if not isinstance(answers, str) else answers
        if isinstance(correct, str) and isinstance(answers, list):
            if correct not in answers:
                raise ValueError(
                    f"correct={correct!r} is not one of the answers {answers!r}; give its text "
                    "exactly or its index (0 for the first answer)"
                )
            correct = answers.index(correct)
        # validates id, texts and correct; raises ValueError naming the bad value
        try:
            q = make_question(id, question, answers, extra, correct)
        except QuizError as exc:
            raise ValueError(exc.message) from None
        mode, url = _resolve_backend(server)
        sid = identity.student_id(student)
        try:
            check_student(sid)
        except QuizError as exc:
            raise ValueError(exc.message) from None
        super().__init__(
            qid=q.id,
            question=q.question,
            answers=list(q.answers),
            extra=list(q.extra) if q.extra is not None else None,
            correct=q.correct,
            mode=mode,
            server=url,
            student=sid,
            counts=[0] * len(q.answers),
        )
        self._definition = q
        # the student's quiz token: kept in the kernel (and quiz.json), handed
        # to the browser by message, never a synced trait, so a notebook saved
        # with its widget state (as `nnwidgets lab` does) does not contain it
        self._token = (identity.saved_token(url, sid) or "") if mode == "server" else ""
        self._token_heard = threading.Event()  # set once the kernel hears from the browser
        self.on_msg(self._on_frontend_msg)
        if mode == "local":
            self._local_call(self._local_register)
        else:
            threading.Thread(target=self._push_token_repeatedly, name="nnwidgets-asker-token",
                             daemon=True).start()

    # -- public API ------------------------------------------------------------
    @property
    def id(self) -> str:
        return self.qid

    @property
    def token(self) -> str:
        """This student's token on the quiz server ("" until one is issued)."""
        if not self._token and self.mode == "server":
            # another question on the page may have had it issued since
            self._token = identity.saved_token(self.server, self.student) or ""
        return self._token

    @token.setter
    def token(self, value: str) -> None:
        value = value or ""
        if value and value != self._token and self.mode == "server":
            identity.save_token(self.server, self.student, value)  # kept for the next kernel
        changed = value != self._token
        self._token = value
        if changed and self.mode != "local":
            self._push_token()  # e.g. issued to Asker.submit: the page submits with it too

    def submit(self, answer: int | str) -> None:
        """Answer (or change the answer) from Python, as the Submit button does."""
        if isinstance(answer, str):
            if answer not in self.answers:
                raise ValueError(f"{answer!r} is not one of the answers {self.answers!r}")
            answer = self.answers.index(answer)
        if self.mode == "local":
            self._local_call(self._local_submit, answer, raise_errors=True)
        else:
            client = self._client()
            try:
                client.register(self.qid, self.question, self.answers, self.extra, self.correct)
            except QuizError as exc:
                if exc.status != 409:  # another version of the question is registered
                    raise
            client.submit(self.qid, answer)
            self.token = client.token or self.token
            self.refresh()

    def refresh(self) -> None:
        """Update counts, flags and this student's answer from the backend."""
        if self.mode == "local":
            self._local_call(self._local_refresh)
            return
        try:
            state = self._client().state(self.qid)
        except QuizError as exc:
            self.status = exc.message
            return
        self._apply(state)
        if state.get("mine") is not None:
            self.selected = state["mine"]

    def reveal(self, revealed: bool = True) -> None:
        """Embedded store only: mark the correct answer (the instructor's job on a server)."""
        self._require_local("reveal")
        self._local_call(lambda s: s.set_revealed(self.qid, revealed))
        self.refresh()

    def lock(self, locked: bool = True) -> None:
        """Embedded store only: stop (or allow again) changing the answer."""
        self._require_local("lock")
        self._local_call(lambda s: s.set_locked(self.qid, locked))
        self.refresh()

    # -- text fallback ---------------------------------------------------------
    def __repr__(self) -> str:
        return self.as_text()

    def as_text(self) -> str:
        lines = [f"Question ({self.qid}): {self.question}"]
        for i, text in enumerate(self.answers):
            mark = "*" if self.revealed and self.correct == i else " "
            lines.append(f" {mark}{LETTERS[i]}. {text}")
            if self.extra and self.extra[i]:
                lines.append(f"      {self.extra[i]}")
        return "\n".join(lines)

    def as_html(self) -> str:
        items = []
        for i, text in enumerate(self.answers):
            extra = ""
            if self.extra and self.extra[i]:
                extra = f'<div class="nnw-asker-extra">{html.escape(self.extra[i])}</div>'
            items.append(
                f'<li class="nnw-asker-answer"><b>{LETTERS[i]}.</b> {html.escape(text)}{extra}</li>'
            )
        return (
            f'<div class="nnw-asker nnw-asker-static" data-question="{html.escape(self.qid)}">'
            f'<p class="nnw-asker-question"><b>Question:</b> {html.escape(self.question)}</p>'
            f'<ul style="list-style: none">{"".join(items)}</ul></div>'
        )

    def _repr_mimebundle_(self, **kwargs):
        try:
            bundle = super()._repr_mimebundle_(**kwargs)
        except Exception:  # no comm / kernel: text only
            bundle = None
        if isinstance(bundle, tuple):
            data, metadata = bundle
        else:
            data, metadata = (bundle or {}), {}
        data = dict(data)
        data["text/plain"] = self.as_text()
        data["text/html"] = self.as_html()
        return data, metadata

    # -- internals -------------------------------------------------------------
    def _client(self):
        from nnwidgets.quiz.client import QuizClient

        if self.mode != "server":
            raise RuntimeError(
                "Asker.submit/refresh from Python need an http(s) quiz server; with "
                "server='jupyter' the browser talks to the Jupyter server"
            )
        return QuizClient(self.server, student=self.student, token=self.token or None)

    def _require_local(self, what: str) -> None:
        if self.mode != "local":
            raise RuntimeError(
                f"{what}() acts on the embedded store; on a quiz server the instructor uses the "
                "dashboard or `nnwidgets quiz " + what + "`"
            )

    def _local_call(self, fn, *args, raise_errors: bool = False):
        from nnwidgets.quiz.store import open_store

        try:
            store = open_store(None)
            try:
                return fn(store, *args)
            finally:
                store.close()
        except Exception as exc:  # the widget shows the problem; the cell does not fail
            if raise_errors and isinstance(exc, QuizError):
                raise ValueError(exc.message) from None
            if raise_errors:
                raise
            self.status = f"quiz store problem: {exc}"
            return None

    def _local_register(self, store) -> None:
        q = self._definition
        store.register(q.id, q.question, q.answers, q.extra, q.correct, replace=True)
        self._local_refresh(store)
        self.selected = store.answer_of(q.id, self.student)

    def _local_submit(self, store, answer: int) -> None:
        self._local_register(store)
        store.submit(self.qid, self.student, answer)
        self.selected = answer
        self.status = ""
        self._local_refresh(store)

    def _local_refresh(self, store) -> None:
        q = store.get(self.qid)
        self._apply({"counts": store.counts(self.qid), "locked": q.locked, "revealed": q.revealed})

    def _apply(self, state: dict) -> None:
        counts = list(state.get("counts") or [])
        if len(counts) == len(self.answers):
            self.counts = counts
            self.total = sum(counts)
        self.locked = bool(state.get("locked", self.locked))
        self.revealed = bool(state.get("revealed", self.revealed))

    def _push_token(self) -> bool:
        """Tell the browser this student's token ("" = none yet); False once closed."""
        if self.comm is None:
            return False
        try:
            self.send({"type": "token", "token": self.token})
        except Exception:  # a closed comm or a kernel shutting down: nobody to tell
            return False
        return True

    def _push_token_repeatedly(self) -> None:
        waited = 0.0
        for at in TOKEN_PUSH_DELAYS:
            if self._token_heard.wait(max(0.0, at - waited)):
                return  # the kernel answers the browser itself from now on
            waited = at
            if not self._push_token():
                return

    def _on_frontend_msg(self, _widget, content, _buffers) -> None:
        if not isinstance(content, dict):
            return
        kind = content.get("type")
        if kind == "token?":  # the browser's view asks for the token it submits with
            self._token_heard.set()
            self._push_token()
        elif kind == "token" and isinstance(content.get("token"), str):  # issued to the browser
            self._token_heard.set()
            self.token = content["token"]
        elif kind == "submit" and self.mode == "local":
            answer = content.get("answer")
            try:
                self._local_call(self._local_submit, answer, raise_errors=True)
            except (ValueError, TypeError) as exc:
                self.status = str(exc)
        elif kind == "reveal" and self.mode == "local" and self.correct is not None:
            self._local_call(lambda s: s.set_revealed(self.qid, True))
            self._local_call(self._local_refresh)
