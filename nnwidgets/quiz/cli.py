"""``nnwidgets quiz ...``: run the class quiz server and manage its data.

- ``serve``: the REST API and the instructor dashboard.
- ``token``: print the instructor token, or reissue a student's token.
- ``list``: the questions and their counts.
- ``export``: the answers as CSV.
- ``lock`` / ``unlock`` / ``reveal`` / ``hide`` / ``reset`` / ``delete``: instructor actions
  on one question, straight on the database.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys

DEFAULT_PORT = 8765


def _db_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--db",
        default=os.environ.get("NNWIDGETS_QUIZ_DB", "quiz.sqlite"),
        metavar="PATH_OR_URL",
        help="SQLite file or postgresql:// URL (default: $NNWIDGETS_QUIZ_DB or ./quiz.sqlite)",
    )


def _port(text: str) -> int:
    """``--port``: a TCP port, 0..65535 (socket libraries would take 70000 as 70000 % 65536)."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a port number: give a whole number in 0..65535 (0 picks a free port)"
        ) from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(
            f"{text!r} is out of range: ports are 0..65535 (0 picks a free port)"
        )
    return port


def _max_batch(text: str) -> int:
    """``--max-batch``: a whole number >= 1."""
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a batch size: give a whole number >= 1 (1 commits every answer on its own)"
        )
    return n


def register(subparsers) -> None:
    from nnwidgets.cli import missing_subcommand

    quiz = subparsers.add_parser(
        "quiz", help="run the class quiz server",
        description="Run the class quiz server and manage its data (see docs/quiz.md)."
    )
    sub = quiz.add_subparsers(dest="quiz_command", metavar="ACTION")
    quiz.set_defaults(func=missing_subcommand(quiz, sub, "ACTION"))

    serve = sub.add_parser("serve", help="serve the quiz REST API and the instructor dashboard")
    _db_arg(serve)
    serve.add_argument("--host", default="127.0.0.1",
                       help="interface to listen on (default 127.0.0.1; 0.0.0.0 for a class network)")
    serve.add_argument("--port", type=_port, default=DEFAULT_PORT,
                       help=f"port (default {DEFAULT_PORT}; 0 picks a free one)")
    serve.add_argument("--base-url", default=os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/"),
                       help="URL prefix, e.g. /services/quiz/ as a JupyterHub service "
                            "(default: $JUPYTERHUB_SERVICE_PREFIX or /)")
    serve.add_argument("--registration", choices=("open", "instructor"), default="open",
                       help="open: a question is registered by the first student widget that shows "
                            "it; instructor: only with the instructor token (default open)")
    serve.add_argument("--instructor-token", default=os.environ.get("NNWIDGETS_QUIZ_INSTRUCTOR_TOKEN"),
                       help="instructor token (default: $NNWIDGETS_QUIZ_INSTRUCTOR_TOKEN, else one "
                            "generated once and kept in the database)")
    serve.add_argument("--max-batch", type=_max_batch, default=5000,
                       help="most answers committed in one transaction (default 5000; 1 turns "
                            "group commit off, for comparison)")
    serve.set_defaults(func=_serve)

    token = sub.add_parser("token", help="print the instructor token (or a student's token)")
    _db_arg(token)
    token.add_argument("--student", help="print this student's token (registering the id)")
    token.set_defaults(func=_token)

    lst = sub.add_parser("list", help="list the questions and their counts")
    _db_arg(lst)
    lst.set_defaults(func=_list)

    export = sub.add_parser("export", help="write the answers as CSV")
    _db_arg(export)
    export.add_argument("--question", help="only this question id")
    export.add_argument("-o", "--output", help="file to write (default: standard output)")
    export.set_defaults(func=_export)

    for name, help_text in (
        ("lock", "stop accepting answers to a question"),
        ("unlock", "accept answers to a question again"),
        ("reveal", "show the correct answer to the students"),
        ("hide", "hide the correct answer again"),
        ("reset", "delete a question's answers and unlock and hide it"),
        ("delete", "delete a question and its answers (a junk question a student registered)"),
    ):
        p = sub.add_parser(name, help=help_text, description=help_text[0].upper() + help_text[1:] + ".")
        _db_arg(p)
        p.add_argument("question", help="question id")
        p.set_defaults(func=_action, action=name)


