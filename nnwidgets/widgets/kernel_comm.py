"""Receiving a widget's messages while the cell that trains is still running.

While a cell executes, ipykernel's main shell handles no other shell message,
so a Stop button's ``comm_msg`` would wait until training is over. Kernel
subshells (JEP 91, ipykernel >= 7) run on their own threads; JupyterLab >= 4.4
already sends widget messages to a subshell (setting "Kernel Comms over
subshells", default "perCommTarget"). ipykernel 7.4 routes a comm's incoming
messages back to the shell that last published on it (``_reply_subshell_for``),
which for a plot updated from the training cell is the busy main shell.

:func:`route_to_subshell` therefore gives the kernel one nnwidgets subshell
(created once per kernel process) and routes the widget's comm to it, so the
click is handled on that thread while the main thread trains; the handler
only sets a thread-safe flag that training polls at the next epoch end. This
works whatever the frontend (JupyterLab, Notebook 7, VS Code, a test client).

Without subshell support (ipykernel 6) nothing is changed and the Stop button
takes effect when the cell ends; the kernel's Interrupt (Ctrl-C, ■) always
stops training gracefully and keeps the model.
"""

from __future__ import annotations

import threading

_LOCK = threading.Lock()
_SUBSHELLS: dict[int, str | None] = {}  # id(kernel) -> subshell id (None: unsupported)


def current_kernel():
    """The ipykernel Kernel running this code, or None (terminal, script)."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover
        return None
    ip = get_ipython()
    return getattr(ip, "kernel", None) if ip is not None else None


def _create_subshell(kernel, timeout: float = 5.0) -> str | None:
    if not getattr(kernel, "_supports_kernel_subshells", False):
        return None
    thread = getattr(kernel, "shell_channel_thread", None)
    manager = getattr(thread, "manager", None)
    if thread is None or manager is None or not hasattr(manager, "_create_subshell"):
        return None
    done = threading.Event()
    box: dict = {}

    def create():  # runs in the shell channel thread, as the manager requires
        try:
            box["id"] = manager._create_subshell()
        except BaseException as exc:  # pragma: no cover - kernel internals changed
            box["error"] = exc
        finally:
            done.set()

    thread.io_loop.add_callback(create)
    if not done.wait(timeout):  # pragma: no cover
        return None
    return box.get("id")


def nnwidgets_subshell(kernel=None) -> str | None:
    """The id of this kernel's nnwidgets subshell (created on first use), or
    None when the kernel has no subshells."""
    kernel = kernel or current_kernel()
    if kernel is None:
        return None
    with _LOCK:
        key = id(kernel)
        if key not in _SUBSHELLS:
            try:
                _SUBSHELLS[key] = _create_subshell(kernel)
            except Exception:  # pragma: no cover - never break training for this
                _SUBSHELLS[key] = None
        return _SUBSHELLS[key]


def route_to_subshell(widget) -> str:
    """Routes ``widget``'s incoming comm messages to the nnwidgets subshell.

    Returns ``"subshell"`` when routed; ``"frontend"`` when the kernel has
    subshells but no comm routing hook (ipykernel 7.0-7.3: the frontend's own
    subshell choice applies); ``"none"`` when messages wait for the cell to end.
    """
    kernel = current_kernel()
    comm = getattr(widget, "comm", None)
    if kernel is None or comm is None:
        return "none"
    if not hasattr(comm, "_reply_subshell_for"):
        return "frontend" if getattr(kernel, "_supports_kernel_subshells", False) else "none"
    subshell = nnwidgets_subshell(kernel)
    if subshell is None:
        return "none"

    def _route(data, default, _sid=subshell):
        return _sid

    comm._reply_subshell_for = _route  # instance attribute: this comm only
    return "subshell"
