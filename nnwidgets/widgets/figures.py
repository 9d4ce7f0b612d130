"""Static matplotlib figures of training runs (PNG in the notebook, so saved
notebooks, nbconvert, nbgrader and nbval show them without a kernel).

Figures are made with ``matplotlib.figure.Figure`` and the Agg canvas, not
pyplot: nothing touches the user's current figure and the inline backend does
not show them a second time.
"""

from __future__ import annotations

import contextlib
import io
import math
import threading
from typing import Sequence

COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
          "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def figure_png(fig, dpi: int = 80) -> bytes:
    """PNG bytes of ``fig``."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def _plot_curves(ax, curves, log_y: bool, colors=None):
    """``curves``: [(label, epochs, loss, val_loss or None)]; ``colors``: one
    per curve (default: the palette in order)."""
    any_val = False
    for k, (label, epochs, loss, val) in enumerate(curves):
        color = colors[k] if colors is not None else COLORS[k % len(COLORS)]
        ax.plot(epochs, loss, color=color, lw=1.5, label=f"{label} (train)" if val else label)
        if val is not None and any(v is not None for v in val):
            any_val = True
            vx = [e for e, v in zip(epochs, val) if v is not None]
            vy = [v for v in val if v is not None]
            ax.plot(vx, vy, color=color, lw=1.3, ls="--", label=f"{label} (validation)")
    if log_y:
        positive = all(v > 0 for _, _, loss, _ in curves for v in loss if v is not None and math.isfinite(v))
        if positive:
            ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (log scale)" if log_y else "loss")
    ax.grid(True, alpha=0.3)
    if len(curves) > 1 or any_val:
        ax.legend(fontsize=8, loc="upper right")


_TEMPLATE_LOCK = threading.Lock()
_TEMPLATE: dict = {}


def message_figure(text: str, width: float = 8, height: float = 1.2):
    """A figure that only says ``text`` (where a chart cannot be drawn)."""
    fig = _figure(width, height)
    fig.text(0.5, 0.5, text, ha="center", va="center", fontsize=9, wrap=True)
    return fig


def loss_curves_png(curves, *, log_y: bool = False, title: str = "Training loss", dpi: int = 80) -> bytes:
    """A PNG of the loss curves (what the live plot showed when training ended).

    The figure and axes are made once per process and reused (only the lines,
    legend, scale and title change): that saves about 40% of matplotlib's time,
    which is spent once at the end of every training."""
    with _TEMPLATE_LOCK:
        if not _TEMPLATE:
            fig = _figure(6.4, 3.4)
            ax = fig.add_subplot(1, 1, 1)
            fig.subplots_adjust(left=0.13, right=0.98, top=0.9, bottom=0.15)
            _TEMPLATE.update(fig=fig, ax=ax)
        fig, ax = _TEMPLATE["fig"], _TEMPLATE["ax"]
        for line in list(ax.lines):
            line.remove()
        legend = ax.get_legend()
        if legend is not None:
            legend.remove()
        ax.set_yscale("linear")
        ax.set_prop_cycle(None)
        _plot_curves(ax, curves, log_y)
        ax.relim()
        ax.autoscale_view()
        ax.set_title(title, fontsize=10)
        return figure_png(fig, dpi=dpi)


def _metric_of(results):
    """The test metric shared by the runs: accuracy if any classifier, else MSE."""
    for key, name in (("test_accuracy", "Test accuracy"), ("test_mse", "Test MSE")):
        if any(key in r.metrics for r in results):
            return key, name
    for key, name in (("train_accuracy", "Train accuracy"), ("train_mse", "Train MSE"),
                      ("train_loss", "Final train loss")):
        if any(key in r.metrics for r in results):
            return key, name
    return None, None


def _metric_groups(results) -> list[tuple[str, str, list[int]]]:
    """(metric key, title, indices of the runs that have it): one bar chart
    per metric, so that classifiers (accuracy) and regressors (MSE) run in one
    session are both shown, each on its own axis."""
    groups = []
    for key, name in (("test_accuracy", "Test accuracy"), ("test_mse", "Test MSE")):
        idx = [i for i, r in enumerate(results) if key in r.metrics]
        if idx:
            groups.append((key, name, idx))
    covered = {i for _, _, idx in groups for i in idx}
    rest = [r for i, r in enumerate(results) if i not in covered]
    if rest:
        key, name = _metric_of(rest)
        if key is not None:
            idx = [i for i, r in enumerate(results) if i not in covered and key in r.metrics]
            if idx:
                groups.append((key, name, idx))
    return groups


_LOSS_TITLES = {"classification": "Training loss (classifiers: cross-entropy)",
                "regression": "Training loss (regressors: squared error)"}


def _loss_groups(results) -> list[tuple[str, list[int]]]:
    """(title, indices of the runs with a loss curve): classifiers' and
    regressors' losses have different units, so they get an axis each."""
    with_curve = [i for i, r in enumerate(results) if len(r.history)]
    kinds = {}
    for i in with_curve:
        kind = "classification" if results[i].task in ("classification", "binary") else "regression"
        kinds.setdefault(kind, []).append(i)
    if len(kinds) <= 1:
        return [("Training loss", with_curve)]
    return [(_LOSS_TITLES[k], idx) for k, idx in sorted(kinds.items())]


