"""The REST API on a real server (subprocess, free loopback port): answers,
counts, instructor actions, student tokens and hostile input."""

from __future__ import annotations

import csv
import http.client
import io
import json
import uuid
from urllib.parse import urlsplit

import pytest

from nnwidgets.quiz.client import QuizClient
from nnwidgets.quiz.errors import QuizError
from nnwidgets.quiz.store import open_store


def raw(url, method, path, body=None, headers=None):
    """(status, parsed JSON or text) for an arbitrary request."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    if isinstance(body, (dict, list)):
        body = json.dumps(body)
    conn.request(method, path, body=body, headers=headers or {})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    try:
        return resp.status, json.loads(data)
    except ValueError:
        return resp.status, data.decode("utf-8", "replace")


def uid(prefix="q"):
    return f"{prefix}{uuid.uuid4().hex[:8]}"


@pytest.fixture
def qid(server):
    q = uid()
    status, body = raw(server.url, "PUT", f"/api/quiz/{q}",
                       {"question": "Which?", "answers": ["a", "b", "c"], "correct": 2},
                       {"X-Quiz-Token": server.instructor})
    assert status == 201, body
    return q


@pytest.fixture
def student(server):
    return QuizClient(server.url, student=uid("student-"), save=False)


def stored_answers(server, q):
    with open_store(server.db) as store:
        return store.answers(q)


def test_answer_counts_and_change(server, qid, student):
    other = QuizClient(server.url, student=uid("student-"), save=False)
    student.submit(qid, 0)
    other.submit(qid, 0)
    student.submit(qid, 1)  # a re-submission replaces the earlier answer
    state = student.state(qid)
    assert state["counts"] == [1, 1, 0] and state["total"] == 2
    assert state["mine"] == 1 and state["student"] == student.student
    assert state["correct"] is None  # not revealed yet
    status, public = raw(server.url, "GET", f"/api/quiz/{qid}")
    assert status == 200 and public["counts"] == [1, 1, 0] and "mine" not in public


def test_token_is_issued_once_per_student(server):
    name = uid("student-")
    status, body = raw(server.url, "POST", "/api/quiz/students", {"student": name})
    assert status == 201 and body["student"] == name and body["token"]
    status, body2 = raw(server.url, "POST", "/api/quiz/students", {"student": name})
    assert status == 409 and "already has a token" in body2["error"]
    status, body3 = raw(server.url, "POST", "/api/quiz/students", {"student": name},
                        {"X-Quiz-Token": server.instructor})
    assert status == 200 and body3["token"] == body["token"]  # the instructor can reissue
    status, anon = raw(server.url, "POST", "/api/quiz/students", "")
    assert status == 201 and anon["student"].startswith("anon-")
    # ' name' would be a second student beside 'name': refused, nothing issued
    status, spaced = raw(server.url, "POST", "/api/quiz/students", {"student": " " + name})
    assert status == 400 and "spaces at its start or end" in spaced["error"]


def test_student_cannot_answer_for_another(server, qid, student):
    victim = QuizClient(server.url, student=uid("victim-"), save=False)
    victim.submit(qid, 2)
    token = student.ensure_token()
    status, body = raw(server.url, "POST", f"/api/quiz/{qid}/answer",
                       {"student": victim.student, "answer": 0}, {"X-Quiz-Token": token})
    assert status == 403 and "another student" in body["error"]
    status, _ = raw(server.url, "POST", f"/api/quiz/{qid}/answer",
                    {"student": victim.student, "answer": 0, "token": token})
    assert status == 403
    assert [a[1:3] for a in stored_answers(server, qid)] == [(victim.student, 2)]


@pytest.mark.parametrize("token, expected", [(None, 401), ("", 401), ("garbage", 403),
                                             ("eA.AAAA", 403)])
def test_answer_needs_a_valid_token(server, qid, token, expected):
    body = {"student": "x", "answer": 0}
    if token is not None:
        body["token"] = token
    status, reply = raw(server.url, "POST", f"/api/quiz/{qid}/answer", body)
    assert status == expected, reply
    assert stored_answers(server, qid) == []


@pytest.mark.parametrize("action", ["lock", "reveal", "reset"])
@pytest.mark.parametrize("token, expected", [(None, 401), ("wrong", 403)])
def test_instructor_actions_need_the_instructor_token(server, qid, student, action, token, expected):
    student.submit(qid, 1)
    headers = {"X-Quiz-Token": token} if token else {}
    status, body = raw(server.url, "POST", f"/api/quiz/{qid}/{action}", "{}", headers)
    assert status == expected and "instructor token" in body["error"]
    # a student's own token is not an instructor token either
    status, _ = raw(server.url, "POST", f"/api/quiz/{qid}/{action}", "{}",
                    {"X-Quiz-Token": student.ensure_token()})
    assert status == 403
    state = student.state(qid)
    assert (state["locked"], state["revealed"], state["counts"]) == (False, False, [0, 1, 0])


@pytest.mark.parametrize("path", ["/api/quiz/export.csv", "/api/quiz/{qid}/export.csv"])
def test_export_needs_instructor(server, qid, path):
    status, _ = raw(server.url, "GET", path.format(qid=qid))
    assert status == 401
    status, _ = raw(server.url, "GET", path.format(qid=qid), headers={"X-Quiz-Token": "nope"})
    assert status == 403


def test_instructor_lock_reveal_reset_export(server, qid, student):
    student.submit(qid, 2)
    it = {"X-Quiz-Token": server.instructor}
    status, body = raw(server.url, "POST", f"/api/quiz/{qid}/lock", "", it)
    assert status == 200 and body["locked"] is True
    with pytest.raises(QuizError) as err:
        student.submit(qid, 0)
    assert err.value.status == 409 and "locked" in err.value.message
    status, body = raw(server.url, "POST", f"/api/quiz/{qid}/reveal", {"revealed": True}, it)
    assert body["revealed"] is True
    state = student.state(qid)
    assert state["correct"] == 2 and state["mine"] == 2 and state["locked"]
    status, text = raw(server.url, "GET", f"/api/quiz/{qid}/export.csv", headers=it)
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[1][:4] == [qid, student.student, "2", "c"]
    status, body = raw(server.url, "POST", f"/api/quiz/{qid}/lock", {"locked": "yes"}, it)
    assert status == 400
    status, body = raw(server.url, "POST", f"/api/quiz/{qid}/reset", None, it)
    assert status == 200 and body["total"] == 0 and not body["locked"] and not body["revealed"]
    assert stored_answers(server, qid) == []


def test_open_registration_by_students_and_conflicts(server, student):
    q = uid()
    reply = student.register(q, "Which?", ["x", "y"], correct=1)
    assert reply["id"] == q and reply["correct"] is None
    assert student.register(q, "Which?", ["x", "y"], correct=1)["id"] == q  # same: fine
    with pytest.raises(QuizError) as err:
        student.register(q, "Which? (edited)", ["x", "y", "z"])
    assert err.value.status == 409
    status, body = raw(server.url, "PUT", f"/api/quiz/{q}",
                       {"question": "Which? (edited)", "answers": ["x", "y", "z"]},
                       {"X-Quiz-Token": server.instructor})
    assert status == 200 and body["answers"] == ["x", "y", "z"]  # the instructor may replace
    status, _ = raw(server.url, "PUT", f"/api/quiz/{uid()}", {"question": "Q", "answers": ["a", "b"]})
    assert status == 401


def test_registration_instructor_only(tmp_path, start_server):
    s = start_server(tmp_path / "q.sqlite", "--registration", "instructor")
    c = QuizClient(s.url, student="alice", save=False)
    with pytest.raises(QuizError) as err:
        c.register("q1", "Q?", ["a", "b"])
    assert err.value.status == 403
    status, _ = raw(s.url, "PUT", "/api/quiz/q1", {"question": "Q?", "answers": ["a", "b"]},
                    {"X-Quiz-Token": s.instructor})
    assert status == 201
    c.submit("q1", 1)
    assert c.state("q1")["counts"] == [0, 1]


# ---- hostile input: a 4xx and nothing stored -----------------------------------------

HOSTILE_BODIES = [
    ("{not json", 400),
    ("[1, 2]", 400),
    ('"just a string"', 400),
    ("", 400),
    ("\xff\xfe", 400),
    ('{"student": "S", "answer": 0, "token": 5}', 403),
    ('{"student": "S", "answer": "0"}', 400),
    ('{"student": "S", "answer": 1.0}', 400),
    ('{"student": "S", "answer": true}', 400),
    ('{"student": "S", "answer": 99}', 400),
    ('{"student": "S", "answer": -1}', 400),
    ('{"student": "", "answer": 0}', 400),
    ('{"student": ["S"], "answer": 0}', 400),
    ('{"student": "S\\u0000x", "answer": 0}', 400),
]


@pytest.mark.parametrize("body, expected", HOSTILE_BODIES)
def test_hostile_answer_bodies(server, qid, body, expected):
    name = uid("student-")
    token = QuizClient(server.url, student=name, save=False).ensure_token()
    body = body.replace('"S', '"' + name)
    # a token in the body (as here: a number) is only used without the header
    headers = {"Content-Type": "application/json"}
    if '"token"' not in body:
        headers["X-Quiz-Token"] = token
    status, reply = raw(server.url, "POST", f"/api/quiz/{qid}/answer", body.encode("latin-1"), headers)
    assert status == expected, reply
    assert isinstance(reply, dict) and reply["error"]
    assert stored_answers(server, qid) == []


def test_body_over_64_kib_is_refused(server, qid, student):
    token = student.ensure_token()
    big = json.dumps({"student": student.student, "answer": 0, "pad": "x" * 70_000})
    status, reply = raw(server.url, "POST", f"/api/quiz/{qid}/answer", big, {"X-Quiz-Token": token})
    assert status == 413 and "64 KiB" in reply["error"]
    huge = "x" * (2 * 1024 * 1024)  # beyond what the server even reads
    try:
        status, _ = raw(server.url, "POST", f"/api/quiz/{qid}/answer", huge, {"X-Quiz-Token": token})
        assert 400 <= status < 500
    except (ConnectionError, http.client.HTTPException):
        pass  # closing the connection on an oversized body is also a refusal
    assert stored_answers(server, qid) == []


def test_unknown_question_or_answer_index(server, qid, student):
    with pytest.raises(QuizError) as err:
        student.submit(uid("missing"), 0)
    assert err.value.status == 404
    with pytest.raises(QuizError) as err:
        student.submit(qid, 3)
    assert err.value.status == 400 and "out of range" in err.value.message
    status, _ = raw(server.url, "GET", "/api/quiz/" + uid("missing"))
    assert status == 404
    status, _ = raw(server.url, "GET", "/api/quiz/bad%20id")
    assert status == 400
    status, _ = raw(server.url, "GET", "/api/nothing-here")
    assert status == 404
    assert stored_answers(server, qid) == []


def test_sql_injection_and_html_are_stored_as_text(server, student):
    q = uid()
    evil_q = "<script>alert(1)</script>'); DROP TABLE quiz_answers; --"
    evil_a = ["<img src=x onerror=alert(2)>", "Robert'); DROP TABLE quiz_students;--"]
    student.register(q, evil_q, evil_a)
    student.submit(q, 1)
    status, body = raw(server.url, "GET", f"/api/quiz/{q}")
    assert body["question"] == evil_q and body["answers"] == evil_a and body["counts"] == [0, 1]
    # injection through the URL: refused as an invalid id, tables intact
    status, _ = raw(server.url, "GET", "/api/quiz/x';DROP%20TABLE%20quiz_answers;--")
    assert status == 400
    assert stored_answers(server, q)[0][1:3] == (student.student, 1)


def test_dashboard_renders_texts_escaped(server):
    status, page = raw(server.url, "GET", "/quiz/dashboard")
    assert status == 200 and "<script src=\"static/dashboard.js\"></script>" in page
    status, js = raw(server.url, "GET", "/quiz/static/dashboard.js")
    assert status == 200
    # every server text reaches the page through textContent; no HTML parsing sink
    assert "textContent" in js
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in js, sink
    parts = urlsplit(server.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    conn.request("GET", "/quiz/dashboard")
    csp = conn.getresponse().getheader("Content-Security-Policy")
    conn.close()
    assert "script-src 'self'" in csp  # an injected inline script would not run either
    status, _ = raw(server.url, "GET", "/quiz/static/../store.py")
    assert status == 404


def test_cors_preflight_allows_the_token_header(server):
    parts = urlsplit(server.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    conn.request("OPTIONS", "/api/quiz/x/answer", headers={
        "Origin": "http://lab.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type, x-quiz-token"})
    resp = conn.getresponse()
    resp.read()
    conn.close()
    assert resp.status == 204
    assert "X-Quiz-Token" in resp.getheader("Access-Control-Allow-Headers")
    assert resp.getheader("Access-Control-Allow-Origin") == "*"


def test_list_questions_hides_correct_from_students(server, qid):
    status, body = raw(server.url, "GET", "/api/quiz")
    mine = [q for q in body["questions"] if q["id"] == qid][0]
    assert mine["correct"] is None
    status, body = raw(server.url, "GET", "/api/quiz", headers={"X-Quiz-Token": server.instructor})
    assert [q for q in body["questions"] if q["id"] == qid][0]["correct"] == 2
    status, _ = raw(server.url, "DELETE", f"/api/quiz/{qid}")
    assert status == 401
    status, _ = raw(server.url, "DELETE", f"/api/quiz/{qid}", headers={"X-Quiz-Token": server.instructor})
    assert status == 200
    assert raw(server.url, "GET", f"/api/quiz/{qid}")[0] == 404
