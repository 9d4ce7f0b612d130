"""A JupyterLab 4 server and a Chromium page driving it, for the browser tests.

Nothing here touches the user's files: the server runs on 127.0.0.1 with a
random token, a temporary root directory, temporary Jupyter config / data /
runtime / settings / workspace directories, a temporary IPython directory and
a temporary quiz database (``NNWIDGETS_QUIZ_DB``).

The page helpers target JupyterLab 4's DOM (``.jp-Notebook``, ``.jp-Cell``,
CodeMirror 6 editors, ``.jp-InputPrompt``) and keyboard shortcuts
(Shift+Enter), the way a student uses it.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "browser"

# Console messages / page errors that come from nnwidgets' widgets. anywidget
# loads a widget's ESM from a blob: URL and logs render errors with a stack
# that names anywidget; ipywidgets reports a widget it cannot build as
# "Error displaying widget" / "Could not create model".
NNWIDGETS_ERROR_MARKERS = (
    "nnwidgets",
    "nnw-",
    "anywidget",
    "blob:http",
    "Error displaying widget",
    "Could not create model",
    "Could not create view",
    "Class Asker",
    "LiveLossPlot",
    "GpuTime",
)

# Lab plugins that only add noise in a test: the news/announcement toast.
_DISABLED_PLUGINS = {
    "@jupyterlab/apputils-extension:announcements": True,
}

_USER_SETTINGS = {
    # every cell stays in the DOM (no virtual scrolling), so locators see it
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    # no "file changed on disk" dialogs when the server copy changes
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}


def find_chromium() -> str | None:
    """Debian's Chromium (or the one named by NNWIDGETS_CHROMIUM)."""
    explicit = os.environ.get("NNWIDGETS_CHROMIUM")
    if explicit:
        return explicit if Path(explicit).exists() else None
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_http(url: str, timeout: float, proc: subprocess.Popen | None = None,
                  log: Path | None = None) -> None:
    """Poll ``url`` until it answers 200, the process dies, or ``timeout``."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
            raise RuntimeError(f"process exited with {proc.returncode} before {url} answered:\n{tail}")
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError) as exc:  # not up yet
            last = exc
        time.sleep(0.25)
    tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
    raise TimeoutError(f"{url} did not answer within {timeout:.0f} s (last error: {last}):\n{tail}")


def stop_process(proc: subprocess.Popen, timeout: float = 15) -> None:
    """Stop a process we started (its own process group), politely first."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


