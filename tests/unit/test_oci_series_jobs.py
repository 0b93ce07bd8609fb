"""Which runs may share a series sandbox (backends/oci/series.py): one program, one shape, arguments an argv carries."""

from __future__ import annotations

from dataclasses import replace

import pytest

from gosandbox.backends.base import ExecJob
from gosandbox.backends.live import LiveStdin
from gosandbox.backends.oci.series import same_program
from gosandbox.limits import Limits

JOB = ExecJob(b"\x7fELF binary", b"input", ("a",), Limits())


def test_cases_of_one_program_with_their_own_inputs_and_arguments_are_a_series() -> None:
    assert same_program([JOB, replace(JOB, stdin=b"other", args=("b", "c")), replace(JOB, args=())])


@pytest.mark.parametrize(
    "other",
    [
        replace(JOB, binary=b"another binary"),
        replace(JOB, limits=Limits(wall_s=1)),
        replace(JOB, package_files={"data.txt": "x"}),
        replace(JOB, args=("nul\0inside",)),
        replace(JOB, args=("lone \ud800 surrogate",)),
        replace(JOB, live=LiveStdin()),
        replace(JOB, on_output=lambda stream, data: None),
    ],
    ids=["binary", "limits", "files", "nul", "surrogate", "live", "streamed"],
)
def test_anything_else_is_not(other: ExecJob) -> None:
    assert not same_program([JOB, other])
    assert not same_program([other, JOB])
