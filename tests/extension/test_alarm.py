"""The shared alarm thread the live plot uses (real threads, generous waits)."""

import threading
import time

import pytest

from nnwidgets.widgets.alarm import Alarm


def test_an_armed_alarm_fires_once_on_the_alarm_thread():
    fired = []
    done = threading.Event()

    def fn():
        fired.append(threading.current_thread().name)
        done.set()

    alarm = Alarm(fn)
    alarm.arm(0.01)
    assert alarm.armed
    assert done.wait(10)
    time.sleep(0.05)
    assert fired == ["nnwidgets-alarm"] and not alarm.armed


def test_a_disarmed_alarm_never_fires():
    fired = threading.Event()
    alarm = Alarm(fired.set)
    alarm.arm(0.02)
    alarm.disarm()
    later = threading.Event()
    Alarm(later.set).arm(0.1)  # queued after the disarmed one's deadline
    assert later.wait(10)
    assert not fired.is_set() and not alarm.armed


def test_arming_an_armed_alarm_keeps_its_first_deadline():
    done = threading.Event()
    alarm = Alarm(done.set)
    t0 = time.monotonic()
    alarm.arm(0.05)
    alarm.arm(60)
    assert done.wait(10) and time.monotonic() - t0 < 30


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
