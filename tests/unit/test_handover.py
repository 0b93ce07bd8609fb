"""The one hand-over writer both engines use: fixed modes, nothing followed or overwritten, names checked again."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from gosandbox.backends.base import ExecJob
from gosandbox.backends.handover import hand_over
from gosandbox.errors import InvalidSource
from gosandbox.limits import Limits


def job(**package_files: str) -> ExecJob:
    return ExecJob(b"\x7fELF", b"input", (), Limits(), package_files=package_files)


@pytest.fixture
def strict_umask() -> Iterator[None]:
    previous = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.mark.parametrize("name", ["/tmp/stray-by-handover", "../../stray-by-handover"])
def test_a_package_file_name_that_leaves_the_sandbox_directory_is_refused(tmp_path: Path, name: str) -> None:
    host_dir = tmp_path / "a" / "b"
    host_dir.mkdir(parents=True)
    with pytest.raises(InvalidSource):
        hand_over(host_dir, ExecJob(b"prog", b"", (), Limits(), package_files={name: "planted\n"}))
    assert not Path("/tmp/stray-by-handover").exists()
    assert list(tmp_path.rglob("stray-by-handover")) == []


@pytest.mark.usefixtures("strict_umask")
def test_modes_are_fixed_whatever_the_umask(tmp_path: Path) -> None:
    """Under umask 077 the program's uid could read nothing of a writer that left modes to the umask."""
    hand_over(tmp_path, job(**{"main.go": "package main\n", "testdata/deep/x.txt": "x\n"}))
    modes = {path.relative_to(tmp_path).as_posix(): stat.S_IMODE(path.stat().st_mode) for path in tmp_path.rglob("*")}
    assert modes == {
        "prog": 0o755,
        "stdin": 0o644,
        "pkg": 0o755,
        "pkg/main.go": 0o644,
        "pkg/testdata": 0o755,
        "pkg/testdata/deep": 0o755,
        "pkg/testdata/deep/x.txt": 0o644,
    }
    assert (tmp_path / "stdin").read_bytes() == b"input"
    assert (tmp_path / "pkg" / "testdata" / "deep" / "x.txt").read_text() == "x\n"


@pytest.mark.parametrize("name", ["prog", "stdin"])
def test_a_file_already_there_is_neither_followed_nor_overwritten(tmp_path: Path, name: str) -> None:
    target = tmp_path / "elsewhere"
    target.write_text("untouched")
    host_dir = tmp_path / "sandbox"
    host_dir.mkdir()
    (host_dir / name).symlink_to(target)
    with pytest.raises(FileExistsError):
        hand_over(host_dir, job())
    assert target.read_text() == "untouched"
