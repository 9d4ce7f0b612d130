"""``%%gputime``: time a cell on the CPU and on the GPU, measured correctly.

Thin: parses the line and calls :func:`nnwidgets.widgets.gputime.gputime`.
"""

from __future__ import annotations

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring


def _unquote(text):
    """IPython's argument splitter keeps quotes: ``--label 'a b'`` gives ``"'a b'"``."""
    if isinstance(text, str) and len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


@magics_class
class TimingMagics(Magics):
    @magic_arguments()
    @argument("--label", "-l", default=None,
              help="Name of this run in the panel (default: the first line of code). "
                   "A run with the same label replaces the earlier one.")
    @argument("--sizes", "-s", default=None,
              help="Comma-separated sizes, e.g. 1000,1000000 or 1e3,1e6: the cell runs once per size "
                   "with `n` set, and the panel plots time against n.")
    @argument("--devices", "-d", default="auto",
              help="Comma-separated devices: cpu, cuda, cuda:N (default auto: cpu, plus cuda when present). "
                   "A device that is not available is listed as skipped, with the reason.")
    @argument("--dtype", default=None,
              help="float16, bfloat16, float32 or float64: set as the torch dtype `dtype` in the cell.")
    @argument("--repeat", "-r", type=int, default=None,
              help="Timed blocks (runs) per device; default: adaptive, until IQR <= threshold x median.")
    @argument("--number", "-n", type=int, default=None,
              help="Calls per timed block; default: chosen so a block lasts >= min-time/1000 "
                   "and 200x the timer overhead.")
    @argument("--min-time", type=float, default=0.2,
              help="Seconds of timed blocks before stopping is considered (default 0.2).")
    @argument("--max-time", type=float, default=2.0,
              help="Seconds of timed blocks after which measuring stops (default 2).")
    @argument("--threshold", type=float, default=0.1,
              help="Stop when IQR / median is at most this (default 0.1).")
    @argument("--warmup", type=float, default=0.025,
              help="Seconds of untimed warm-up calls after the first call (default 0.025).")
    @argument("--clock", default="sync", choices=("sync", "events"),
              help="sync: synchronize the device and read the host clock around every block (default; "
                   "right for any code, numba and CuPy included); events: CUDA events on torch's current stream.")
    @argument("--threads", type=int, default=None,
              help="torch CPU threads while timing (default: leave torch's setting).")
    @argument("--seed", type=int, default=0,
              help="Seed for random, NumPy and torch before each device's setup (default 0).")
    @argument("--rtol", type=float, default=None, help="Relative tolerance of the allclose check (default by dtype).")
    @argument("--atol", type=float, default=None, help="Absolute tolerance of the allclose check (default by dtype).")
    @argument("--panel", "-p", default="default",
              help="Panel to add this run to (default 'default'): runs from several cells accumulate in it.")
    @argument("--reset", action="store_true", help="Empty the panel before adding this run.")
    @argument("statement", nargs="*",
              help="Line form only: a one-line statement to time (like %%timeit). "
                   "Without one, %%gputime shows the panel (after --reset, empty).")
    @line_cell_magic
    def gputime(self, line, cell=None):
        """Times the cell on each device and shows the GPU timing panel.

        Line form: ``%gputime [options] statement`` times one statement;
        ``%gputime [--panel NAME] [--reset]`` shows (or empties) a panel.

        The cell runs once per device (and size) in a copy of your namespace
        with ``device`` (a ``torch.device``), ``n`` (with --sizes) and
        ``dtype`` (with --dtype) set. Lines above a line ``# --- timed ---``
        are setup (run once per device and size, not timed); the rest is
        timed. The timed part's last expression (or a variable ``out`` that it assigns) is
        the output compared across devices with allclose.

        Every timed block is synchronized on the device, so asynchronous
        CUDA work is measured, not just its launch (``%timeit`` measures the
        launch); the first call is reported apart from the steady state.

        Example::

            %%gputime --label "torch add" --sizes 1000,1000000
            x = torch.rand(n).to(device); y = torch.rand(n).to(device)
            # --- timed ---
            x + y
        """
        __tracebackhide__ = True  # an error of the timed code shows the cell's lines, not these frames
        try:
            args = parse_argstring(self.gputime, line)
        except UsageError as exc:
            raise UsageError(f"%%gputime: {exc}") from None
        for name in ("label", "sizes", "devices", "dtype", "panel"):
            setattr(args, name, _unquote(getattr(args, name)))
        statement = " ".join(args.statement)
        if cell is not None:
            if statement:
                raise UsageError(f"%%gputime: unrecognized arguments: {statement} (the cell is the code to time)")
            if not cell.strip():
                raise UsageError("%%gputime: the cell is empty; write the code to time below the magic line.")
            # a blank first line stands for the magic's: line numbers are the notebook cell's
            code = "\n" + self.shell.transform_cell(cell)
        else:
            code = self.shell.transform_cell(statement) if statement else None
        from nnwidgets.timing import TimingOptionError
        from nnwidgets.widgets.gputime import gputime
        from nnwidgets.widgets.cell_source import cache_cell_source

        # IPython's name for the cell: tracebacks say "Cell In[5], line 3"
        filename = cache_cell_source(code, self.shell, "%%gputime") if code is not None else None
        try:
            return gputime(
                code,
                namespace=self.shell.user_ns,
                filename=filename,
                label=args.label,
                sizes=args.sizes,
                devices=args.devices,
                dtype=args.dtype,
                repeat=args.repeat,
                number=args.number,
                min_run_time=args.min_time,
                max_run_time=args.max_time,
                threshold=args.threshold,
                warmup=args.warmup,
                clock=args.clock,
                threads=args.threads,
                seed=args.seed,
                rtol=args.rtol,
                atol=args.atol,
                panel=args.panel,
                reset=args.reset,
            )
        except Exception as exc:
            of_the_cell, tb = _from_the_cell(exc, filename)
            if of_the_cell:
                # the cell's own error (a ValueError too): its type, message and
                # traceback from the cell's line on, with the note saying which
                # device and size was being timed
                raise exc.with_traceback(tb)
            if isinstance(exc, TimingOptionError):
                # option values the core rejected (the message names the option)
                raise UsageError(f"%%gputime: {_option_name(str(exc))}") from None
            raise


