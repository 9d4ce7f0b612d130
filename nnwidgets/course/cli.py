"""``nnwidgets course``: build, record references, release, autograde and summarize the course.

    nnwidgets course build [--check]            authoring files -> source/ notebooks
    nnwidgets course record-references [IDS]    execute the keys -> assignments/references.json
    nnwidgets course release [IDS]              nbgrader generate_assignment -> release/
    nnwidgets course autograde ID [--student S] nbgrader autograde, with progress
    nnwidgets course grades [--plot FILE]       table (and bar plot) of the gradebook's scores
"""

from __future__ import annotations

import pathlib
import re
import sys
import time

from nnwidgets.course.layout import LECTURES, assignment_ids, course_root, lecture_ids


def _root(args) -> pathlib.Path:
    return course_root(args.course_root)


def _unknown(assignment: str, known: list[str]) -> str:
    """'unknown assignment ...; did you mean ...? (known: ...)' for a mistyped id."""
    from nnwidgets.near_names import closest_name

    close = closest_name(assignment, known)
    if close:
        return f"unknown assignment {assignment!r}; did you mean {close!r}? (known: {', '.join(known)})"
    return f"unknown assignment {assignment!r}; known: {', '.join(known)}"


def _ids(args, root, lectures: bool = True) -> list[str]:
    known = assignment_ids(root)
    wanted = args.ids or known
    choices = known + ([LECTURES] if lectures else [])
    for assignment in wanted:
        if assignment not in choices:
            raise ValueError(_unknown(assignment, choices))
    return wanted


def _autograded_id(root, assignment: str) -> str:
    """The assignment to autograde, checked against the course's assignments."""
    known = assignment_ids(root)
    if assignment == LECTURES:
        raise ValueError(f"the {LECTURES!r} are released, never graded; autograde an assignment: "
                         f"{', '.join(known)}")
    if known and assignment not in known:
        raise ValueError(_unknown(assignment, known))
    return assignment


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
    record(root, _ids(args, root, lectures=False), timeout=args.timeout)
    build(root)
    print("references recorded in assignments/references.json; source notebooks rebuilt")
    return 0


def cmd_release(args) -> int:
    from nnwidgets.course.build import build
    from nnwidgets.course.nbgrader_ops import check_gradebook, generate

    root = _root(args)
    ids = _ids(args, root) if args.ids else assignment_ids(root) + ([LECTURES] if lecture_ids(root) else [])
    if any(i != LECTURES for i in ids):
        check_gradebook(root, args.db, create=True)
    build(root)

    def each_notebook(notebook, number, total, seconds):
        if total > 1:  # (one notebook: the assignment's line says it all)
            print(f"\n      {number}/{total} {notebook.name} {seconds:.1f} s", end="", flush=True)

    for number, assignment in enumerate(ids, 1):
        start = time.perf_counter()
        print(f"[{number}/{len(ids)}] nbgrader generate_assignment {assignment} ...", end=" ", flush=True)
        release = generate(root, assignment, args.db, progress=each_notebook)
        several = len(list(release.glob("*.ipynb"))) > 1
        print(("\n      done in " if several else "") + f"{time.perf_counter() - start:.1f} s")
    print(_release_next_steps(root, ids))
    return 0


def _release_next_steps(root: pathlib.Path, ids: list[str]) -> str:
    """What to do after `release`: it hands nothing out (docs/course.md)."""
    folders = ", ".join(f"release/{i}/" for i in ids)
    graded = [i for i in ids if i != LECTURES]
    lines = [f"\nThe students' notebooks are in {root / 'release'} ({folders}); nobody has received them yet.",
             "Next: hand them out with `nbgrader release_assignment ID` (through an nbgrader exchange) "
             "or copy the release/<id>/ folders to the students."]
    if graded:
        lines.append(f"Then collect submissions into submitted/<student>/<id>/<id>.ipynb (`nbgrader collect ID`) "
                     f"and grade them: `nnwidgets course autograde {graded[0]}`.")
    return "\n".join(lines)


