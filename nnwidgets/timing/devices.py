"""Devices the timing harness can measure on, behind one small interface.

A device knows how to *wait for its own work* (``synchronize``) and how to
time an interval correctly (``clock``). CUDA work is asynchronous: a kernel
launch returns to Python long before the GPU has finished, so a clock that
does not synchronize measures the launch, not the work. Every clock here
synchronizes (or records CUDA events) around every timed block.

New devices (a fake asynchronous one for tests without a GPU, say) plug in
with :func:`register_device`.
"""

from __future__ import annotations

import abc
import os
import platform
import time
from typing import Any, Callable

from nnwidgets.timing.errors import TimingOptionError


class Clock(abc.ABC):
    """Times one interval: ``start()``, run the work, ``stop()`` -> seconds."""

    @abc.abstractmethod
    def start(self) -> None: ...

    @abc.abstractmethod
    def stop(self) -> float: ...


class SyncClock(Clock):
    """Host clock (``time.perf_counter``) with the device synchronized before
    the start and before the stop, so queued work is inside the interval."""

    def __init__(self, synchronize: Callable[[], None]):
        self._sync = synchronize
        self._t0 = 0.0

    def start(self) -> None:
        self._sync()
        self._t0 = time.perf_counter()

    def stop(self) -> float:
        self._sync()
        return time.perf_counter() - self._t0


class CudaEventClock(Clock):
    """CUDA events recorded on the timed device's current stream around the
    block; the time is read after the end event has completed. Measures GPU
    time between the two events (``triton.testing.do_bench`` does the same);
    use it for code that only queues work on the current torch stream.

    The stream is the current stream *of the timed device*: ``Event.record()``
    without a stream records on the current device's stream, which for
    ``cuda:1`` (while ``cuda:0`` is current) would time an idle GPU."""

    def __init__(self, torch_device):
        import torch

        self._torch = torch
        self._device = torch_device
        self._start = torch.cuda.Event(enable_timing=True)
        self._end = torch.cuda.Event(enable_timing=True)

    def _stream(self):
        return self._torch.cuda.current_stream(self._device)

    def start(self) -> None:
        self._start.record(self._stream())

    def stop(self) -> float:
        self._end.record(self._stream())
        self._end.synchronize()
        return self._start.elapsed_time(self._end) / 1000.0


