"""A series case's output is read up to its mark on each stream (backends/oci/series_case.py), however the bytes
come in: split anywhere, the mark across two reads, a stream past the cap."""

from __future__ import annotations

import pytest

from gosandbox.backends.oci.series_case import CaseOutput
from gosandbox.backends.streams import BoundedOutput

MARK = b"0123456789abcdef0123456789abcdef"


def case(cap: int = 1 << 20) -> CaseOutput:
    return CaseOutput(BoundedOutput(cap, lambda: None), MARK)


@pytest.mark.parametrize("size", [1, 5, 31, 32, 33, 1000])
def test_the_output_before_the_mark_whatever_the_reads(size: int) -> None:
    written = b"x" * 700 + MARK[:20]  # ends like the mark begins: held back, then given
    out = case()
    stream = written + MARK
    for at in range(0, len(stream), size):
        out.take("stdout", stream[at : at + size])
    assert not out.complete
    out.take("stderr", MARK)
    assert out.complete
    assert bytes(out.output.stdout) == written
    assert bytes(out.output.stderr) == b""


def test_nothing_after_the_mark_is_the_case_s() -> None:
    out = case()
    out.take("stdout", b"mine" + MARK + b"not mine")
    out.take("stdout", b"nor this")
    assert bytes(out.output.stdout) == b"mine"


def test_without_a_mark_what_was_held_back_is_given_at_the_flush() -> None:
    out = case()
    out.take("stderr", b"panic: the sandbox died")
    assert bytes(out.output.stderr) == b""  # shorter than the mark: all held
    out.flush()
    assert bytes(out.output.stderr) == b"panic: the sandbox died"
    assert not out.complete


def test_past_the_cap_the_mark_is_still_found() -> None:
    out = case(cap=10)
    out.take("stdout", b"y" * 5000 + MARK[:7])
    out.take("stdout", MARK[7:])
    out.take("stderr", MARK)
    assert out.complete
    assert out.output.exceeded
    assert bytes(out.output.stdout) == b"y" * 10


@pytest.mark.parametrize(
    ("line", "field", "value"),
    [("over", "last", True), ("cpu_us=2500", "progress_ns", 2_500_000)],
)
def test_what_the_supervisor_says(line: str, field: str, value: object) -> None:
    out = case()
    out.hear(line)
    assert getattr(out, field) == value


def test_the_end_line_and_the_exit() -> None:
    out = case()
    out.hear("exited")
    out.hear("end signal=9 cpu_us=1000 cpu_limit=1")
    out.hear("end exit=0 cpu_us=5 cpu_limit=0")  # only the first end counts
    assert out.exited is not None
    assert out.end is not None
    assert (out.end.signal, out.end.cpu_ns, out.end.cpu_limit_hit) == (9, 1_000_000, True)
