"""The reaper tolerates containers that vanish or are being removed by someone else."""

from __future__ import annotations

from typing import Any

import docker.errors
import pytest
import requests

from gosandbox.backends.docker.reaper import reap
from gosandbox.errors import SandboxFailure


class _Api:
    def __init__(self, failures: dict[str, Exception]) -> None:
        self.failures = failures
        self.removed: list[str] = []

    def containers(self, **_: Any) -> list[dict[str, str]]:
        return [{"Id": name} for name in ("gone", "busy", "ok", *self.failures.keys() - {"gone", "busy"})]

    def remove_container(self, container_id: str, **_: Any) -> None:
        if container_id in self.failures:
            raise self.failures[container_id]
        self.removed.append(container_id)


class _Client:
    def __init__(self, api: _Api) -> None:
        self.api = api


def _api_error(status: int, message: str) -> docker.errors.APIError:
    response = requests.Response()
    response.status_code = status
    return docker.errors.APIError(message, response=response, explanation=message)


def test_vanished_and_busy_containers_are_skipped() -> None:
    api = _Api({"gone": docker.errors.NotFound("gone"), "busy": _api_error(409, "removal already in progress")})
    assert reap(_Client(api), "x") == 1
    assert api.removed == ["ok"]


def test_other_engine_errors_are_reported() -> None:
    api = _Api({"broken": _api_error(500, "driver failed")})
    with pytest.raises(SandboxFailure, match="removing a leftover sandbox failed"):
        reap(_Client(api), "x")
