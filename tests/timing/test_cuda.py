"""CUDA paths: run on a GPU machine, skipped (with the reason) elsewhere."""

import pytest
import torch

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(),
                       reason=f"CUDA is not available (torch {torch.__version__}, "
                              f"CUDA build: {torch.version.cuda}); CUDA timing is tested on a GPU machine"),
]


def test_cuda_timing_includes_the_kernel_not_just_the_launch():
    from nnwidgets.timing import measure, naive_time

    x = torch.rand(4096, 4096, device="cuda")
    fn = lambda: x @ x  # noqa: E731
    fn()
    torch.cuda.synchronize()
    naive = naive_time(fn, number=5)
    torch.cuda.synchronize()
    m = measure(fn, "cuda", repeat=5, number=2, warmup=0.01)
    events = measure(fn, "cuda", clock="events", repeat=5, number=2, warmup=0.01)
    assert m.median > 3 * naive  # a 4096^3 matmul takes far longer than its launch
    assert events.median == pytest.approx(m.median, rel=0.5)


def test_cpu_vs_cuda_panel_agrees_and_reports_tf32():
    from nnwidgets.timing import time_code

    code = "x = torch.rand(n, n).to(device)\n# --- timed ---\nx @ x"
    run = time_code(code, namespace={"torch": torch}, devices="cpu,cuda", sizes=[64, 1024], max_run_time=0.5,
                   rtol=1e-4, atol=1e-4)
    row = run.row("cuda", 1024)
    assert row.measurement is not None and row.agreement is not None
    assert row.agreement.ok is True, row.agreement.message
    assert row.env["tf32"] in (True, False)
    assert run.row("cuda", 64).first_call is not None
