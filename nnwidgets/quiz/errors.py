"""Errors of the quiz service, each carrying the HTTP status the API answers with."""

from __future__ import annotations


class QuizError(Exception):
    """A request the quiz service refuses; ``status`` is the HTTP status code."""

    status = 400

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        if status is not None:
            self.status = status

    @property
    def message(self) -> str:
        return str(self.args[0])


class InvalidInput(QuizError):
    """Malformed or out-of-range input (400)."""

    status = 400


class UnknownQuestion(QuizError):
    """No question is registered under that id (404)."""

    status = 404


class QuestionLocked(QuizError):
    """The instructor has locked the question (409)."""

    status = 409


class Conflict(QuizError):
    """The request conflicts with what is stored (409)."""

    status = 409


class Unauthorized(QuizError):
    """A token is required and was not given (401)."""

    status = 401


class Forbidden(QuizError):
    """The token given does not allow this (403)."""

    status = 403
