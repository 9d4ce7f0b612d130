"""The Asker widget through its traits (no browser), its text fallback, the
%%asker magic and the student identity."""

from __future__ import annotations

import json
import time
import pathlib
import subprocess
import sys

import pytest
from IPython.core.error import UsageError

from nnwidgets.quiz import identity
from nnwidgets.quiz.store import open_store
from nnwidgets.widgets.asker import Asker

NAND = dict(id="nand", question="What are the corresponding outputs for x = [0,0],[0,1],[1,0], and [1,1]?",
            answers=["0,0,0,0", "0,1,1,0", "0,0,0,1", "0,1,1,1", "1,1,1,0"])
JS = pathlib.Path(__file__).resolve().parents[2] / "nnwidgets" / "widgets" / "asker.js"


def frontend_submit(widget, answer):
    """What the browser sends when the student presses Submit (local mode)."""
    widget._on_frontend_msg(widget, {"type": "submit", "answer": answer}, [])


def test_local_mode_answers_change_and_count(tmp_path):
    a = Asker(**NAND, correct=4, student="alice")
    assert (a.mode, a.qid, a.id, a.counts, a.selected) == ("local", "nand", "nand", [0] * 5, None)
    frontend_submit(a, 1)
    assert (a.selected, a.counts, a.total) == (1, [0, 1, 0, 0, 0], 1)
    frontend_submit(a, 4)  # change of mind replaces the vote
    assert (a.selected, a.counts, a.total) == (4, [0, 0, 0, 0, 1], 1)
    b = Asker(**NAND, correct=4, student="bob")
    b.submit("0,0,0,0")
    assert b.counts == [1, 0, 0, 0, 1] and b.total == 2
    # the same question shown again (re-run cell) finds the stored answer
    again = Asker(**NAND, correct=4, student="alice")
    assert again.selected == 4 and again.total == 2
    with open_store(tmp_path / "embedded.sqlite") as store:  # $NNWIDGETS_QUIZ_DB
        assert store.counts("nand") == [1, 0, 0, 0, 1]


def test_local_lock_and_reveal(tmp_path):
    a = Asker(**NAND, correct="1,1,1,0", student="alice")
    assert a.correct == 4
    frontend_submit(a, 2)
    a.lock()
    assert a.locked
    frontend_submit(a, 3)  # refused: shown in the widget, the answer stays
    assert a.selected == 2 and "locked" in a.status
    assert not a.revealed
    a._on_frontend_msg(a, {"type": "reveal"}, [])
    assert a.revealed
    assert " *E. 1,1,1,0" in repr(a)


def test_bad_frontend_message_never_raises():
    a = Asker(**NAND, student="alice")
    for msg in ({"type": "submit", "answer": 99}, {"type": "submit", "answer": "x"},
                {"type": "nonsense"}, "not a dict"):
        a._on_frontend_msg(a, msg, [])
    assert a.counts == [0] * 5 and a.selected is None
    assert "integer answer index" in a.status  # the last refused answer, shown in the widget


def test_invalid_definitions_raise_clear_errors():
    with pytest.raises(ValueError, match="invalid question id"):
        Asker(id="has space", question="Q?", answers=["a", "b"])
    with pytest.raises(ValueError, match="2 to 26 answers"):
        Asker(id="q", question="Q?", answers=["a"])
    with pytest.raises(ValueError, match="not one of the answers"):
        Asker(id="q", question="Q?", answers=["a", "b"], correct="c")
    with pytest.raises(ValueError, match="out of range"):
        Asker(id="q", question="Q?", answers=["a", "b"], correct=2)
    # ' alice' would answer as another student than 'alice'
    with pytest.raises(ValueError, match="student id ' alice' has spaces at its start or end; use 'alice'"):
        Asker(id="q", question="Q?", answers=["a", "b"], student=" alice")


