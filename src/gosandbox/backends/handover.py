"""How a program is handed to its sandbox, the same under both engines: its files at ``/sandbox``, its environment.

The host directory bound read-only at ``/sandbox`` holds ``prog`` (the binary), ``stdin`` and, for a
run with package files, ``pkg/`` (the program's working directory then; ``/tmp`` otherwise).

This process is root and writes where a name says, so the one writer here trusts nothing: every file
is created afresh (``O_EXCL``, ``O_NOFOLLOW``), every file and directory gets a fixed mode whatever the
umask (root-owned, readable, writable by no one else), and package file names are checked again (a
name that did not come through ``source.check_files``, from a library caller or a queue message, must
not reach outside the directory).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path

from gosandbox.backends.base import ExecJob
from gosandbox.limits import Limits
from gosandbox.source import check_file_name, check_no_file_is_a_directory

#: Where the hand-over directory is bound inside the sandbox, and what it holds there.
SANDBOX_DIR = "/sandbox"
PROGRAM_PATH = f"{SANDBOX_DIR}/prog"
STDIN_PATH = f"{SANDBOX_DIR}/stdin"
PACKAGE_DIR = f"{SANDBOX_DIR}/pkg"

_PROGRAM_MODE = 0o755
_FILE_MODE = 0o644
_DIRECTORY_MODE = 0o755


def working_dir(job: ExecJob) -> str:
    """The program's working directory: its package's, when it has files there."""
    return PACKAGE_DIR if job.package_files else "/tmp"


def program_environment(limits: Limits) -> dict[str, str]:
    """The whole environment of the program: nothing of the host leaks in."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": "/tmp",
        "TMPDIR": "/tmp",
        "ZONEINFO": "/usr/share/zoneinfo.zip",
        "GOMAXPROCS": str(max(1, math.ceil(limits.cpus))),
        # Leave ~10% headroom under the cgroup limit for the runtime's own structures.
        "GOMEMLIMIT": f"{max(1, int(limits.memory_mb * 0.9))}MiB",
    }


def hand_over(host_dir: Path, job: ExecJob) -> None:
    """Write the binary, stdin and any package files into ``host_dir`` (existing, empty), bound at /sandbox."""
    _write_new(host_dir / "prog", job.binary, _PROGRAM_MODE)
    _write_new(host_dir / "stdin", job.stdin, _FILE_MODE)
    _write_package(host_dir / "pkg", job.package_files)


def hand_over_stdin(host_dir: Path, name: str, data: bytes) -> str:
    """Write one more stdin file, ``name``, into ``host_dir`` (a series' case): its path in the sandbox."""
    check_file_name(name)
    _write_new(host_dir / name, data, _FILE_MODE)
    return f"{SANDBOX_DIR}/{name}"


def _write_package(pkg_dir: Path, files: Mapping[str, str]) -> None:
    """The package's files under ``pkg_dir``, their names checked again here (all before any is written)."""
    check_no_file_is_a_directory(files)
    for name in files:
        check_file_name(name)
    for name, text in files.items():
        *directories, base = name.split("/")
        place = pkg_dir
        _make_directory(place)
        for directory in directories:  # one by one: mkdir's implicit parents would get the umask's mode
            place = place / directory
            _make_directory(place)
        _write_new(place / base, text.encode("utf-8"), _FILE_MODE)


def _make_directory(path: Path) -> None:
    try:
        path.mkdir(mode=_DIRECTORY_MODE)
    except FileExistsError:
        return  # made by this hand-over for an earlier file, its mode set then
    path.chmod(_DIRECTORY_MODE)  # the umask may have taken bits away


def _write_new(path: Path, data: bytes, mode: int) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    with os.fdopen(descriptor, "wb") as file:
        os.fchmod(descriptor, mode)  # the umask may have taken bits away
        file.write(data)
