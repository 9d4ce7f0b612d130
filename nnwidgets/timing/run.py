"""Timing the same code on several devices (and sizes), with the settings
that change the figures and a check that the outputs agree.

- :func:`time_code`: a code block (a notebook cell) run once per device with
  ``device`` (and ``n``, ``dtype``) in its namespace.
- :func:`time_function`: a factory ``make(device, n)`` returning the
  zero-argument callable to time.

Both return a :class:`TimingRun` (plain data: no UI).
"""

from __future__ import annotations

import ast
import itertools
import linecache
import os
import re
import sys
import time
import types
from dataclasses import dataclass, field
from typing import Any, Callable

from nnwidgets.timing.devices import TimingDevice, resolve_devices
from nnwidgets.timing.errors import TimingOptionError
from nnwidgets.timing.measure import check_timing_options, measure
from nnwidgets.timing.outputs import Agreement, HostOutput, compare_outputs, to_host
from nnwidgets.timing.stats import Measurement

OUTPUT_NAME = "__gputime_output__"
_TIMED_MARKER = re.compile(r"^\s*#\s*-*\s*timed\s*-*\s*:?\s*$", re.IGNORECASE)
_DTYPES = ("float16", "bfloat16", "float32", "float64")
_cell_ids = itertools.count(1)


@dataclass
class DeviceTiming:
    """One device (at one size) of one labelled run."""

    label: str
    device: str
    kind: str
    n: int | None
    measurement: Measurement | None = None
    env: dict = field(default_factory=dict)
    dtype: str | None = None
    output: HostOutput | None = None
    agreement: Agreement | None = None
    skipped: str = ""  # why it was not measured ('' when it was)

    @property
    def median(self) -> float | None:
        return self.measurement.median if self.measurement else None

    @property
    def first_call(self) -> float | None:
        return self.measurement.first_call if self.measurement else None

    @property
    def threads(self) -> int | None:
        return self.env.get("torch_threads")

    @property
    def tf32(self) -> bool | None:
        return self.env.get("tf32")

    def to_dict(self) -> dict:
        row = {
            "label": self.label,
            "device": self.device,
            "n": self.n,
            "dtype": self.dtype,
            "threads": self.threads,
            "blas_threads": self.env.get("blas_threads"),
            "tf32": self.tf32,
            "hardware": self.env.get("hardware"),
            "skipped": self.skipped,
            "allclose": None if self.agreement is None else self.agreement.ok,
            "allclose_message": "" if self.agreement is None else self.agreement.message,
        }
        if self.measurement is not None:
            row.update(self.measurement.to_dict())
        return row


@dataclass
class TimingRun:
    """All devices and sizes of one labelled timing."""

    label: str
    rows: list[DeviceTiming]
    devices: list[str]
    sizes: list[int] | None
    options: dict = field(default_factory=dict)
    source: str = ""
    created: float = field(default_factory=time.time)
    interrupted: bool = False  # stopped by Ctrl-C / the kernel's stop button: rows measured so far kept

    def row(self, device: str, n: int | None = None) -> DeviceTiming:
        for r in self.rows:
            if r.device == device and r.n == n:
                return r
        raise KeyError(f"no timing for device={device!r}, n={n!r} in run {self.label!r}")

    def measured(self) -> list[DeviceTiming]:
        return [r for r in self.rows if r.measurement is not None]

    def speedup(self, device: str, n: int | None = None, baseline: str = "cpu") -> float | None:
        """``baseline`` median / ``device`` median at size ``n`` (>1: faster)."""
        try:
            a, b = self.row(baseline, n), self.row(device, n)
        except KeyError:
            return None
        if a.median is None or b.median is None or b.median <= 0:
            return None
        return a.median / b.median

    def crossover(self, device: str = "cuda", baseline: str = "cpu") -> int | None:
        """Smallest measured size from which ``device`` is faster than
        ``baseline`` at every larger measured size (None if it never is)."""
        if not self.sizes:
            return None
        found = None
        for n in sorted(self.sizes, reverse=True):
            s = self.speedup(device, n, baseline)
            if s is None or s <= 1.0:
                break
            found = n
        return found

    def crossover_estimate(self, device: str = "cuda", baseline: str = "cpu") -> tuple | None:
        """``(below, above, estimate)``: ``device`` is slower at the measured
        size ``below`` and faster from ``above`` on (see :meth:`crossover`);
        ``estimate`` interpolates log(speedup) linearly in log(n) between
        them. ``below`` and ``estimate`` are None when ``device`` already
        wins at the smallest size; None when it never wins."""
        import math

        above = self.crossover(device, baseline)
        if above is None:
            return None
        smaller = [n for n in sorted(self.sizes) if n < above]
        if not smaller:
            return (None, above, None)
        below = smaller[-1]
        s_lo, s_hi = self.speedup(device, below, baseline), self.speedup(device, above, baseline)
        if not s_lo or not s_hi or below <= 0:
            return (below, above, None)
        a, b = math.log(s_lo), math.log(s_hi)  # a <= 0 < b
        frac = -a / (b - a) if b != a else 0.5
        est = math.exp(math.log(below) + frac * (math.log(above) - math.log(below)))
        return (below, above, est)

    def to_records(self) -> list[dict]:
        return [r.to_dict() for r in self.rows]

    def to_dataframe(self):
        import pandas as pd

        return pd.DataFrame(self.to_records())


