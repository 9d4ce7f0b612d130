"""``%%asker``: a class-quiz question in compact form.

::

    %%asker nand --correct 1
    What are the outputs for x = [0,0], [0,1], [1,0] and [1,1]?
    - 0,0,0,0
    - 1,1,1,0
    - 0,1,1,1

The first non-empty line is the question, each ``- `` line an answer
(``* `` instead of ``- `` marks the correct answer, an alternative to
``--correct``). Thin: parse, then call :class:`nnwidgets.widgets.asker.Asker`.
"""

from __future__ import annotations

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring


def parse_asker_cell(cell: str) -> tuple[str, list[str], int | None]:
    """``(question, answers, starred index)``; raises UsageError on misuse."""
    question_lines: list[str] = []
    answers: list[str] = []
    starred = None
    for raw in cell.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line[:2] in ("- ", "* ") or line in ("-", "*"):
            text = line[2:].strip()
            if not text:
                raise UsageError(f"%%asker: empty answer line {raw!r}; write '- answer text'")
            if line[0] == "*":
                if starred is not None:
                    raise UsageError("%%asker: more than one answer is marked correct with '*'")
                starred = len(answers)
            answers.append(text)
        elif answers:
            raise UsageError(
                f"%%asker: line {line!r} comes after the answers; every answer starts with '- '"
            )
        else:
            question_lines.append(line)
    if not question_lines:
        raise UsageError("%%asker: the cell needs the question on its first line")
    if len(answers) < 2:
        raise UsageError(
            f"%%asker: found {len(answers)} answer(s); give at least two lines starting with '- '"
        )
    return " ".join(question_lines), answers, starred


@magics_class
class QuizMagics(Magics):
    @magic_arguments()
    @argument("id", help="question id, unique in the course (letters, digits, _ and -)")
    @argument("--correct", type=int, default=None,
              help="index of the correct answer (0 for the first)")
    @argument("--server", default=None,
              help="quiz server URL or 'jupyter' (default: $NNWIDGETS_QUIZ_SERVER, else local)")
    @cell_magic
    def asker(self, line: str, cell: str):
        """Ask the class a multiple-choice question: ``%%asker ID [--correct N]``."""
        try:
            args = parse_argstring(self.asker, line)
        except UsageError as exc:
            raise UsageError(f"%%asker: {exc}") from None
        question, answers, starred = parse_asker_cell(cell)
        correct = args.correct
        if correct is not None and starred is not None and correct != starred:
            raise UsageError(
                f"%%asker: --correct {correct} disagrees with the answer marked '*' ({starred})"
            )
        if correct is None:
            correct = starred
        if correct is not None and not 0 <= correct < len(answers):
            raise UsageError(
                f"%%asker: --correct {correct} is out of range: the answers are 0 to {len(answers) - 1}"
            )
        from nnwidgets.widgets.asker import Asker

        try:
            return Asker(id=args.id, question=question, answers=answers, correct=correct,
                         server=args.server)
        except ValueError as exc:
            raise UsageError(f"%%asker: {exc}") from None
