"""The instructor workflow with real nbgrader and a real gradebook, end to end.

For every assignment: generate the release (identical to the committed one), then
autograde three submissions in one nbgrader run: the key (full marks), the untouched
release (zero on the graded cells, no crash) and, for assignment 1, wrong work with
one fault per exercise (test set used for training, hard-coded metric, edited and
deleted test cells, an infinite loop, a cell that raises).
"""

import json

import nbformat
import pytest

from nnwidgets.course.layout import assignment_ids
from nnwidgets.course.nbgrader_ops import autograde, generate, overview, scores, submit

from course_testlib import REPO, cell_by_id, graded_ids, make_course, read_nb

ASSIGNMENTS = assignment_ids(REPO)


def _write(nb, path):
    nbformat.write(nb, str(path))
    return path


def _replace_solution(nb, grade_id, new_source):
    cell_by_id(nb, grade_id).source = new_source


def wrong_work_a1(release_nb, key_nb):
    """The key with one fault per exercise; expected score per test cell."""
    nb = nbformat.from_dict(json.loads(json.dumps(key_nb)))
    # an infinite loop where question 1 is answered (interrupted by the cell timeout)
    _replace_solution(nb, "q-diabetes-analysis", "while True:\n    pass\nanalysis_diabetes = 'regression'")
    # the linear model trained on the test set, and its test cell edited to pass anyway
    _replace_solution(nb, "lr", cell_by_id(nb, "lr").source.replace(
        "lr_model.fit(X_train, y_train)", "lr_model.fit(X_test, y_test)"))
    cell_by_id(nb, "test-lr").source = "pass  # tests? what tests?"
    # a cell that raises before the network is built
    _replace_solution(nb, "net-1x5000", "raise RuntimeError('I give up')\n" + cell_by_id(nb, "net-1x5000").source)
    # question 3 answered right, but its test cell deleted (nbgrader puts it back)
    nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") != "test-q-v1-analysis"]
    # a hard-coded metric instead of the network's own
    _replace_solution(nb, "net-v1-3x100", cell_by_id(nb, "net-v1-3x100").source.replace(
        "net_v1_3x100_test_MSE = mean_squared_error(y_test, net_v1_3x100_test_pred)",
        "net_v1_3x100_test_MSE = 1234.5"))
    expected = {"test-q-diabetes-analysis": 0.0, "test-lr": 0.0, "test-net-1x5000": 0.0,
                "test-q-v1-analysis": 1.0, "test-net-v1-3x100": 0.0}
    return nb, expected


WRONG_WORK = {"a1_regression": wrong_work_a1}


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_generate_and_autograde(assignment, tmp_path, course_env):
    root = make_course(tmp_path, assignment)
    release = generate(root, assignment)
    released = release / f"{assignment}.ipynb"
    committed = REPO / "release" / assignment / f"{assignment}.ipynb"
    assert released.read_text() == committed.read_text(), (
        f"release/{assignment} is stale: run `nnwidgets course release {assignment}`")

    key = read_nb(root / "source" / assignment / f"{assignment}.ipynb")
    blank = read_nb(released)
    points = graded_ids(key)
    assert points, f"{assignment} has no autograded test cells"
    work = tmp_path / "work"
    work.mkdir()
    submit(root, assignment, "key", _write(key, work / "key.ipynb"))
    submit(root, assignment, "blank", _write(blank, work / "blank.ipynb"))
    expected_wrong = None
    if assignment in WRONG_WORK:
        wrong, expected_wrong = WRONG_WORK[assignment](blank, key)
        submit(root, assignment, "wrong", _write(wrong, work / "wrong.ipynb"))

    autograde(root, assignment, db_url=None, timeout=60)

    key_scores = scores(root, assignment, "key")
    for grade_id, maximum in points.items():
        assert key_scores[grade_id] == (maximum, maximum), (grade_id, key_scores[grade_id])
    blank_scores = scores(root, assignment, "blank")
    for grade_id in points:
        assert blank_scores[grade_id][0] == 0, (grade_id, blank_scores[grade_id])
    if expected_wrong is not None:
        wrong_scores = scores(root, assignment, "wrong")
        found = {g: wrong_scores[g][0] for g in expected_wrong}
        assert found == expected_wrong
        graded = read_nb(root / "autograded" / "wrong" / assignment / f"{assignment}.ipynb")
        original = cell_by_id(key, "test-lr").source
        assert cell_by_id(graded, "test-lr").source == original  # the edited test was restored
        # the deleted test is back, as the instructor wrote it (hidden tests included)
        restored = cell_by_id(graded, "test-q-v1-analysis").source
        assert restored.endswith(cell_by_id(key, "test-q-v1-analysis").source), restored
        assert "added back by nbgrader" in restored
        loop_outputs = cell_by_id(graded, "q-diabetes-analysis").outputs
        assert any(o.get("ename") in ("CellTimeoutError", "KeyboardInterrupt") for o in loop_outputs)
        # diagnostics reach the student on stdout
        lr_out = "".join(o.get("text", "") for o in cell_by_id(graded, "test-lr").outputs)
        assert "trained on the test set" in lr_out
    # the instructor's overview: one row per submission, key at 100% of the autograded points
    frame = overview(root).set_index("student")
    assert set(frame.index) == {"key", "blank"} | ({"wrong"} if expected_wrong else set())
    assert frame.loc["key", "code_score"] == frame.loc["key", "max_code_score"] == sum(points.values())
    assert frame.loc["key", "auto_percent"] == 100 and frame.loc["blank", "code_score"] == 0
    if assignment == ASSIGNMENTS[0]:
        import argparse

        from nnwidgets.course.cli import register

        parser = argparse.ArgumentParser()
        register(parser.add_subparsers())
        plot = tmp_path / "grades.png"
        args = parser.parse_args(["course", "--course-root", str(root), "grades", "--plot", str(plot)])
        assert args.func(args) == 0 and plot.stat().st_size > 1000
    for student in ("key", "blank") + (("wrong",) if expected_wrong else ()):
        graded = read_nb(root / "autograded" / student / assignment / f"{assignment}.ipynb")
        for grade_id in points:
            cell = cell_by_id(graded, grade_id)
            assert not any(o.get("name") == "stderr" for o in cell.outputs), (student, grade_id)


