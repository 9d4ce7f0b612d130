"""``nnwidgets lab``: JupyterLab opened on the course notebooks.

The released notebooks (``release/``) and the lecture notebooks are copied
into a workspace folder (``./nnwidgets-course`` by default) the first time,
so students edit their own copies; files already there are never
overwritten. JupyterLab then starts in that folder, with the kernel of this
Python environment, where ``%load_ext nnwidgets`` is ready.

JupyterLab runs with one setting changed from its defaults: widget state is
saved in notebooks (ipywidgets' ``saveState``), so a reopened notebook shows
its quiz questions, timing panels and run charts as they were, instead of
"Error displaying widget: model not found". The change is a default, layered
through ``JUPYTER_CONFIG_PATH`` for this JupyterLab only (see
:func:`lab_env`); a value set in JupyterLab's Settings Editor still wins.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
#: a Jupyter config folder whose labconfig/default_setting_overrides.json
#: changes JupyterLab defaults for the course (jupyterlab_server layers the
#: overrides of every config folder on JUPYTER_CONFIG_PATH)
LAB_CONFIG_DIR = Path(__file__).resolve().parent / "lab_config"


def course_dir() -> Path | None:
    """The folder holding the released course notebooks, or None."""
    env = os.environ.get("NNWIDGETS_COURSE_DIR")
    candidates = [Path(env)] if env else []
    candidates += [Path.cwd() / "release", REPO_ROOT / "release",
                   # installed with the package (pyproject's data-files)
                   Path(sys.prefix) / "share" / "nnwidgets" / "release"]
    for path in candidates:
        if path.is_dir() and any(path.rglob("*.ipynb")):
            return path
    return None


def prepare_workspace(workspace: Path, source: Path | None = None) -> list[Path]:
    """Copies every notebook (and the files beside it) from ``source`` into
    ``workspace`` unless a file of that name is already there. Returns the
    files copied."""
    source = course_dir() if source is None else source
    workspace.mkdir(parents=True, exist_ok=True)
    copied = []
    if source is None:
        return copied
    for path in sorted(source.rglob("*")):
        if path.is_dir() or ".ipynb_checkpoints" in path.parts:
            continue
        target = workspace / path.relative_to(source)
        if target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
        copied.append(target)
    return copied


def lab_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """``env`` (default: this process's environment) with the course's
    JupyterLab defaults put first on ``JUPYTER_CONFIG_PATH``."""
    env = dict(os.environ if env is None else env)
    paths = [p for p in env.get("JUPYTER_CONFIG_PATH", "").split(os.pathsep) if p]
    env["JUPYTER_CONFIG_PATH"] = os.pathsep.join([str(LAB_CONFIG_DIR)] + [p for p in paths
                                                                          if p != str(LAB_CONFIG_DIR)])
    return env


def lab_command(workspace: Path, port: int | None, no_browser: bool, extra: list[str]) -> list[str]:
    cmd = [sys.executable, "-m", "jupyterlab", f"--notebook-dir={workspace}"]
    if port is not None:
        cmd.append(f"--port={port}")
    if no_browser:
        cmd.append("--no-browser")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")  # containers and course VMs often run as root
    extra = list(extra)
    if extra[:1] == ["--"]:  # `nnwidgets lab -- --ServerApp.x=y`
        extra = extra[1:]
    return cmd + extra


def run(args: argparse.Namespace) -> int:
    workspace = Path(args.workspace).resolve()
    source = Path(args.course).resolve() if args.course else course_dir()
    if source is None:
        print(
            "nnwidgets lab: no course notebooks found (looked in NNWIDGETS_COURSE_DIR, ./release, "
            f"{REPO_ROOT / 'release'} and {Path(sys.prefix) / 'share' / 'nnwidgets' / 'release'}); "
            "starting JupyterLab on an empty workspace. "
            "Pass --course DIR to copy notebooks from elsewhere.",
            file=sys.stderr,
        )
    copied = prepare_workspace(workspace, source)
    print(f"nnwidgets lab: workspace {workspace} ({len(copied)} new file(s) copied from {source})")
    cmd = lab_command(workspace, args.port, args.no_browser, args.lab_args)
    if args.dry_run:
        print(" ".join(cmd))
        return 0
    return run_jupyterlab(cmd, lab_env())


def run_jupyterlab(cmd: list[str], env: dict[str, str]) -> int:
    """Runs JupyterLab and waits for it. A SIGTERM (or SIGHUP) sent to
    ``nnwidgets lab`` is passed on, so stopping the wrapper (a service
    manager, ``kill``) stops JupyterLab and its kernels too instead of
    leaving them running; Ctrl-C reaches both through the terminal."""
    import signal

    proc = subprocess.Popen(cmd, env=env)
    passed_on = []

    def pass_on(signum, _frame):
        passed_on.append(signum)
        if proc.poll() is None:
            proc.send_signal(signum)

    handled = [sig for sig in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)) if sig]
    previous = {sig: signal.signal(sig, pass_on) for sig in handled}
    try:
        while True:
            try:
                return proc.wait()
            except KeyboardInterrupt:  # JupyterLab got the Ctrl-C too and asks to confirm; keep waiting
                continue
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "lab",
        help="open JupyterLab on the course notebooks with nnwidgets ready",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--workspace", default="nnwidgets-course", help="folder for your copies (default: %(default)s)")
    p.add_argument("--course", default=None, help="folder of notebooks to copy (default: the course's release/)")
    p.add_argument("--port", type=int, default=None, help="JupyterLab port")
    p.add_argument("--no-browser", action="store_true", help="do not open a browser")
    p.add_argument("--dry-run", action="store_true", help="prepare the workspace, print the command, do not start")
    p.add_argument("lab_args", nargs=argparse.REMAINDER, help="further arguments for jupyter lab")
    p.set_defaults(func=run)