def _short(label: str, width: int = 26) -> str:
    """``label`` in at most ``width`` characters, cut in the middle: a sweep's
    runs differ at the end ("4: learning_…_init=0.0001")."""
    if len(label) <= width:
        return label
    head = (width - 1) // 2
    return label[:head] + "…" + label[len(label) - (width - 1 - head):]


def format_number(v: float, digits: int = 3) -> str:
    """``v`` with ``digits`` significant digits, or as a whole number with
    thousands separators from ``10**digits`` up (no "1.23e+04" for an MSE of
    12,345). Bar labels use 3 digits, the %nnruns table 4."""
    return f"{v:,.0f}" if abs(v) >= 10**digits else f"{v:.{digits}g}"


def _number(value) -> float:
    """A metric as a float (NaN when it has no numeric value: None, a string)."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def _n_predictions(result) -> int:
    """How many test predictions ``result`` holds (0 when none, or unreadable)."""
    preds = result.predictions or {}
    if preds.get("y_true") is None or preds.get("y_pred") is None:
        return 0
    try:
        import numpy as np

        return min(len(np.asarray(preds["y_true"])), len(np.asarray(preds["y_pred"])))
    except TypeError:
        return 0


@contextlib.contextmanager
def _or_say_why(ax, what: str):
    """Draws one chart; if the run's data cannot be drawn, the chart says so
    instead (the other charts and the table are still shown)."""
    try:
        yield
    except Exception as exc:  # one odd run must not cost the whole comparison
        ax.clear()
        ax.set_axis_off()
        ax.text(0.5, 0.5, f"{what}: cannot draw\n{type(exc).__name__}: {str(exc)[:80]}", ha="center",
                va="center", fontsize=8, wrap=True, transform=ax.transAxes)


def comparison_figure(results: Sequence, *, log_y: bool = False, max_confusion: int = 4):
    """The lecture's comparison charts for ``results`` (TrainResult objects):
    test-metric bars, overlaid loss curves, and predicted-vs-true scatter
    (regression) or confusion matrices (classification). Runs without a
    metric, a curve or test predictions are left out of that chart; a chart
    that cannot be drawn says why instead of failing the others."""
    results = list(results)
    labels = [f"{r.run_id}: {r.label}" if r.run_id is not None else str(r.label) for r in results]
    colors = [COLORS[i % len(COLORS)] for i in range(len(results))]
    # (indices, not results.index(r): a TrainResult compares its fields, numpy arrays included)
    regress = [i for i, r in enumerate(results) if r.task == "regression" and _n_predictions(r)]
    classif = [i for i, r in enumerate(results) if r.task == "classification" and _n_predictions(r)]
    n_conf = min(len(classif), max_confusion)
    bottom = 1 if (regress or n_conf) else 0
    ncols_bottom = (1 if regress else 0) + n_conf
    metrics = _metric_groups(results)
    losses = _loss_groups(results)
    n_top = max(1, len(metrics)) + len(losses)
    ncols = max(2, ncols_bottom, n_top)
    fig = _figure(max(11, 4 * n_top), 4.2 + (3.8 if bottom else 0))
    gs = fig.add_gridspec(1 + bottom, ncols)
    # the top row: the bar charts, then the loss axes, sharing its columns
    bounds = [round(k * ncols / n_top) for k in range(n_top + 1)]
    top = [fig.add_subplot(gs[0, bounds[k]:bounds[k + 1]]) for k in range(n_top)]

    if not metrics:
        top[0].text(0.5, 0.5, "no metrics", ha="center", va="center")
    for ax_bar, (key, name, idx) in zip(top, metrics):
        with _or_say_why(ax_bar, name):
            _bars(ax_bar, key, name, [_number(results[i].metrics.get(key)) for i in idx],
                  [labels[i] for i in idx], [colors[i] for i in idx], left_out=len(results) - len(idx))

    for ax_loss, (title, idx) in zip(top[max(1, len(metrics)):], losses):
        with _or_say_why(ax_loss, title):
            curves = [(labels[i], results[i].history.column("epoch"),
                       [_number(v) for v in results[i].history.column("loss")], None) for i in idx]
            _plot_curves(ax_loss, curves, log_y, colors=[colors[i] for i in idx])
            ax_loss.set_title(title, fontsize=10)

    col = 0
    if regress:
        ax = fig.add_subplot(gs[1, col])
        col += 1
        with _or_say_why(ax, "Predicted vs true"):
            _predicted_vs_true(ax, [(results[i], labels[i], colors[i]) for i in regress])
    for i in classif[:n_conf]:
        ax = fig.add_subplot(gs[1, col])
        col += 1
        with _or_say_why(ax, labels[i]):
            _confusion(ax, results[i], labels[i])
    fig.tight_layout()
    return fig


def _bars(ax, key, name, values, labels, colors, left_out):
    ax.bar(range(len(values)), values, color=colors)
    ax.set_xticks(range(len(values)))
    many = len(values) > 3
    ax.set_xticklabels([_short(lab) for lab in labels], rotation=30 if many else 0,
                       ha="right" if many else "center", fontsize=8)
    ax.set_ylabel(name)
    ax.set_title(name + (f" ({left_out} run(s) without it not shown)" if left_out else ""), fontsize=10)
    finite = [v for v in values if math.isfinite(v)]
    if key.endswith("accuracy") and finite:
        ax.set_ylim(max(0.0, min(finite) - 0.1), 1.0)
    for i, v in enumerate(values):
        if math.isfinite(v):
            ax.annotate(format_number(v), (i, v), ha="center", va="bottom", fontsize=8)


def _predicted_vs_true(ax, runs):
    """``runs``: [(result, label, color)] with test predictions."""
    lo, hi = math.inf, -math.inf
    for r, lab, color in runs:
        yt = _flat(r.predictions["y_true"])
        yp = _flat(r.predictions["y_pred"])
        ax.plot(yp, yt, "o", ms=3, alpha=0.7, label=lab, color=color)
        finite = [v for v in yt if math.isfinite(v)]
        if finite:
            lo, hi = min(lo, min(finite)), max(hi, max(finite))
    if lo <= hi:
        ax.plot([lo, hi], [lo, hi], "k-", lw=1, label="perfect")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("Predicted vs true (test set)", fontsize=10)
    ax.legend(fontsize=7)


def _flat(values):
    """The first target of each sample, as floats."""
    import numpy as np

    arr = np.asarray(values, dtype=float)
    return arr.reshape(len(arr), -1)[:, 0].tolist() if arr.size else []


def _label_key(value):
    """Labels as dictionary keys: every NaN is one label, 1 and 1.0 are one."""
    return "nan" if isinstance(value, float) and value != value else value


def _sorted_labels(values) -> list:
    labels = list(dict.fromkeys(values))
    try:
        return sorted(labels)
    except TypeError:  # labels of two kinds (strings and numbers): each kind sorted
        return sorted(labels, key=lambda v: (type(v).__name__, str(v)))


def _confusion(ax, result, label):
    import numpy as np

    n = _n_predictions(result)

    def labels(values):  # one label per sample: (n,) or (n, 1)
        return [_label_key(v) for v in np.asarray(values)[:n].reshape(n, -1)[:, 0].tolist()]

    y_true, y_pred = labels(result.predictions["y_true"]), labels(result.predictions["y_pred"])
    classes = _sorted_labels(y_true + y_pred)
    index = {c: i for i, c in enumerate(classes)}
    cm = np.zeros((len(classes), len(classes)), dtype=int)
    for t, p in zip(y_true, y_pred):
        cm[index[t], index[p]] += 1
    ax.imshow(cm, cmap="Blues")
    if len(classes) <= 12:
        for i in range(len(classes)):
            for j in range(len(classes)):
                ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if cm[i, j] > cm.max() / 2 else "black")
        names = [str(c) for c in classes]
        ax.set_xticks(range(len(classes)))
        ax.set_xticklabels(names, rotation=45, ha="right", fontsize=7)
        ax.set_yticks(range(len(classes)))
        ax.set_yticklabels(names, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    acc = _number(result.metrics.get("test_accuracy"))
    ax.set_title(f"{label}" + (f" (acc {acc:.3f})" if math.isfinite(acc) else ""), fontsize=9)
