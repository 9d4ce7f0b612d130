"""The ``nnwidgets`` command.

Each subcommand lives with the package it drives and registers itself through a
``register(subparsers)`` function, imported only when needed so that
``nnwidgets --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# subcommand -> (module with register(subparsers), one-line help)
SUBCOMMANDS = {
    "lab": ("nnwidgets.lab", "open JupyterLab on the course notebooks with nnwidgets ready"),
    "course": ("nnwidgets.course.cli", "build, release and autograde the nbgrader course"),
    "quiz": ("nnwidgets.quiz.cli", "run the class quiz server"),
}


def missing_subcommand(parser: argparse.ArgumentParser, sub, metavar: str):
    """The ``func`` of a parser that needs a subcommand: argparse's usage error
    (usage on stderr, exit 2) naming the choices, as for a required argument."""

    def run(args) -> int:
        first_names = {}  # an alias (course release/generate) is listed once
        for name, choice in sub.choices.items():
            first_names.setdefault(id(choice), name)
        names = first_names.values()
        parser.error(f"the following arguments are required: {metavar} (one of: {', '.join(names)}); "
                     f"see `{parser.prog} --help`")

    return run


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nnwidgets",
        description="nnwidgets: neural-network teaching toolkit for Jupyter.",
    )
    from nnwidgets import __version__

    parser.add_argument("--version", action="version", version=f"nnwidgets {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    parser.set_defaults(func=missing_subcommand(parser, sub, "COMMAND"))
    for name, (module, help_text) in SUBCOMMANDS.items():
        if only is not None and name != only:
            sub.add_parser(name, help=help_text)
            continue
        try:
            importlib.import_module(module).register(sub)
        except ModuleNotFoundError as exc:
            if exc.name is None or not module.startswith(exc.name):
                raise
            sub.add_parser(name, help=f"{help_text} (not available: {exc.name} missing)")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    first = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(only=first if first in SUBCOMMANDS else None)
    args = parser.parse_args(argv)
    result = args.func(args)
    return int(result or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
