"""``nnwidgets course ...`` on bad input: one line naming the value and the fix, no traceback."""

import os
import pathlib
import subprocess
import sys

from course_testlib import REPO


def course(root, *args, env=None, timeout=120):
    return subprocess.run([sys.executable, "-m", "nnwidgets.cli", "course", "--course-root", str(root), *args],
                          capture_output=True, text=True, timeout=timeout, env=env)


def one_line_error(out, prog):
    assert out.returncode != 0 and "Traceback" not in out.stderr, out.stderr
    assert out.stderr.startswith(prog + ": ") and len(out.stderr.strip().splitlines()) == 1, out.stderr
    return out.stderr


def empty_course(tmp_path) -> pathlib.Path:
    """A course folder with the configuration and a1's authoring file, nothing built or graded."""
    root = tmp_path / "course"
    (root / "assignments").mkdir(parents=True)
    (root / "nbgrader_config.py").write_text((REPO / "nbgrader_config.py").read_text())
    (root / "assignments" / "a1_regression.py").write_text((REPO / "assignments" / "a1_regression.py").read_text())
    return root


def without_venv_on_path() -> dict:
    """The environment of `.venv/bin/nnwidgets ...` run without activating the venv."""
    env = {k: v for k, v in os.environ.items() if k != "NNWIDGETS_GRADEBOOK_URL"}
    venv_bin = str(pathlib.Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep)
                                  if p and p != venv_bin) or "/usr/bin:/bin"
    return env


def test_grades_without_a_gradebook_says_so_and_creates_none(tmp_path):
    """Reading grades never creates a gradebook: it used to, and when the venv
    was not activated nbgrader's in-process `alembic` call failed halfway
    ('No such file or directory: alembic'), leaving a gradebook.db without its
    alembic version."""
    root = empty_course(tmp_path)
    for db in (None, f"sqlite:///{tmp_path / 'typo.db'}"):
        out = course(root, *(["--db", db] if db else []), "grades", env=without_venv_on_path())
        err = one_line_error(out, "nnwidgets course grades")
        path = tmp_path / "typo.db" if db else root / "gradebook.db"
        assert f"no gradebook at {str(path)!r}" in err and "nnwidgets course autograde" in err
        assert "alembic" not in err
        assert not path.exists()


def test_nbgrader_finds_alembic_when_the_venv_is_not_activated(tmp_path, monkeypatch):
    """nbgrader shells out to `alembic` to create a gradebook: it must come from
    this Python's bin folder even when that folder is not on PATH."""
    from nnwidgets.course.nbgrader_ops import add_student, open_gradebook

    root = empty_course(tmp_path)
    monkeypatch.setenv("PATH", without_venv_on_path()["PATH"])
    add_student(root, "alice", f"sqlite:///{root / 'gradebook.db'}")
    with open_gradebook(root, f"sqlite:///{root / 'gradebook.db'}") as gb:
        assert [s.id for s in gb.students] == ["alice"]


def test_a_gradebook_url_in_the_home_folder_is_the_same_file_for_nbgrader_and_the_readers(tmp_path, monkeypatch):
    """sqlite:///~/gradebook.db passed check_gradebook (which expands ~) but
    nbgrader, run in the course folder, took '~' as a folder there and failed
    with SQLAlchemy's 'unable to open database file'."""
    from nnwidgets.course.nbgrader_ops import add_student, check_gradebook, open_gradebook

    root = empty_course(tmp_path)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    url = "sqlite:///~/gradebook.db"
    check_gradebook(root, url, create=True)
    add_student(root, "alice", url)
    assert (home / "gradebook.db").exists() and not (root / "~").exists()
    with open_gradebook(root, url) as gb:
        assert [s.id for s in gb.students] == ["alice"]


