"""The launch message of a sandbox created ahead (backends/oci/ahead.py; images/launch.go reads it)."""

from __future__ import annotations

import os

import pytest

from gosandbox.backends.base import ExecJob
from gosandbox.backends.live import LiveStdin
from gosandbox.backends.oci.ahead import LAUNCH_BODY_BYTES, LaunchPipe, launch_message
from gosandbox.limits import Limits


def job(*args: str, **fields: object) -> ExecJob:
    return ExecJob(b"\x7fELF", b"", args, Limits(), **fields)  # type: ignore[arg-type]


def test_it_names_the_directory_the_stdin_file_the_program_and_its_arguments() -> None:
    body = b"/tmp\0/sandbox/stdin\0/sandbox/prog\0-n\0\xc3\xa9\0\0"
    assert launch_message(job("-n", "é", "")) == b"%d\n" % len(body) + body


def test_a_package_runs_in_its_directory_and_a_live_run_keeps_the_pipe_as_stdin() -> None:
    assert launch_message(job(package_files={"a.txt": "x"})) == b"42\n/sandbox/pkg\0/sandbox/stdin\0/sandbox/prog\0"
    assert launch_message(job(live=LiveStdin())) == b"20\n/tmp\0\0/sandbox/prog\0"


@pytest.mark.parametrize(
    "args", [("a\0b",), ("x" * LAUNCH_BODY_BYTES,), ("\ud800",)], ids=["nul", "too-long", "lone-surrogate"]
)
def test_what_the_message_cannot_carry_is_left_to_a_fresh_sandbox(args: tuple[str, ...]) -> None:
    assert launch_message(job(*args)) is None


def test_the_pipe_is_written_once_then_closed_or_handed_on_once() -> None:
    read_fd, write_fd = os.pipe()
    pipe = LaunchPipe(write_fd)
    pipe.send(b"3\nabc")
    assert os.read(read_fd, 16) == b"3\nabc"
    assert pipe.take() == write_fd
    assert pipe.take() is None
    pipe.close()  # nothing left to close: the taker's descriptor stays open
    os.write(write_fd, b"!")
    assert os.read(read_fd, 1) == b"!"
    os.close(write_fd)
    with pytest.raises(OSError, match="closed"):
        pipe.send(b"1\nx")
    os.close(read_fd)


def test_a_gone_reader_is_an_error_not_a_hang() -> None:
    read_fd, write_fd = os.pipe()
    os.close(read_fd)
    pipe = LaunchPipe(write_fd)
    with pytest.raises(BrokenPipeError):
        pipe.send(b"1\nx")
    pipe.close()