def isolated_env(tmp: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for a Jupyter server and its kernels that writes only under tmp."""
    env = dict(os.environ)
    for name in ("config", "data", "runtime", "ipython", "settings", "workspaces"):
        (tmp / name).mkdir(parents=True, exist_ok=True)
    env.update(
        JUPYTER_CONFIG_DIR=str(tmp / "config"),
        JUPYTER_DATA_DIR=str(tmp / "data"),
        JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(tmp / "settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(tmp / "workspaces"),
        IPYTHONDIR=str(tmp / "ipython"),
        NNWIDGETS_QUIZ_DB=str(tmp / "quiz.sqlite"),
        PYTHONUNBUFFERED="1",
    )
    # The kernel must use its inline backend, as for a student: tests/conftest.py
    # sets MPLBACKEND=Agg for the test process only.
    env.pop("MPLBACKEND", None)
    # Never inherit a user's extra config paths.
    env.pop("JUPYTER_CONFIG_PATH", None)
    env.pop("JUPYTER_PATH", None)
    # The venv's bin first, so `jupyter`, `nnwidgets` resolve to this install.
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    if extra:
        env.update(extra)
    return env


@dataclass
class JupyterLab:
    """A running ``jupyter lab`` on 127.0.0.1 with a temporary root dir."""

    root: Path
    port: int
    token: str
    proc: subprocess.Popen
    log: Path
    env: dict[str, str] = field(repr=False)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        sep = "&" if "?" in path else "?"
        return f"{self.base_url}/{path.lstrip('/')}{sep}token={self.token}"

    def notebook_url(self, relpath: str) -> str:
        return self.url(f"lab/tree/{relpath}")

    def api(self, path: str, method: str = "GET", body: dict | None = None) -> dict:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            self.url(f"api/{path.lstrip('/')}"), data=data, method=method,
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            raw = resp.read()
        return json.loads(raw) if raw else {}

    def shutdown_kernels(self) -> None:
        """Stop every kernel and session (between tests, so cores are not shared)."""
        try:
            for session in self.api("sessions"):
                self.api(f"sessions/{session['id']}", method="DELETE")
        except (urllib.error.URLError, OSError):
            pass

    def log_tail(self, n: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-n:] if self.log.exists() else ""

    def stop(self) -> None:
        stop_process(self.proc)


def start_jupyterlab(tmp: Path, startup_timeout: float = 120, attempts: int = 3) -> JupyterLab:
    """Start JupyterLab 4 (the venv's) and wait until its API answers."""
    root = tmp / "root"
    root.mkdir(parents=True, exist_ok=True)
    # JupyterLab's defaults as `nnwidgets lab` sets them (widget state saved in notebooks)
    from nnwidgets.lab import lab_env

    env = lab_env(isolated_env(tmp))
    labconfig = Path(env["JUPYTER_CONFIG_DIR"]) / "labconfig"
    labconfig.mkdir(parents=True, exist_ok=True)
    (labconfig / "page_config.json").write_text(json.dumps({"disabledExtensions": _DISABLED_PLUGINS}))
    for relpath, settings in _USER_SETTINGS.items():
        target = Path(env["JUPYTERLAB_SETTINGS_DIR"]) / relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(settings))
    token = secrets.token_hex(24)
    last_error: Exception | None = None
    for attempt in range(attempts):
        port = free_port()
        log = tmp / f"jupyterlab-{attempt}.log"
        cmd = [
            sys.executable, "-m", "jupyterlab", "--no-browser",
            "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
            f"--ServerApp.root_dir={root}", f"--IdentityProvider.token={token}",
            "--ServerApp.open_browser=False",
            f"--LabApp.user_settings_dir={env['JUPYTERLAB_SETTINGS_DIR']}",
            f"--LabApp.workspaces_dir={env['JUPYTERLAB_WORKSPACES_DIR']}",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:  # containers and CI run as root
            cmd.append("--allow-root")
        with open(log, "wb") as out:
            proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        lab = JupyterLab(root=root, port=port, token=token, proc=proc, log=log, env=env)
        try:
            wait_for_http(lab.url("api/status"), startup_timeout, proc=proc, log=log)
            return lab
        except (RuntimeError, TimeoutError) as exc:  # port taken in the meantime, or slow
            last_error = exc
            lab.stop()
    raise RuntimeError(f"JupyterLab did not start after {attempts} attempts: {last_error}")


def write_notebook(path: Path, cells: list[str | tuple[str, str]], *, metadata: dict | None = None) -> Path:
    """Write a notebook of code cells (or ``("markdown", text)`` tuples)."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)",
                                 "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    if metadata:
        nb.metadata.update(metadata)
    for cell in cells:
        if isinstance(cell, tuple) and cell[0] == "markdown":
            nb.cells.append(nbformat.v4.new_markdown_cell(cell[1]))
        else:
            nb.cells.append(nbformat.v4.new_code_cell(cell))
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


@dataclass
class ConsoleRecord:
    kind: str  # "console.error", "console.warning", "pageerror", ...
    text: str
    location: str = ""

    def is_from_nnwidgets(self) -> bool:
        blob = f"{self.text}\n{self.location}"
        return any(marker in blob for marker in NNWIDGETS_ERROR_MARKERS)

    def __str__(self) -> str:
        loc = f" ({self.location})" if self.location else ""
        return f"[{self.kind}] {self.text}{loc}"


class ConsoleWatch:
    """Collects a page's console messages and uncaught errors."""

    def __init__(self) -> None:
        self.records: list[ConsoleRecord] = []

    def attach(self, page) -> None:
        page.on("console", self._on_console)
        page.on("pageerror", self._on_pageerror)

    def _on_console(self, msg) -> None:
        if msg.type not in ("error", "warning"):
            return
        loc = msg.location or {}
        where = f"{loc.get('url', '')}:{loc.get('lineNumber', '')}" if loc.get("url") else ""
        self.records.append(ConsoleRecord(f"console.{msg.type}", msg.text, where))

    def _on_pageerror(self, err) -> None:
        text = f"{getattr(err, 'name', '')}: {getattr(err, 'message', err)}\n{getattr(err, 'stack', '') or ''}"
        self.records.append(ConsoleRecord("pageerror", text))

    def nnwidgets_errors(self) -> list[ConsoleRecord]:
        return [r for r in self.records
                if r.kind in ("console.error", "pageerror") and r.is_from_nnwidgets()]

    def all_errors(self) -> list[ConsoleRecord]:
        return [r for r in self.records if r.kind in ("console.error", "pageerror")]


_PROMPT_DONE = re.compile(r"^\[\d+\]:?$")


class LabPage:
    """One browser page in JupyterLab, with step screenshots."""

    def __init__(self, page, lab: JupyterLab, name: str, timeout_ms: float = 120_000,
                 console: ConsoleWatch | None = None):
        self.page = page
        self.console = console or ConsoleWatch()
        self.lab = lab
        self.name = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
        self.timeout_ms = timeout_ms
        self.step = 0
        self.screenshots: list[Path] = []
        page.set_default_timeout(timeout_ms)

    def assert_console_clean(self) -> None:
        """Fail if this page logged an error that comes from nnwidgets."""
        problems = [str(r) for r in self.console.nnwidgets_errors()]
        assert not problems, f"{self.name}: browser console errors from nnwidgets:\n" + "\n".join(problems)

    # ---- artifacts -------------------------------------------------------
    def screenshot(self, label: str, *, locator=None) -> Path:
        self.step += 1
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{self.name}--{self.step:02d}-{re.sub(r'[^A-Za-z0-9_.-]+', '_', label)}.png"
        try:
            (locator or self.page).screenshot(path=str(path), timeout=30_000)
            self.screenshots.append(path)
        except Exception as exc:  # a screenshot is evidence, never the failure itself
            print(f"screenshot {path.name} failed: {exc}")
        return path

    # ---- notebooks -------------------------------------------------------
    def open_notebook(self, relpath: str) -> None:
        """Open a notebook under the server root and wait for an idle kernel."""
        # ?reset: a fresh workspace, so notebooks of earlier tests are not restored
        self.page.goto(self.lab.url(f"lab/tree/{relpath}?reset"), wait_until="domcontentloaded")
        self.cells().first.wait_for(state="visible")
        self.wait_kernel_idle()
        self.screenshot("opened")

    def wait_kernel_idle(self, timeout_ms: float | None = None) -> None:
        # On a loaded machine the indicator can read idle before the kernel
        # exists ("No Kernel | Initializing"): wait for the kernel first.
        self.page.wait_for_function(
            "() => { const t = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) "
            ".jp-NotebookPanel-toolbar'); return t !== null && !t.innerText.includes('No Kernel') "
            "&& !t.innerText.includes('Initializing'); }",
            timeout=timeout_ms or max(self.timeout_ms, 120_000))
        # The notebook toolbar's execution indicator carries the kernel status.
        self.page.locator('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook-ExecutionIndicator[data-status="idle"]') \
            .first.wait_for(state="attached", timeout=timeout_ms or self.timeout_ms)

    def cells(self):
        return self.page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell")

    def cell(self, index: int):
        return self.cells().nth(index)

    def cell_index(self, contains: str) -> int:
        """Index of the first cell whose source contains ``contains``."""
        sources = self.cells().evaluate_all(
            "cells => cells.map(c => (c.querySelector('.cm-content') || {}).innerText || '')")
        for i, src in enumerate(sources):
            if contains in src:
                return i
        raise LookupError(f"no cell contains {contains!r}; cells start with: "
                          + "; ".join(repr(s[:40]) for s in sources))

    def prompt(self, index: int) -> str:
        return self.cell(index).locator(".jp-InputPrompt").first.inner_text().strip()

    _PROMPT_JS = """([sel, index]) => {
        const cell = document.querySelectorAll(sel)[index];
        const p = cell && cell.querySelector('.jp-InputPrompt');
        return p ? p.innerText.trim() : null; }"""
    _CELLS_SEL = ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell"

    def _prompt_now(self, index: int):
        return self.page.evaluate(self._PROMPT_JS, [self._CELLS_SEL, index])

    def run_cell(self, index: int, *, wait: bool = True, timeout_ms: float | None = None) -> None:
        """Click into the cell's editor and press Shift+Enter, like a student.

        The prompt is looked up afresh on every poll (JupyterLab may re-render
        the cell while a notebook settles, which detaches an element handle).
        If the key press was lost (the prompt never changes and the kernel
        stays idle), the click and key press are repeated: that cannot run the
        cell twice, because the prompt of a cell that ran has changed.
        """
        before = self.prompt(index)
        started = f"""([sel, index, before]) => {{
            const f = {self._PROMPT_JS};
            const t = f([sel, index]);
            return t !== null && (t !== before || t === '[*]:'); }}"""
        for press in range(3):
            for attempt in range(4):  # Lab may re-render a cell while the notebook settles
                try:
                    self.cell(index).locator(".jp-InputArea-editor .cm-content").first.click(timeout=30_000)
                    break
                except Exception:
                    if attempt == 3:
                        raise
                    self.page.wait_for_timeout(1000)
            self.page.keyboard.press("Shift+Enter")
            try:
                self.page.wait_for_function(started, arg=[self._CELLS_SEL, index, before],
                                            timeout=20_000)
                break
            except Exception:
                if press == 2 or self._prompt_now(index) != before:
                    raise
                self.screenshot(f"cell{index}-key-press-lost-{press}")
        if wait:
            self.wait_cell_done(index, timeout_ms=timeout_ms)

    def wait_cell_done(self, index: int, *, timeout_ms: float | None = None) -> None:
        self.page.wait_for_function(
            f"""([sel, index]) => {{ const f = {self._PROMPT_JS};
                 const t = f([sel, index]); return t !== null && /^\\[\\d+\\]:?$/.test(t); }}""",
            arg=[self._CELLS_SEL, index], timeout=timeout_ms or self.timeout_ms,
        )

    def outputs(self, index: int):
        return self.cell(index).locator(".jp-OutputArea-output")

    def output_text(self, index: int) -> str:
        return "\n".join(self.outputs(index).all_inner_texts())

    def assert_no_error_output(self, index: int) -> None:
        errors = self.cell(index).locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')
        text = self.output_text(index)
        assert "Traceback" not in text and "Error displaying widget" not in text, (
            f"cell {index} shows an error:\n{text[-3000:]}")
        if errors.count():
            # stderr is allowed only for warnings a test chooses to accept: show it
            assert False, f"cell {index} wrote to stderr:\n{errors.all_inner_texts()}"