def test_a_bad_gradebook_is_one_line_and_left_alone(tmp_path):
    import sqlite3

    root = empty_course(tmp_path)
    text = tmp_path / "notes.txt"
    text.write_text("not a database\n")
    quiz = tmp_path / "quiz.sqlite"  # another application's database
    with sqlite3.connect(quiz) as conn:
        conn.execute("CREATE TABLE quiz_questions (id TEXT)")
    conn.close()
    before = quiz.read_bytes()
    cases = [("nonsense", "is not a database URL"),
             (f"sqlite:///{text}", "not an SQLite file"),
             (f"sqlite:///{quiz}", "not an nbgrader gradebook (tables: quiz_questions)"),
             (f"sqlite:///{tmp_path / 'nope' / 'gradebook.db'}", f"no folder {str(tmp_path / 'nope')!r}"),
             ("mysql+nodriver://x/y", "use sqlite:///")]
    for url, problem in cases:
        for args in (["grades"], ["release", "a1_regression"], ["autograde", "a1_regression"]):
            err = one_line_error(course(root, "--db", url, *args), f"nnwidgets course {args[0]}")
            assert problem in err and "--db" in err, (url, args, err)
    assert text.read_text() == "not a database\n" and quiz.read_bytes() == before
    assert not (tmp_path / "nope").exists() and not (root / "release").exists()


def test_an_unreachable_postgresql_gradebook_is_one_line(tmp_path):
    import pytest

    pytest.importorskip("psycopg")
    root = empty_course(tmp_path)
    err = one_line_error(course(root, "--db", "postgresql://grader:secret@127.0.0.1:1/course", "grades"),
                         "nnwidgets course grades")
    assert "cannot open the gradebook 'postgresql://grader:***@127.0.0.1:1/course'" in err
    assert "secret" not in err and "refused" in err


def test_an_unknown_assignment_lists_the_known_ones_and_suggests_the_closest(tmp_path):
    root = empty_course(tmp_path)
    (root / "assignments" / "a2_classification.py").write_text(
        (REPO / "assignments" / "a2_classification.py").read_text())
    for args in (["autograde", "a1_regresion"], ["release", "a1_regresion"],
                 ["record-references", "a1_regresion"]):
        err = one_line_error(course(root, *args), f"nnwidgets course {args[0]}")
        assert "unknown assignment 'a1_regresion'; did you mean 'a1_regression'?" in err, err
        assert "known: a1_regression, a2_classification" in err
    err = one_line_error(course(root, "autograde", "zzz"), "nnwidgets course autograde")
    assert "unknown assignment 'zzz'; known: a1_regression, a2_classification" in err and "did you mean" not in err
    assert not (root / "source").exists() and not (root / "gradebook.db").exists()