def _not_a_quiz_db(db: str, create: bool) -> str | None:
    """Why the existing SQLite path ``db`` is not a quiz database, or None. Read
    only: opening someone else's SQLite file as a store would add the quiz's
    tables to it."""
    import sqlite3

    path = pathlib.Path(db).expanduser()
    if "://" in db or not path.exists():
        return None
    if path.is_dir():
        return (f"--db {db!r} is a folder; pass the quiz database file inside it "
                f"(e.g. {str(path / 'quiz.sqlite')!r})")
    try:
        conn = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True)
        try:
            tables = sorted(row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'"))
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return f"--db {db!r} is not a quiz database (not an SQLite file: {exc}); pass the quiz's database file"
    if "quiz_questions" in tables or (create and not tables):
        return None
    what = f"an SQLite database with other tables (tables: {', '.join(tables[:8])})" if tables else "an empty file"
    return f"--db {db!r} is not a quiz database ({what}); pass the quiz's database file"


def _db_errors() -> tuple:
    """The exceptions of the database drivers: a database that cannot be opened."""
    import sqlite3

    errors = [sqlite3.Error]
    try:
        import psycopg

        errors.append(psycopg.Error)
    except ImportError:
        pass
    return tuple(errors)


def _cannot_open(db: str, exc: Exception) -> str:
    from nnwidgets.quiz.store import _redact

    shown = _redact(db) if "://" in db else db
    reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return f"cannot open --db {shown!r}: {reason}"


def _open(args, create: bool = False):
    """The store at ``--db``. Only ``serve`` creates one: for the other commands
    a SQLite file that does not exist is a mistyped --db, not a new class."""
    from nnwidgets.quiz.store import open_store

    db = str(args.db)
    if not create and "://" not in db and not os.path.exists(db):
        raise SystemExit(
            f"nnwidgets quiz: no quiz database at {db!r}; pass the --db the server uses "
            "(default: $NNWIDGETS_QUIZ_DB, else ./quiz.sqlite in the current folder), or start one "
            "with `nnwidgets quiz serve --db PATH`"
        )
    problem = _not_a_quiz_db(db, create)
    if problem:
        raise SystemExit(f"nnwidgets quiz: {problem}")
    try:
        return open_store(args.db)
    except (ValueError, ImportError) as exc:
        raise SystemExit(f"nnwidgets quiz: {exc}") from None
    except _db_errors() as exc:
        raise SystemExit(f"nnwidgets quiz: {_cannot_open(db, exc)}") from None


def _db_folder_problem(db: str) -> str | None:
    """Why ``serve`` will not create a SQLite file at ``db`` (its folder is missing), or None.
    The server creates the file, never the folders: a missing folder is a mistyped --db."""
    if "://" in db:
        return None
    folder = pathlib.Path(db).expanduser().parent
    if folder.is_dir():
        return None
    if folder.exists():
        return f"--db {db!r}: {str(folder)!r} is not a folder; pass a path in an existing folder"
    return (f"--db {db!r}: no folder {str(folder)!r}; create it first (mkdir -p {folder}) or pass "
            "a path in an existing folder")


def _serve(args) -> int:
    import asyncio
    import logging
    import signal

    from nnwidgets.quiz.server import run_server

    problem = _db_folder_problem(str(args.db)) or _not_a_quiz_db(str(args.db), create=True)
    if problem:
        print(f"nnwidgets quiz serve: {problem}", file=sys.stderr)
        return 2

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")

    def ready(url, service):
        print(f"nnwidgets quiz server listening on {url}", flush=True)
        print(f"  database: {service.store.location}", flush=True)
        print(f"  registration: {service.registration}", flush=True)
        print(f"  instructor dashboard: {url}quiz/dashboard#token={service.instructor_token}",
              flush=True)
        print(f"  students: export NNWIDGETS_QUIZ_SERVER={url}", flush=True)

    async def main():
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, stop.set)
            except (NotImplementedError, RuntimeError):  # pragma: no cover - Windows
                pass
        await run_server(
            args.db, args.host, args.port, base_url=args.base_url,
            instructor_token=args.instructor_token, registration=args.registration,
            max_batch=args.max_batch, ready=ready, stop=stop,
        )

    try:
        asyncio.run(main())
    except (ValueError, ImportError) as exc:  # bad --db, missing psycopg
        print(f"nnwidgets quiz serve: {exc}", file=sys.stderr)
        return 2
    except _db_errors() as exc:  # a database server that cannot be reached, a damaged file
        print(f"nnwidgets quiz serve: {_cannot_open(str(args.db), exc)}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"nnwidgets quiz serve: cannot listen on {args.host}:{args.port} or open "
              f"{args.db!r}: {exc}", file=sys.stderr)
        return 1
    return 0


