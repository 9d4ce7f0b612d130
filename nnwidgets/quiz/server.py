"""The quiz REST API and instructor dashboard (tornado).

``make_app(service)`` builds a standalone :class:`tornado.web.Application`;
:mod:`nnwidgets.quiz.serverext` mounts the same handlers in a Jupyter server.
The endpoints are documented in ``docs/quiz.md``.

Write path: the request is validated (size, JSON, token) on the event loop
and the answer queued; a writer thread commits everything queued since its
previous commit in one transaction (group commit: one fsync for many answers),
and only then are those requests acknowledged. So an answer is durable before
its ``200``, and the server still reaches thousands of answers per second.
``POST .../answer`` is served by :class:`FastAnswerDelegate` at the HTTP layer;
everything else by ordinary tornado handlers.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import json
import logging
import pathlib
import secrets
import threading
import time
import urllib.parse

import tornado.httputil
import tornado.iostream
import tornado.web

from nnwidgets.quiz.errors import Forbidden, InvalidInput, QuizError, Unauthorized
from nnwidgets.quiz.questions import check_question_id, check_student
from nnwidgets.quiz.store import QuizStore, open_store
from nnwidgets.quiz.tokens import sign_student, verify_student

log = logging.getLogger("nnwidgets.quiz")

MAX_BODY_BYTES = 64 * 1024
ASSETS = pathlib.Path(__file__).with_name("assets")
REGISTRATION_MODES = ("open", "instructor")


class GroupCommitter:
    """Group commit: one transaction (one fsync) for all the answers that
    arrived while the previous commit was running, then all of them are
    acknowledged.

    One commit is in flight at a time, in a dedicated writer thread: the event
    loop keeps accepting requests during the fsync (which releases the GIL),
    so the batch grows with the load by itself. Each batch is written with a
    few multi-row statements so that the writer thread takes the GIL only a
    handful of times per batch (with one statement per answer, it would
    convoy with the busy event loop at every row).
    """

    def __init__(self, store: QuizStore, on_written=None, max_batch: int = 5000):
        self.store = store
        self.on_written = on_written
        self.max_batch = max(1, max_batch)
        self._pending: list = []
        self._busy = False
        self._scheduled = False
        self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="nnwidgets-quiz-writer")
        self.batches = 0
        self.written = 0

    def submit(self, qid: str, student: str, answer: int) -> asyncio.Future:
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        self._pending.append(((qid, student, answer), fut))
        if not self._busy and not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._kick)  # after the requests of this loop iteration
        return fut

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        while self._pending:  # answers still queued: write them before exiting
            batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch :]
            self._settle(batch, self._write([item for item, _ in batch]))

    def _kick(self) -> None:
        self._scheduled = False
        if self._busy or not self._pending:
            return
        batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch :]
        self._busy = True
        loop = asyncio.get_running_loop()
        done = loop.run_in_executor(self._executor, self._write, [item for item, _ in batch])
        done.add_done_callback(lambda f: self._finished(batch, f))

    def _write(self, items):
        try:
            results = self.store.submit_many(items)
        except Exception as exc:  # database down, disk full...
            log.error("could not store %d answers: %s", len(items), exc)
            err = QuizError(f"the answer could not be stored ({type(exc).__name__}); retry", 503)
            return [err] * len(items)
        self.batches += 1
        self.written += sum(r is None for r in results)
        return results

    def _finished(self, batch, done) -> None:
        self._busy = False
        try:
            results = done.result()
        except Exception as exc:  # pragma: no cover - _write catches everything
            results = [QuizError(f"the answer could not be stored ({exc})", 503)] * len(batch)
        self._settle(batch, results)
        if self._pending:
            self._kick()

    def _settle(self, batch, results) -> None:
        qids = set()
        for (item, fut), res in zip(batch, results):
            if res is None:
                qids.add(item[0])
            if fut.done():
                continue
            if res is None:
                fut.set_result(None)
            else:
                fut.set_exception(res)
        if self.on_written is not None and qids:
            self.on_written(qids)


class QuizService:
    """Everything the handlers share: the store (opened on first use), the
    writer thread, the secrets and a short-lived cache of counts."""

    def __init__(
        self,
        db=None,
        *,
        instructor_token: str | None = None,
        registration: str = "open",
        counts_ttl: float = 0.5,
        max_batch: int = 5000,
    ):
        if registration not in REGISTRATION_MODES:
            raise ValueError(
                f"registration={registration!r} is not one of {REGISTRATION_MODES}"
            )
        self.db = db
        self.registration = registration
        self.counts_ttl = counts_ttl
        self.max_batch = max_batch
        self._instructor_token = instructor_token
        self._store: QuizStore | None = None
        self._writer: GroupCommitter | None = None
        self._secret: bytes | None = None
        self._lock = threading.Lock()
        self._executor = concurrent.futures.ThreadPoolExecutor(4, thread_name_prefix="nnwidgets-quiz")
        self._cache: dict[str, tuple[float, dict]] = {}

    # -- lazy resources --------------------------------------------------------
    @property
    def store(self) -> QuizStore:
        if self._store is None:
            with self._lock:
                if self._store is None:
                    self._store = open_store(self.db)
        return self._store

    @property
    def writer(self) -> GroupCommitter:
        if self._writer is None:
            with self._lock:
                if self._writer is None:
                    self._writer = GroupCommitter(
                        self.store, on_written=self.invalidate, max_batch=self.max_batch
                    )
        return self._writer

    @property
    def secret(self) -> bytes:
        if self._secret is None:
            self._secret = self.store.student_secret()
        return self._secret

    @property
    def instructor_token(self) -> str:
        if self._instructor_token is None:
            self._instructor_token = self.store.instructor_token()
        return self._instructor_token

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._executor.shutdown(wait=True)
        if self._store is not None:
            self._store.close()

    async def run(self, fn, *args, **kwargs):
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args, **kwargs))

    # -- auth ----------------------------------------------------------------------
    def is_instructor(self, token) -> bool:
        return isinstance(token, str) and secrets.compare_digest(
            token.encode("utf-8", "replace"), self.instructor_token.encode()
        )

    def require_instructor(self, token) -> None:
        if not token:
            raise Unauthorized("this needs the instructor token (header X-Quiz-Token)")
        if not self.is_instructor(token):
            raise Forbidden("wrong instructor token")

    def student_of(self, token) -> str | None:
        return verify_student(self.secret, token)

    def require_student(self, token, student: str) -> None:
        if not token:
            raise Unauthorized(
                "answers need the student's token (header X-Quiz-Token or field 'token'); "
                "get one with POST /api/quiz/students"
            )
        owner = self.student_of(token)
        if owner is None:
            raise Forbidden("invalid student token")
        if owner != student:
            raise Forbidden("this token belongs to another student; you can only answer as yourself")

    # -- counts cache ------------------------------------------------------------
    def invalidate(self, qids) -> None:
        for qid in qids:
            self._cache.pop(qid, None)

    def _snapshot_now(self, qid: str) -> dict:
        q = self.store.get(qid)
        counts = self.store.counts(qid)
        return {"question": q, "counts": counts}

    async def snapshot(self, qid: str) -> dict:
        hit = self._cache.get(qid)
        now = time.monotonic()
        if hit is not None and now - hit[0] < self.counts_ttl:
            return hit[1]
        snap = await self.run(self._snapshot_now, qid)
        self._cache[qid] = (now, snap)
        return snap


def view(snap: dict, *, instructor: bool = False) -> dict:
    q = snap["question"]
    out = q.public(instructor=instructor)
    out["counts"] = list(snap["counts"])
    out["total"] = sum(snap["counts"])
    return out


def api_call(method):
    """Turn :class:`QuizError` into a JSON error with its status."""

    @functools.wraps(method)
    async def wrapper(self, *args, **kwargs):
        try:
            result = method(self, *args, **kwargs)
            if asyncio.iscoroutine(result):
                await result
        except QuizError as exc:
            self.send_error_json(exc.status, exc.message)

    return wrapper


class QuizHandlerMixin:
    """Shared by the standalone handlers and the Jupyter-server ones."""

    @property
    def quiz(self) -> QuizService:
        return self.settings["nnwidgets_quiz"]

    def send_json(self, obj, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.finish(json.dumps(obj))

    def send_error_json(self, status: int, message: str) -> None:
        if self._finished:
            return
        self.clear_header("Content-Disposition")
        self.send_json({"error": message, "status": status}, status)

    def write_error(self, status_code: int, **kwargs) -> None:
        message = self._reason
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, tornado.web.HTTPError) and exc.log_message:
            message = exc.log_message
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(json.dumps({"error": message, "status": status_code}))

    def json_body(self, *, required: bool = True) -> dict:
        body = self.request.body or b""
        if len(body) > MAX_BODY_BYTES:
            raise QuizError(f"request body of {len(body)} bytes exceeds the 64 KiB limit", 413)
        if not body.strip():
            if required:
                raise InvalidInput("the request needs a JSON object body")
            return {}
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"malformed JSON body: {exc}") from None
        if not isinstance(data, dict):
            raise InvalidInput(f"the body must be a JSON object, got {type(data).__name__}")
        return data

    def quiz_token(self, body: dict | None = None):
        token = self.request.headers.get("X-Quiz-Token")
        if token is None and body is not None:
            token = body.get("token")
        return token

    def require_instructor(self, body: dict | None = None) -> None:
        self.quiz.require_instructor(self.quiz_token(body))

    # --- endpoints -----------------------------------------------------------------


class QuestionsMixin(QuizHandlerMixin):
    """GET /api/quiz: every question with its counts."""

    @api_call
    async def get(self):
        instructor = self.quiz.is_instructor(self.quiz_token())
        qs = await self.quiz.run(self.quiz.store.questions)
        counts = await self.quiz.run(self.quiz.store.all_counts)
        out = []
        for q in qs:
            snap = {"question": q, "counts": counts.get(q.id, [0] * len(q.answers))}
            out.append(view(snap, instructor=instructor))
        self.send_json({"questions": out, "registration": self.quiz.registration})


class QuestionMixin(QuizHandlerMixin):
    """GET (counts), PUT (register), DELETE (instructor) /api/quiz/<question>."""

    @api_call
    async def get(self, qid):
        check_question_id(qid)
        token = self.quiz_token()
        instructor = self.quiz.is_instructor(token)
        snap = await self.quiz.snapshot(qid)
        out = view(snap, instructor=instructor)
        if self.get_query_argument("mine", None) is not None and token and not instructor:
            student = self.quiz.student_of(token)
            if student is None:
                raise Forbidden("invalid student token")
            out["student"] = student
            out["mine"] = await self.quiz.run(self.quiz.store.answer_of, qid, student)
        self.send_json(out)

    @api_call
    async def put(self, qid):
        check_question_id(qid)
        body = self.json_body()
        token = self.quiz_token(body)
        instructor = self.quiz.is_instructor(token)
        if not instructor:
            if self.quiz.registration != "open":
                raise Forbidden(
                    "this server registers questions only with the instructor token "
                    "(registration=instructor)"
                )
            if not token:
                raise Unauthorized("registering a question needs a student or instructor token")
            if self.quiz.student_of(token) is None:
                raise Forbidden("invalid token")
        for key in body:
            if key not in ("question", "answers", "extra", "correct", "token"):
                raise InvalidInput(f"unknown field {key!r} in the question definition")
        q, created = await self.quiz.run(
            self.quiz.store.register,
            qid,
            body.get("question"),
            body.get("answers"),
            body.get("extra"),
            body.get("correct"),
            replace=instructor,
        )
        self.quiz.invalidate([qid])
        snap = await self.quiz.snapshot(qid)
        self.send_json(view(snap, instructor=instructor), 201 if created else 200)

    @api_call
    async def delete(self, qid):
        check_question_id(qid)
        self.require_instructor()
        await self.quiz.run(self.quiz.store.delete, qid)
        self.quiz.invalidate([qid])
        self.send_json({"deleted": qid})


class AnswerMixin(QuizHandlerMixin):
    """POST /api/quiz/<question>/answer {student, answer, token}."""

    @api_call
    async def post(self, qid):
        body = self.json_body()
        student = check_student(body.get("student"))
        self.quiz.require_student(self.quiz_token(body), student)
        check_question_id(qid)
        answer = body.get("answer")
        if isinstance(answer, bool) or not isinstance(answer, int):
            raise InvalidInput("'answer' must be an integer answer index (0 for the first answer)")
        await self.quiz.writer.submit(qid, student, answer)
        self.send_json({"question": qid, "student": student, "answer": answer})


class ActionMixin(QuizHandlerMixin):
    """POST /api/quiz/<question>/(lock|reveal|reset), instructor only."""

    @api_call
    async def post(self, qid, action):
        body = self.json_body(required=False)
        self.require_instructor(body)
        check_question_id(qid)
        store = self.quiz.store
        if action == "lock":
            value = body.get("locked", True)
            if not isinstance(value, bool):
                raise InvalidInput("'locked' must be true or false")
            await self.quiz.run(store.set_locked, qid, value)
        elif action == "reveal":
            value = body.get("revealed", True)
            if not isinstance(value, bool):
                raise InvalidInput("'revealed' must be true or false")
            await self.quiz.run(store.set_revealed, qid, value)
        else:
            await self.quiz.run(store.reset, qid)
        self.quiz.invalidate([qid])
        snap = await self.quiz.snapshot(qid)
        self.send_json(view(snap, instructor=True))


class ExportMixin(QuizHandlerMixin):
    """GET /api/quiz/export.csv and /api/quiz/<question>/export.csv, instructor only."""

    @api_call
    async def get(self, qid=None):
        self.require_instructor()
        if qid is not None:
            check_question_id(qid)
        text = await self.quiz.run(self.quiz.store.export_csv, qid)
        name = f"quiz-{qid or 'all'}.csv"
        self.set_header("Content-Type", "text/csv; charset=utf-8")
        self.set_header("Content-Disposition", f'attachment; filename="{name}"')
        self.set_header("Cache-Control", "no-store")
        self.finish(text)


class StudentsMixin(QuizHandlerMixin):
    """POST /api/quiz/students {student?}: issue a student token.

    The first contact of a student id gets its token (201); a later request for
    the same id is refused (409) unless it carries the instructor token, so
    nobody can obtain the token of a student who already has one.
    """

    @api_call
    async def post(self):
        body = self.json_body(required=False)
        instructor = self.quiz.is_instructor(self.quiz_token(body))
        student = body.get("student")
        if student is None:
            student = "anon-" + secrets.token_hex(8)
        check_student(student)
        created = await self.quiz.run(self.quiz.store.add_student, student)
        if not created and not instructor:
            raise QuizError(
                f"student {student!r} already has a token; use the saved one, or ask the "
                f"instructor to reissue it (nnwidgets quiz token --student {student!r})",
                409,
            )
        self.send_json(
            {"student": student, "token": sign_student(self.quiz.secret, student)},
            201 if created else 200,
        )


def _asset(name: str) -> bytes:
    return (ASSETS / name).read_bytes()


class DashboardMixin:
    """GET /quiz/dashboard: the instructor's page (static; data comes from the API)."""

    def get(self):
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.finish(_asset("dashboard.html"))