def test_grades_summary_counts_and_names_who_is_missing(tmp_path, monkeypatch, capsys):
    """The instructor's summary under the table: counts in words, and by name
    who has no submission, whose submission has no grade and whose written
    answers wait for manual grading."""
    import argparse

    import pandas as pd

    from nnwidgets.course import nbgrader_ops
    from nnwidgets.course.cli import register

    root = empty_course(tmp_path)
    for student, assignment in [("alice", "a1_regression"), ("bob", "a1_regression"), ("carol", "a1_regression"),
                                ("alice", "a2_classification"), ("bob", "a2_classification")]:
        (root / "submitted" / student / assignment).mkdir(parents=True)
    columns = ["student", "assignment", "score", "max_score", "code_score", "max_code_score",
               "written_score", "max_written_score", "needs_manual_grade"]
    frame = pd.DataFrame([("alice", "a1_regression", 10, 10, 8, 8, 2, 2, False),
                          ("bob", "a1_regression", 5, 10, 5, 8, 0, 2, True),
                          ("carol", "a1_regression", 8, 10, 8, 8, 0, 2, True),
                          ("alice", "a2_classification", 3, 6, 3, 6, 0, 0, False)], columns=columns)
    frame["auto_percent"] = 100 * frame["code_score"] / frame["max_code_score"]
    monkeypatch.setattr(nbgrader_ops, "overview", lambda root, db_url=None: frame)
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(["course", "--course-root", str(root), "grades"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "(s)" not in out
    assert "3 students, 2 assignments, 4 graded submissions" in out
    assert "-: no submission" in out
    assert "No submission: carol (a2_classification)." in out
    assert ("2 submissions still wait for manual grading in formgrader: bob (a1_regression), "
            "carol (a1_regression)") in out
    assert "Not graded: 1 submission under submitted/ has no grade: bob (a2_classification)" in out
    assert "nnwidgets course autograde a2_classification --student bob" in out


def test_autograde_summary_names_the_submissions_it_could_not_grade(tmp_path):
    root = empty_course(tmp_path)
    broken = root / "submitted" / "alice" / "a1_regression"
    broken.mkdir(parents=True)
    (broken / "a1_regression.ipynb").write_text('{"cells": [')
    renamed = root / "submitted" / "bob" / "a1_regression"
    renamed.mkdir(parents=True)
    (renamed / "a1_regression-Copy1.ipynb").write_text("{}")
    out = course(root, "autograde", "a1_regression")
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "NOT GRADED" in out.stdout
    assert ("2 of 2 submissions of a1_regression were not graded; fix them and run "
            "`nnwidgets course autograde a1_regression --student STUDENT` again:") in out.stderr
    assert "  alice: a1_regression.ipynb is not a readable notebook" in out.stderr
    assert "  bob: no a1_regression.ipynb in" in out.stderr and "a1_regression-Copy1.ipynb" in out.stderr


KEY_THAT_FAILS = """\
# %% [meta]
# title: a key with a mistake

# %% [readonly] id=setup
import math

# %% [solution] id=ratio
### BEGIN SOLUTION
ratio = 1 / 0
### END SOLUTION

# %% [tests] id=test-ratio points=1
assert abs(ratio - {{ref:ratio}}) < 1e-9
"""


def test_record_references_names_the_failing_cell_in_one_line(tmp_path):
    root = tmp_path / "course"
    (root / "assignments").mkdir(parents=True)
    (root / "assignments" / "x1.py").write_text(KEY_THAT_FAILS)
    err = one_line_error(course(root, "record-references", "x1", "--timeout", "60"),
                         "nnwidgets course record-references")
    where = f"{root / 'assignments' / 'x1.py'}:7"
    assert f"the key of x1 failed in its cell at {where} (id=ratio): ZeroDivisionError: division by zero" in err
    assert "nothing was recorded" in err
    # a {{ref:NAME}} the key never defines
    (root / "assignments" / "x1.py").write_text(KEY_THAT_FAILS.replace("1 / 0", "0.5").replace("ref:ratio", "ref:ratoi"))
    err = one_line_error(course(root, "record-references", "x1", "--timeout", "60"),
                         "nnwidgets course record-references")
    assert "the key of x1 does not define the reference values its tests use" in err
    assert "NameError: name 'ratoi' is not defined" in err
    # a cell that runs past --timeout: interrupted, named, no kernel traceback
    (root / "assignments" / "x1.py").write_text(KEY_THAT_FAILS.replace("ratio = 1 / 0", "import time; time.sleep(60)"))
    err = one_line_error(course(root, "record-references", "x1", "--timeout", "2"),
                         "nnwidgets course record-references")
    assert f"failed in its cell at {where} (id=ratio): it ran longer than --timeout 2 s" in err
    assert not (root / "assignments" / "references.json").exists() and not (root / "source").exists()


def test_grades_lists_a_student_of_the_roster_who_submitted_nothing(tmp_path, monkeypatch, capsys):
    """A student added with `nbgrader db student add` (the class roster) who
    submitted nothing is a row of '-', named under the table: the instructor
    sees who is missing, not only who handed something in."""
    import argparse

    import pandas as pd

    from nnwidgets.course import nbgrader_ops
    from nnwidgets.course.cli import register

    root = empty_course(tmp_path)
    (root / "submitted" / "alice" / "a1_regression").mkdir(parents=True)
    columns = ["student", "assignment", "score", "max_score", "code_score", "max_code_score",
               "written_score", "max_written_score", "needs_manual_grade"]
    frame = pd.DataFrame([("alice", "a1_regression", 8, 8, 8, 8, 0, 0, False)], columns=columns)
    frame["auto_percent"] = 100 * frame["code_score"] / frame["max_code_score"]
    monkeypatch.setattr(nbgrader_ops, "overview", lambda root, db_url=None: frame)
    monkeypatch.setattr(nbgrader_ops, "students", lambda root, db_url=None: ["alice", "dave"])
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(["course", "--course-root", str(root), "grades"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "2 students, 1 assignment, 1 graded submission" in out
    assert any(line.split() == ["dave", "-"] for line in out.splitlines()), out
    assert "No submission: dave (a1_regression)." in out


def test_a_copied_graded_cell_is_named_with_the_fix_before_nbgrader_runs(tmp_path):
    """A student who copy-pasted a test cell hands in two cells with one
    nbgrader id; nbgrader fails on it with 'KeyError: grade_id' under 'Please
    see the above traceback'. The instructor gets the cell's id and the fix."""
    import json

    root = empty_course(tmp_path)
    folder = root / "submitted" / "eve" / "a1_regression"
    folder.mkdir(parents=True)
    cell = {"cell_type": "code", "execution_count": None, "outputs": [], "source": "check()",
            "metadata": {"nbgrader": {"grade": True, "grade_id": "test-lr", "points": 2, "solution": False,
                                      "locked": True, "schema_version": 3}}}
    notebook = {"cells": [cell, cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    (folder / "a1_regression.ipynb").write_text(json.dumps(notebook))
    out = course(root, "autograde", "a1_regression")
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert ("eve: a1_regression.ipynb has the graded cell 'test-lr' more than once (a copied cell keeps "
            "its nbgrader id)") in out.stderr
    assert "delete the copy in" in out.stderr


def test_nbgrader_reason_names_the_exception_and_a_dead_kernel():
    from nnwidgets.course.cli import nbgrader_reason

    tail = ("[AutogradeApp | ERROR] There was an error processing assignment 'a4_digits' for student 'eve'\n"
            "[AutogradeApp | ERROR] Please see the the above traceback for details on the specific errors "
            "on the above failures.\n")
    keyerror = ("[AutogradeApp | ERROR] Traceback (most recent call last):\n"
                "      File \"/x/nbgrader/preprocessors/overwritecells.py\", line 90, in preprocess_cell\n"
                "    KeyError: 'grade_id'\n" + tail)
    assert nbgrader_reason(keyerror) == "KeyError: 'grade_id'"
    dead = ("[AutogradeApp | ERROR] Kernel died while waiting for execute reply.\n"
            "[AutogradeApp | ERROR] Traceback (most recent call last):\n"
            "        raise DeadKernelError(\"Kernel died\") from None\n"
            "    nbclient.exceptions.DeadKernelError: Kernel died\n" + tail)
    reason = nbgrader_reason(dead)
    assert reason.startswith("the kernel died while running the notebook") and "comment it out" in reason


def test_release_shows_each_lecture_notebook_and_ends_with_what_to_do_next(tmp_path, monkeypatch, capsys):
    """The lectures step runs one notebook after another (a minute or more): a line per
    notebook; and release ends saying where the notebooks are and how students get them."""
    import argparse

    from nnwidgets.course import build as build_module, nbgrader_ops
    from nnwidgets.course.cli import register

    root = empty_course(tmp_path)

    def fake_generate(root, assignment, db_url=None, progress=None):
        release = root / "release" / assignment
        release.mkdir(parents=True)
        names = ["l1.ipynb", "l2.ipynb"] if assignment == "lectures" else [f"{assignment}.ipynb"]
        for number, name in enumerate(names, 1):
            (release / name).write_text("{}")
            if progress:
                progress(release / name, number, len(names), 1.5)
        return release

    monkeypatch.setattr(nbgrader_ops, "generate", fake_generate)
    monkeypatch.setattr(nbgrader_ops, "check_gradebook", lambda *a, **k: "sqlite://")
    monkeypatch.setattr(build_module, "build", lambda root, check=False: [])
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(["course", "--course-root", str(root), "release", "a1_regression", "lectures"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "1/2 l1.ipynb 1.5 s" in out and "2/2 l2.ipynb 1.5 s" in out
    assert "a1_regression.ipynb 1.5 s" not in out  # one notebook: its assignment's line says it all
    assert "release/a1_regression/, release/lectures/" in out and "nobody has received them yet" in out
    assert "nbgrader release_assignment ID" in out and "nnwidgets course autograde a1_regression" in out


def _graded_notebook(ids) -> str:
    import json

    cells = [{"cell_type": "code", "execution_count": None, "outputs": [], "source": f"# {i}",
              "metadata": {"nbgrader": {"grade_id": i, "schema_version": 3}}} for i in ids]
    cells.insert(1, {"cell_type": "markdown", "source": "text", "metadata": {}})  # no grade_id: ignored
    return json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5})


def test_cells_out_of_order_names_the_moved_cells():
    from nnwidgets.course.cli import cells_out_of_order

    released = ["setup", "mlp", "test-mlp", "count", "test-count", "q-deploy"]
    assert cells_out_of_order(released, released) == []
    # carol moved her answer cell below the rest (its test now runs before it)
    assert cells_out_of_order(released, ["setup", "mlp", "test-mlp", "test-count", "q-deploy", "count"]) == ["count"]
    # a cell moved up, above two others
    assert cells_out_of_order(released, ["setup", "q-deploy", "mlp", "test-mlp", "count", "test-count"]) == ["q-deploy"]
    # a deleted cell or one the student added is not an ordering problem
    assert cells_out_of_order(released, ["setup", "mine", "mlp", "test-mlp", "count", "q-deploy"]) == []


def test_autograde_line_says_which_cells_are_out_of_order_and_grades_as_before(tmp_path, monkeypatch, capsys):
    """A submission with a graded cell moved above another is graded as it is
    (the moved cell costs points); the instructor's line for that student, and
    a note after the run, name the cells out of order."""
    import argparse

    from nnwidgets.course import nbgrader_ops
    from nnwidgets.course.cli import register

    root = empty_course(tmp_path)
    released = ["setup", "lr-fit", "test-lr", "mse", "test-mse"]
    (root / "release" / "a1_regression").mkdir(parents=True)
    (root / "release" / "a1_regression" / "a1_regression.ipynb").write_text(_graded_notebook(released))
    for student, ids in [("alice", released), ("carol", ["setup", "lr-fit", "test-lr", "test-mse", "mse"])]:
        folder = root / "submitted" / student / "a1_regression"
        folder.mkdir(parents=True)
        (folder / "a1_regression.ipynb").write_text(_graded_notebook(ids))
    graded = []
    monkeypatch.setattr(nbgrader_ops, "check_gradebook", lambda *a, **k: "")
    monkeypatch.setattr(nbgrader_ops, "autograde", lambda root, a, student, *rest: graded.append(student))
    monkeypatch.setattr(nbgrader_ops, "auto_points", lambda root, a, student, db=None: (
        (4, 4) if student == "alice" else (2, 4)))
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(["course", "--course-root", str(root), "autograde", "a1_regression"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert graded == ["alice", "carol"]
    alice, carol = [ln for ln in out.splitlines() if ln.startswith("[")]
    assert "4/4 autograded points" in alice and "out of order" not in alice
    assert "2/4 autograded points" in carol and carol.endswith(" s (cells out of order: mse)")
    assert "\n  carol: cells out of order: mse" in out and "alice:" not in out
