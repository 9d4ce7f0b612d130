"""Store semantics, identical on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import sqlite3
import threading

import pytest

from nnwidgets.quiz.errors import Conflict, InvalidInput, QuestionLocked, UnknownQuestion
from nnwidgets.quiz.store import PostgresStore, SQLiteStore, open_store


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request, tmp_path):
    if request.param == "sqlite":
        s = open_store(tmp_path / "q.sqlite")
    else:
        s = open_store(request.getfixturevalue("pg_db"))
    yield s
    s.close()


def test_open_store_picks_the_backend(tmp_path):
    s = open_store(tmp_path / "x.sqlite")
    assert isinstance(s, SQLiteStore)
    s.close()
    with pytest.raises(ValueError, match="postgresql://"):
        open_store("mysql://nope/db")


def test_sqlite_is_wal_with_full_sync(tmp_path):
    s = open_store(tmp_path / "q.sqlite")
    conn = s._conn()
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    s.close()


def test_one_vote_per_student_resubmission_replaces(store):
    store.register("nand", "Outputs?", ["a", "b", "c"])
    store.submit("nand", "alice", 0)
    store.submit("nand", "bob", 0)
    store.submit("nand", "alice", 2)
    assert store.counts("nand") == [1, 0, 1]
    assert store.answer_of("nand", "alice") == 2
    assert store.answer_of("nand", "carol") is None
    assert len(store.answers("nand")) == 2


def test_batch_results_per_item_and_last_wins(store):
    store.register("q1", "Q?", ["a", "b"])
    results = store.submit_many([
        ("q1", "s1", 0), ("q1", "s1", 1), ("nope", "s2", 0), ("q1", "s3", 7), ("q1", "s4", "0"),
    ])
    assert results[0] is None and results[1] is None
    assert isinstance(results[2], UnknownQuestion) and results[2].status == 404
    assert isinstance(results[3], InvalidInput) and "out of range" in results[3].message
    assert isinstance(results[4], InvalidInput)
    assert store.counts("q1") == [0, 1]


def test_unknown_question_and_bad_answer_store_nothing(store):
    store.register("q", "Q?", ["a", "b"])
    with pytest.raises(UnknownQuestion, match="'other'"):
        store.submit("other", "s", 0)
    for bad in (-1, 2, True, 1.0, None):
        with pytest.raises(InvalidInput):
            store.submit("q", "s", bad)
    assert store.answers() == []


def test_lock_reveal_reset(store):
    store.register("q", "Q?", ["a", "b"], correct=1)
    store.submit("q", "s1", 0)
    q = store.set_locked("q")
    assert q.locked
    with pytest.raises(QuestionLocked):
        store.submit("q", "s1", 1)
    assert store.answer_of("q", "s1") == 0
    assert store.get("q").public()["correct"] is None  # hidden until revealed
    assert store.set_revealed("q").public()["correct"] == 1
    q = store.reset("q")
    assert (q.locked, q.revealed, store.counts("q")) == (False, False, [0, 0])
    with pytest.raises(UnknownQuestion):
        store.set_locked("missing")


def test_register_is_idempotent_and_conflicts_need_replace(store):
    q, created = store.register("q", "Q?", ["a", "b"])
    assert created
    assert store.register("q", "Q?", ["a", "b"]) == (q, False)
    with pytest.raises(Conflict, match="different"):
        store.register("q", "Q changed?", ["a", "b"])
    store.submit("q", "s", 1)
    store.register("q", "Q changed?", ["a", "b"], replace=True)
    assert store.counts("q") == [0, 1]  # same number of answers: kept
    store.register("q", "Q?", ["a", "b", "c"], replace=True)
    assert store.counts("q") == [0, 0, 0]  # indices changed meaning: cleared
    store.submit("q", "s", 0)
    store.register("q", "Q?", ["x", "b", "c"], replace=True)
    assert store.counts("q") == [0, 0, 0]  # same count, other texts: a vote for "a" is not one for "x"


def test_released_copies_without_the_answer_are_the_same_question(store):
    """Released lectures drop ``correct=``: the students' Askers and the
    instructor's (with the answer) register one question, in either order."""
    q, _ = store.register("lr", "Which?", ["a", "b", "c"], correct=2)  # the instructor's copy first
    assert store.register("lr", "Which?", ["a", "b", "c"]) == (q, False)  # a student's copy
    assert store.get("lr").correct == 2
    store.register("lr2", "Which?", ["a", "b"])  # students first
    store.submit("lr2", "s", 1)
    store.register("lr2", "Which?", ["a", "b"], correct=1)  # the instructor's copy fills the key in
    assert store.get("lr2").correct == 1 and store.counts("lr2") == [0, 1]
    with pytest.raises(Conflict):  # a different key is still a conflict
        store.register("lr2", "Which?", ["a", "b"], correct=0)


