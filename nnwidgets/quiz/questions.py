"""What a quiz question is, and the validation of ids, texts and answer indices.

The limits keep one hostile request from storing megabytes: a question of at
most 4,000 characters with 2 to 26 answers of at most 1,000 characters each.
"""

from __future__ import annotations

import dataclasses
import re

from nnwidgets.quiz.errors import InvalidInput

MAX_QUESTION_CHARS = 4000
MAX_ANSWER_CHARS = 1000
MIN_ANSWERS, MAX_ANSWERS = 2, 26
MAX_STUDENT_CHARS = 128

_QID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-]{0,99}\Z")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# words used by the API's own paths
RESERVED_IDS = frozenset({"students", "export", "dashboard", "static"})


@dataclasses.dataclass(frozen=True)
class Question:
    """A registered multiple-choice question and its instructor flags."""

    id: str
    question: str
    answers: tuple[str, ...]
    extra: tuple[str, ...] | None = None
    correct: int | None = None
    locked: bool = False
    revealed: bool = False

    def same_schema(self, other: "Question") -> bool:
        return (self.question, self.answers, self.extra, self.correct) == (
            other.question,
            other.answers,
            other.extra,
            other.correct,
        )

    def public(self, *, instructor: bool = False) -> dict:
        """The JSON view; the correct answer only once revealed (or to the instructor)."""
        out = {
            "id": self.id,
            "question": self.question,
            "answers": list(self.answers),
            "extra": list(self.extra) if self.extra is not None else None,
            "locked": self.locked,
            "revealed": self.revealed,
            "correct": self.correct if (self.revealed or instructor) else None,
        }
        return out


def check_question_id(qid) -> str:
    if not isinstance(qid, str) or not _QID.match(qid):
        raise InvalidInput(
            f"invalid question id {str(qid)[:120]!r}: use 1-100 letters, digits, '_' or '-', "
            "starting with a letter or digit (e.g. 'nand')"
        )
    if qid.lower() in RESERVED_IDS:
        raise InvalidInput(f"question id {qid!r} is reserved by the API; choose another id")
    return qid


def check_student(student) -> str:
    if not isinstance(student, str) or not student.strip():
        raise InvalidInput("'student' must be a non-empty string")
    if student != student.strip():  # ' alice' would be another student than 'alice'
        raise InvalidInput(f"student id {student[:40]!r} has spaces at its start or end; use {student.strip()[:40]!r}")
    if len(student) > MAX_STUDENT_CHARS or _CONTROL.search(student):
        raise InvalidInput(
            f"invalid student id {student[:40]!r}: at most {MAX_STUDENT_CHARS} characters, "
            "no control characters"
        )
    return student


def _check_text(value, what: str, limit: int) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"{what} must be a string, got {type(value).__name__}")
    if len(value) > limit:
        raise InvalidInput(f"{what} has {len(value)} characters; the limit is {limit}")
    if "\x00" in value:
        raise InvalidInput(f"{what} contains a NUL character")
    return value


def make_question(qid, question, answers, extra=None, correct=None) -> Question:
    """Validate a question definition; raises :class:`InvalidInput` naming the bad value."""
    qid = check_question_id(qid)
    question = _check_text(question, "the question", MAX_QUESTION_CHARS)
    if not question.strip():
        raise InvalidInput("the question text is empty")
    if isinstance(answers, (str, bytes)) or not isinstance(answers, (list, tuple)):
        raise InvalidInput(f"answers must be a list of strings, got {type(answers).__name__}")
    if not MIN_ANSWERS <= len(answers) <= MAX_ANSWERS:
        raise InvalidInput(
            f"a question needs {MIN_ANSWERS} to {MAX_ANSWERS} answers, got {len(answers)}"
        )
    answers = tuple(_check_text(a, f"answer {i}", MAX_ANSWER_CHARS) for i, a in enumerate(answers))
    for i, a in enumerate(answers):
        if not a.strip():
            raise InvalidInput(f"answer {i} is empty; every answer needs a text")
        if a in answers[:i]:
            raise InvalidInput(f"answer {i} ({a!r}) repeats answer {answers.index(a)}; answers must differ")
    if extra is not None:
        if isinstance(extra, (str, bytes)) or not isinstance(extra, (list, tuple)):
            raise InvalidInput("extra must be a list of strings (one per answer) or null")
        if len(extra) != len(answers):
            raise InvalidInput(
                f"extra has {len(extra)} entries but there are {len(answers)} answers; "
                "give one (possibly empty) text per answer"
            )
        extra = tuple(
            _check_text("" if e is None else e, f"extra {i}", MAX_ANSWER_CHARS)
            for i, e in enumerate(extra)
        )
    if correct is not None:
        correct = check_answer_index(correct, len(answers), what="correct")
    return Question(qid, question, answers, extra, correct)


def check_answer_index(answer, n_answers: int, what: str = "answer") -> int:
    if isinstance(answer, bool) or not isinstance(answer, int):
        raise InvalidInput(
            f"{what} must be an integer answer index, got {type(answer).__name__} {str(answer)[:40]!r}"
        )
    if not 0 <= answer < n_answers:
        raise InvalidInput(
            f"{what} index {answer} is out of range: this question has answers 0 to {n_answers - 1}"
        )
    return answer
