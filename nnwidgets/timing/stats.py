"""Summary statistics of repeated timings, and how times are written.

Kept free of torch and numpy so that it can be used (and tested) anywhere.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


def quantile(sorted_values: list[float], q: float) -> float:
    """Linear-interpolation quantile (NumPy's default) of already sorted values."""
    if not sorted_values:
        raise ValueError("quantile() of an empty list of timings")
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"q={q!r} must lie in [0, 1]")
    pos = q * (len(sorted_values) - 1)
    lo = math.floor(pos)
    hi = math.ceil(pos)
    frac = pos - lo
    return sorted_values[lo] * (1.0 - frac) + sorted_values[hi] * frac


@dataclass(frozen=True)
class Measurement:
    """Per-call times of one code block on one device.

    ``times`` holds one value per timed block: the block's wall time divided
    by ``number`` (the calls per block), in seconds. Statistics are robust:
    the median and the interquartile range (IQR), as in
    ``torch.utils.benchmark``.
    """

    times: tuple[float, ...]
    number: int
    first_call: float | None = None  # seconds of the very first call (init/compile)
    warmup_calls: int = 0
    timer_overhead: float = 0.0  # seconds of an empty timed block (sync + clock)
    stop_reason: str = ""
    extra: dict = field(default_factory=dict, compare=False)

    def __post_init__(self):
        if not self.times:
            raise ValueError("a Measurement needs at least one timed block")
        if self.number < 1:
            raise ValueError(f"number={self.number!r} calls per block must be >= 1")

    @property
    def _sorted(self) -> list[float]:
        return sorted(self.times)

    @property
    def runs(self) -> int:
        """Timed blocks (IPython's "runs")."""
        return len(self.times)

    @property
    def calls(self) -> int:
        """Timed calls in total (runs x number)."""
        return len(self.times) * self.number

    @property
    def total_time(self) -> float:
        return sum(self.times) * self.number

    @property
    def median(self) -> float:
        return quantile(self._sorted, 0.5)

    @property
    def q1(self) -> float:
        return quantile(self._sorted, 0.25)

    @property
    def q3(self) -> float:
        return quantile(self._sorted, 0.75)

    @property
    def iqr(self) -> float:
        return self.q3 - self.q1

    @property
    def relative_iqr(self) -> float:
        med = self.median
        return self.iqr / med if med > 0 else math.inf

    @property
    def mean(self) -> float:
        return sum(self.times) / len(self.times)

    @property
    def min(self) -> float:
        return min(self.times)

    @property
    def max(self) -> float:
        return max(self.times)

    def summary(self) -> str:
        """``826 µs (IQR 801 µs – 856 µs, 7 runs × 1,000 calls)``."""
        return (
            f"{format_time(self.median)} (IQR {format_time(self.q1)} – {format_time(self.q3)}, "
            f"{self.runs} runs × {self.number:,} calls)"
        )

    def to_dict(self) -> dict:
        return {
            "median_s": self.median,
            "q1_s": self.q1,
            "q3_s": self.q3,
            "iqr_s": self.iqr,
            "mean_s": self.mean,
            "min_s": self.min,
            "runs": self.runs,
            "number": self.number,
            "first_call_s": self.first_call,
            "warmup_calls": self.warmup_calls,
            "timer_overhead_s": self.timer_overhead,
            "stop_reason": self.stop_reason,
        }


_UNITS = ((1.0, "s"), (1e-3, "ms"), (1e-6, "µs"), (1e-9, "ns"))


def format_time(seconds: float | None, precision: int = 3) -> str:
    """Writes a duration with ``precision`` significant figures and a unit,
    the way ``%timeit`` does: ``47.5 µs``, ``826 µs``, ``1.23 s``."""
    if seconds is None:
        return "–"
    if seconds != seconds:  # NaN
        return "nan"
    if math.isinf(seconds):
        return "inf"
    if seconds >= 60:
        minutes, sec = divmod(seconds, 60)
        return f"{int(minutes)} min {sec:.0f} s"
    for scale, unit in _UNITS:
        if abs(seconds) >= scale:
            break
    value = seconds / scale
    text = f"{value:.{precision}g}"
    if "e" in text:  # e.g. 1e+03 when rounding up: write it plainly
        text = f"{value:.0f}"
    return f"{text} {unit}"


def format_speedup(ratio: float | None) -> str:
    """``12.3×`` (faster) or ``0.41×`` (slower) relative to the baseline."""
    if ratio is None or ratio != ratio:
        return "–"
    if ratio >= 100:
        return f"{ratio:,.0f}×"
    if ratio >= 10:
        return f"{ratio:.1f}×"
    return f"{ratio:.2f}×"
