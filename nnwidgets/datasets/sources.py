"""Validating the ``source=`` argument of the neuroscience loaders."""

from __future__ import annotations


def check_source(source, allowed, loader: str) -> str:
    if not isinstance(source, str) or source.lower() not in allowed:
        choices = ", ".join(repr(a) for a in allowed)
        raise ValueError(
            f"{loader}(source={source!r}): unknown source; use one of {choices}. "
            "'simulated' works offline; the others download public files."
        )
    return source.lower()