# %%gputime --threads above this many per CPU is refused: oversubscription
# (2-4 per CPU) is worth showing; thousands of threads only break the process.
MAX_THREADS_PER_CPU = 4


def check_sizes(sizes) -> list[int] | None:
    if sizes is None:
        return None
    if isinstance(sizes, str):
        parts = [p.strip().replace("_", "") for p in sizes.split(",")]
        try:
            values = [int(float(p)) if ("e" in p.lower()) else int(p) for p in parts]
        except (ValueError, OverflowError):  # (1e400: infinity)
            raise TimingOptionError(
                "sizes",
                f"sizes={sizes!r} must be whole numbers separated by commas, e.g. '1000,1000000' or '1e3,1e6'.",
            ) from None
    else:
        values = list(sizes)
    if not values or any((not isinstance(v, int)) or isinstance(v, bool) or v < 0 for v in values):
        raise TimingOptionError("sizes", f"sizes={sizes!r} must be a non-empty list of whole numbers >= 0.")
    if len(set(values)) != len(values):
        raise TimingOptionError("sizes", f"sizes={sizes!r} repeats a size; list each size once.")
    return values


def _torch_dtype(dtype):
    if dtype is None:
        return None
    import torch

    if isinstance(dtype, torch.dtype):
        return dtype
    name = str(dtype).replace("torch.", "")
    if name not in _DTYPES:
        raise TimingOptionError("dtype", f"dtype={dtype!r} is not supported; use one of {', '.join(_DTYPES)}.")
    return getattr(torch, name)


def _seed(seed: int | None) -> None:
    if seed is None:
        return
    import random

    random.seed(seed)
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed(seed)
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(seed)


class _Threads:
    """Sets torch's CPU threads for the duration of a timing, then restores them."""

    def __init__(self, threads: int | None):
        self.threads = threads
        self.saved = None

    def __enter__(self):
        if self.threads is not None:
            import torch

            self.saved = torch.get_num_threads()
            torch.set_num_threads(self.threads)
        return self

    def __exit__(self, *exc):
        if self.saved is not None:
            import torch

            torch.set_num_threads(self.saved)


class CellCode:
    """A cell split into setup (run once per device and size, untimed) and
    the timed part, compiled once. Lines above a marker line ``# --- timed ---``
    (or ``# timed``) are setup; without a marker the whole cell is timed.
    The timed part's last expression, else a variable ``out`` that it assigns, is the output."""

    def __init__(self, source: str, setup: str | None = None, filename: str | None = None):
        self.source = source
        self.filename = filename or f"<gputime-cell-{next(_cell_ids)}>"
        lines = source.splitlines()
        marker = next((i for i, line in enumerate(lines) if _TIMED_MARKER.match(line)), None)
        if marker is None:
            setup_src, timed_src, offset = "", source, 0
        else:
            setup_src = "\n".join(lines[:marker])
            timed_src = "\n".join(lines[marker + 1 :])
            offset = marker + 1
        if setup:
            setup_src = setup + "\n" + setup_src if setup_src.strip() else setup
        if not timed_src.strip():
            raise TimingOptionError("code", "the cell has nothing to time: write the code to time below the magic line"
                                    + (" and below '# --- timed ---'" if marker is not None else "") + ".")
        # tracebacks show the cell's lines
        linecache.cache[self.filename] = (len(source), None, [ln + "\n" for ln in lines], self.filename)
        self.setup_code = compile(setup_src, self.filename, "exec") if setup_src.strip() else None
        # blank lines in front keep the cell's line numbers (SyntaxErrors included)
        tree = ast.parse("\n" * offset + timed_src, self.filename)
        self.has_expression = bool(tree.body) and isinstance(tree.body[-1], ast.Expr)
        # ``out`` is the output only when the timed code assigns it: an ``out``
        # left in the namespace by an earlier cell is not this cell's output
        self.assigns_out = not self.has_expression and _binds_out(tree)
        # Fast path: the timed part as the body of a function whose assigned
        # names are declared global (so it behaves as module-level code in the
        # namespace), called directly: ~50 ns per call instead of ~250 ns for
        # exec(). Code a function body cannot hold falls back to exec().
        self.function_code = _as_function(tree, self.filename, self.has_expression)
        if self.has_expression:
            last = tree.body[-1]
            assign = ast.Assign(targets=[ast.Name(OUTPUT_NAME, ast.Store())], value=last.value)
            tree.body[-1] = ast.copy_location(assign, last)
            ast.fix_missing_locations(tree)
        self.timed_code = compile(tree, self.filename, "exec")

    def make(self, namespace: dict) -> Callable[[], Any]:
        if self.setup_code is not None:
            exec(self.setup_code, namespace)
        if self.function_code is not None:
            fn = types.FunctionType(self.function_code, namespace, _FUNCTION_NAME)
            if self.has_expression:
                return fn
            if not self.assigns_out:
                return fn  # (returns None: no output to compare)

            def call_out():
                fn()
                return namespace.get("out")

            return call_out
        code = self.timed_code
        key = OUTPUT_NAME if self.has_expression else "out" if self.assigns_out else None

        def call():
            exec(code, namespace)
            return namespace.get(key) if key else None

        return call