def _submission_problem(folder: pathlib.Path, assignment: str) -> str | None:
    """Why nbgrader cannot grade this submission folder, found before running
    it (a renamed or unreadable notebook), or None."""
    import json

    notebook = folder / f"{assignment}.ipynb"
    if not notebook.exists():
        found = sorted(p.name for p in folder.glob("*.ipynb"))
        if found:
            return (f"no {assignment}.ipynb in {folder} (found {', '.join(found)}); "
                    f"rename the student's notebook to {assignment}.ipynb and run again")
        return f"no {assignment}.ipynb in {folder}"
    try:
        content = json.loads(notebook.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        return f"{notebook.name} is not a readable notebook (not valid JSON: {exc})"
    cells = content.get("cells") if isinstance(content, dict) else None
    ids = [((cell.get("metadata") or {}).get("nbgrader") or {}).get("grade_id")
           for cell in cells or [] if isinstance(cell, dict)]
    twice = sorted({i for i in ids if i and ids.count(i) > 1})
    if twice:
        return (f"{notebook.name} has the graded cell{'s' if len(twice) > 1 else ''} "
                f"{', '.join(repr(i) for i in twice)} more than once (a copied cell keeps its nbgrader id), "
                f"which nbgrader cannot grade; delete the copy in {notebook} (keep the student's answer) "
                "and run again")
    return None


def _grade_ids(notebook: pathlib.Path) -> list[str]:
    """The nbgrader cell ids (metadata.nbgrader.grade_id) of a notebook, in order."""
    import json

    cells = json.loads(notebook.read_text(encoding="utf-8")).get("cells") or []
    return [i for cell in cells if isinstance(cell, dict)
            for i in [((cell.get("metadata") or {}).get("nbgrader") or {}).get("grade_id")] if i]


def cells_out_of_order(expected: list[str], submitted: list[str]) -> list[str]:
    """The graded cells of ``submitted`` that are out of ``expected``'s order:
    the fewest cells that, taken out, leave the others in the released order
    (the ones outside a longest common subsequence), in the submission's order.
    Cells only one of the two has (deleted, or the student's own) are ignored."""
    known = set(expected)
    rank = {i: n for n, i in enumerate(expected)}
    ids = [i for i in submitted if i in known]
    # longest increasing subsequence of the ranks; ties keep the earlier cells
    best = [1] * len(ids)
    prev = [-1] * len(ids)
    for j in range(len(ids)):
        for k in range(j):
            if rank[ids[k]] < rank[ids[j]] and best[k] + 1 > best[j]:
                best[j], prev[j] = best[k] + 1, k
    keep = set()
    j = max(range(len(ids)), key=lambda n: (best[n], -n), default=-1)
    while j >= 0:
        keep.add(j)
        j = prev[j]
    return [i for n, i in enumerate(ids) if n not in keep]


def order_note(root: pathlib.Path, assignment: str, notebook: pathlib.Path) -> str:
    """'cells out of order: <ids>' for a submission whose graded cells are not in
    the released notebook's order (a moved cell is graded where it stands, so it
    can cost points), else ''. Compared with release/, else source/."""
    reference = next((p for p in (root / "release" / assignment / f"{assignment}.ipynb",
                                  root / "source" / assignment / f"{assignment}.ipynb") if p.exists()), None)
    if reference is None:
        return ""
    try:
        moved = cells_out_of_order(_grade_ids(reference), _grade_ids(notebook))
    except (OSError, ValueError, AttributeError):  # (a courtesy: grading itself went through)
        return ""
    return f"cells out of order: {', '.join(moved)}" if moved else ""


def nbgrader_reason(output: str) -> str:
    """The line of nbgrader's output that says why it failed."""
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    if any("DeadKernelError" in ln or "Kernel died" in ln for ln in lines):
        return ("the kernel died while running the notebook (the student's code ended the Python process, "
                "e.g. with os._exit(), or it ran out of memory), so nbgrader recorded no grade; find that "
                "cell in the submitted notebook, comment it out (or grade it by hand) and run again")
    for marker in ("Skipping unknown notebook", "No notebooks were matched", "NotJSONError",
                   "JSONDecodeError", "CellTimeoutError", "DeadKernelError"):
        hit = next((ln for ln in lines if marker in ln), None)
        if hit:
            return hit
    # the exception under nbgrader's traceback says more than its closing
    # "Please see the above traceback" line
    raised = [ln for ln in lines if re.match(r"^[\w.]*(Error|Exception)\b.*:", ln)]
    if raised:
        return raised[-1]
    errors = [ln for ln in lines if "Error" in ln or ln.startswith("[AutogradeApp | ERROR]")]
    return (errors or lines or ["no output"])[-1]


def _forget_submission(root: pathlib.Path, assignment: str, student: str, db_url: str | None) -> None:
    """Removes a submission that failed to grade from the gradebook, so that it
    is not shown as a score of 0 (``nbgrader autograde --create`` adds it first)."""
    from nnwidgets.course.nbgrader_ops import forget_submission

    try:
        forget_submission(root, assignment, student, db_url)
    except Exception:  # nothing recorded, or no gradebook yet
        pass


def _points(root, assignment, student, db_url) -> str:
    from nnwidgets.course.nbgrader_ops import auto_points

    try:
        score, maximum = auto_points(root, assignment, student, db_url)
    except Exception:  # (the score is a courtesy: grading itself went through)
        return ""
    return f"{score:g}/{maximum:g} autograded points, "


def cmd_autograde(args) -> int:
    from nnwidgets.course.nbgrader_ops import NbgraderError, autograde, check_gradebook

    root = _root(args)
    _autograded_id(root, args.id)
    check_gradebook(root, args.db, create=True)
    submitted = root / "submitted"
    students = [args.student] if args.student else sorted(
        p.name for p in submitted.glob(f"*/{args.id}") for p in [p.parent]) if submitted.exists() else []
    if not students:
        print(f"no submissions of {args.id} under {submitted}/<student>/{args.id}/")
        return 1
    failed, notes = [], []
    for number, student in enumerate(students, 1):
        start = time.perf_counter()
        print(f"[{number}/{len(students)}] autograding {args.id} for {student} ...", end=" ", flush=True)
        folder = submitted / student / args.id
        problem = _submission_problem(folder, args.id) if folder.is_dir() else (
            f"no submission folder {folder}")
        if problem is None:
            try:
                autograde(root, args.id, student, args.db, args.timeout)
            except NbgraderError as exc:
                problem = "nbgrader failed: " + nbgrader_reason(str(exc))
                _forget_submission(root, args.id, student, args.db)
        if problem is None:
            note = order_note(root, args.id, folder / f"{args.id}.ipynb")
            if note:
                notes.append((student, note))
            print(f"{_points(root, args.id, student, args.db)}{time.perf_counter() - start:.1f} s"
                  + (f" ({note})" if note else ""))
        else:
            failed.append((student, problem))
            print(f"NOT GRADED: {problem}")
    if notes:
        print(f"\nGraded, but look at {'this submission' if len(notes) == 1 else 'these submissions'} "
              "(a graded cell moved above another is graded where it stands, which can cost points):")
        for student, note in notes:
            print(f"  {student}: {note}")
    if failed:
        one = len(failed) == 1
        others = " (the others were)" if len(failed) < len(students) else ""
        print(f"\n{len(failed)} of {_count(len(students), 'submission')} of {args.id} "
              f"{'was' if one else 'were'} not graded{others}; fix {'it' if one else 'them'} and run "
              f"`nnwidgets course autograde {args.id} --student STUDENT` again:", file=sys.stderr)
        for student, problem in failed:
            print(f"  {student}: {problem}", file=sys.stderr)
        return 1
    return 0


def _count(n, word: str) -> str:
    """'1 submission', '2 submissions', '1.5 points'."""
    return f"{n:g} {word}{'' if n == 1 else 's'}"


def _who(pairs, limit: int = 10) -> str:
    """'bob (a1_regression), carol (a2_classification)', the first ``limit``, then how many more."""
    named = ", ".join(f"{student} ({assignment})" for student, assignment in pairs[:limit])
    return named + (f" and {len(pairs) - limit} more" if len(pairs) > limit else "")


def cmd_grades(args) -> int:
    import pandas as pd

    from nnwidgets.course import nbgrader_ops
    from nnwidgets.course.nbgrader_ops import overview, ungraded_submissions

    root = _root(args)
    frame = overview(root, args.db)
    try:  # the roster: a student who submitted nothing at all is a row of '-'
        roster = nbgrader_ops.students(root, args.db)
    except (FileNotFoundError, ValueError):
        roster = []
    missing = ungraded_submissions(root, frame)
    if frame.empty and not missing:
        print("the gradebook has no graded submissions yet")
        return 0
    # the autograded tests' share: hand-graded written answers count 0 until
    # someone grades them, which would make every perfect notebook look imperfect
    table = (frame.pivot_table(index="student", columns="assignment", values="auto_percent", aggfunc="first")
             if len(frame) else None)
    shown = table.round(1).astype(object) if table is not None else pd.DataFrame(dtype=object)
    for student, assignment in missing:
        shown.loc[student, assignment] = "not graded"
    if len(shown.columns):
        for student in roster:
            if student not in shown.index:
                shown.loc[student, shown.columns[0]] = None
    shown = shown.sort_index().sort_index(axis=1)
    absent = [(student, assignment) for student in shown.index for assignment in shown.columns
              if pd.isna(shown.loc[student, assignment])]
    print(f"Autograded tests: percent of each assignment's automatic points ({_count(len(shown), 'student')}, "
          f"{_count(len(shown.columns), 'assignment')}, {_count(len(frame), 'graded submission')})")
    print(shown.fillna("-").to_string())
    legend = (["-: no submission"] if absent else []) + (["not graded: submitted, without a grade"] if missing else [])
    if legend:
        print(f"({'; '.join(legend)})")
    if absent:
        print(f"\nNo submission: {_who(absent)}.")
    written = frame[frame["max_written_score"] > 0] if len(frame) else frame
    if len(written):
        pending = written[written["needs_manual_grade"].astype(bool)]
        per = written.groupby("assignment")["max_written_score"].first()
        waiting = list(zip(pending["student"], pending["assignment"]))
        print("\nWritten answers (graded by hand in formgrader) are not included: "
              + ", ".join(f"{a} {_count(p, 'point')}" for a, p in per.items())
              + (f"; {_count(len(waiting), 'submission')} still wait{'s' if len(waiting) == 1 else ''} "
                 f"for manual grading in formgrader: {_who(waiting)}." if waiting else
                 "; all are graded (nbgrader export has the totals)."))
    if missing:
        if len(missing) == 1:
            student, assignment = missing[0]
            how = (f"Not autograded yet, or it failed to grade: `nnwidgets course autograde {assignment} "
                   f"--student {student}` grades it or says why.")
        else:
            how = ("Not autograded yet, or they failed to grade: `nnwidgets course autograde ID --student "
                   "STUDENT` grades one or says why.")
        print(f"\nNot graded: {_count(len(missing), 'submission')} under submitted/ "
              f"{'has' if len(missing) == 1 else 'have'} no grade: {_who(missing)}. {how}")
    if args.plot and table is not None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        ax = table.plot.bar(figsize=(max(6, len(table) * 0.8), 4))
        ax.set_ylabel("autograded points (%)")
        ax.set_ylim(0, 100)
        ax.set_title("Autograded tests per student and assignment (written answers not included)")
        plt.tight_layout()
        plt.savefig(args.plot)
        print(f"plot written to {args.plot}")
    if args.plot and table is None:
        print("no plot: nothing graded yet")
    return 0


def register(subparsers) -> None:
    from nnwidgets.cli import missing_subcommand

    parser = subparsers.add_parser("course", help="build, release and autograde the nbgrader course")
    parser.add_argument("--course-root", default=None,
                        help="course folder (default: cwd if it has assignments/, else the checkout)")
    parser.add_argument("--db", default=None, help="gradebook URL (default: $NNWIDGETS_GRADEBOOK_URL, else sqlite:///<course folder>/gradebook.db)")
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
    p.add_argument("id", help="the assignment, e.g. a4_digits")
    p.add_argument("--student", default=None, help="grade only this student's submission")
    p.add_argument("--timeout", type=int, default=None, help="seconds a cell may run")
    p.set_defaults(func=cmd_autograde)

    p = sub.add_parser("grades", help="table (and plot) of the gradebook's scores")
    p.add_argument("--plot", default=None, help="write a bar plot to this file (png/svg)")
    p.set_defaults(func=cmd_grades)

    parser.set_defaults(func=missing_subcommand(parser, sub, "ACTION"))
    for action in sub.choices.values():  # ordinary errors: one line, exit 1 (not a traceback)
        action.set_defaults(func=_one_line_errors(action.get_default("func"), action.prog))


def _one_line_errors(func, prog: str):
    def run(args) -> int:
        from nnwidgets.course.nbgrader_ops import NbgraderError

        try:
            return func(args)
        except NbgraderError as exc:
            print(f"{prog}: nbgrader failed: {nbgrader_reason(str(exc))}", file=sys.stderr)
        except (FileNotFoundError, ValueError) as exc:
            print(f"{prog}: {exc}", file=sys.stderr)
        return 1

    return run


if __name__ == "__main__":  # pragma: no cover
    import argparse

    top = argparse.ArgumentParser(prog="nnwidgets")
    register(top.add_subparsers())
    ns = top.parse_args(sys.argv[1:])
    sys.exit(ns.func(ns))
