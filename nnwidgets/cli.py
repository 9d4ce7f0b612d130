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


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nnwidgets",
        description="nnwidgets: neural-network teaching toolkit for Jupyter.",
    )
    from nnwidgets import __version__

    parser.add_argument("--version", action="version", version=f"nnwidgets {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
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
    if args.command is None or not hasattr(args, "func"):
        parser.print_help()
        return 0 if args.command is None else 2
    result = args.func(args)
    return int(result or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
