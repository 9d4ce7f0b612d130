"""The GPU timing panel: CPU-vs-CUDA timings, measured correctly, side by side.

A :class:`GPUTimePanel` collects labelled :class:`~nnwidgets.timing.TimingRun`
results (one per ``%%gputime`` cell) and shows, per device: median and spread
(IQR), speedup against the CPU, the first call apart, threads, TF32/dtype and
whether the outputs agree; with a size sweep, a plot of time against ``n``
and where the GPU starts to win.

It is plain rich output (HTML + text + PNG), not a widget: saved notebooks,
nbconvert, nbgrader and nbval show it without a kernel. In a live kernel,
every display of a panel shares one display id, so when a later cell adds a
run, the panel shown by earlier cells is updated too.
"""

from __future__ import annotations

import base64
import html
import io
import math
import pathlib
import time
import uuid
from typing import Any

from nnwidgets.timing import TimingRun, format_speedup, format_time, time_code
from nnwidgets.timing.errors import TimingOptionError
from nnwidgets.timing.run import DeviceTiming

_CSS_PATH = pathlib.Path(__file__).with_name("gputime.css")
COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
          "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]

_PANELS: dict[str, "GPUTimePanel"] = {}


def cuda_status() -> tuple[bool, str]:
    """(available, sentence for the panel)."""
    import torch

    if torch.cuda.is_available():
        names = ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
        return True, f"CUDA: {names}"
    how = f"built with CUDA {torch.version.cuda}, but no GPU was found" if torch.version.cuda else "built without CUDA"
    return False, (
        f"No GPU is available on this machine (torch {torch.__version__}, {how}): "
        "only CPU figures are shown."
    )


def _round_sig(x: float, digits: int = 2) -> int:
    """``4837.2`` -> ``4800``: an interpolated size, not a measured one."""
    if x <= 0:
        return 0
    return int(round(x, -int(math.floor(math.log10(x))) + digits - 1))


def _threads_text(row: DeviceTiming) -> str:
    """torch's intra-op threads, and NumPy's BLAS threads when they differ."""
    torch_threads, blas = row.threads, row.env.get("blas_threads")
    if torch_threads is None:
        return "–" if blas is None else f"BLAS {blas}"
    if blas is not None and blas != torch_threads:
        return f"{torch_threads} (BLAS {blas})"
    return str(torch_threads)


def _fmt_n(n: int | None) -> str:
    return "–" if n is None else f"{n:,}"


