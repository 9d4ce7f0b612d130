"""The package's light import and its command line."""

import subprocess
import sys


def test_import_is_light():
    code = (
        "import sys, nnwidgets; "
        "heavy = [m for m in ('torch', 'sklearn', 'ipywidgets', 'matplotlib') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"import nnwidgets pulled in heavy modules: {out.stdout.strip()}"


def test_unknown_attribute_raises():
    import nnwidgets
    import pytest

    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        nnwidgets.nope


def test_cli_help_lists_subcommands():
    out = subprocess.run(
        [sys.executable, "-m", "nnwidgets.cli", "--help"], capture_output=True, text=True, check=True
    )
    for sub in ("lab", "course", "quiz"):
        assert sub in out.stdout


def test_cli_without_an_action_is_a_usage_error():
    # like argparse's required subcommand: usage and the choices on stderr, exit 2
    for args, choices in (([], "lab, course, quiz"), (["course"], "build, record-references, release,"),
                          (["quiz"], "serve, token, list")):
        out = subprocess.run([sys.executable, "-m", "nnwidgets.cli", *args], capture_output=True, text=True)
        assert out.returncode == 2, (args, out.returncode)
        assert out.stdout == ""
        prog = " ".join(["nnwidgets", *args])
        assert out.stderr.startswith(f"usage: {prog} ")
        assert f"{prog}: error: the following arguments are required:" in out.stderr
        assert f"(one of: {choices}" in out.stderr