def _token(args) -> int:
    if args.student is not None:  # checked before the database is opened: a bad id stores nothing
        from nnwidgets.quiz.errors import InvalidInput
        from nnwidgets.quiz.questions import check_student

        if not args.student.strip():
            print(f"nnwidgets quiz token: --student {args.student!r} is empty: give the student's id "
                  "(e.g. --student alice), or leave --student out for the instructor token",
                  file=sys.stderr)
            return 2
        try:
            check_student(args.student)
        except InvalidInput as exc:
            print(f"nnwidgets quiz token: --student: {exc.message}", file=sys.stderr)
            return 2
    with _open(args) as store:
        if args.student is not None:
            from nnwidgets.quiz.tokens import sign_student

            store.add_student(args.student)
            print(sign_student(store.student_secret(), args.student))
        else:
            print(os.environ.get("NNWIDGETS_QUIZ_INSTRUCTOR_TOKEN") or store.instructor_token())
    return 0


def _list(args) -> int:
    with _open(args) as store:
        counts = store.all_counts()
        questions = store.questions()
        if not questions:
            print("no questions registered")
        for q in questions:
            flags = [f for f, on in (("locked", q.locked), ("revealed", q.revealed),
                                     ("no correct answer stored", q.correct is None)) if on]
            c = counts.get(q.id, [])
            print(f"{q.id}: {q.question}  [{sum(c)} answer{'' if sum(c) == 1 else 's'}{', ' + ', '.join(flags) if flags else ''}]")
            for i, (text, n) in enumerate(zip(q.answers, c)):
                mark = "*" if q.correct == i else " "
                print(f"  {mark}{i}. {text}: {n}")
    return 0


def _export(args) -> int:
    from nnwidgets.quiz.errors import QuizError

    with _open(args) as store:
        try:
            text = store.export_csv(args.question)
        except QuizError as exc:
            print(f"nnwidgets quiz export: {exc.message}", file=sys.stderr)
            return 1
    if args.output:
        try:
            with open(args.output, "w", encoding="utf-8", newline="") as fh:
                fh.write(text)
        except OSError as exc:
            hint = ("give a file name, not a folder" if os.path.isdir(args.output) else
                    "check that its folder exists and is writable")
            print(f"nnwidgets quiz export: cannot write -o {args.output!r}: {exc.strerror or exc}; {hint}",
                  file=sys.stderr)
            return 1
    else:
        sys.stdout.write(text)
    return 0


def _action(args) -> int:
    from nnwidgets.quiz.errors import QuizError

    with _open(args) as store:
        try:
            if args.action in ("lock", "unlock"):
                store.set_locked(args.question, args.action == "lock")
            elif args.action in ("reveal", "hide"):
                if args.action == "reveal" and store.get(args.question).correct is None:
                    # (the dashboard's Reveal button is disabled for it too)
                    print(f"nnwidgets quiz reveal: question {args.question!r} has no correct answer stored "
                          "(the students' released copies do not carry it), so there is nothing to reveal; "
                          "run the question's cell of the instructor's copy (source/lectures/...) with "
                          "NNWIDGETS_QUIZ_SERVER set to this server: that fills the answer in, keeping the votes",
                          file=sys.stderr)
                    return 1
                store.set_revealed(args.question, args.action == "reveal")
            elif args.action == "delete":
                store.delete(args.question)
            else:
                store.reset(args.question)
        except QuizError as exc:
            print(f"nnwidgets quiz {args.action}: {exc.message}", file=sys.stderr)
            return 1
    print(f"{args.question}: {args.action} done")
    return 0
