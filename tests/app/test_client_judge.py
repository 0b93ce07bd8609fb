"""The Python client's judge() (sync and async) against the in-process app on the fake backend (its program
echoes its stdin): the typed result, each case's verdict and first difference; a judge submission typed too."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from gosandbox.app import create_app
from gosandbox.backends.fake import FakeBackend
from gosandbox.client.http import AsyncClient, Client
from gosandbox.client.types import CaseInput
from gosandbox.judge.task import JudgeResult
from support.app_helpers import MAIN, make_settings

CASES: list[CaseInput] = [
    {"stdin": "4\n", "expected_stdout": "4\n"},
    {"name": "five", "stdin": "5\n", "expected_stdout": "4\n"},
]


@pytest.fixture
def app_client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(make_settings(tmp_path), backend=FakeBackend())) as client:
        yield client


def check(result: JudgeResult) -> None:
    assert isinstance(result, JudgeResult)
    assert (result.status, result.passed) == ("wrong_answer", 1)
    assert [(case.name, case.status) for case in result.cases] == [("1", "accepted"), ("five", "wrong_answer")]
    assert result.cases[1].difference == {"line": 1, "column": 1, "expected": "4", "got": "5"}
    assert result.build.succeeded


def test_judge(app_client: TestClient) -> None:
    def forward(request: httpx.Request) -> httpx.Response:
        answer = app_client.request(request.method, str(request.url), headers=request.headers, content=request.content)
        return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)

    with Client("http://testserver", transport=httpx.MockTransport(forward)) as client:
        check(client.judge(MAIN, cases=CASES, compare={"mode": "tokens"}))
        submission = client.submit(MAIN, kind="judge", cases=CASES, wait_s=10)
    assert isinstance(submission.result, JudgeResult)
    check(submission.result)


def test_judge_async(app_client: TestClient) -> None:
    async def judged() -> JudgeResult:
        transport = httpx.ASGITransport(app_client.app)
        async with AsyncClient("http://testserver", transport=transport) as client:
            return await client.judge(MAIN, cases=CASES)

    check(asyncio.run(judged()))