class GPUTimePanel:
    """Labelled timing runs, shown together."""

    def __init__(self, name: str = "default"):
        self.name = name
        self.runs: list[TimingRun] = []
        self.status = ""  # "measuring ..." while a run is in progress
        self._display_id = f"nnw-gputime-{name}-{uuid.uuid4().hex[:8]}"
        self._shown_live_in: int | None = None  # execution count of the cell that showed it live
        self._shown = False

    # -- data -------------------------------------------------------------
    def add(self, run: TimingRun) -> "GPUTimePanel":
        """Adds a run; a run with a label already in the panel replaces it
        (re-running a cell updates its rows instead of duplicating them)."""
        if not isinstance(run, TimingRun):
            raise TypeError(f"add() takes a TimingRun (from time_code/time_function), not {type(run).__name__}")
        self.runs = [r for r in self.runs if r.label != run.label] + [run]
        self.refresh()
        return self

    def clear(self) -> "GPUTimePanel":
        self.runs = []
        self.refresh()
        return self

    @property
    def labels(self) -> list[str]:
        return [r.label for r in self.runs]

    def rows(self) -> list[DeviceTiming]:
        return [row for run in self.runs for row in run.rows]

    def baseline(self, n: int | None) -> DeviceTiming | None:
        """The row speedups at size ``n`` are relative to: the first measured
        CPU row at that size, else the first measured row at that size."""
        same = [r for r in self.rows() if r.n == n and r.measurement is not None]
        for r in same:
            if r.kind == "cpu":
                return r
        return same[0] if same else None

    def speedup(self, row: DeviceTiming) -> float | None:
        base = self.baseline(row.n)
        if base is None or row.median is None or row.median <= 0:
            return None
        return base.median / row.median

    def crossovers(self) -> list[str]:
        """Sentences saying from which size each non-CPU device wins."""
        out = []
        for run in self.runs:
            if not run.sizes or len(run.sizes) < 2 or "cpu" not in run.devices:
                continue
            for dev in run.devices:
                if dev == "cpu" or not any(r.device == dev and r.measurement for r in run.rows):
                    continue
                est = run.crossover_estimate(dev, "cpu")
                if est is None:
                    out.append(f"{run.label}: {dev} is not faster than cpu at any measured size "
                               f"(up to n = {max(run.sizes):,}).")
                elif est[0] is None:
                    out.append(f"{run.label}: {dev} is faster than cpu at every measured size "
                               f"(from n = {est[1]:,}).")
                else:
                    below, above, guess = est
                    approx = f" (about n = {_round_sig(guess):,} by interpolation)" if guess else ""
                    out.append(f"{run.label}: {dev} starts to win between n = {below:,} and "
                               f"n = {above:,}{approx}; it is faster at every size from {above:,} on.")
        return out

    def to_dataframe(self):
        import pandas as pd

        records = []
        for row in self.rows():
            rec = row.to_dict()
            rec["speedup"] = self.speedup(row)
            records.append(rec)
        return pd.DataFrame(records)

    # -- figure -----------------------------------------------------------
    def figure(self):
        """A matplotlib Figure: time against size (log-log, IQR band) when
        runs have a size sweep, else bars of the medians with IQR whiskers.
        None when nothing is measured."""
        measured = [r for r in self.rows() if r.measurement is not None]
        if not measured:
            return None
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        swept = [run for run in self.runs if run.sizes and len(run.sizes) > 1]
        if swept:
            fig = Figure(figsize=(6.4, 3.6), dpi=100)
            FigureCanvasAgg(fig)
            ax = fig.add_subplot(1, 1, 1)
            k = 0
            for run in swept:
                for dev in run.devices:
                    pts = sorted((r.n, r.measurement) for r in run.rows
                                 if r.device == dev and r.measurement is not None and r.n)
                    if not pts:
                        continue
                    color = COLORS[k % len(COLORS)]
                    k += 1
                    xs = [p[0] for p in pts]
                    ax.plot(xs, [p[1].median for p in pts], "o-", color=color, lw=1.5, ms=4,
                            label=f"{run.label} · {dev}")
                    ax.fill_between(xs, [p[1].q1 for p in pts], [p[1].q3 for p in pts], color=color, alpha=0.2)
                for dev in run.devices:
                    if dev == "cpu":
                        continue
                    est = run.crossover_estimate(dev, "cpu")
                    if est is not None and est[2] is not None:
                        ax.axvline(est[2], color="#888", ls=":", lw=1)
                        ax.annotate(f"{dev} wins from n≈{_round_sig(est[2]):,} ", (est[2], 0.97),
                                    xycoords=("data", "axes fraction"), fontsize=8, ha="right", va="top",
                                    color="#555")
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel("size n")
            ax.set_ylabel("time per call (s)")
            ax.set_title("Median time per call (band: IQR)", fontsize=10)
            ax.grid(True, which="both", alpha=0.25)
            ax.legend(fontsize=8)
            fig.tight_layout()
            return fig
        fig = Figure(figsize=(6.4, 0.6 + 0.35 * len(measured)), dpi=100)
        FigureCanvasAgg(fig)
        ax = fig.add_subplot(1, 1, 1)
        names = [f"{r.label} · {r.device}" + (f" · n={r.n:,}" if r.n is not None else "") for r in measured]
        meds = [r.median for r in measured]
        err = [[r.median - r.measurement.q1 for r in measured], [r.measurement.q3 - r.median for r in measured]]
        ax.barh(range(len(measured)), meds, xerr=err, color=[COLORS[i % len(COLORS)] for i in range(len(measured))],
                alpha=0.8, capsize=3)
        ax.set_yticks(range(len(measured)))
        ax.set_yticklabels(names, fontsize=8)
        ax.invert_yaxis()
        if max(meds) / max(min(meds), 1e-12) > 50:
            ax.set_xscale("log")
        ax.set_xlabel("median time per call (s); whiskers: IQR")
        ax.grid(True, axis="x", alpha=0.25)
        fig.tight_layout()
        return fig

    def _png(self) -> bytes | None:
        if len([r for r in self.rows() if r.measurement is not None]) < 2:
            return None
        import warnings

        # nothing on stderr (nbgrader scores a cell with stderr output 0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fig = self.figure()
            buf = io.BytesIO()
            fig.savefig(buf, format="png", dpi=80)
        return buf.getvalue()

    # -- text -------------------------------------------------------------
    def _cells(self, row: DeviceTiming) -> dict:
        m = row.measurement
        sp = self.speedup(row) if m is not None else None
        base = self.baseline(row.n)
        if row.skipped:
            outputs = "skipped"
        elif row.agreement is None:
            outputs = "reference" if row.output is not None else "no output"
        else:
            outputs = {"agree": "allclose ✓", "DIFFER": "DIFFER ✗", "n/a": "n/a"}[row.agreement.verdict]
        tf32 = row.env.get("tf32")
        return {
            "label": row.label,
            "device": row.device,
            "n": _fmt_n(row.n),
            "median": format_time(m.median) if m else "–",
            "iqr": f"± {format_time(m.iqr / 2)}" if m else "–",
            "first": format_time(m.first_call) if m else "–",
            "speedup": "baseline" if (m is not None and base is row) else format_speedup(sp),
            "runs": f"{m.runs}×{m.number:,}" if m else "–",
            "threads": _threads_text(row),
            "dtype": row.dtype or "–",
            "tf32": "n/a" if tf32 is None else ("on" if tf32 else "off"),
            "outputs": outputs,
        }

    _COLUMNS = [
        ("label", "label", True), ("device", "device", True), ("n", "n", False),
        ("median", "median", False), ("iqr", "spread (IQR/2)", False), ("first", "first call", False),
        ("speedup", "speedup", False), ("runs", "runs×calls", False), ("threads", "threads", False),
        ("dtype", "dtype", True), ("tf32", "TF32", True), ("outputs", "outputs", True),
    ]

    def notes(self) -> list[str]:
        """Skipped devices and outputs that do not agree, each said once
        (a message repeated for every size of a sweep is given once)."""
        seen, out = set(), []
        for run in self.runs:
            if run.interrupted:
                done = len(run.measured())
                out.append(f"{run.label}: interrupted; {done} of {len(run.rows)} measurements kept, "
                           "the others are marked.")
        for row in self.rows():
            if row.skipped and "interrupted" in row.skipped:
                continue  # said once per run above
            if row.skipped:
                key, text = (row.device, row.skipped), f"{row.device}: skipped: {row.skipped}."
            elif row.agreement is not None and row.agreement.ok is not True:
                msg = row.agreement.message
                where = f"{row.label} · {row.device}"
                if row.agreement.ok is None:  # same sentence for every size
                    key, text = (row.label, row.device, msg), f"{where}: {msg}."
                else:
                    key = (row.label, row.device, row.n, msg)
                    text = f"{where}" + (f" · n={row.n:,}" if row.n is not None else "") + f": {msg}."
            else:
                continue
            if key not in seen:
                seen.add(key)
                out.append(text)
        return out

    def _method_note(self) -> str:
        return (
            "Each time is a median over timed blocks of calls with the device synchronized "
            "before and after every block (asynchronous CUDA work is inside the time), after "
            "warm-up; the first call (initialisation, compilation) is shown apart. "
            "Speedup: baseline median / row median at the same n (baseline: the first CPU row)."
        )

    def __repr__(self) -> str:
        return self.to_text()

    def to_text(self) -> str:
        has_cuda, sentence = cuda_status()
        lines = [f"GPU timing panel {self.name!r}: {len(self.runs)} run(s)"]
        if not has_cuda:
            lines.append(sentence)
        if self.status:
            lines.append(self.status)
        if self.runs:
            table = [[title for _, title, _ in self._COLUMNS]]
            for row in self.rows():
                cells = self._cells(row)
                table.append([cells[key] for key, _, _ in self._COLUMNS])
            widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
            for j, r in enumerate(table):
                lines.append("  ".join(
                    c.ljust(w) if self._COLUMNS[i][2] else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))
                ).rstrip())
                if j == 0:
                    lines.append("  ".join("-" * w for w in widths))
        else:
            lines.append("(no runs yet: time a cell with %%gputime --label NAME)")
        lines += self.crossovers() + self.notes()
        return "\n".join(lines)

    def _repr_pretty_(self, p, cycle):
        p.text(self.to_text())

    def to_html(self, with_plot: bool = True) -> str:
        esc = html.escape
        has_cuda, sentence = cuda_status()
        parts = [f'<div class="nnw-gputime" data-panel="{esc(self.name)}" data-runs="{len(self.runs)}">',
                 f"<style>{_CSS_PATH.read_text()}</style>",
                 f'<div class="nnw-gputime-title">GPU timing · panel “{esc(self.name)}”</div>']
        if not has_cuda:
            parts.append(f'<div class="nnw-gputime-nogpu">{esc(sentence)}</div>')
        if self.status:
            parts.append(f'<div class="nnw-gputime-status">{esc(self.status)}</div>')
        if self.runs:
            parts.append('<table class="nnw-gputime-table"><thead><tr>')
            parts += [f'<th class="{"nnw-gputime-text" if left else ""}">{esc(title)}</th>'
                      for _, title, left in self._COLUMNS]
            parts.append("</tr></thead><tbody>")
            for row in self.rows():
                cells = self._cells(row)
                status = "skipped" if row.skipped else "measured"
                attrs = (f'class="nnw-gputime-row" data-label="{esc(row.label)}" data-device="{esc(row.device)}" '
                         f'data-n="{"" if row.n is None else row.n}" data-status="{status}"')
                if row.median is not None:
                    attrs += f' data-median-s="{row.median:.6g}"'
                parts.append(f"<tr {attrs}>")
                if row.skipped:
                    parts += [f'<td class="nnw-gputime-text">{esc(cells["label"])}</td>',
                              f'<td class="nnw-gputime-text">{esc(cells["device"])}</td>',
                              f'<td>{esc(cells["n"])}</td>',
                              f'<td class="nnw-gputime-text" colspan="{len(self._COLUMNS) - 3}">'
                              f'skipped: {esc(row.skipped)}</td>']
                else:
                    for key, _, left in self._COLUMNS:
                        cls = ["nnw-gputime-text"] if left else []
                        if key == "outputs" and row.agreement is not None and row.agreement.ok is not None:
                            cls.append("nnw-gputime-agree" if row.agreement.ok else "nnw-gputime-differ")
                        if key == "speedup":
                            sp = self.speedup(row)
                            if sp is not None and cells["speedup"] != "baseline":
                                cls.append("nnw-gputime-faster" if sp > 1 else "nnw-gputime-slower")
                        title = ""
                        if key == "outputs" and row.agreement is not None:
                            title = f' title="{esc(row.agreement.message)}"'
                        elif key == "median" and row.measurement is not None:
                            title = f' title="{esc(row.measurement.summary())}; {esc(row.measurement.stop_reason)}"'
                        elif key == "threads" and row.env:
                            title = f' title="{esc(str(row.env.get("hardware", "")))}"'
                        parts.append(f'<td class="{" ".join(cls)}"{title}>{esc(cells[key])}</td>')
                parts.append("</tr>")
            parts.append("</tbody></table>")
        else:
            parts.append('<div class="nnw-gputime-notes">No runs yet: time a cell with '
                         "<code>%%gputime --label NAME</code>.</div>")
        for sentence_ in self.crossovers():
            parts.append(f'<div class="nnw-gputime-crossover">{esc(sentence_)}</div>')
        notes = self.notes()
        if notes:
            parts.append('<ul class="nnw-gputime-notes">' + "".join(f"<li>{esc(n)}</li>" for n in notes) + "</ul>")
        if with_plot and not self.status:
            png = self._png()
            if png:
                b64 = base64.b64encode(png).decode("ascii")
                parts.append(f'<img class="nnw-gputime-plot" alt="timing plot" src="data:image/png;base64,{b64}"/>')
        if self.runs:
            parts.append(f'<div class="nnw-gputime-notes">{esc(self._method_note())}</div>')
        parts.append("</div>")
        return "".join(parts)

    def _repr_html_(self) -> str:
        return self.to_html()

    def _repr_mimebundle_(self, include=None, exclude=None):
        return {"text/plain": self.to_text(), "text/html": self.to_html()}

    # -- live display -----------------------------------------------------
    def _ipython_display_(self):
        from IPython import get_ipython
        from IPython.display import display

        ip = get_ipython()
        if ip is not None and self._shown_live_in == ip.execution_count:
            return  # gputime() already showed it, live, in this cell

        display(self._repr_mimebundle_(), raw=True, display_id=self._display_id)
        self._shown = True

    def refresh(self) -> None:
        """Redraws every display of this panel (earlier cells included)."""
        if not self._shown:
            return
        from IPython.display import update_display

        update_display(self._repr_mimebundle_(), raw=True, display_id=self._display_id)