class TimingDevice(abc.ABC):
    """What the harness needs from a device."""

    #: short name shown in the panel and accepted by ``--devices``
    name: str = "?"
    #: "cpu", "cuda" or anything else (a fake device says "fake")
    kind: str = "?"
    #: True when calls return before the work is done (CUDA, the fake device)
    is_async: bool = False

    def available(self) -> bool:
        return True

    def unavailable_reason(self) -> str:
        return ""

    @abc.abstractmethod
    def synchronize(self) -> None:
        """Blocks until all work queued on the device has finished."""

    def clock(self, kind: str = "sync") -> Clock:
        if kind != "sync":
            raise TimingOptionError(
                "clock", f"clock={kind!r} is not supported on device {self.name!r}; use clock='sync'."
            )
        return SyncClock(self.synchronize)

    @abc.abstractmethod
    def namespace_value(self) -> Any:
        """What the timed code sees as ``device`` (a ``torch.device`` for real devices)."""

    def describe(self) -> dict:
        """Settings that change the figures: threads, TF32, hardware name."""
        return {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


def _blas_threads() -> int | None:
    """Threads of NumPy's BLAS, when NumPy is already in use (not imported here)."""
    import sys

    if "numpy" not in sys.modules:
        return None
    try:
        from threadpoolctl import threadpool_info
    except ImportError:  # pragma: no cover - sklearn depends on it
        return None
    counts = [info.get("num_threads") for info in threadpool_info() if info.get("user_api") == "blas"]
    return max(counts) if counts else None


def _read(getter):
    """A torch setting, or None where reading it raises."""
    try:
        return getter()
    except (RuntimeError, AttributeError):
        return None


def _matmul_settings(torch) -> dict:
    """float32 precision settings, read through torch's per-backend
    ``fp32_precision`` (torch >= 2.9) where it exists: once TF32 is set with
    that API (``torch.backends.cuda.matmul.fp32_precision = "tf32"``, as
    torch's documentation now advises), the legacy getters
    (``get_float32_matmul_precision()``, ``matmul.allow_tf32``) raise a
    'mix of the legacy and new APIs' RuntimeError."""
    mm = _read(lambda: torch.backends.cuda.matmul.fp32_precision)  # "tf32", "ieee", "none" (= not TF32)
    conv = _read(lambda: torch.backends.cudnn.conv.fp32_precision)
    tf32_matmul = (mm == "tf32") if mm is not None else _read(lambda: bool(torch.backends.cuda.matmul.allow_tf32))
    tf32_cudnn = (conv == "tf32") if conv is not None else _read(lambda: bool(torch.backends.cudnn.allow_tf32))
    precision = _read(torch.get_float32_matmul_precision)
    if precision is None and mm is not None:
        precision = f"cuda matmul: {mm}"
    return {
        "float32_matmul_precision": precision,
        "tf32_matmul": tf32_matmul,
        "tf32_cudnn": tf32_cudnn,
    }


class CPUDevice(TimingDevice):
    name = "cpu"
    kind = "cpu"
    is_async = False

    def synchronize(self) -> None:
        # CPU work in torch/NumPy is synchronous: nothing to wait for.
        return None

    def namespace_value(self):
        import torch

        return torch.device("cpu")

    def describe(self) -> dict:
        import torch

        info = {
            "hardware": platform.processor() or platform.machine() or "CPU",
            "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "blas_threads": _blas_threads(),
        }
        info.update(_matmul_settings(torch))
        info["tf32"] = None  # TF32 is a CUDA (Ampere+) format: not used on the CPU
        return info


class CUDADevice(TimingDevice):
    kind = "cuda"
    is_async = True

    def __init__(self, index: int | None = None):
        self.index = index
        self.name = "cuda" if index is None else f"cuda:{index}"

    def _torch_device(self):
        import torch

        return torch.device(self.name)

    def available(self) -> bool:
        import torch

        if not torch.cuda.is_available():
            return False
        return self.index is None or self.index < torch.cuda.device_count()

    def unavailable_reason(self) -> str:
        import torch

        if not torch.cuda.is_available():
            built = torch.version.cuda
            how = f"built with CUDA {built}, but no GPU was found" if built else "built without CUDA"
            return f"no CUDA GPU is available (torch {torch.__version__}, {how})"
        if self.index is not None and self.index >= torch.cuda.device_count():
            return f"{self.name} does not exist: this machine has {torch.cuda.device_count()} CUDA device(s)"
        return ""

    def synchronize(self) -> None:
        import torch

        # cudaDeviceSynchronize: waits for every stream of the device, so work
        # queued by numba or CuPy on the same GPU is waited for too.
        torch.cuda.synchronize(self._torch_device())

    def clock(self, kind: str = "sync") -> Clock:
        if kind == "sync":
            return SyncClock(self.synchronize)
        if kind == "events":
            return CudaEventClock(self._torch_device())
        raise TimingOptionError("clock", f"clock={kind!r} is not a clock; use 'sync' or 'events'.")

    def namespace_value(self):
        return self._torch_device()

    def describe(self) -> dict:
        import torch

        dev = self._torch_device()
        props = torch.cuda.get_device_properties(dev)
        info = {
            "hardware": props.name,
            "compute_capability": f"{props.major}.{props.minor}",
            "memory_gib": round(props.total_memory / 2**30, 1),
            "torch_threads": torch.get_num_threads(),
            "cuda_version": torch.version.cuda,
        }
        info.update(_matmul_settings(torch))
        # TF32 only exists on compute capability >= 8.0 (Ampere and newer).
        info["tf32"] = bool(info["tf32_matmul"]) and props.major >= 8
        return info


# name -> factory(spec) returning a TimingDevice; spec is the full name given.
_REGISTRY: dict[str, Callable[[str], TimingDevice]] = {}


def register_device(name: str, factory: Callable[[str], TimingDevice]) -> None:
    """Makes ``name`` usable in ``devices=`` / ``--devices``. ``factory`` gets
    the spec as written (``"cuda:1"`` for ``name="cuda"``)."""
    if not name or not name.replace("_", "").replace("-", "").isalnum():
        raise ValueError(f"device name {name!r} must be a non-empty word (letters, digits, _ or -)")
    _REGISTRY[name] = factory


def unregister_device(name: str) -> None:
    _REGISTRY.pop(name, None)


def _cuda_factory(spec: str) -> TimingDevice:
    if spec == "cuda":
        return CUDADevice()
    index = spec.split(":", 1)[1]
    if not index.isdigit():
        raise TimingOptionError("devices",
                                f"device {spec!r} is not valid; write 'cuda' or 'cuda:N' with N a GPU index.")
    return CUDADevice(int(index))


register_device("cpu", lambda spec: CPUDevice())
register_device("cuda", _cuda_factory)


def known_device_names() -> list[str]:
    return sorted(_REGISTRY)


def get_device(spec) -> TimingDevice:
    """A :class:`TimingDevice` from a name (``"cpu"``, ``"cuda"``, ``"cuda:1"``,
    a registered name), a ``torch.device``, or a TimingDevice (returned as is)."""
    if isinstance(spec, TimingDevice):
        return spec
    text = str(spec).strip()
    base = text.split(":", 1)[0].lower()
    if base == "gpu":
        raise TimingOptionError("devices", f"device {text!r} is not a device name; did you mean 'cuda'?")
    factory = _REGISTRY.get(base)
    if factory is None:
        raise TimingOptionError(
            "devices",
            f"device {text!r} is not known; use one of {', '.join(known_device_names())} "
            "(or 'auto' for the CPU plus CUDA when present)."
        )
    if base == "cpu" and text.lower() not in ("cpu", "cpu:0"):
        raise TimingOptionError("devices", f"device {text!r} is not valid; write 'cpu'.")
    return factory(text.lower() if base in ("cpu", "cuda") else text)


def resolve_devices(devices="auto") -> list[TimingDevice]:
    """``"auto"`` -> CPU, plus CUDA when available. A comma-separated string
    or a list names devices explicitly; unavailable ones are kept (the panel
    reports them as skipped, with the reason) rather than failing a
    notebook written on a GPU machine and run on a laptop."""
    if devices is None or (isinstance(devices, str) and devices.strip().lower() == "auto"):
        out: list[TimingDevice] = [CPUDevice()]
        cuda = CUDADevice()
        if cuda.available():
            out.append(cuda)
        return out
    if isinstance(devices, str):
        items = [d.strip() for d in devices.split(",")]
    elif isinstance(devices, TimingDevice):
        items = [devices]
    else:
        items = list(devices)
    if not items or any(isinstance(d, str) and not d for d in items):
        raise TimingOptionError(
            "devices",
            f"devices={devices!r} names an empty device; write e.g. 'cpu,cuda' (no empty items)."
        )
    resolved = [get_device(d) for d in items]
    names = [d.name for d in resolved]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise TimingOptionError("devices", f"devices={devices!r} lists {', '.join(dupes)} more than once.")
    return resolved