class AssetMixin:
    """GET /quiz/static/<name>: the dashboard's script and style sheet."""

    TYPES = {"dashboard.js": "text/javascript", "dashboard.css": "text/css"}

    def get(self, name):
        if name not in self.TYPES:
            raise tornado.web.HTTPError(404)
        self.set_header("Content-Type", self.TYPES[name] + "; charset=utf-8")
        self.finish(_asset(name))


QID = r"([^/]+)"
# (path relative to the base URL, mixin); shared by make_app and the server extension
ROUTES = [
    (r"api/quiz/?", QuestionsMixin),
    (r"api/quiz/export\.csv", ExportMixin),
    (r"api/quiz/students", StudentsMixin),
    (r"api/quiz/" + QID + r"/export\.csv", ExportMixin),
    (r"api/quiz/" + QID + r"/answer", AnswerMixin),
    (r"api/quiz/" + QID + r"/(lock|reveal|reset)", ActionMixin),
    (r"api/quiz/" + QID, QuestionMixin),
    (r"quiz/dashboard", DashboardMixin),
    (r"quiz/static/([A-Za-z0-9_.\-]+)", AssetMixin),
]


class StandaloneHandler(tornado.web.RequestHandler):
    """Base of the standalone server's handlers: JSON errors, open CORS (tokens
    travel in a header, never in cookies, so any origin may call the API)."""

    def set_default_headers(self):
        self.set_header("Access-Control-Allow-Origin", "*")
        self.set_header("Access-Control-Allow-Headers", "Content-Type, X-Quiz-Token")
        self.set_header("Access-Control-Allow-Methods", "GET, POST, PUT, DELETE, OPTIONS")
        self.set_header("Access-Control-Max-Age", "86400")
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header(
            "Content-Security-Policy",
            "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
            "img-src 'self' data:; frame-ancestors 'none'",
        )

    def options(self, *args):
        self.set_status(204)
        self.finish()

    def write_error(self, status_code, **kwargs):
        QuizHandlerMixin.write_error(self, status_code, **kwargs)