def get_panel(name: str = "default", *, reset: bool = False) -> GPUTimePanel:
    """The panel called ``name`` (created on first use); ``reset`` empties it."""
    if not isinstance(name, str) or not name.strip():
        raise TimingOptionError("panel",
                                f"panel={name!r} must be a non-empty name, e.g. 'default' or 'numba-vs-numpy'.")
    panel = _PANELS.get(name)
    if panel is None:
        panel = _PANELS[name] = GPUTimePanel(name)
    elif reset:
        panel.clear()
    return panel


def _in_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover
        return False
    ip = get_ipython()
    return ip is not None and getattr(ip, "kernel", None) is not None


def gputime(
    code: str | None,
    *,
    namespace: dict | None = None,
    label: str | None = None,
    panel: str = "default",
    reset: bool = False,
    live: bool | None = None,
    transform=None,
    **options: Any,
) -> GPUTimePanel:
    """Times ``code`` on each device (see :func:`nnwidgets.timing.time_code`
    for ``options``: devices, sizes, dtype, repeat, number, ...), adds the
    run to the panel ``panel`` under ``label`` and returns the panel.
    With ``code=None`` nothing is timed: the panel is returned (emptied
    first with ``reset=True``). A run that fails (an error of the code, a bad
    option) leaves the panel as it was, ``reset`` or not.

    In a Jupyter kernel (``live`` None or True) the panel is shown at once
    and updated as each device and size is measured; earlier displays of the
    same panel are updated as well.
    """
    target = get_panel(panel, reset=reset and code is None)
    if code is None:
        return target
    kept = target.runs  # (add() and clear() replace the list, never change it)
    if reset:
        target.runs = []  # shown empty while measuring; back as it was if the run fails
    if transform is not None:
        code = transform(code)
    live = _in_kernel() if live is None else live
    progress = None
    if live:
        from IPython.display import display

        started = time.perf_counter()
        shown = []

        def show():
            # the panel appears once measuring starts: options the core rejects
            # (a typo in --sizes) raise before that, and their cell shows only the error
            if shown:
                return
            shown.append(True)
            if target._shown:
                target.refresh()  # the earlier displays of the panel too
            display(target._repr_mimebundle_(), raw=True, display_id=target._display_id)
            target._shown = True

        def progress(i, total, device, n):
            if i >= total:
                target.status = ""
                return
            where = device + (f", n = {n:,}" if n is not None else "")
            target.status = (f"measuring {label or 'run'!s} on {where} ({i + 1}/{total}, "
                             f"{time.perf_counter() - started:.1f} s so far)…")
            if shown:
                target.refresh()
            else:
                show()

    try:
        run = time_code(code, namespace=namespace, label=label, progress=progress, **options)
    except BaseException:
        target.runs = kept
        raise
    finally:
        target.status = ""
        if live and shown:
            target.refresh()
    target.add(run)
    if live:
        from IPython import get_ipython

        show()  # (no device measured anything, all skipped: the panel says why)

        ip = get_ipython()
        target._shown_live_in = ip.execution_count if ip is not None else None
    return target