def test_the_token_reaches_the_browser_by_message_never_in_saved_widget_state(server):
    """A notebook saved with its widget state (`nnwidgets lab` saves it) must
    not carry the student's token: the view asks the kernel for it by
    message, and a token the browser got from the server is kept by the
    kernel for the next session."""
    sent = []
    a = Asker(**NAND, server=server.url, student="dave")
    a.send = lambda content, buffers=None: sent.append(content)
    a._on_frontend_msg(a, {"type": "token?"}, [])
    # none issued yet: the browser asks the server (the kernel may have said so unasked, too)
    assert sent and all(m == {"type": "token", "token": ""} for m in sent)
    a._on_frontend_msg(a, {"type": "token", "token": "dave-token"}, [])  # what the browser got
    assert a.token == "dave-token" and identity.saved_token(server.url, "dave") == "dave-token"
    a._on_frontend_msg(a, {"type": "token?"}, [])
    assert sent[-1] == {"type": "token", "token": "dave-token"}
    b = Asker(**NAND, server=server.url, student="dave")  # the next kernel
    assert b.token == "dave-token"
    for widget in (a, b):  # what JupyterLab saves is the model's synced state
        state = widget.get_state()
        assert "token" not in state and "dave-token" not in json.dumps(state, default=str)


def test_a_busy_kernel_announces_the_token_unasked(server, monkeypatch):
    """While its cell runs, the kernel cannot answer the browser's "token?"
    (the question waits until the cell ends): the Asker tells the browser
    the token unasked, a few times (the page may not listen yet), and stops
    once it hears from the browser."""
    identity.save_token(server.url, "erin", "erin-token")
    sent = []  # (widget, message): questions of earlier tests may still announce theirs
    monkeypatch.setattr(Asker, "send", lambda self, content, buffers=None: sent.append((self, content)))
    monkeypatch.setattr("nnwidgets.widgets.asker.TOKEN_PUSH_DELAYS", (0.0, 0.05, 0.1, 0.15, 5.0))

    def sent_by(widget):
        return [m for w, m in list(sent) if w is widget]

    a = Asker(**NAND, server=server.url, student="erin")
    deadline = time.monotonic() + 3
    while len(sent_by(a)) < 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sent_by(a) == [{"type": "token", "token": "erin-token"}] * 4
    a._on_frontend_msg(a, {"type": "token?"}, [])  # the kernel is idle again and heard the page
    assert len(sent_by(a)) == 5
    time.sleep(5.3)  # past the last scheduled announcement: it is not sent
    assert len(sent_by(a)) == 5
    # an embedded-store question has no token and announces nothing
    b = Asker(**NAND, student="erin")
    time.sleep(0.3)
    assert sent_by(b) == []


def test_server_mode_from_python(server, monkeypatch):
    a = Asker(**NAND, correct=4, server=server.url, student="carol")
    assert a.mode == "server" and a.server == server.url and a.token == ""
    a.submit(3)
    assert a.selected == 3 and a.counts[3] >= 1 and a.token
    assert identity.saved_token(server.url, "carol") == a.token  # kept for the next kernel
    # the environment variable selects the server too; the saved token is reused
    monkeypatch.setenv("NNWIDGETS_QUIZ_SERVER", server.url)
    b = Asker(**NAND, correct=4, student="carol")
    assert b.mode == "server" and b.token == a.token
    b.refresh()
    assert b.selected == 3
    # the instructor reveals: the correct answer arrives with the counts
    from nnwidgets.quiz.client import QuizClient

    QuizClient(server.url, save=False).instructor("reveal", "nand", server.instructor)
    import time

    time.sleep(0.6)  # the server caches counts for 0.5 s
    b.refresh()
    assert b.revealed and b.correct == 4


def test_unreachable_server_does_not_raise_on_display():
    a = Asker(**NAND, server="http://127.0.0.1:9/")  # nothing listens on the discard port
    assert a.mode == "server"
    a.refresh()
    assert "unreachable" in a.status
    data, _ = a._repr_mimebundle_()
    assert "What are the corresponding outputs" in data["text/plain"]


def test_jupyter_mode_and_bad_server_url():
    assert Asker(**NAND, server="jupyter").mode == "jupyter"
    with pytest.raises(ValueError, match="not an http"):
        Asker(**NAND, server="ftp://x")


def test_text_and_html_fallback_escape():
    a = Asker(id="xss", question="<script>alert(1)</script> & more?",
              answers=["<b>bold</b>", "plain"], extra=["why <i>", ""])
    data, _ = a._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in data
    assert data["text/plain"].startswith("Question (xss): <script>alert(1)</script> & more?")
    assert "A. <b>bold</b>" in data["text/plain"] and "why <i>" in data["text/plain"]
    html = data["text/html"]
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more?" in html
    assert "&lt;b&gt;bold&lt;/b&gt;" in html and 'class="nnw-asker' in html


