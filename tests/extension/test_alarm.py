"""The shared alarm thread the live plot uses (real threads; deadlines on a
clock the test moves, so a loaded machine cannot make an alarm fire early or late)."""

import threading
import time

import pytest

from nnwidgets.widgets import alarm as alarm_module
from nnwidgets.widgets.alarm import Alarm


@pytest.fixture
def clock(monkeypatch):
    """The alarm module's monotonic clock, frozen until the test advances it.
    (The alarm thread still sleeps on a real condition variable: ``advance``
    wakes it to look at the new time.)"""

    class Clock:
        def __init__(self):
            self.now = time.monotonic()

        def monotonic(self):
            return self.now

        def advance(self, seconds):
            self.now += seconds
            with alarm_module._SCHEDULER._cond:
                alarm_module._SCHEDULER._cond.notify_all()

    fake = Clock()
    monkeypatch.setattr(alarm_module, "time", fake)
    return fake


def _queue_behind(clock, seconds):
    """Arms a fresh alarm ``seconds`` from now, moves the clock past it and waits
    for it: every alarm due before it has then been handled by the alarm thread."""
    behind = threading.Event()
    Alarm(behind.set).arm(seconds)
    clock.advance(seconds)
    assert behind.wait(10)


def test_an_armed_alarm_fires_once_on_the_alarm_thread(clock):
    fired = []
    done = threading.Event()

    def fn():
        fired.append(threading.current_thread().name)
        done.set()

    alarm = Alarm(fn)
    alarm.arm(0.01)
    assert alarm.armed
    assert not done.wait(0.05)  # the clock has not reached its deadline
    clock.advance(0.01)
    assert done.wait(10)
    _queue_behind(clock, 1.0)
    assert fired == ["nnwidgets-alarm"] and not alarm.armed


def test_a_disarmed_alarm_never_fires(clock):
    fired = []
    alarm = Alarm(lambda: fired.append(1))
    alarm.arm(0.02)
    alarm.disarm()
    assert not alarm.armed
    _queue_behind(clock, 0.1)  # past the disarmed one's deadline
    assert fired == []
    # armed again: the first arming's entry, still queued, does not fire it early
    alarm.arm(0.02)
    alarm.disarm()
    alarm.arm(0.5)
    _queue_behind(clock, 0.1)
    assert fired == [] and alarm.armed
    _queue_behind(clock, 0.5)
    assert fired == [1] and not alarm.armed


def test_arming_an_armed_alarm_keeps_its_first_deadline(clock):
    done = threading.Event()
    alarm = Alarm(done.set)
    alarm.arm(0.05)
    alarm.arm(60)
    clock.advance(0.05)
    assert done.wait(10)  # at 0.05 s, not 60 s


def test_an_alarm_that_raises_does_not_stop_the_others():
    def broken():
        raise ValueError("boom")

    done = threading.Event()
    with pytest.warns(RuntimeWarning, match="ValueError: boom"):
        Alarm(broken).arm(0)
        Alarm(done.set).arm(0.05)
        assert done.wait(10)


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs os.fork")
def test_a_forked_child_gets_its_own_alarm_thread():
    import os

    import warnings

    Alarm(lambda: None).arm(0)  # the parent's thread exists
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # (3.12+: fork of a multi-threaded process)
        pid = os.fork()
    if pid == 0:  # the child: arm and wait; exit 0 only if the alarm fired
        done = threading.Event()
        Alarm(done.set).arm(0)
        os._exit(0 if done.wait(10) else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
