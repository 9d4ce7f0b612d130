"""The lecture notebooks carry every quiz question of the lectures verbatim, and run."""

import pathlib
import re

import nbformat
import pytest

from course_testlib import REPO

SEEDS = REPO.parent / "shared" / "seeds"


def _lecture_questions():
    """(id, question, answers) of every asker.js quiz in the foundations lecture text."""
    texts = sorted(SEEDS.glob("001_*.txt"))
    if not texts:
        pytest.skip(f"lecture texts not found in {SEEDS}")
    text = texts[0].read_text()
    found = re.findall(r"var divid = '#(\w+)';.*?question: \"(.*?)\",\s*answers: \[(.*?)\]", text, re.S)
    return [(qid, q, re.findall(r'"(.*?)"', answers)) for qid, q, answers in found]


def test_every_quiz_question_is_an_asker_verbatim():
    questions = _lecture_questions()
    assert len(questions) == 6
    source = "\n".join(c.source for c in nbformat.read(
        str(REPO / "source" / "lectures" / "nn_foundations.ipynb"), as_version=4).cells)
    for qid, question, answers in questions:
        assert f'Asker(id="{qid}", question="{question}"' in source, qid
        assert f"answers={answers!r}".replace("'", '"') in source.replace("\n      ", " "), qid


@pytest.mark.parametrize("lecture", sorted(p.stem for p in (REPO / "lectures").glob("*.py")))
def test_released_lectures_do_not_give_the_quiz_answers_away(lecture, tmp_path):
    """The instructor's copy registers each answer on the quiz server; the
    students' copy has the same Askers without ``correct=``."""
    from nnwidgets.course.quiz_answers import strip_quiz_answers

    def askers(path):
        return [c.source for c in nbformat.read(str(path), as_version=4).cells if "Asker(" in c.source]

    source, release = askers(REPO / "source" / "lectures" / f"{lecture}.ipynb"), askers(
        REPO / "release" / "lectures" / f"{lecture}.ipynb")
    assert source and all("correct=" in a for a in source)
    assert len(release) == len(source) and not any("correct" in a for a in release)
    # stripping is exactly the removal of the keyword: the rest of each call is the same
    copy = tmp_path / "lecture.ipynb"
    copy.write_bytes((REPO / "source" / "lectures" / f"{lecture}.ipynb").read_bytes())
    assert strip_quiz_answers(copy) == len(source)
    assert askers(copy) == release


@pytest.mark.slow
@pytest.mark.parametrize("lecture", sorted(p.stem for p in (REPO / "lectures").glob("*.py")))
def test_lecture_notebook_runs(lecture, tmp_path, monkeypatch):
    from nbclient import NotebookClient

    # The Asker quiz widgets store answers and the student's identity: keep them in tmp_path
    # (the kernel inherits this environment), never in the user's data/config directories.
    quiz_db, config_dir = tmp_path / "quiz.sqlite", tmp_path / "config"
    monkeypatch.setenv("NNWIDGETS_QUIZ_DB", str(quiz_db))
    monkeypatch.setenv("NNWIDGETS_CONFIG_DIR", str(config_dir))
    nb = nbformat.read(str(REPO / "source" / "lectures" / f"{lecture}.ipynb"), as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    ids = re.findall(r'Asker\(id="([\w-]+)"', "\n".join(c.source for c in nb.cells))
    assert ids, "no Asker in the lecture"
    views = [o for c in nb.cells if "Asker(" in c.source for o in c.get("outputs", [])
             if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert len(views) == len(ids), "each Asker displays its widget"
    # they wrote where they were told to: every question, with the instructor's key
    from nnwidgets.quiz.store import open_store

    with open_store(quiz_db) as store:
        stored = {q.id: q.correct for q in store.questions()}
    assert sorted(stored) == sorted(ids) and None not in stored.values(), stored
    assert (config_dir / "quiz.json").is_file()
