"""HTML rendering of a :class:`~nnwidgets.trainer.results.TrainResult`
(the trainer stays free of display code and asks for this lazily)."""

from __future__ import annotations

import html
import math

_METRIC_NAMES = {
    "train_loss": "train loss",
    "test_loss": "test loss",
    "train_accuracy": "train accuracy",
    "test_accuracy": "test accuracy",
    "train_mse": "train MSE",
    "test_mse": "test MSE",
    "train_r2": "train R²",
    "test_r2": "test R²",
    "val_loss": "validation loss",
    "val_score": "validation score",
    "val_accuracy": "validation accuracy",
    "val_r2": "validation R²",
    "train_score": "train score",
}


def _num(v) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        if not math.isfinite(v):
            return str(v)
        if v != 0 and (abs(v) >= 1e5 or abs(v) < 1e-3):
            return f"{v:.3e}"
        return f"{v:.4g}"
    return html.escape(str(v))


def result_html(result) -> str:
    """A compact card: label, device, stop reason, metrics and timings."""
    t = result.timings or {}
    rows = []
    for key, value in (result.metrics or {}).items():
        rows.append(f"<tr><th>{html.escape(_METRIC_NAMES.get(key, key))}</th><td>{_num(value)}</td></tr>")
    if t.get("total_s") is not None:
        rows.append(f"<tr><th>training time</th><td>{_num(t['total_s'])} s (all of fit: setup and "
                    "stopping checks included)</td></tr>")
    if t.get("per_epoch_s") is not None:
        rows.append(f"<tr><th>time per epoch</th><td>{_num(1e3 * t['per_epoch_s'])} ms (median of the epochs "
                    "alone)</td></tr>")
    if t.get("samples_per_s"):
        rows.append(f"<tr><th>throughput</th><td>{t['samples_per_s']:,.0f} samples/s (over the whole "
                    "training time)</td></tr>")
    ending = getattr(result, "ending", None)
    stop = ending() if callable(ending) else f"stopped: {result.stop_reason}"
    note = {
        "stopped": "; model kept",
        "interrupted": "; model kept",
        "diverged": "; the last good weights are kept",
    }.get(result.stop_reason, "")
    run = f"run {result.run_id}: " if result.run_id is not None else ""
    return (
        '<div class="nnw-result" style="font-size:12px">'
        f"<b>{html.escape(run)}{html.escape(result.label or type(result.model).__name__)}</b> "
        f"· {result.epochs} epochs on <code>{html.escape(str(result.device))}</code> "
        f"· {html.escape(stop)}{html.escape(note)}"
        '<table style="margin-top:4px;border-collapse:collapse">' + "".join(rows) + "</table>"
        "<div style=\"color:#666\">model: <code>.model</code> · history: <code>.history</code> · "
        "compare runs: <code>%nnruns</code></div></div>"
    )
