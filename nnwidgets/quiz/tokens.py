"""Per-student tokens: ``base64url(student) "." base64url(HMAC-SHA256(secret, student))``.

The server issues a token the first time a student id contacts it; every answer
must carry the token of the student it is posted for. Verification is
stateless (no database read per answer).
"""

from __future__ import annotations

import base64
import hashlib
import hmac

_DOMAIN = b"nnwidgets-quiz-student-v1\x00"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: bytes, student: str) -> bytes:
    return hmac.new(secret, _DOMAIN + student.encode("utf-8"), hashlib.sha256).digest()


def sign_student(secret: bytes, student: str) -> str:
    """The token of ``student`` under ``secret``."""
    return _b64(student.encode("utf-8")) + "." + _b64(_mac(secret, student))


def verify_student(secret: bytes, token) -> str | None:
    """The student id a valid ``token`` was issued to, else None."""
    if not isinstance(token, str) or token.count(".") != 1 or len(token) > 400:
        return None
    head, mac = token.split(".")
    try:
        student = _unb64(head).decode("utf-8")
        given = _unb64(mac)
    except (ValueError, UnicodeDecodeError):
        return None
    if not hmac.compare_digest(given, _mac(secret, student)):
        return None
    return student
