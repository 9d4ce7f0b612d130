"""The closest known name to a misspelt one, for "did you mean ...?" in errors.

One cutoff for the whole package (difflib's ratio >= 0.6), so that the
trainer, the widgets and the command-line tools suggest the same way.
"""

from __future__ import annotations

import difflib
from typing import Iterable


def closest_name(value: str, choices: Iterable[str]) -> str | None:
    """The choice nearest ``value`` (difflib, ratio >= 0.6), else None."""
    close = difflib.get_close_matches(str(value), list(choices), n=1, cutoff=0.6)
    return close[0] if close else None