def test_source_notebooks_are_up_to_date():
    from nnwidgets.course.build import build

    stale = build(REPO, check=True)
    assert not stale, f"stale source notebooks {stale}: run `nnwidgets course build`"


@pytest.mark.slow
def test_autograde_command_grades_everyone_despite_broken_submissions(tmp_path, course_env, capsys):
    """One unreadable or renamed notebook must not stop the class's grading,
    must not show up as a 0, and a warning in the student's own code must not
    cost a correct cell its points."""
    import argparse

    from nnwidgets.course.cli import register

    assignment = "a4_digits"
    root = make_course(tmp_path, assignment)
    generate(root, assignment)
    key_path = root / "source" / assignment / f"{assignment}.ipynb"
    key = read_nb(key_path)
    work = tmp_path / "work"
    work.mkdir()
    # "a-broken" sorts first: before the fix it stopped everyone after it
    broken = root / "submitted" / "a-broken" / assignment
    broken.mkdir(parents=True)
    (broken / f"{assignment}.ipynb").write_text(key_path.read_text()[:3000])
    renamed = root / "submitted" / "b-renamed" / assignment
    renamed.mkdir(parents=True)
    (renamed / f"{assignment}-Copy1.ipynb").write_text(key_path.read_text())
    submit(root, assignment, "c-key", _write(key, work / "key.ipynb"))
    warns = nbformat.from_dict(json.loads(json.dumps(key)))
    count = next(c for c in warns.cells if "def mlp_n_params" in c.source)
    count.source = count.source.replace("def mlp_n_params(model):",
                                        "def mlp_n_params(model):\n    import warnings; warnings.warn('counting')", 1)
    assert "warnings.warn('counting')" in count.source
    submit(root, assignment, "d-warns", _write(warns, work / "warns.ipynb"))

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    run = lambda *argv: (lambda a: a.func(a))(parser.parse_args(["course", "--course-root", str(root), *argv]))
    capsys.readouterr()
    assert run("autograde", assignment, "--timeout", "60") == 1  # some were not graded
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err
    full = sum(graded_ids(key).values())
    assert f"c-key ... {full:g}/{full:g} autograded points" in out.out
    assert "a-broken" in out.err and "not valid JSON" in out.err
    assert "b-renamed" in out.err and "a4_digits-Copy1.ipynb" in out.err
    points = graded_ids(key)
    for student in ("c-key", "d-warns"):  # graded, in full, after the broken ones
        got = scores(root, assignment, student)
        assert {g: got[g] for g in points} == {g: (m, m) for g, m in points.items()}, student
    graded = read_nb(root / "autograded" / "d-warns" / assignment / f"{assignment}.ipynb")
    shown = "".join(o.get("text", "") for c in graded.cells for o in c.get("outputs", []))
    assert "counting" in shown  # the warning is still shown to the student, on stdout
    # the broken ones are "not graded" in the overview, not zeros
    frame = overview(root)
    assert set(frame["student"]) == {"c-key", "d-warns"}
    assert run("grades") == 0
    table = capsys.readouterr().out
    assert table.count("not graded") >= 2 and "100.0" in table
    assert "Written answers" in table  # the hand-graded points are said to be left out


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_visible_test_fails_on_the_untouched_release(assignment):
    """A student who runs a test cell before doing its exercise sees it fail: `nnwidgets course
    release` tags the cells that raise in the students' copy, so every autograded test cell of
    the committed release must carry the tag. (a2's test of exercise 4 passed untouched: the
    untuned SVC already sat in models[0], fitted and with its accuracy in test_accuracies[0].)"""
    from nnwidgets.course.release_tags import TAG

    release = read_nb(REPO / "release" / assignment / f"{assignment}.ipynb")
    passing = [grade_id for grade_id in graded_ids(release)
               if TAG not in cell_by_id(release, grade_id).metadata.get("tags", [])]
    assert not passing, f"visible tests that pass before the exercise is done: {passing}"
