"""``nnwidgets quiz ...`` instructor commands, straight on the database."""

from __future__ import annotations

import csv
import io
import subprocess
import sys

import pytest

from nnwidgets.quiz.store import open_store
from nnwidgets.quiz.tokens import verify_student


def nnw(*args, timeout=60):
    return subprocess.run([sys.executable, "-m", "nnwidgets.cli", "quiz", *args],
                          capture_output=True, text=True, timeout=timeout)


def test_instructor_commands(tmp_path):
    db = str(tmp_path / "q.sqlite")
    with open_store(db) as store:
        store.register("nand", "NAND outputs?", ["0,0,0,1", "1,1,1,0"], correct=1)
        store.submit("nand", "alice", 1)
        store.submit("nand", "bob", 0)
        secret = store.student_secret()
        instructor = store.instructor_token()
    out = nnw("token", "--db", db)
    assert out.returncode == 0 and out.stdout.strip() == instructor
    out = nnw("token", "--db", db, "--student", "carol")
    assert verify_student(secret, out.stdout.strip()) == "carol"
    out = nnw("list", "--db", db)
    assert "nand: NAND outputs?  [2 answers]" in out.stdout and " *1. 1,1,1,0: 1" in out.stdout
    out = nnw("lock", "--db", db, "nand")
    assert out.returncode == 0
    out = nnw("reveal", "--db", db, "nand")
    assert "locked, revealed" in nnw("list", "--db", db).stdout
    out = nnw("export", "--db", db)
    rows = list(csv.reader(io.StringIO(out.stdout)))
    assert [r[1:3] for r in rows[1:]] == [["alice", "1"], ["bob", "0"]]
    out = nnw("export", "--db", db, "--question", "nope")
    assert out.returncode == 1 and "no question 'nope'" in out.stderr
    out = nnw("reset", "--db", db, "nand")
    with open_store(db) as store:
        assert store.counts("nand") == [0, 0] and not store.get("nand").locked
    out = nnw("lock", "--db", db, "missing")
    assert out.returncode == 1 and "missing" in out.stderr
    # a junk question goes with its answers
    out = nnw("delete", "--db", db, "nand")
    assert out.returncode == 0 and "nand: delete done" in out.stdout
    assert nnw("list", "--db", db).stdout.strip() == "no questions registered"
    out = nnw("delete", "--db", db, "nand")
    assert out.returncode == 1 and "no question 'nand'" in out.stderr


def test_a_mistyped_db_is_an_error_not_a_new_empty_class(tmp_path):
    typo = tmp_path / "typo" / "quiz.sqlite"
    for args in (["list"], ["export"], ["token"], ["lock", "q"]):
        out = nnw(*args, "--db", str(typo))
        assert out.returncode != 0 and "no quiz database at" in out.stderr, args
        assert "Traceback" not in out.stderr
    assert not (tmp_path / "typo").exists()  # nothing created, not even the folder


def test_serve_help_and_bad_db():
    out = nnw("serve", "--help")
    assert "--db" in out.stdout and "--registration" in out.stdout
    out = nnw("serve", "--db", "mysql://x/y", "--port", "0")
    assert out.returncode == 2 and "postgresql://" in out.stderr and "Traceback" not in out.stderr


def _quiz_db(tmp_path):
    db = str(tmp_path / "q.sqlite")
    with open_store(db) as store:
        store.register("nand", "NAND outputs?", ["0,0,0,1", "1,1,1,0"], correct=1)
    return db


def test_token_for_a_blank_student_id_is_refused(tmp_path):
    db = _quiz_db(tmp_path)
    for blank in ("", "   ", "\t"):
        out = nnw("token", "--db", db, "--student", blank)
        assert out.returncode != 0, repr(blank)
        assert out.stdout == ""  # no token at all: neither a student's nor the instructor's
        assert "Traceback" not in out.stderr
        assert out.stderr.startswith("nnwidgets quiz token: ") and len(out.stderr.strip().splitlines()) == 1
        assert "--student" in out.stderr and "empty" in out.stderr
    with open_store(db) as store:
        assert not any(store.has_student(s) for s in ("", "   ", "\t"))


@pytest.mark.parametrize("port, problem", [("70000", "out of range"), ("65536", "out of range"),
                                           ("-1", "out of range"), ("abc", "not a port number"),
                                           ("80.5", "not a port number")])
def test_serve_with_a_bad_port_is_a_usage_error(tmp_path, port, problem):
    db = tmp_path / "q.sqlite"
    out = nnw("serve", "--db", str(db), "--port", port, timeout=30)  # (70000 used to serve on 4464)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("nnwidgets quiz serve: error: argument --port: ")
    assert repr(port) in last and problem in last and "0..65535" in last and "0 picks a free port" in last
    assert not db.exists()


@pytest.mark.parametrize("value", ["0", "-5", "many"])
def test_serve_with_a_bad_max_batch_is_a_usage_error(tmp_path, value):
    db = tmp_path / "q.sqlite"
    out = nnw("serve", "--db", str(db), "--port", "0", "--max-batch", value, timeout=30)  # (0 was taken as 1)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("nnwidgets quiz serve: error: argument --max-batch: ")
    assert repr(value) in last and "whole number >= 1" in last
    assert not db.exists()