class _NotFound(StandaloneHandler):
    def prepare(self):
        raise tornado.web.HTTPError(404, "no such endpoint; see docs/quiz.md for the API")


class _Redirect(StandaloneHandler):
    def get(self):
        self.redirect(self.settings["nnwidgets_quiz_base"] + "quiz/dashboard")


def normalize_base_url(base_url: str) -> str:
    """``"services/quiz"`` -> ``"/services/quiz/"``; ``""`` -> ``"/"``."""
    parts = [p for p in (base_url or "").split("/") if p]
    return "/" + "".join(p + "/" for p in parts)


def make_app(service: QuizService, base_url: str = "/", **settings) -> tornado.web.Application:
    """The standalone application: the API, the dashboard and ``/`` -> dashboard."""
    base = normalize_base_url(base_url)
    handlers = [(base, _Redirect)]
    for path, mixin in ROUTES:
        cls = type(mixin.__name__.replace("Mixin", "Handler"), (mixin, StandaloneHandler), {})
        handlers.append((base + path, cls))
    return tornado.web.Application(
        handlers,
        nnwidgets_quiz=service,
        nnwidgets_quiz_base=base,
        log_function=_log_request,
        default_handler_class=_NotFound,
        **settings,
    )


def _log_request(handler) -> None:
    status = handler.get_status()
    if status < 400:
        return
    level = logging.ERROR if status >= 500 else logging.INFO
    log.log(level, "%d %s %s", status, handler.request.method, handler.request.uri[:200])


