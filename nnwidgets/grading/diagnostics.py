"""Failure messages for autograder checks: expected, found, likely cause (on stdout)."""

from __future__ import annotations

import sys


class GradingFailure(AssertionError):
    """An autograder check failed; the message holds the diagnostic."""


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.10g}"
    text = repr(value)
    return text if len(text) <= 200 else text[:197] + "..."


def fail(what: str, expected=None, found=None, cause: str | None = None, hint: str | None = None):
    """Print a diagnostic to stdout and raise :class:`GradingFailure`."""
    lines = [f"CHECK FAILED: {what}"]
    if expected is not None:
        lines.append(f"  expected: {_fmt(expected) if not isinstance(expected, str) else expected}")
    if found is not None:
        lines.append(f"  found:    {_fmt(found) if not isinstance(found, str) else found}")
    if cause:
        lines.append(f"  likely cause: {cause}")
    if hint:
        lines.append(f"  hint: {hint}")
    print("\n".join(lines), file=sys.stdout, flush=True)
    # the error names the check; its details are the lines just printed (the
    # feedback shows them once, not again in the traceback)
    raise GradingFailure(lines[0] + " (details above)" if len(lines) > 1 else lines[0])