_FUNCTION_NAME = "__gputime_timed__"
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef,
           ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


class _Unsupported(Exception):
    pass


def _binds_out(tree: ast.Module) -> bool:
    """Whether the module-level code binds the name ``out``."""
    try:
        return "out" in _bound_names(tree.body)
    except _Unsupported:  # (global statements and the like): any store of `out` counts
        return any(isinstance(n, ast.Name) and n.id == "out" and isinstance(n.ctx, ast.Store)
                   for n in ast.walk(tree))


def _bound_names(body: list) -> set:
    """Names that module-level ``body`` binds in its own scope."""
    names: set = set()

    def visit(node, in_comprehension=False):
        if isinstance(node, (ast.Global, ast.Nonlocal, ast.Yield, ast.YieldFrom, ast.Await, ast.Return)):
            raise _Unsupported
        if isinstance(node, ast.ImportFrom) and any(a.name == "*" for a in node.names):
            raise _Unsupported
        if isinstance(node, ast.NamedExpr) and isinstance(node.target, ast.Name):
            names.add(node.target.id)  # binds in the enclosing scope, even in a comprehension
        if in_comprehension:
            for child in ast.iter_child_nodes(node):
                visit(child, True)
            return
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
        elif isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
            names.add(node.name)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            names.add(node.rest)
        if isinstance(node, _SCOPES):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
                outer = list(node.decorator_list)
                if isinstance(node, ast.ClassDef):
                    outer += node.bases + [k.value for k in node.keywords]
                else:
                    outer += node.args.defaults + [d for d in node.args.kw_defaults if d is not None]
                for child in outer:
                    visit(child)
            elif isinstance(node, ast.Lambda):
                for child in node.args.defaults + [d for d in node.args.kw_defaults if d is not None]:
                    visit(child)
            else:  # comprehension: only walrus targets leak out
                for child in ast.iter_child_nodes(node):
                    visit(child, True)
            return
        for child in ast.iter_child_nodes(node):
            visit(child)

    for stmt in body:
        visit(stmt)
    return names


def _as_function(tree: ast.Module, filename: str, returns_last: bool):
    """Code object of ``def f(): global <bound names>; <body>`` (the last
    expression returned), or None when the body cannot be a function body."""
    import copy

    try:
        body = copy.deepcopy(tree.body)
        names = sorted(_bound_names(body))
    except _Unsupported:
        return None
    if returns_last:
        last = body[-1]
        body[-1] = ast.copy_location(ast.Return(value=last.value), last)
    first = body[0] if body else None
    if names:
        decl = ast.Global(names=names)
        if first is not None:
            ast.copy_location(decl, first)
        body.insert(0, decl)
    if not body:
        body = [ast.Pass()]
    func = ast.FunctionDef(name=_FUNCTION_NAME, args=ast.arguments(
        posonlyargs=[], args=[], vararg=None, kwonlyargs=[], kw_defaults=[], kwarg=None, defaults=[]),
        body=body, decorator_list=[], returns=None, type_params=[])
    if first is not None:
        ast.copy_location(func, first)
    module = ast.Module(body=[func], type_ignores=[])
    ast.fix_missing_locations(module)
    try:
        code = compile(module, filename, "exec")
    except SyntaxError:
        return None
    for const in code.co_consts:
        if isinstance(const, types.CodeType) and const.co_name == _FUNCTION_NAME:
            # named as a cell's own code: tracebacks (inspect, IPython in a kernel)
            # look for a function's source from its `def`, which the cell has none
            # of, and would quote no line of the cell
            renamed = {"co_name": "<module>"}
            if hasattr(const, "co_qualname"):
                renamed["co_qualname"] = "<module>"
            return const.replace(**renamed)
    return None


