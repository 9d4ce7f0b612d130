"""Device and thread-count choices, made deliberately and in one place."""

from __future__ import annotations

import os


def cuda_available() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def resolve_device(device="auto"):
    """Turns the ``device`` parameter into a ``torch.device``.

    ``"auto"`` (or None) picks CUDA when available, else CPU. An explicit CUDA
    device that is missing raises a ValueError that says how to fix it.
    """
    import torch

    if device is None or (isinstance(device, str) and device == "auto"):
        return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(
            f"device={device!r} is not a valid device; use 'auto', 'cpu', 'cuda' or 'cuda:N'."
        ) from exc
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"device={device!r} was requested but CUDA is not available on this machine "
                f"(torch {torch.__version__}, "
                + (f"built with CUDA {torch.version.cuda}, but no GPU was found). " if torch.version.cuda
                   else "built without CUDA). ")
                + "Use device='auto' to fall back to the CPU, or device='cpu'."
            )
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(
                f"device={device!r} was requested but only {torch.cuda.device_count()} CUDA "
                f"device(s) exist; use 'cuda:0'..'cuda:{torch.cuda.device_count() - 1}' or 'auto'."
            )
    elif dev.type not in ("cpu", "mps"):
        raise ValueError(f"device={device!r} is not supported; use 'auto', 'cpu' or 'cuda'.")
    return dev


def device_name(dev) -> str:
    """How a resolved ``torch.device`` is shown and recorded: "cpu", "cuda:0"
    (a bare "cuda" names its index)."""
    return f"cuda:{dev.index or 0}" if dev.type == "cuda" else str(dev)


def is_cpu(device) -> bool:
    """Whether ``device`` (a torch.device, a string, or None for the default)
    is the CPU."""
    return device is None or getattr(device, "type", str(device)) == "cpu"


def default_num_threads() -> int:
    """Intra-op threads for CPU training: ``NNWIDGETS_NUM_THREADS``, else
    ``OMP_NUM_THREADS``, else the number of cores this process may use."""
    for var in ("NNWIDGETS_NUM_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(var)
        if value:
            try:
                n = int(value)
            except ValueError:
                continue
            if n > 0:
                return n
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def configure_threads(n: int | None = None) -> int:
    """Sets torch's intra-op thread count (once per process unless changed)
    and returns it. Inter-op threads are kept at 1: a small MLP has nothing
    to run in parallel between ops, and extra pools oversubscribe 2 cores."""
    import torch

    n = default_num_threads() if n is None else int(n)
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    try:
        if torch.get_num_interop_threads() != 1:
            torch.set_num_interop_threads(1)
    except RuntimeError:
        pass  # already fixed once parallel work has started
    return n
