"""Downloading public data files into a local cache, with an explicit checksum check.

A file put by hand in the folder named by ``NNWIDGETS_DATA_DIR`` is used first
(no network needed). The cache directory is, in order: the ``data_home``
argument, the ``NNWIDGETS_DATA_HOME`` environment variable, or
``<scikit-learn data home>/nnwidgets`` (``~/scikit_learn_data/nnwidgets`` by default).

Checksums: the Neuromatch Academy notebooks publish an **MD5** digest for each
file; those are the digests checked here (the only ones published by the data's
distributor). A file whose digest does not match is rejected and removed. After
a successful download the file's SHA-256 is written next to it
(``<file>.sha256``) so that later loads can be checked against it and users can
pin it. ``verify=False`` skips the check, and says so on stdout.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import pathlib
import shutil
import tempfile
import urllib.request


@dataclasses.dataclass(frozen=True)
class RemoteFile:
    """A public file: where it lives, what it is called locally, and its digest."""

    url: str
    filename: str
    md5: str | None = None
    sha256: str | None = None
    citation: str = ""


class ChecksumError(OSError):
    """A downloaded or cached file does not have the expected digest."""


def data_home(path: str | os.PathLike | None = None) -> pathlib.Path:
    """The directory where nnwidgets caches downloaded data (created if needed)."""
    if path is None:
        path = os.environ.get("NNWIDGETS_DATA_HOME")
    if path is None:
        from sklearn.datasets import get_data_home

        path = pathlib.Path(get_data_home()) / "nnwidgets"
    home = pathlib.Path(path).expanduser()
    home.mkdir(parents=True, exist_ok=True)
    return home


def data_dir() -> pathlib.Path | None:
    """The folder named by ``$NNWIDGETS_DATA_DIR``, where data files put there by
    hand are looked up first (a machine without internet), or None when unset.
    A value that is not a folder is an error naming it (FileNotFoundError,
    NotADirectoryError), not a reason to download instead."""
    value = os.environ.get("NNWIDGETS_DATA_DIR")
    if not value:
        return None
    path = pathlib.Path(value).expanduser()
    if path.is_dir():
        return path
    if path.exists():
        raise NotADirectoryError(
            f"NNWIDGETS_DATA_DIR={value!r} is a file, not a folder: name the folder that holds the "
            f"data files (export NNWIDGETS_DATA_DIR={path.parent}), or unset it"
        )
    raise FileNotFoundError(
        f"NNWIDGETS_DATA_DIR={value!r}: no such folder; create it and put the data files in it, "
        "name the folder that holds them, or unset it"
    )


def _unreachable(remote: RemoteFile, home: pathlib.Path, local: pathlib.Path | None, exc: OSError) -> str:
    """Why a download failed, and how to provide the file without the network."""
    reason = getattr(exc, "reason", None) or exc
    if local is not None:
        where = f"put {remote.filename} in {local} (your NNWIDGETS_DATA_DIR)"
    else:
        where = (f"put {remote.filename} in a folder named by NNWIDGETS_DATA_DIR "
                 "(export NNWIDGETS_DATA_DIR=/path/to/folder)")
    return (f"could not reach {remote.url} to download {remote.filename} ({reason}). Offline? "
            f"Download it from that URL on a machine with internet and {where}, or in the download "
            f"cache {home}; it is checked against its published digest.")


def file_digest(path: str | os.PathLike, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_digest(path: pathlib.Path, remote: RemoteFile) -> None:
    """Raise ChecksumError unless ``path`` matches every digest known for ``remote``."""
    for algorithm, expected in (("md5", remote.md5), ("sha256", remote.sha256)):
        if expected is None:
            continue
        found = file_digest(path, algorithm)
        if found != expected:
            raise ChecksumError(
                f"{path} has {algorithm} {found}, expected {expected} for {remote.url}. "
                "The download is corrupted or the upstream file changed: delete the file and "
                "retry, or pass verify=False if you trust the new file."
            )
    pinned = path.with_name(path.name + ".sha256")
    if remote.sha256 is None and pinned.exists():
        expected = pinned.read_text().split()[0]
        found = file_digest(path, "sha256")
        if found != expected:
            raise ChecksumError(
                f"{path} has sha256 {found} but {pinned} recorded {expected} when it was "
                "downloaded: the cached file changed. Delete both files and download again."
            )


def fetch(remote: RemoteFile, data_home_path=None, verify: bool = True, opener=None) -> pathlib.Path:
    """Return the local path of ``remote``, downloading it into the cache if needed.

    ``opener(url)`` returns a file-like object (default: ``urllib.request.urlopen``);
    tests replace it to avoid the network.
    """
    local = data_dir()
    if local is not None and (local / remote.filename).is_file():  # put there by hand
        if verify:
            check_digest(local / remote.filename, remote)
        return local / remote.filename
    home = data_home(data_home_path)
    target = home / remote.filename
    if target.exists():
        if verify:
            check_digest(target, remote)
        return target
    opener = opener or urllib.request.urlopen
    print(f"Downloading {remote.url} -> {target}", flush=True)
    fd, tmp_name = tempfile.mkstemp(dir=home, prefix=remote.filename + ".", suffix=".part")
    tmp = pathlib.Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                with opener(remote.url) as response:
                    shutil.copyfileobj(response, out)
            except OSError as exc:  # URLError, HTTPError, timeouts, a dropped connection
                raise ConnectionError(_unreachable(remote, home, local, exc)) from None
        if verify:
            check_digest(tmp, remote)
        else:
            print(f"Checksum NOT verified for {remote.filename} (verify=False).", flush=True)
        tmp.replace(target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    target.with_name(target.name + ".sha256").write_text(
        f"{file_digest(target, 'sha256')}  {remote.filename}\n"
    )
    return target