def _device_env(dev: TimingDevice) -> dict:
    try:
        return dev.describe()
    except Exception as exc:  # describing must never lose a timing
        return {"hardware": f"unknown ({exc!r})"}


def _run(
    make: Callable[[TimingDevice, int | None], Callable[[], Any]],
    *,
    label: str,
    devices,
    sizes,
    seed,
    rtol,
    atol,
    threads,
    clock,
    timing: dict,
    progress: Callable[[int, int, str, int | None], None] | None,
    source: str,
    dtype_name: str | None,
) -> TimingRun:
    check_timing_options(**timing)
    if clock not in ("sync", "events"):
        raise TimingOptionError("clock", f"clock={clock!r} is not a clock; use 'sync' (synchronize + host clock) "
                                         "or 'events' (CUDA events).")
    if threads is not None and (not isinstance(threads, int) or isinstance(threads, bool) or threads < 1):
        raise TimingOptionError("threads", f"threads={threads!r} must be a whole number >= 1, "
                                           "or None to keep torch's setting.")
    if threads is not None and threads > MAX_THREADS_PER_CPU * (os.cpu_count() or 1):
        cpus = os.cpu_count() or 1
        raise TimingOptionError(
            "threads", f"threads={threads} is more than {MAX_THREADS_PER_CPU} per CPU of this machine ({cpus} "
                       f"CPUs): use at most {MAX_THREADS_PER_CPU * cpus} (more only slows torch down, and "
                       "thousands of threads can exhaust the process's memory).")
    for name, tol in (("rtol", rtol), ("atol", atol)):
        if tol is not None and (not isinstance(tol, (int, float)) or not tol >= 0):  # (NaN too)
            raise TimingOptionError(name, f"{name}={tol!r} must be a number >= 0, or None for the dtype's default.")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**32):
        raise TimingOptionError("seed", f"seed={seed!r} must be a whole number from 0 to {2**32 - 1} "
                                        "(NumPy's seeds).")
    sizes = check_sizes(sizes)
    devs = resolve_devices(devices)
    label = str(label) if label else "run"
    rows: list[DeviceTiming] = []
    steps = [(d, n) for n in (sizes or [None]) for d in devs]
    interrupted = False
    with _Threads(threads):
        for i, (dev, n) in enumerate(steps):
            row = DeviceTiming(label=label, device=dev.name, kind=dev.kind, n=n, dtype=dtype_name)
            rows.append(row)
            if not dev.available():
                row.skipped = dev.unavailable_reason() or f"{dev.name} is not available"
                continue
            if progress is not None:
                progress(i, len(steps), dev.name, n)
            row.env = _device_env(dev)
            _seed(seed)
            try:
                fn = make(dev, n)
                row.measurement = measure(fn, dev, clock=clock, capture_output=to_host, **timing)
            except KeyboardInterrupt:
                # stop gracefully: keep what was measured, mark the rest
                interrupted = True
                row.skipped = "interrupted (Ctrl-C) while measuring"
                try:
                    dev.synchronize()
                except Exception:
                    pass
                for dev_, n_ in steps[i + 1:]:
                    rows.append(DeviceTiming(label=label, device=dev_.name, kind=dev_.kind, n=n_,
                                             dtype=dtype_name, skipped="not measured: interrupted (Ctrl-C)"))
                break
            except BaseException as exc:
                if hasattr(exc, "add_note"):
                    exc.add_note(f"(raised by %%gputime while timing {label!r} on {dev.name}"
                                 + (f", n={n}" if n is not None else "") + ")")
                raise
            row.output = row.measurement.extra.pop("output", None)
            if row.output is not None and row.output.dtype:
                row.dtype = row.output.dtype
    if progress is not None:
        progress(len(steps), len(steps), "", None)
    # outputs: every device against the first measured device at the same size
    for n in sizes or [None]:
        same = [r for r in rows if r.n == n and r.measurement is not None]
        if not same:
            continue
        ref = same[0]
        for r in same[1:]:
            r.agreement = compare_outputs(
                ref.output, r.output, reference_name=ref.device, rtol=rtol, atol=atol,
                tf32=bool(r.env.get("tf32") or ref.env.get("tf32")),
            )
    options = dict(timing, seed=seed, rtol=rtol, atol=atol, threads=threads, clock=clock, dtype=dtype_name)
    return TimingRun(label=label, rows=rows, devices=[d.name for d in devs], sizes=sizes,
                     options=options, source=source, interrupted=interrupted)


