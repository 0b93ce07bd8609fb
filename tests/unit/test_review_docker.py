"""Review of the Docker backend's hand-over: package file names are checked again where root writes them."""

from __future__ import annotations

from pathlib import Path

import pytest

from gosandbox.backends.base import ExecJob
from gosandbox.backends.handover import hand_over
from gosandbox.errors import InvalidSource
from gosandbox.limits import Limits


@pytest.mark.parametrize("name", ["/tmp/stray-by-review-docker", "../../stray-by-review-docker"])
def test_a_package_file_name_that_leaves_the_sandbox_directory_is_refused(tmp_path: Path, name: str) -> None:
    host_dir = tmp_path / "a" / "b"
    host_dir.mkdir(parents=True)
    with pytest.raises(InvalidSource):
        hand_over(host_dir, ExecJob(b"prog", b"", (), Limits(), package_files={name: "planted\n"}))
    assert not Path("/tmp/stray-by-review-docker").exists()
    assert list(tmp_path.rglob("stray-by-review-docker")) == []
