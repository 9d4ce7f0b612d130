"""allclose verdicts across devices, with stated tolerances."""

import numpy as np
import pytest
import torch

from nnwidgets.timing import compare_outputs, to_host
from nnwidgets.timing.outputs import DEFAULT_TOLERANCES, TF32_TOLERANCE


def cmp(a, b, **kw):
    return compare_outputs(to_host(a), to_host(b), reference_name="cpu", **kw)


def test_equal_outputs_agree_and_state_the_tolerance():
    x = torch.linspace(0, 1, 100)
    ag = cmp(x, x.clone())
    assert ag.ok is True and ag.verdict == "agree"
    assert (ag.rtol, ag.atol) == DEFAULT_TOLERANCES["float32"]
    assert "rtol=1e-05" in ag.message and "atol=1e-06" in ag.message


def test_differences_beyond_tolerance_are_counted():
    x = np.ones(1000)
    y = x.copy()
    y[:3] += 1e-3
    ag = cmp(x, y)
    assert ag.ok is False and ag.verdict == "DIFFER"
    assert ag.mismatched == 3 and ag.total == 1000
    assert ag.max_abs_diff == pytest.approx(1e-3)
    assert "3 of 1,000 values differ" in ag.message


def test_user_tolerance_and_float32_rounding():
    x = torch.ones(10)
    y = x + 1e-4
    assert cmp(x, y).ok is False
    assert cmp(x, y, rtol=1e-3, atol=0).ok is True


def test_tf32_loosens_float32_tolerance_and_says_so():
    a = torch.ones(10)
    b = a * (1 + 5e-4)  # TF32-sized error
    assert cmp(a, b).ok is False
    ag = cmp(a, b, tf32=True)
    assert ag.ok is True and (ag.rtol, ag.atol) == TF32_TOLERANCE
    bad = cmp(a, a * 1.01, tf32=True)
    assert bad.ok is False and "TF32" in bad.message


def test_shape_structure_nan_and_missing_output():
    assert "shapes differ" in cmp(np.zeros(3), np.zeros(4)).message
    assert "different structure" in cmp((np.zeros(2), np.zeros(2)), np.zeros(2)).message
    both_nan = cmp(np.array([np.nan, 1.0]), np.array([np.nan, 1.0]))
    assert both_nan.ok is True
    assert cmp(np.array([np.nan, 1.0]), np.array([0.0, 1.0])).ok is False
    none = compare_outputs(None, to_host(1.0), reference_name="cpu")
    assert none.ok is None and "end the cell with an expression" in none.message
    odd = cmp(object(), object())
    assert odd.ok is None and "not comparable" in odd.message


def test_to_host_copies_tensors_bf16_and_containers():
    t = torch.arange(4, dtype=torch.bfloat16)
    h = to_host({"w": t, "b": [np.int64(3)]})
    assert h.dtype == "bfloat16, int64"
    assert h.arrays["['w']"].dtype == np.float32
    src = np.zeros(2)
    h2 = to_host(src)
    src[0] = 5
    assert h2.arrays[""][0] == 0  # a copy, not a view
    assert to_host(None) is None


def test_mixed_dtypes_use_the_looser_tolerance():
    a = np.ones(4, dtype=np.float64)
    b = torch.full((4,), 1 + 2**-10, dtype=torch.float16)  # one float16 ulp above 1
    ag = cmp(a, b)
    assert (ag.rtol, ag.atol) == DEFAULT_TOLERANCES["float16"]
    assert ag.ok is True
