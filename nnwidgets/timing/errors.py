"""The error for a timing option that cannot be used."""

from __future__ import annotations


class TimingOptionError(ValueError):
    """A timing option (``sizes``, ``devices``, ``repeat``, ...) that cannot be
    used; ``option`` names it and the message says how to fix it.

    A ``ValueError``, so code that catches ``ValueError`` keeps working; its
    own class lets ``%%gputime`` tell a bad option (a one-line UsageError) from
    a ``ValueError`` raised by the timed code (the user's own error)."""

    def __init__(self, option: str, message: str) -> None:
        super().__init__(message)
        self.option = option