@pytest.mark.parametrize("kwargs, match", [
    (dict(qid="bad id"), "invalid question id"),
    (dict(qid="students"), "reserved"),
    (dict(answers=["only one"]), "2 to 26 answers"),
    (dict(answers="ab"), "list of strings"),
    (dict(answers=["a", 3]), "answer 1 must be a string"),
    (dict(answers=["a", " "]), "answer 1 is empty"),
    (dict(answers=["a", "b", "a"]), "answer 2 .'a'. repeats answer 0"),
    (dict(question="x" * 5000), "limit is 4000"),
    (dict(correct=5), "out of range"),
    (dict(extra=["one"]), "one .possibly empty. text per answer"),
])
def test_invalid_definitions_name_the_problem(store, kwargs, match):
    args = dict(qid="q", question="Q?", answers=["a", "b"], extra=None, correct=None)
    args.update(kwargs)
    with pytest.raises(InvalidInput, match=match):
        store.register(args.pop("qid"), **args)
    assert store.questions() == []


def test_sql_injection_strings_are_stored_as_text(store):
    evil = "x'); DROP TABLE quiz_answers; --"
    store.register("q", evil, [evil, "Robert'); DROP TABLE students;--"])
    store.submit("q", evil, 1)
    assert store.get("q").question == evil
    assert store.answers("q")[0][1] == evil
    assert store.counts("q") == [0, 1]


def test_csv_export_escapes_formulas(store):
    store.register("q", "Q?", ["=1+1", "b"])
    store.submit("q", "=HYPERLINK(\"http://x\")", 0)
    rows = list(csv.reader(io.StringIO(store.export_csv("q"))))
    assert rows[0] == ["question_id", "student", "answer_index", "answer", "updated_utc"]
    assert rows[1][:4] == ["q", "'=HYPERLINK(\"http://x\")", "0", "'=1+1"]
    with pytest.raises(UnknownQuestion):
        store.export_csv("nope")


def test_settings_are_created_once(store):
    a = store.instructor_token()
    assert a == store.instructor_token()
    assert len(store.student_secret()) == 32
    assert store.add_student("alice") is True
    assert store.add_student("alice") is False


def test_threads_share_a_store(store):
    store.register("q", "Q?", ["a", "b"])
    errors = []

    def work(k):
        try:
            for i in range(20):
                store.submit("q", f"t{k}-{i}", i % 2)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert store.counts("q") == [40, 40]


def test_two_sqlite_stores_on_one_file_see_each_other(tmp_path):
    a, b = open_store(tmp_path / "q.sqlite"), open_store(tmp_path / "q.sqlite")
    a.register("q", "Q?", ["a", "b"])
    b.submit("q", "s", 1)
    assert a.counts("q") == [0, 1]
    assert a.student_secret() == b.student_secret()
    a.close()
    b.close()


def test_committed_answers_survive_without_close(tmp_path):
    path = tmp_path / "q.sqlite"
    s = open_store(path)
    s.register("q", "Q?", ["a", "b"])
    s.submit("q", "s", 1)
    # no close: read the file with a plain sqlite3 connection
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT answer FROM quiz_answers").fetchall() == [(1,)]
    conn.close()
    s.close()


@pytest.mark.postgres
def test_postgres_commits_synchronously(pg_db):
    s = open_store(pg_db)
    assert isinstance(s, PostgresStore)
    cur = s._conn().cursor()
    cur.execute("SHOW synchronous_commit")
    assert cur.fetchone()[0] == "on"
    s._conn().rollback()
    s.close()
