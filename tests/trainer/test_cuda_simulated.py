"""CUDA-only code paths of the trainer, simulated on the CPU (torch.cuda's
functions replaced by fakes), so that they are tested where no GPU is."""

import torch

from nnwidgets.trainer import batched


def test_free_gpu_memory_counts_what_torchs_cache_holds(monkeypatch):
    # mem_get_info is the driver's view: blocks that torch's caching allocator
    # keeps after an earlier fit (reserved, not allocated) count as used there,
    # but this process can reuse them; the stack split must count them as free
    GiB = 1 << 30
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (2 * GiB, 80 * GiB))
    monkeypatch.setattr(torch.cuda, "memory_reserved", lambda device=None: 30 * GiB)
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda device=None: 10 * GiB)
    assert batched._available_bytes(torch.device("cuda")) == int((2 + 20) * GiB * 0.8)
