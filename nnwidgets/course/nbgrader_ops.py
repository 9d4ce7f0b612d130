"""Running nbgrader for the course: generate releases, autograde submissions, read grades.

Every call runs the real ``nbgrader`` command line in the course folder, with the
gradebook database given explicitly (``db_url``) so that several courses (or
tests) can run side by side.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import shutil
import subprocess
import sys
import time


class NbgraderError(RuntimeError):
    """nbgrader failed; the message holds its output."""


def _nbgrader_cmd() -> list[str]:
    exe = pathlib.Path(sys.executable).with_name("nbgrader")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "nbgrader"]


def _path_with_venv_bin(path: str) -> str:
    """``PATH`` with this Python's bin folder in front: nbgrader shells out to
    ``alembic``, found only there when the venv was not activated."""
    bin_dir = str(pathlib.Path(sys.executable).parent)
    if bin_dir in path.split(os.pathsep):
        return path
    return bin_dir + os.pathsep + path if path else bin_dir


def _home_expanded(url: str) -> str:
    """A ``sqlite:///~/...`` URL with the home folder written out: SQLite takes
    ``~`` as a folder's name, while :func:`check_gradebook` and the gradebook
    readers expand it (nbgrader failed on a URL they had accepted)."""
    try:
        from sqlalchemy.engine import make_url

        parsed = make_url(url)
    except Exception:  # (not a URL: check_gradebook says so)
        return url
    if parsed.drivername.startswith("sqlite") and (parsed.database or "").startswith("~"):
        return parsed.set(database=os.path.expanduser(parsed.database)).render_as_string(hide_password=False)
    return url


def _env(db_url: str | None, timeout: int | None) -> dict:
    env = dict(os.environ)
    env["PATH"] = _path_with_venv_bin(env.get("PATH", ""))
    if db_url or env.get("NNWIDGETS_GRADEBOOK_URL"):
        env["NNWIDGETS_GRADEBOOK_URL"] = _home_expanded(db_url or env["NNWIDGETS_GRADEBOOK_URL"])
    if timeout:
        env["NNWIDGETS_CELL_TIMEOUT"] = str(timeout)
    env.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    env["NNWIDGETS_GRADING"] = "1"  # warnings of test cells go to stdout (nnwidgets.grading)
    return env


def run_nbgrader(root: pathlib.Path, args: list[str], db_url: str | None = None,
                 timeout: int | None = None, echo: bool = False) -> str:
    """Run ``nbgrader <args>`` in ``root``; returns its output, raises NbgraderError on failure."""
    cmd = _nbgrader_cmd() + list(args)
    proc = subprocess.run(cmd, cwd=root, env=_env(db_url, timeout), capture_output=True, text=True)
    output = proc.stdout + proc.stderr
    if echo:
        print(output, end="")
    if proc.returncode != 0:
        raise NbgraderError(f"`nbgrader {' '.join(args)}` failed (exit {proc.returncode}) in {root}:\n{output}")
    return output


def generate(root: pathlib.Path, assignment: str, db_url: str | None = None,
             progress=None) -> pathlib.Path:
    """``nbgrader generate_assignment`` -> ``release/<assignment>/``, then the
    quiz answers are taken out (:mod:`nnwidgets.course.quiz_answers`) and the
    cells that raise in the untouched release are tagged ``raises-exception``
    (see :mod:`nnwidgets.course.release_tags`). ``progress(notebook, number, total,
    seconds)``, when given, is called after each notebook is tagged (the notebooks
    run one by one: the lectures take a minute or more)."""
    from nnwidgets.course.quiz_answers import strip_quiz_answers
    from nnwidgets.course.release_tags import tag_raising_cells

    from nnwidgets.course.layout import LECTURES

    # (the lectures are released, never graded: kept out of the gradebook and its exports)
    extra = ["--no-db"] if assignment == LECTURES else []
    run_nbgrader(root, ["generate_assignment", assignment, "--force", *extra], db_url)
    release = root / "release" / assignment
    notebooks = sorted(release.glob("*.ipynb"))
    for number, notebook in enumerate(notebooks, 1):
        start = time.perf_counter()
        strip_quiz_answers(notebook)  # the class quiz's answers stay in the instructor's copy
        tag_raising_cells(notebook)
        if progress is not None:
            progress(notebook, number, len(notebooks), time.perf_counter() - start)
    return release


def add_student(root: pathlib.Path, student: str, db_url: str | None = None) -> None:
    run_nbgrader(root, ["db", "student", "add", student], db_url)


def submit(root: pathlib.Path, assignment: str, student: str, notebook: pathlib.Path) -> pathlib.Path:
    """Place a notebook as ``submitted/<student>/<assignment>/`` (what ``nbgrader collect`` does)."""
    folder = root / "submitted" / student / assignment
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(notebook, folder / f"{assignment}.ipynb")
    (folder / "timestamp.txt").write_text(time.strftime("%Y-%m-%d %H:%M:%S.000000 UTC", time.gmtime()))
    return folder


def autograde(root: pathlib.Path, assignment: str, student: str | None = None,
              db_url: str | None = None, timeout: int | None = None, echo: bool = False) -> str:
    args = ["autograde", assignment, "--force", "--create"]
    if student:
        args += ["--student", student]
    return run_nbgrader(root, args, db_url, timeout, echo=echo)


def _gradebook_url(root: pathlib.Path, db_url: str | None) -> str:
    """``db_url``, else ``$NNWIDGETS_GRADEBOOK_URL``, else the course's ``gradebook.db``
    (what ``nbgrader_config.py`` gives nbgrader itself)."""
    return db_url or os.environ.get("NNWIDGETS_GRADEBOOK_URL") or f"sqlite:///{root / 'gradebook.db'}"


def _sqlite_file(root: pathlib.Path, parsed) -> pathlib.Path | None:
    """The file of a parsed ``sqlite:///`` gradebook URL (relative to the course
    folder, where nbgrader runs), or None for another database."""
    if not parsed.drivername.startswith("sqlite") or parsed.database in (None, "", ":memory:"):
        return None
    return root / pathlib.Path(parsed.database).expanduser()


def _sqlite_tables(path: pathlib.Path) -> list[str]:
    """The tables of an SQLite file, read-only (sqlite3.Error when it is not one)."""
    import sqlite3

    conn = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True)
    try:
        return sorted(row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'"))
    finally:
        conn.close()


def check_gradebook(root: pathlib.Path, db_url: str | None = None, create: bool = False) -> str:
    """The gradebook URL (``db_url``, ``$NNWIDGETS_GRADEBOOK_URL`` or the
    course's ``gradebook.db``), checked before anything opens it: ValueError
    (FileNotFoundError for a gradebook not there yet) naming the value and the
    fix. Only what nbgrader creates (``create=True``) may not exist yet. An
    existing file is only read here: never another application's database."""
    import sqlite3

    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    url = _gradebook_url(root, db_url)
    label = "--db" if db_url else ("$NNWIDGETS_GRADEBOOK_URL" if os.environ.get("NNWIDGETS_GRADEBOOK_URL")
                                   else "the gradebook")
    fix = "use sqlite:///PATH/gradebook.db (sqlite:////... for an absolute path) or postgresql://USER@HOST/DB"
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ValueError(f"{label} {url!r} is not a database URL; {fix}") from None
    shown = parsed.render_as_string(hide_password=True)
    try:
        parsed.get_dialect()
    except NoSuchModuleError:
        raise ValueError(f"{label} {shown!r}: no database driver for {parsed.drivername!r}; {fix}") from None
    path = _sqlite_file(root, parsed)
    if path is None:
        return url
    if not path.parent.is_dir():
        raise ValueError(f"{label} {shown!r}: no folder {str(path.parent)!r}; create it first "
                         f"(mkdir -p {path.parent}) or fix the path")
    if path.is_dir():
        raise ValueError(f"{label} {shown!r} is a folder; name the gradebook file inside it "
                         f"(e.g. sqlite:///{path / 'gradebook.db'})")
    if not path.exists():
        if create:
            return url
        raise FileNotFoundError(
            f"no gradebook at {str(path)!r}: nothing has been graded into it yet; run "
            "`nnwidgets course autograde ID` first, or pass the --db (or $NNWIDGETS_GRADEBOOK_URL) "
            "that autograde used"
        )
    try:
        tables = _sqlite_tables(path)
    except sqlite3.Error as exc:
        raise ValueError(f"{label} {shown!r} is not a gradebook (not an SQLite file: {exc}); "
                         "pass the course's gradebook.db") from None
    if tables and "submitted_assignment" not in tables:
        raise ValueError(f"{label} {shown!r} is not an nbgrader gradebook (tables: {', '.join(tables[:8])}); "
                         "pass the course's gradebook.db")
    if not tables and not create:
        raise FileNotFoundError(f"the gradebook {str(path)!r} is empty: nothing has been graded into it yet; "
                                "run `nnwidgets course autograde ID` first")
    return make_url(url).set(database=str(path)).render_as_string(hide_password=False)


@contextlib.contextmanager
def open_gradebook(root: pathlib.Path, db_url: str | None = None):
    """The course's gradebook, to read (or remove a submission): never creates
    one (see :func:`check_gradebook`); nbgrader creates it when it first grades."""
    from nbgrader.api import Gradebook
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    url = check_gradebook(root, db_url)
    saved = os.environ.get("PATH", "")
    os.environ["PATH"] = _path_with_venv_bin(saved)  # (nbgrader runs alembic on a new PostgreSQL gradebook)
    try:
        gb = Gradebook(url)
    except SQLAlchemyError as exc:  # a database server that cannot be reached, a refused login
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        shown = make_url(url).render_as_string(hide_password=True)
        raise ValueError(f"cannot open the gradebook {shown!r} (--db or $NNWIDGETS_GRADEBOOK_URL): "
                         f"{reason}") from None
    finally:
        os.environ["PATH"] = saved
    try:
        yield gb
    finally:
        gb.close()


def forget_submission(root: pathlib.Path, assignment: str, student: str, db_url: str | None = None) -> None:
    """Removes one submission from the gradebook (one that failed to grade)."""
    with open_gradebook(root, db_url) as gb:
        gb.remove_submission(assignment, student)


def scores(root: pathlib.Path, assignment: str, student: str, db_url: str | None = None) -> dict:
    """Points per grade cell of one autograded submission: ``{grade_id: (score, max_score)}``."""
    with open_gradebook(root, db_url) as gb:
        submission = gb.find_submission_notebook(assignment, assignment, student)
        return {g.name: (g.score, g.max_score) for g in submission.grades}


def auto_points(root: pathlib.Path, assignment: str, student: str, db_url: str | None = None) -> tuple:
    """(score, max score) of one submission's autograded (code) cells."""
    with open_gradebook(root, db_url) as gb:
        submission = gb.find_submission(assignment, student)
        return float(submission.code_score), float(submission.max_code_score)


def overview(root: pathlib.Path, db_url: str | None = None):
    """A DataFrame: one row per (student, assignment) with the score and max
    score, the autograded (code) and hand-graded (written) parts apart, and
    ``percent`` (of all points) and ``auto_percent`` (of the code points)."""
    import pandas as pd

    columns = ["student", "assignment", "score", "max_score", "code_score", "max_code_score",
               "written_score", "max_written_score", "needs_manual_grade"]
    rows = []
    with open_gradebook(root, db_url) as gb:
        for assignment in gb.assignments:
            for submission in assignment.submissions:
                rows.append({name: getattr(submission, name) for name in columns[2:]}
                            | {"student": submission.student_id, "assignment": assignment.name})
    frame = pd.DataFrame(rows, columns=columns)
    if len(frame):
        frame["percent"] = 100 * frame["score"] / frame["max_score"].where(frame["max_score"] > 0)
        frame["auto_percent"] = 100 * frame["code_score"] / frame["max_code_score"].where(frame["max_code_score"] > 0)
    return frame


def students(root: pathlib.Path, db_url: str | None = None) -> list[str]:
    """The gradebook's students (``nbgrader db student add`` / ``import``, and
    everyone autograded), so that a student with no submission at all is listed."""
    with open_gradebook(root, db_url) as gb:
        return sorted(s.id for s in gb.students)


def ungraded_submissions(root: pathlib.Path, frame) -> list[tuple[str, str]]:
    """(student, assignment) pairs with a folder under ``submitted/`` but no
    graded submission in ``frame`` (see :func:`overview`): not autograded yet,
    or failed to grade."""
    graded = set(zip(frame["student"], frame["assignment"])) if len(frame) else set()
    submitted = root / "submitted"
    found = sorted((p.parent.name, p.name) for p in submitted.glob("*/*") if p.is_dir()) if submitted.is_dir() else []
    return [pair for pair in found if pair not in graded]