def time_code(
    code: str,
    *,
    label: str | None = None,
    devices="auto",
    sizes=None,
    namespace: dict | None = None,
    setup: str | None = None,
    dtype=None,
    seed: int | None = 0,
    rtol: float | None = None,
    atol: float | None = None,
    threads: int | None = None,
    clock: str = "sync",
    repeat: int | None = None,
    number: int | None = None,
    min_run_time: float = 0.2,
    max_run_time: float = 2.0,
    threshold: float = 0.1,
    warmup: float = 0.025,
    progress=None,
    filename: str | None = None,
) -> TimingRun:
    """Times ``code`` on each device (and each size in ``sizes``).

    For each device (and size) the code runs in a fresh copy of
    ``namespace`` with ``device`` (a ``torch.device``), ``n`` (when
    ``sizes`` is given) and ``dtype`` (when given) set, after seeding
    ``random``/NumPy/torch with ``seed``. Lines above ``# --- timed ---`` are
    setup, untimed. The timed part's last expression (else ``out``) is the
    output compared across devices with ``allclose``. ``filename`` names the
    code in tracebacks (the magic passes IPython's name for the cell).
    """
    if not isinstance(code, str):
        raise TypeError(f"code must be a string of Python code, not {type(code).__name__}; "
                        "use time_function() to time a callable.")
    cell = CellCode(code, setup=setup, filename=filename)
    tdtype = _torch_dtype(dtype)
    base = dict(namespace) if namespace is not None else {}
    base.setdefault("__builtins__", __builtins__)

    def make(dev: TimingDevice, n: int | None):
        ns = dict(base)
        ns["device"] = dev.namespace_value()
        if n is not None:
            ns["n"] = n
        if tdtype is not None:
            ns["dtype"] = tdtype
        return cell.make(ns)

    return _run(
        make, label=label or _default_label(code), devices=devices, sizes=sizes, seed=seed,
        rtol=rtol, atol=atol, threads=threads, clock=clock, progress=progress, source=code,
        dtype_name=None if tdtype is None else str(tdtype).replace("torch.", ""),
        timing=dict(repeat=repeat, number=number, min_run_time=min_run_time,
                    max_run_time=max_run_time, threshold=threshold, warmup=warmup),
    )


def time_function(
    make: Callable[..., Callable[[], Any]],
    *,
    label: str | None = None,
    devices="auto",
    sizes=None,
    seed: int | None = 0,
    rtol: float | None = None,
    atol: float | None = None,
    threads: int | None = None,
    clock: str = "sync",
    repeat: int | None = None,
    number: int | None = None,
    min_run_time: float = 0.2,
    max_run_time: float = 2.0,
    threshold: float = 0.1,
    warmup: float = 0.025,
    progress=None,
) -> TimingRun:
    """Times ``make(device)()`` (or ``make(device, n)()`` with ``sizes``)
    on each device: ``make`` does the setup and returns the zero-argument
    callable to time, whose return value is compared across devices.

        >>> def make(device, n):
        ...     x = torch.rand(n).to(device); y = torch.rand(n).to(device)
        ...     return lambda: x + y
        >>> run = time_function(make, sizes=[1_000, 1_000_000])
    """
    if not callable(make):
        raise TypeError(f"make={make!r} must be callable: make(device[, n]) -> zero-argument callable.")

    def build(dev: TimingDevice, n: int | None):
        value = dev.namespace_value()
        fn = make(value) if n is None else make(value, n)
        if not callable(fn):
            raise TypeError(
                f"make(device{', n' if n is not None else ''}) returned {type(fn).__name__}, not a callable; "
                "return the zero-argument function to time (e.g. `return lambda: x + y`)."
            )
        return fn

    return _run(
        build, label=label or getattr(make, "__name__", "function"), devices=devices, sizes=sizes,
        seed=seed, rtol=rtol, atol=atol, threads=threads, clock=clock, progress=progress,
        source=getattr(make, "__qualname__", ""), dtype_name=None,
        timing=dict(repeat=repeat, number=number, min_run_time=min_run_time,
                    max_run_time=max_run_time, threshold=threshold, warmup=warmup),
    )


def _default_label(code: str) -> str:
    for line in code.splitlines():
        text = line.strip()
        if text and not text.startswith("#"):
            return text if len(text) <= 40 else text[:39] + "…"
    return "run"