class FastAnswerDelegate(tornado.httputil.HTTPServerConnectionDelegate):
    """The standalone server's connection delegate: ``POST .../answer`` (the hot
    path: one request per student answer) is handled right at the HTTP layer,
    with the same checks and replies as :class:`AnswerMixin`; every other
    request goes through the tornado application. Skipping the per-request
    handler machinery roughly halves the server's CPU per answer."""

    def __init__(self, app: tornado.web.Application, service: QuizService, base_url: str):
        self.app = app
        self.service = service
        self.prefix = normalize_base_url(base_url) + "api/quiz/"

    def start_request(self, server_conn, request_conn):
        return _FastAnswerMessage(self, server_conn, request_conn)


_ANSWER_HEADERS = (
    ("Content-Type", "application/json; charset=utf-8"),
    ("Cache-Control", "no-store"),
    ("Access-Control-Allow-Origin", "*"),
    ("X-Content-Type-Options", "nosniff"),
)


class _FastAnswerMessage(tornado.httputil.HTTPMessageDelegate):
    def __init__(self, router: FastAnswerDelegate, server_conn, request_conn):
        self.router = router
        self.server_conn = server_conn
        self.request_conn = request_conn
        self.delegate = None
        self.qid = None
        self.headers = None
        self.chunks: list[bytes] = []
        self.size = 0

    def headers_received(self, start_line, headers):
        path = start_line.path
        prefix = self.router.prefix
        if (start_line.method == "POST" and path.startswith(prefix) and path.endswith("/answer")
                and "?" not in path):
            qid = path[len(prefix) : -len("/answer")]
            if qid and "/" not in qid:
                self.qid = qid
                self.headers = headers
                return None
        self.delegate = self.router.app.start_request(self.server_conn, self.request_conn)
        return self.delegate.headers_received(start_line, headers)

    def data_received(self, chunk):
        if self.delegate is not None:
            return self.delegate.data_received(chunk)
        self.size += len(chunk)
        if self.size <= MAX_BODY_BYTES + 1:
            self.chunks.append(chunk)
        return None

    def finish(self):
        if self.delegate is not None:
            self.delegate.finish()
            return
        asyncio.get_running_loop().create_task(self._answer())

    def on_connection_close(self):
        if self.delegate is not None:
            self.delegate.on_connection_close()

    async def _answer(self):
        service = self.router.service
        try:
            if self.size > MAX_BODY_BYTES:
                raise QuizError(f"request body of {self.size} bytes exceeds the 64 KiB limit", 413)
            body = b"".join(self.chunks)
            if not body.strip():
                raise InvalidInput("the request needs a JSON object body")
            try:
                data = json.loads(body)
            except (ValueError, UnicodeDecodeError) as exc:
                raise InvalidInput(f"malformed JSON body: {exc}") from None
            if not isinstance(data, dict):
                raise InvalidInput(f"the body must be a JSON object, got {type(data).__name__}")
            student = check_student(data.get("student"))
            token = self.headers.get("X-Quiz-Token")
            if token is None:
                token = data.get("token")
            service.require_student(token, student)
            qid = urllib.parse.unquote(self.qid)
            check_question_id(qid)
            answer = data.get("answer")
            if isinstance(answer, bool) or not isinstance(answer, int):
                raise InvalidInput("'answer' must be an integer answer index (0 for the first answer)")
            await service.writer.submit(qid, student, answer)
            status, reply = 200, {"question": qid, "student": student, "answer": answer}
        except QuizError as exc:
            status, reply = exc.status, {"error": exc.message, "status": exc.status}
            log.info("%d POST %s", status, (self.router.prefix + self.qid + "/answer")[:200])
        except Exception:  # pragma: no cover - a bug: answer 500, keep serving
            log.exception("error while storing an answer")
            status, reply = 500, {"error": "internal error", "status": 500}
        payload = json.dumps(reply).encode()
        headers = tornado.httputil.HTTPHeaders()
        for k, v in _ANSWER_HEADERS:
            headers[k] = v
        headers["Content-Length"] = str(len(payload))
        line = tornado.httputil.ResponseStartLine(
            "HTTP/1.1", status, tornado.httputil.responses.get(status, "Unknown")
        )
        try:
            self.request_conn.write_headers(line, headers, payload)
            self.request_conn.finish()
        except tornado.iostream.StreamClosedError:
            pass  # the client went away; the answer is stored all the same


