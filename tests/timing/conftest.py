"""Shared helpers for the timing tests: a fake asynchronous device."""

import time

import pytest


@pytest.fixture
def fake():
    from nnwidgets.timing import FakeAsyncDevice

    dev = FakeAsyncDevice("fake")
    yield dev
    dev.synchronize()


@pytest.fixture
def fake_registered():
    """`--devices cpu,fake` works while the test runs."""
    from nnwidgets.timing import register_fake_device, unregister_device

    dev = register_fake_device("fake")
    yield dev
    dev.synchronize()
    unregister_device("fake")


def sleep_on(device, seconds):
    """CPU: sleep here (synchronous). Fake device: launch the sleep and return."""
    if hasattr(device, "launch"):
        device.launch(time.sleep, seconds)
    else:
        time.sleep(seconds)