def test_serve_does_not_create_the_folder_of_a_mistyped_db(tmp_path):
    db = tmp_path / "nope" / "class" / "quiz.sqlite"
    out = nnw("serve", "--db", str(db), "--port", "0", timeout=20)  # (it used to create both folders and serve)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.startswith("nnwidgets quiz serve: ") and len(out.stderr.strip().splitlines()) == 1
    assert f"no folder {str(db.parent)!r}" in out.stderr and f"mkdir -p {db.parent}" in out.stderr
    assert not (tmp_path / "nope").exists()
    (tmp_path / "file").write_text("not a folder")
    out = nnw("serve", "--db", str(tmp_path / "file" / "quiz.sqlite"), "--port", "0", timeout=20)
    assert out.returncode == 2 and "Traceback" not in out.stderr and "is not a folder" in out.stderr


def _one_line_error(out, prog):
    assert out.returncode != 0 and "Traceback" not in out.stderr, out.stderr
    assert out.stderr.startswith(prog + ": ") and len(out.stderr.strip().splitlines()) == 1, out.stderr
    return out.stderr


def test_a_db_that_is_not_a_quiz_database_is_refused_and_left_alone(tmp_path):
    import sqlite3

    text = tmp_path / "notes.txt"
    text.write_text("not a database\n")
    other = tmp_path / "gradebook.db"  # another application's SQLite database
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE assignment (id TEXT)")
    conn.close()
    before = other.read_bytes()
    for db, problem in ((text, "not an SQLite file"), (other, "tables: assignment")):
        for args in (["list"], ["export"], ["token"], ["token", "--student", "alice"], ["lock", "q"]):
            err = _one_line_error(nnw(*args, "--db", str(db)), "nnwidgets quiz")
            assert f"--db {str(db)!r} is not a quiz database" in err and problem in err, args
        err = _one_line_error(nnw("serve", "--db", str(db), "--port", "0", timeout=30), "nnwidgets quiz serve")
        assert f"--db {str(db)!r} is not a quiz database" in err and problem in err
    assert text.read_text() == "not a database\n" and other.read_bytes() == before  # no quiz tables added
    folder = tmp_path / "class"
    folder.mkdir()
    err = _one_line_error(nnw("list", "--db", str(folder)), "nnwidgets quiz")
    assert "is a folder" in err and str(folder / "quiz.sqlite") in err
    err = _one_line_error(nnw("serve", "--db", str(folder), "--port", "0", timeout=30), "nnwidgets quiz serve")
    assert "is a folder" in err
    assert list(folder.iterdir()) == []


def test_an_unreachable_postgresql_db_is_one_line():
    pytest.importorskip("psycopg")
    url = "postgresql://quiz:secret@127.0.0.1:1/class"  # nothing listens on port 1
    for args in (["list"], ["serve", "--port", "0"]):
        err = _one_line_error(nnw(*args, "--db", url, timeout=60),
                              "nnwidgets quiz serve" if args[0] == "serve" else "nnwidgets quiz")
        assert "cannot open --db 'postgresql://quiz:***@127.0.0.1:1/class'" in err and "secret" not in err
        assert "Connection refused" in err or "connection" in err.lower()


def test_export_to_an_unwritable_output_is_one_line(tmp_path):
    db = _quiz_db(tmp_path)
    missing = tmp_path / "nope" / "answers.csv"
    err = _one_line_error(nnw("export", "--db", db, "-o", str(missing)), "nnwidgets quiz export")
    assert f"cannot write -o {str(missing)!r}" in err and "No such file or directory" in err
    assert not (tmp_path / "nope").exists()
    err = _one_line_error(nnw("export", "--db", db, "-o", str(tmp_path)), "nnwidgets quiz export")
    assert f"cannot write -o {str(tmp_path)!r}" in err and "a file name, not a folder" in err
    # an unknown question writes no file either
    out = nnw("export", "--db", db, "--question", "nope", "-o", str(tmp_path / "a.csv"))
    assert _one_line_error(out, "nnwidgets quiz export") and not (tmp_path / "a.csv").exists()
    err = _one_line_error(nnw("export", "--db", db, "--question", "no such id"), "nnwidgets quiz export")
    assert "no question 'no such id' is registered" in err


def test_reveal_of_a_question_without_a_correct_answer_is_refused_with_the_fix(tmp_path):
    """A lecture question registered by the students' released copies has no
    correct answer; 'reveal done' would mark nothing. list says so too."""
    db = str(tmp_path / "q.sqlite")
    with open_store(db) as store:
        store.register("moment", "mu for SGD?", ["0", "1"])  # a student's copy: no correct answer
        store.submit("moment", "alice", 0)
    assert "[1 answer, no correct answer stored]" in nnw("list", "--db", db).stdout
    out = nnw("reveal", "--db", db, "moment")
    assert out.returncode == 1 and "no correct answer stored" in out.stderr
    assert "instructor's copy" in out.stderr and "reveal done" not in out.stdout
    with open_store(db) as store:
        assert not store.get("moment").revealed
        store.register("moment", "mu for SGD?", ["0", "1"], correct=0)  # the instructor's copy
    assert nnw("reveal", "--db", db, "moment").returncode == 0
    assert "[1 answer, revealed]" in nnw("list", "--db", db).stdout