async def run_server(
    db,
    host: str = "127.0.0.1",
    port: int = 8765,
    *,
    base_url: str = "/",
    instructor_token: str | None = None,
    registration: str = "open",
    max_batch: int = 5000,
    ready=None,
    stop: asyncio.Event | None = None,
) -> None:
    """Serve until ``stop`` is set (or forever). ``ready(url, service)`` is called
    once listening (the real port when ``port=0``)."""
    import tornado.httpserver
    import tornado.netutil

    service = QuizService(
        db, instructor_token=instructor_token, registration=registration, max_batch=max_batch
    )
    service.store  # open now: a bad --db fails at start, not at the first request
    app = make_app(service, base_url)
    server = tornado.httpserver.HTTPServer(
        FastAnswerDelegate(app, service, base_url), max_body_size=16 * MAX_BODY_BYTES, idle_connection_timeout=120
    )
    sockets = tornado.netutil.bind_sockets(port, host, backlog=1024)
    server.add_sockets(sockets)
    actual = sockets[0].getsockname()[1]
    shown_host = f"[{host}]" if ":" in host else host
    url = f"http://{shown_host}:{actual}{normalize_base_url(base_url)}"
    stop = stop or asyncio.Event()
    try:
        if ready is not None:
            ready(url, service)
        await stop.wait()
    finally:
        server.stop()
        await server.close_all_connections()
        service.close()
