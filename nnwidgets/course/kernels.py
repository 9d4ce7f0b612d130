"""The kernels the course tools start themselves (release tagging, references).

ipykernel 7.4 and later log "Kernel is running over TCP without encryption ..."
on stderr whenever it listens on TCP without CurveZMQ keys, which is what a
plain ``NotebookClient`` gives it. These kernels talk to this process alone, so
they get what that warning asks for: CurveZMQ keys provisioned by jupyter_client
(``KernelManager.transport_encryption = "auto"``, jupyter_client 8.10 and later,
for kernelspecs that declare support, as ipykernel 7.4's does), else the IPC
transport (Unix sockets in a private folder) where ZeroMQ has it. Only the
transport changes; every other message of the kernel still reaches stderr.
"""

from __future__ import annotations

import pathlib


def kernel_config(socket_folder: pathlib.Path):
    """traitlets ``Config`` for ``NotebookClient(..., config=...)``.
    ``socket_folder``: a private folder for IPC sockets, absolute (the kernel
    runs in the notebook's folder, so a relative socket path would not meet)."""
    import zmq
    from jupyter_client.manager import KernelManager
    from traitlets.config import Config

    config = Config()
    if zmq.has("curve") and "transport_encryption" in KernelManager.class_trait_names():
        config.KernelManager.transport_encryption = "auto"
    elif zmq.has("ipc"):
        config.KernelManager.transport = "ipc"
        config.KernelManager.ip = str(pathlib.Path(socket_folder).resolve() / "kernel")
    return config