def _from_the_cell(exc: BaseException, filename: str | None) -> tuple:
    """``(True, traceback from the cell's first frame on)`` when ``exc`` was
    raised by the cell's code, ``(False, None)`` when the cell's code did not
    run into it (a bad option). A SyntaxError in the cell has no frame of the
    cell: its traceback is dropped, IPython shows it with the cell's line."""
    if filename is None:
        return False, None
    if isinstance(exc, SyntaxError) and exc.filename == filename:
        return True, None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            return True, tb
        tb = tb.tb_next
    return False, None


_OPTION_FOR = {
    "sizes=": "--sizes", "devices=": "--devices", "device ": "--devices", "dtype=": "--dtype",
    "repeat=": "--repeat", "number=": "--number", "min_run_time=": "--min-time",
    "max_run_time=": "--max-time", "threshold=": "--threshold", "warmup=": "--warmup",
    "threads=": "--threads", "rtol=": "--rtol", "atol=": "--atol", "panel=": "--panel", "clock=": "--clock",
    "seed=": "--seed",
}


def _option_name(message: str) -> str:
    """Rewrites the core's ``sizes='x' must ...`` as ``--sizes 'x' must ...``."""
    import re

    def sub(match):
        option = _OPTION_FOR.get(match.group(1) + "=")
        return f"{option} " if option else match.group(0)

    if message.startswith("device "):
        message = "--devices: " + message
    message = re.sub(r"(?<![-\w])(\w+)=", sub, message)
    message = re.sub(r"(?<![-\w])(min_run_time|max_run_time)\b", lambda m: _OPTION_FOR[m.group(1) + "="], message)
    return message.replace("or None for", "or leave it out for").replace("or None to keep", "or leave it out to keep")
