"""Bringing outputs back to the host and checking that devices agree."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

# (rtol, atol) by dtype, as torch.testing.assert_close, but float32 a little
# looser: CPU and GPU reductions add in different orders.
DEFAULT_TOLERANCES = {
    "float16": (1e-3, 1e-5),
    "bfloat16": (1.6e-2, 1e-5),
    "float32": (1e-5, 1e-6),
    "float64": (1e-7, 1e-7),
    "complex64": (1e-5, 1e-6),
    "complex128": (1e-7, 1e-7),
}
# float32 matmuls/convolutions in TF32 keep 10 mantissa bits.
TF32_TOLERANCE = (1e-3, 1e-5)


@dataclass(frozen=True)
class HostOutput:
    """An output copied to the host: arrays by path (``""`` for a single
    array, ``"[0]"``, ``"['w']"`` inside tuples, lists and dicts)."""

    arrays: dict
    dtype: str | None  # dtype as the device produced it (before any upcast)
    type_name: str
    note: str = ""

    @property
    def shape(self):
        if len(self.arrays) == 1:
            return next(iter(self.arrays.values())).shape
        return None


def _leaf_to_numpy(obj) -> tuple[np.ndarray, str] | None:
    mod = type(obj).__module__
    if mod.startswith("torch") and hasattr(obj, "detach"):
        t = obj.detach()
        dtype = str(t.dtype).replace("torch.", "")
        t = t.to("cpu", copy=True).resolve_conj().resolve_neg()
        try:
            arr = t.numpy()
        except TypeError:  # bfloat16, float8...: no NumPy dtype
            arr = t.float().numpy()
        return arr, dtype
    if hasattr(obj, "copy_to_host"):  # numba device array
        arr = np.asarray(obj.copy_to_host())
        return arr, str(arr.dtype)
    if mod.startswith("cupy") and hasattr(obj, "get"):
        arr = np.asarray(obj.get())
        return arr, str(arr.dtype)
    if isinstance(obj, np.ndarray):
        return np.array(obj, copy=True), str(obj.dtype)
    if isinstance(obj, (bool, int, float, complex, np.generic)):
        arr = np.asarray(obj)
        return arr, str(arr.dtype)
    if hasattr(obj, "__array__"):
        arr = np.array(obj, copy=True)
        return arr, str(arr.dtype)
    return None


def to_host(obj: Any) -> HostOutput | None:
    """Copies ``obj`` (a tensor on any device, a NumPy/numba/CuPy array, a
    number, or tuples/lists/dicts of them) to host NumPy arrays. ``None``
    stays ``None``; other objects give a HostOutput with no arrays."""
    if obj is None:
        return None
    arrays: dict = {}
    dtypes: list[str] = []
    bad: list[str] = []

    def walk(value, path):
        if isinstance(value, (tuple, list)):
            for i, v in enumerate(value):
                walk(v, f"{path}[{i}]")
            return
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, f"{path}[{k!r}]")
            return
        leaf = _leaf_to_numpy(value)
        if leaf is None:
            bad.append(f"{path or 'output'} ({type(value).__name__})")
            return
        arrays[path] = leaf[0]
        dtypes.append(leaf[1])

    walk(obj, "")
    dtype = dtypes[0] if dtypes and all(d == dtypes[0] for d in dtypes) else (", ".join(sorted(set(dtypes))) or None)
    note = f"not comparable: {', '.join(bad)}" if bad else ""
    return HostOutput(arrays=arrays, dtype=dtype, type_name=type(obj).__name__, note=note)


@dataclass(frozen=True)
class Agreement:
    """Whether one device's output matches the reference device's."""

    reference: str
    ok: bool | None  # None: nothing to compare
    rtol: float | None = None
    atol: float | None = None
    max_abs_diff: float | None = None
    max_rel_diff: float | None = None
    mismatched: int = 0
    total: int = 0
    message: str = ""

    @property
    def verdict(self) -> str:
        if self.ok is None:
            return "n/a"
        return "agree" if self.ok else "DIFFER"


def _pick_tolerance(dtype: str | None, tf32: bool) -> tuple[float, float]:
    base = (dtype or "float64").split(",")[0].strip()
    if base == "float32" and tf32:
        return TF32_TOLERANCE
    return DEFAULT_TOLERANCES.get(base, (0.0, 0.0))


def compare_outputs(
    reference: HostOutput | None,
    other: HostOutput | None,
    *,
    reference_name: str,
    rtol: float | None = None,
    atol: float | None = None,
    tf32: bool = False,
) -> Agreement:
    """``allclose(other, reference, rtol, atol)`` with NaNs equal; default
    tolerances from the output's dtype (:data:`DEFAULT_TOLERANCES`), looser
    for float32 when TF32 is on (:data:`TF32_TOLERANCE`)."""
    if reference is None or other is None:
        return Agreement(reference_name, None, message=(
            "no output to compare: end the cell with an expression, or assign it to `out`"
        ))
    if other.note or reference.note:
        return Agreement(reference_name, None, message=other.note or reference.note)
    if set(reference.arrays) != set(other.arrays):
        return Agreement(reference_name, False, message=(
            f"outputs have different structure ({reference.type_name} vs {other.type_name})"
        ))
    if rtol is None or atol is None:
        # the looser of the two dtypes' defaults
        d_rtol, d_atol = max(
            _pick_tolerance(reference.dtype, tf32), _pick_tolerance(other.dtype, tf32)
        )
        rtol = d_rtol if rtol is None else rtol
        atol = d_atol if atol is None else atol
    max_abs = 0.0
    max_rel = 0.0
    mismatched = 0
    total = 0
    for path, ref in reference.arrays.items():
        arr = other.arrays[path]
        if ref.shape != arr.shape:
            return Agreement(reference_name, False, rtol, atol, message=(
                f"shapes differ{(' at ' + path) if path else ''}: {tuple(arr.shape)} vs "
                f"{tuple(ref.shape)} on {reference_name}"
            ))
        r = ref.astype(np.complex128 if np.iscomplexobj(ref) or np.iscomplexobj(arr) else np.float64)
        a = arr.astype(r.dtype)
        diff = np.abs(a - r)
        both_nan = np.isnan(a) & np.isnan(r) if r.size else np.zeros(0, bool)
        diff = np.where(both_nan, 0.0, diff)
        with np.errstate(invalid="ignore"):
            bad = ~(diff <= atol + rtol * np.abs(r)) & ~both_nan  # NaN against a number is bad
        total += r.size
        mismatched += int(bad.sum())
        if r.size:
            finite = np.isfinite(diff)
            if finite.any():
                max_abs = max(max_abs, float(diff[finite].max()))
                with np.errstate(divide="ignore", invalid="ignore"):
                    rel = diff / np.abs(r)
                rel = rel[np.isfinite(rel)]
                if rel.size:
                    max_rel = max(max_rel, float(rel.max()))
            if not finite.all():
                max_abs = float("inf")
    ok = mismatched == 0
    if ok:
        msg = f"allclose to {reference_name} (rtol={rtol:g}, atol={atol:g}; max abs diff {max_abs:.3g})"
    else:
        msg = (
            f"{mismatched:,} of {total:,} values differ from {reference_name} beyond rtol={rtol:g}, "
            f"atol={atol:g} (max abs diff {max_abs:.3g}, max rel diff {max_rel:.3g})"
        )
        if tf32:
            msg += "; TF32 is on for float32 matmuls on this device"
    return Agreement(reference_name, ok, rtol, atol, max_abs, max_rel, mismatched, total, msg)
