"""Correct CPU-vs-GPU timing (no UI): synchronized timed blocks, warm-up,
first call apart, adaptive repeats, median and IQR, the settings that change
the figures (threads, TF32, dtype) and an allclose check across devices.

The panel that shows the results is :mod:`nnwidgets.widgets.gputime`; the
cell magic is ``%%gputime``.
"""

from nnwidgets.timing.devices import (
    Clock,
    CPUDevice,
    CudaEventClock,
    CUDADevice,
    SyncClock,
    TimingDevice,
    get_device,
    register_device,
    resolve_devices,
    unregister_device,
)
from nnwidgets.timing.errors import TimingOptionError
from nnwidgets.timing.fakedevice import FakeAsyncDevice, register_fake_device
from nnwidgets.timing.measure import measure, naive_time
from nnwidgets.timing.outputs import Agreement, compare_outputs, to_host
from nnwidgets.timing.run import CellCode, DeviceTiming, TimingRun, time_code, time_function
from nnwidgets.timing.stats import Measurement, format_speedup, format_time

__all__ = [
    "Agreement", "CellCode", "Clock", "CPUDevice", "CUDADevice", "CudaEventClock", "DeviceTiming",
    "FakeAsyncDevice", "Measurement", "SyncClock", "TimingDevice", "TimingOptionError", "TimingRun", "compare_outputs",
    "format_speedup", "format_time", "get_device", "measure", "naive_time", "register_device",
    "register_fake_device", "resolve_devices", "time_code", "time_function", "to_host",
    "unregister_device",
]
