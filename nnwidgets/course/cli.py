"""``nnwidgets course``: build, record references, release, autograde and summarize the course.

    nnwidgets course build [--check]            authoring files -> source/ notebooks
    nnwidgets course record-references [IDS]    execute the keys -> assignments/references.json
    nnwidgets course release [IDS]              nbgrader generate_assignment -> release/
    nnwidgets course autograde ID [--student S] nbgrader autograde, with progress
    nnwidgets course grades [--plot FILE]       table (and bar plot) of the gradebook's scores
"""

from __future__ import annotations

import pathlib
import sys
import time

from nnwidgets.course.layout import LECTURES, assignment_ids, course_root, lecture_ids


def _root(args) -> pathlib.Path:
    return course_root(args.course_root)


def _ids(args, root) -> list[str]:
    known = assignment_ids(root)
    wanted = args.ids or known
    unknown = [i for i in wanted if i not in known + [LECTURES]]
    if unknown:
        raise SystemExit(f"unknown assignment(s) {unknown}; known: {known + [LECTURES]}")
    return wanted


def cmd_build(args) -> int:
    from nnwidgets.course.build import build

    root = _root(args)
    changed = build(root, check=args.check)
    if args.check:
        if changed:
            print("stale source notebooks (run `nnwidgets course build`):")
            for path in changed:
                print(f"  {path}")
            return 1
        print("source notebooks are up to date")
        return 0
    print(f"built {len(changed)} notebook(s)" + "".join(f"\n  {p}" for p in changed))
    return 0


def cmd_record(args) -> int:
    from nnwidgets.course.build import build
    from nnwidgets.course.references import record

    root = _root(args)
    record(root, [i for i in _ids(args, root) if i != LECTURES], timeout=args.timeout)
    build(root)
    print("references recorded in assignments/references.json; source notebooks rebuilt")
    return 0


def cmd_release(args) -> int:
    from nnwidgets.course.build import build
    from nnwidgets.course.nbgrader_ops import generate

    root = _root(args)
    build(root)
    ids = _ids(args, root) if args.ids else assignment_ids(root) + ([LECTURES] if lecture_ids(root) else [])
    for number, assignment in enumerate(ids, 1):
        start = time.perf_counter()
        print(f"[{number}/{len(ids)}] nbgrader generate_assignment {assignment} ...", end=" ", flush=True)
        generate(root, assignment, args.db)
        print(f"{time.perf_counter() - start:.1f} s")
    return 0


def cmd_autograde(args) -> int:
    from nnwidgets.course.nbgrader_ops import autograde

    root = _root(args)
    submitted = root / "submitted"
    students = [args.student] if args.student else sorted(
        p.name for p in submitted.glob(f"*/{args.id}") for p in [p.parent]) if submitted.exists() else []
    if not students:
        print(f"no submissions of {args.id} under {submitted}/<student>/{args.id}/")
        return 1
    for number, student in enumerate(students, 1):
        start = time.perf_counter()
        print(f"[{number}/{len(students)}] autograding {args.id} for {student} ...", end=" ", flush=True)
        autograde(root, args.id, student, args.db, args.timeout)
        print(f"{time.perf_counter() - start:.1f} s")
    return 0


def cmd_grades(args) -> int:
    from nnwidgets.course.nbgrader_ops import overview

    root = _root(args)
    frame = overview(root, args.db)
    if frame.empty:
        print("the gradebook has no graded submissions yet")
        return 0
    table = frame.pivot_table(index="student", columns="assignment", values="percent")
    print(table.round(1).to_string())
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        ax = table.plot.bar(figsize=(max(6, len(table) * 0.8), 4))
        ax.set_ylabel("score (%)")
        ax.set_ylim(0, 100)
        ax.set_title("Autograded scores per student and assignment")
        plt.tight_layout()
        plt.savefig(args.plot)
        print(f"plot written to {args.plot}")
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser("course", help="build, release and autograde the nbgrader course")
    parser.add_argument("--course-root", default=None,
                        help="course folder (default: cwd if it has assignments/, else the checkout)")
    parser.add_argument("--db", default=None, help="gradebook URL (default: sqlite gradebook.db)")
    sub = parser.add_subparsers(dest="course_command", metavar="ACTION")

    p = sub.add_parser("build", help="authoring files -> source/ notebooks")
    p.add_argument("--check", action="store_true", help="only report stale notebooks (exit 1)")
    p.set_defaults(func=cmd_build)

    p = sub.add_parser("record-references", help="execute the keys and store reference metrics")
    p.add_argument("ids", nargs="*", help="assignments (default: all)")
    p.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    p.set_defaults(func=cmd_record)

    p = sub.add_parser("release", aliases=["generate"], help="nbgrader generate_assignment -> release/")
    p.add_argument("ids", nargs="*", help="assignments (default: all, and the lectures)")
    p.set_defaults(func=cmd_release)

    p = sub.add_parser("autograde", help="nbgrader autograde the submissions of one assignment")
    p.add_argument("id")
    p.add_argument("--student", default=None)
    p.add_argument("--timeout", type=int, default=None, help="seconds a cell may run")
    p.set_defaults(func=cmd_autograde)

    p = sub.add_parser("grades", help="table (and plot) of the gradebook's scores")
    p.add_argument("--plot", default=None, help="write a bar plot to this file (png/svg)")
    p.set_defaults(func=cmd_grades)

    parser.set_defaults(func=lambda args: (parser.print_help(), 0)[1])


if __name__ == "__main__":  # pragma: no cover
    import argparse

    top = argparse.ArgumentParser(prog="nnwidgets")
    register(top.add_subparsers())
    ns = top.parse_args(sys.argv[1:])
    sys.exit(ns.func(ns))
