"""Durable storage of quiz questions and answers: SQLite (default) or PostgreSQL.

``open_store(target)`` takes a file path (SQLite) or a ``postgresql://`` URL
(psycopg 3); both stores have the same schema and the same API.

Semantics
---------
- One vote per student and question: a re-submission replaces the earlier
  answer (an upsert on the primary key ``(question_id, student)``).
- Durability: a call that returns has committed, and the commit is on disk.
  SQLite runs in WAL mode with ``synchronous=FULL`` (the WAL is fsync'ed at
  every commit, so an acknowledged answer survives a process kill *and* a power
  cut; ``NORMAL`` would only survive the former). PostgreSQL runs with
  ``synchronous_commit=on`` (the commit waits for its WAL flush).
- ``submit_many`` writes a whole batch in one transaction (one fsync): the
  server's group commit uses it to reach thousands of durable answers/s.
- All SQL is parameterised: texts such as ``'); DROP TABLE ...`` are stored
  as the text they are.

Each thread gets its own connection, so a store may be shared by threads.
"""

from __future__ import annotations

import csv
import io
import json
import os
import pathlib
import secrets
import sqlite3
import threading
import time
from typing import Iterable, Sequence

from nnwidgets.quiz.errors import Conflict, QuestionLocked, QuizError, UnknownQuestion
from nnwidgets.quiz.questions import (
    Question,
    check_answer_index,
    check_question_id,
    check_student,
    make_question,
)

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS quiz_questions (
        id TEXT PRIMARY KEY,
        question TEXT NOT NULL,
        answers TEXT NOT NULL,
        extra TEXT,
        correct INTEGER,
        locked INTEGER NOT NULL DEFAULT 0,
        revealed INTEGER NOT NULL DEFAULT 0,
        created DOUBLE PRECISION NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS quiz_answers (
        question_id TEXT NOT NULL,
        student TEXT NOT NULL,
        answer INTEGER NOT NULL,
        updated DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (question_id, student)
    )""",
    """CREATE TABLE IF NOT EXISTS quiz_students (
        student TEXT PRIMARY KEY,
        created DOUBLE PRECISION NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS quiz_settings (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    )""",
]

_ROWS_PER_STATEMENT = 200  # 800 parameters: below SQLite's historical limit of 999


def _upsert_sql(n_rows: int) -> str:
    return (
        "INSERT INTO quiz_answers (question_id, student, answer, updated) VALUES "
        + ", ".join(["(?, ?, ?, ?)"] * n_rows)
        + " ON CONFLICT (question_id, student) DO UPDATE SET answer = excluded.answer, "
        "updated = excluded.updated"
    )


_QUESTION_COLS = "id, question, answers, extra, correct, locked, revealed"
CSV_HEADER = ("question_id", "student", "answer_index", "answer", "updated_utc")


def _row_to_question(row) -> Question:
    qid, text, answers, extra, correct, locked, revealed = row
    return Question(
        id=qid,
        question=text,
        answers=tuple(json.loads(answers)),
        extra=tuple(json.loads(extra)) if extra is not None else None,
        correct=correct,
        locked=bool(locked),
        revealed=bool(revealed),
    )


class QuizStore:
    """Common logic; subclasses provide connections and the SQL dialect."""

    #: human-readable description of where the data lives
    location: str = ""

    def __init__(self):
        self._local = threading.local()
        self._all_conns: list = []
        self._conns_lock = threading.Lock()
        for attempt in range(5):
            try:
                with self._transaction() as tx:
                    for stmt in SCHEMA:
                        tx.execute(stmt)
                break
            except Exception:
                # two processes creating the schema at once (PostgreSQL may then
                # raise a unique violation on its catalog): the other one won
                if attempt == 4:
                    raise
                time.sleep(0.1 * (attempt + 1))

    # -- dialect hooks ---------------------------------------------------------
    def _connect(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def _sql(self, sql: str) -> str:
        return sql

    def _begin(self, conn):  # start a write transaction
        raise NotImplementedError

    # -- connections -----------------------------------------------------------
    def _conn(self):
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
            with self._conns_lock:
                self._all_conns.append(conn)
        return conn

    class _Tx:
        def __init__(self, store):
            self.store = store

        def __enter__(self):
            self.conn = self.store._conn()
            self.cur = self.store._begin(self.conn)
            return self

        def execute(self, sql, params=()):
            self.cur.execute(self.store._sql(sql), params)
            return self.cur

        def executemany(self, sql, rows):
            self.cur.executemany(self.store._sql(sql), rows)
            return self.cur

        def __exit__(self, exc_type, exc, tb):
            if exc_type is None:
                self.conn.commit()
            else:
                self.conn.rollback()
            return False

    def _transaction(self) -> "_Tx":
        return QuizStore._Tx(self)

    def _read(self, sql: str, params=()) -> list:
        conn = self._conn()
        cur = conn.cursor()
        try:
            cur.execute(self._sql(sql), params)
            rows = cur.fetchall()
        finally:
            self._end_read(conn)
        return rows

    def _end_read(self, conn):
        pass

    def close(self) -> None:
        with self._conns_lock:
            conns, self._all_conns = self._all_conns, []
        for conn in conns:
            try:
                conn.close()
            except Exception:  # pragma: no cover - closing from another thread
                pass
        self._local = threading.local()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- settings (server secrets) ----------------------------------------------
    def setting(self, key: str, default: str | None = None) -> str | None:
        rows = self._read("SELECT value FROM quiz_settings WHERE key = ?", (key,))
        return rows[0][0] if rows else default

    def setting_or_create(self, key: str, make) -> str:
        """The stored value of ``key``; created with ``make()`` if absent (atomic across
        processes sharing the database: the first writer wins)."""
        value = self.setting(key)
        if value is not None:
            return value
        with self._transaction() as tx:
            tx.execute(
                "INSERT INTO quiz_settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING",
                (key, make()),
            )
        return self.setting(key)

    def set_setting(self, key: str, value: str) -> None:
        with self._transaction() as tx:
            tx.execute(
                "INSERT INTO quiz_settings (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    def student_secret(self) -> bytes:
        """The HMAC key that signs student tokens (generated once per database)."""
        return bytes.fromhex(self.setting_or_create("student_secret", lambda: secrets.token_hex(32)))

    def instructor_token(self) -> str:
        """The instructor's token (generated once per database)."""
        return self.setting_or_create("instructor_token", lambda: secrets.token_urlsafe(24))

    # -- students ------------------------------------------------------------------
    def add_student(self, student: str) -> bool:
        """Record that a token was issued to ``student``; False if it already was."""
        check_student(student)
        with self._transaction() as tx:
            cur = tx.execute(
                "INSERT INTO quiz_students (student, created) VALUES (?, ?) "
                "ON CONFLICT (student) DO NOTHING",
                (student, time.time()),
            )
            return cur.rowcount == 1

    def has_student(self, student: str) -> bool:
        return bool(self._read("SELECT 1 FROM quiz_students WHERE student = ?", (student,)))

    # -- questions ---------------------------------------------------------------
    def register(
        self,
        qid: str,
        question: str,
        answers: Sequence[str],
        extra: Sequence[str] | None = None,
        correct: int | None = None,
        *,
        replace: bool = False,
    ) -> tuple[Question, bool]:
        """Register a question; returns ``(question, created)``.

        Registering the same definition again is a no-op, and so is the same
        text without a correct answer (a student's released copy of a question
        the instructor's copy registered with its answer); the same text with
        a correct answer fills in a question that had none. A different
        definition raises :class:`Conflict` unless ``replace=True``; replacing
        keeps the votes when the answer texts are unchanged (a reworded
        question, a new correct answer) and clears them otherwise (their
        indices would no longer mean the same thing).
        """
        new = make_question(qid, question, answers, extra, correct)
        with self._transaction() as tx:
            rows = tx.execute(
                f"SELECT {_QUESTION_COLS} FROM quiz_questions WHERE id = ?", (qid,)
            ).fetchall()
            if rows:
                old = _row_to_question(rows[0])
                if old.same_schema(new):
                    return old, False
                same_text = (old.question, old.answers, old.extra) == (new.question, new.answers, new.extra)
                if same_text and new.correct is None:
                    # a student's copy of a question whose answer only the
                    # instructor's copy holds (released lectures): the same question
                    return old, False
                if same_text and old.correct is None and not replace:
                    # the instructor's copy, after students registered it: the
                    # answer key is filled in (the votes keep their meaning)
                    tx.execute("UPDATE quiz_questions SET correct = ? WHERE id = ?", (new.correct, qid))
                    return Question(**{**old.__dict__, "correct": new.correct}), False
                if not replace:
                    raise Conflict(
                        f"question {qid!r} is already registered with a different text, answers "
                        "or correct answer; the instructor can replace it (PUT with the "
                        "instructor token) or choose another id"
                    )
                if old.answers != new.answers:  # a vote for "a" must not become one for "x"
                    tx.execute("DELETE FROM quiz_answers WHERE question_id = ?", (qid,))
                tx.execute(
                    "UPDATE quiz_questions SET question = ?, answers = ?, extra = ?, correct = ? "
                    "WHERE id = ?",
                    (new.question, json.dumps(new.answers), self._json_or_none(new.extra),
                     new.correct, qid),
                )
                return Question(**{**new.__dict__, "locked": old.locked, "revealed": old.revealed}), False
            tx.execute(
                "INSERT INTO quiz_questions (id, question, answers, extra, correct, locked, "
                "revealed, created) VALUES (?, ?, ?, ?, ?, 0, 0, ?)",
                (qid, new.question, json.dumps(new.answers), self._json_or_none(new.extra),
                 new.correct, time.time()),
            )
            return new, True

    @staticmethod
    def _json_or_none(value):
        return None if value is None else json.dumps(value)

    def get(self, qid: str) -> Question:
        rows = self._read(f"SELECT {_QUESTION_COLS} FROM quiz_questions WHERE id = ?", (qid,))
        if not rows:
            raise UnknownQuestion(f"no question {qid!r} is registered")
        return _row_to_question(rows[0])

    def questions(self) -> list[Question]:
        rows = self._read(f"SELECT {_QUESTION_COLS} FROM quiz_questions ORDER BY created, id")
        return [_row_to_question(r) for r in rows]

    def delete(self, qid: str) -> None:
        with self._transaction() as tx:
            tx.execute("DELETE FROM quiz_answers WHERE question_id = ?", (qid,))
            cur = tx.execute("DELETE FROM quiz_questions WHERE id = ?", (qid,))
            if cur.rowcount == 0:
                raise UnknownQuestion(f"no question {qid!r} is registered")

    def _set_flag(self, qid: str, column: str, value: bool) -> Question:
        with self._transaction() as tx:
            cur = tx.execute(f"UPDATE quiz_questions SET {column} = ? WHERE id = ?", (int(value), qid))
            if cur.rowcount == 0:
                raise UnknownQuestion(f"no question {qid!r} is registered")
        return self.get(qid)

    def set_locked(self, qid: str, locked: bool = True) -> Question:
        """Lock (or unlock) a question: no answer is accepted or changed while locked."""
        return self._set_flag(qid, "locked", locked)

    def set_revealed(self, qid: str, revealed: bool = True) -> Question:
        """Reveal (or hide) the correct answer to the students."""
        return self._set_flag(qid, "revealed", revealed)

    def reset(self, qid: str) -> Question:
        """Delete every answer of ``qid`` and unlock and hide it."""
        with self._transaction() as tx:
            cur = tx.execute(
                "UPDATE quiz_questions SET locked = 0, revealed = 0 WHERE id = ?", (qid,)
            )
            if cur.rowcount == 0:
                raise UnknownQuestion(f"no question {qid!r} is registered")
            tx.execute("DELETE FROM quiz_answers WHERE question_id = ?", (qid,))
        return self.get(qid)

    # -- answers -----------------------------------------------------------------
    def submit(self, qid: str, student: str, answer: int) -> None:
        """Store ``student``'s answer (replacing an earlier one); durable on return."""
        (result,) = self.submit_many([(qid, student, answer)])
        if result is not None:
            raise result

    def submit_many(self, items: Iterable[tuple[str, str, int]]) -> list[QuizError | None]:
        """Store a batch of answers in one transaction (one fsync).

        Returns one entry per item: None when stored, else the
        :class:`QuizError` saying why it was refused (unknown question,
        answer index out of range, question locked). Later items of the same
        (question, student) pair replace earlier ones, in order.
        """
        items = list(items)
        results: list[QuizError | None] = [None] * len(items)
        if not items:
            return results
        qids = sorted({it[0] for it in items if isinstance(it[0], str)})
        now = time.time()
        with self._transaction() as tx:
            meta = {}
            for start in range(0, len(qids), 500):
                chunk = qids[start : start + 500]
                marks = ", ".join("?" * len(chunk))
                for qid, answers, locked in tx.execute(
                    f"SELECT id, answers, locked FROM quiz_questions WHERE id IN ({marks})", chunk
                ).fetchall():
                    meta[qid] = (len(json.loads(answers)), bool(locked))
            rows = []
            for i, (qid, student, answer) in enumerate(items):
                try:
                    if qid not in meta:
                        check_question_id(qid)
                        raise UnknownQuestion(f"no question {qid!r} is registered")
                    n, locked = meta[qid]
                    check_student(student)
                    check_answer_index(answer, n)
                    if locked:
                        raise QuestionLocked(f"question {qid!r} is locked; answers cannot change")
                except QuizError as exc:
                    results[i] = exc
                    continue
                rows.append((qid, student, answer, now))
            if rows:
                # one (question, student) appears once per statement (PostgreSQL
                # refuses to upsert a row twice in one command): the last wins,
                # as it would have, applied in order
                last = {(r[0], r[1]): r for r in rows}
                rows = list(last.values())
                # few large statements rather than executemany: each statement
                # releases the GIL once, so a busy event loop cannot stall the
                # writer thread once per row
                for start in range(0, len(rows), _ROWS_PER_STATEMENT):
                    chunk = rows[start : start + _ROWS_PER_STATEMENT]
                    tx.execute(_upsert_sql(len(chunk)), [v for r in chunk for v in r])
        return results

    def answer_of(self, qid: str, student: str) -> int | None:
        rows = self._read(
            "SELECT answer FROM quiz_answers WHERE question_id = ? AND student = ?", (qid, student)
        )
        return rows[0][0] if rows else None

    def counts(self, qid: str) -> list[int]:
        """Number of students per answer index of ``qid``."""
        q = self.get(qid)
        counts = [0] * len(q.answers)
        for answer, n in self._read(
            "SELECT answer, COUNT(*) FROM quiz_answers WHERE question_id = ? GROUP BY answer", (qid,)
        ):
            if 0 <= answer < len(counts):
                counts[answer] = n
        return counts

    def all_counts(self) -> dict[str, list[int]]:
        out = {q.id: [0] * len(q.answers) for q in self.questions()}
        for qid, answer, n in self._read(
            "SELECT question_id, answer, COUNT(*) FROM quiz_answers GROUP BY question_id, answer"
        ):
            if qid in out and 0 <= answer < len(out[qid]):
                out[qid][answer] = n
        return out

    def answers(self, qid: str | None = None) -> list[tuple[str, str, int, float]]:
        """Every stored answer as ``(question_id, student, answer, updated)``."""
        sql = "SELECT question_id, student, answer, updated FROM quiz_answers"
        if qid is None:
            return self._read(sql + " ORDER BY question_id, student")
        return self._read(sql + " WHERE question_id = ? ORDER BY student", (qid,))

    def export_csv(self, qid: str | None = None) -> str:
        """The answers as CSV (``question_id, student, answer_index, answer, updated_utc``).

        Cells starting with ``= + - @`` are prefixed with ``'`` so that a
        spreadsheet does not run a student-chosen id as a formula.
        """
        if qid is not None:
            self.get(qid)
        texts = {q.id: q.answers for q in self.questions()}
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(CSV_HEADER)
        for question_id, student, answer, updated in self.answers(qid):
            answers = texts.get(question_id, ())
            text = answers[answer] if 0 <= answer < len(answers) else ""
            stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(updated))
            writer.writerow([_csv_safe(question_id), _csv_safe(student), answer, _csv_safe(text), stamp])
        return buf.getvalue()


def _csv_safe(value: str) -> str:
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


class SQLiteStore(QuizStore):
    """The embedded store: one SQLite file in WAL mode, fsync at every commit."""

    def __init__(self, path):
        self.path = pathlib.Path(path).expanduser()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.location = str(self.path)
        super().__init__()

    def _connect(self):
        conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        conn.execute("PRAGMA busy_timeout = 30000")
        conn.execute("PRAGMA journal_mode = WAL")
        # FULL: the WAL is fsync'ed at every commit, so an acknowledged answer
        # survives a power cut too (NORMAL would only survive a process kill).
        conn.execute("PRAGMA synchronous = FULL")
        return conn

    def _begin(self, conn):
        cur = conn.cursor()
        # IMMEDIATE takes the write lock now: no deadlock-prone lock upgrade later
        cur.execute("BEGIN IMMEDIATE")
        return cur


class PostgresStore(QuizStore):
    """The same store on PostgreSQL (psycopg 3): several servers can share a class."""

    def __init__(self, url: str):
        try:
            import psycopg  # noqa: F401
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ImportError(
                "a postgresql:// quiz database needs psycopg 3: pip install 'psycopg[binary]'"
            ) from exc
        self.url = url
        self.location = _redact(url)
        super().__init__()

    def _connect(self):
        import psycopg

        conn = psycopg.connect(self.url, autocommit=False)
        with conn.cursor() as cur:
            # the commit returns only once its WAL record is flushed to disk
            cur.execute("SET synchronous_commit = on")
        conn.commit()
        return conn

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s")

    def _begin(self, conn):
        return conn.cursor()

    def _end_read(self, conn):
        conn.rollback()  # do not leave an idle transaction open between reads


def _redact(url: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(":" + parts.password + "@", ":***@")
        parts = parts._replace(netloc=netloc)
    return urlunsplit(parts)


def default_db_path() -> pathlib.Path:
    """Where the embedded store lives: ``$NNWIDGETS_QUIZ_DB`` or the user data dir."""
    env = os.environ.get("NNWIDGETS_QUIZ_DB")
    if env:
        return pathlib.Path(env).expanduser()
    import platformdirs

    return pathlib.Path(platformdirs.user_data_dir("nnwidgets")) / "quiz.sqlite"


def open_store(target=None) -> QuizStore:
    """Open the store at ``target``: a ``postgresql://`` URL or a SQLite file path
    (default: :func:`default_db_path`)."""
    if target is None:
        target = os.environ.get("NNWIDGETS_QUIZ_DB") or default_db_path()
    text = str(target)
    if text.startswith(("postgresql://", "postgres://")):
        return PostgresStore(text)
    if "://" in text:
        raise ValueError(
            f"unsupported quiz database {text!r}: give a SQLite file path or a postgresql:// URL"
        )
    return SQLiteStore(text)