def test_plain_python_without_kernel_prints_the_question(tmp_path):
    code = ("from nnwidgets import Asker; "
            "a = Asker(id='bpopt', question='Will SGD (eventually) converge to a global optimum?', "
            "answers=['Yes', 'No', 'Depends']); print(repr(a)); a.submit(2); print(a.counts)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "Will SGD (eventually) converge" in out.stdout and "C. Depends" in out.stdout
    assert "[0, 0, 1]" in out.stdout
    assert out.stderr == ""


def test_js_keeps_the_stable_dom_contract():
    js = JS.read_text()
    for cls in ("nnw-asker", "nnw-asker-answer", "nnw-asker-submit", "nnw-asker-count",
                "nnw-asker-chart", "nnw-asker-correct", "nnw-asker-status"):
        assert f'"{cls}"' in js, cls
    assert "innerHTML" not in js and "console." not in js


# ---- %%asker ----------------------------------------------------------------------------

@pytest.fixture
def ip():
    from IPython.testing import globalipapp

    shell = (globalipapp.start_ipython() or globalipapp.get_ipython())
    shell.run_line_magic("load_ext", "nnwidgets")
    return shell


def test_cell_magic_builds_an_asker(ip):
    body = ("Will SGD (eventually) converge\nto a global optimum?\n"
            "- Yes\n- No\n- Depends\n")
    a = ip.run_cell_magic("asker", "bpopt --correct 2 --server jupyter", body)
    assert isinstance(a, Asker)
    assert a.question == "Will SGD (eventually) converge to a global optimum?"
    assert a.answers == ["Yes", "No", "Depends"] and a.correct == 2 and a.qid == "bpopt"
    starred = ip.run_cell_magic("asker", "moment --server jupyter",
                                "For what value of mu does the momentum update rule reduce to SGD?\n"
                                "* 0\n- 1\n- 0.5\n- None of the above")
    assert starred.correct == 0


@pytest.mark.parametrize("line, body, match", [
    ("", "Q?\n- a\n- b", "arguments"),
    ("q1", "- a\n- b", "question on its first line"),
    ("q1", "Q?\n- a", "at least two"),
    ("q1 --correct 5", "Q?\n- a\n- b", "out of range"),
    ("q1 --correct 0", "Q?\n- a\n* b", "disagrees"),
    ("q1", "Q?\n- a\nstray\n- b", "after the answers"),
    ("bad/id", "Q?\n- a\n- b", "invalid question id"),
    ("q1 --bogus", "Q?\n- a\n- b", "unrecognized"),
])
def test_cell_magic_usage_errors(ip, line, body, match):
    with pytest.raises(UsageError, match=match):
        ip.run_cell_magic("asker", line, body)


# ---- identity -------------------------------------------------------------------------

def test_identity_is_stable_and_prefers_jupyterhub(tmp_path, monkeypatch):
    first = identity.student_id()
    assert first.startswith("student-") and identity.student_id() == first
    saved = json.loads((tmp_path / "config" / "quiz.json").read_text())
    assert saved["student"] == first
    assert (tmp_path / "config" / "quiz.json").stat().st_mode & 0o077 == 0
    monkeypatch.setenv("JUPYTERHUB_USER", "hubuser")
    assert identity.student_id() == "hubuser"
    assert identity.student_id("explicit") == "explicit"
    identity.save_token("http://h:1/", "hubuser", "tok")
    assert identity.saved_token("http://h:1", "hubuser") == "tok"
    assert identity.saved_token("http://h:1/", "other") is None


def test_nbconvert_without_widget_state_shows_the_question():
    """A saved notebook converted to HTML (no widget state) falls back to the
    question's HTML: the widget view is dropped, the question and answers stay."""
    import nbformat
    from nbconvert import HTMLExporter

    a = Asker(id="lrcolor", question="Which color is from the smallest learning rate?",
              answers=["blue", "orange", "red", "<green>"])
    data, metadata = a._repr_mimebundle_()
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("Asker(...)")
    cell.outputs = [nbformat.v4.new_output("display_data", data=data, metadata=metadata)]
    nb.cells.append(cell)
    body, _ = HTMLExporter().from_notebook_node(nb)
    assert "Which color is from the smallest learning rate?" in body
    assert "&lt;green&gt;" in body and "<green>" not in body
    assert "nnw-asker-static" in body
