"""The Python client against a live ``gosandbox serve`` on the real engine, sync and async: verdicts as the
library's result classes, the event stream, cancel, and the server's problems as typed exceptions."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import gosandbox
from gosandbox.client.types import Event
from gosandbox.jobs.submission import Kind, State
from gosandbox.models import Status
from support.docker_helpers import (
    TEST_INSTANCE,
    Server,
    serving,
    wait_for_program_processes,
    wait_until_no_program_processes,
)

ROOT = Path(__file__).parents[2]
INSTANCE = f"{TEST_INSTANCE}-client"
HELLO = 'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("hello") }\n'
CHUNKS = (
    'package main\n\nimport (\n\t"fmt"\n\t"time"\n)\n\n'
    'func main() {\n\tfmt.Println("one")\n\ttime.Sleep(300 * time.Millisecond)\n\tfmt.Println("two")\n}\n'
)
ENDLESS = "package main\n\nfunc main() {\n\tfor {\n\t}\n}\n"
CALC = {
    "go.mod": "module example.com/calc\n\ngo 1.27\n",
    "calc.go": "package calc\n\nfunc Add(a, b int) int { return a + b }\n",
    "calc_test.go": 'package calc\n\nimport "testing"\n\n'
    'func TestAdd(t *testing.T) {\n\tif Add(1, 2) != 3 {\n\t\tt.Fatal("bad")\n\t}\n}\n\n'
    'func TestWrong(t *testing.T) {\n\tif Add(1, 2) != 4 {\n\t\tt.Fatal("1+2 is not 4")\n\t}\n}\n',
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serving(tmp_path_factory.mktemp("client"), INSTANCE) as server:
        yield server


@pytest.fixture
def client(server: Server) -> Iterator[gosandbox.Client]:
    with gosandbox.Client(server.url, timeout=60) as client:
        yield client


def test_run_returns_a_run_result_with_the_programs_output(client: gosandbox.Client) -> None:
    result = client.run(HELLO, stdin="ignored")
    assert isinstance(result, gosandbox.RunResult)
    assert (result.status, result.exit_code, result.stdout) == (Status.OK, 0, "hello\n")
    assert isinstance(result.timings_ms, gosandbox.Timings)
    assert result.timings_ms.total > 0
    assert result.go_version.startswith("go1.")


def test_a_compile_error_is_a_result_with_positions_not_an_exception(client: gosandbox.Client) -> None:
    result = client.run(files={"main.go": "package main\n\nfunc main() {\n\tx := 1\n}\n"})
    assert result.status is Status.COMPILE_ERROR
    assert [(d.file, d.line) for d in result.diagnostics] == [("main.go", 4)]
    assert "declared and not used" in result.diagnostics[0].message


def test_a_program_past_its_wall_limit_is_a_timeout_verdict(client: gosandbox.Client) -> None:
    result = client.run(ENDLESS, limits={"wall_s": 1})
    assert result.status is Status.TIMEOUT
    assert 900 <= result.timings_ms.run < 5000


def test_test_gives_per_test_results(client: gosandbox.Client) -> None:
    result = client.test(files=CALC, cover=True)
    assert isinstance(result, gosandbox.client.types.RESULT_TYPES[Kind.TEST])
    assert {t.name: t.result for t in result.tests} == {"TestAdd": "pass", "TestWrong": "fail"}
    assert "1+2 is not 4" in next(t.output for t in result.tests if t.name == "TestWrong")
    assert (result.status, result.passed) == (Status.RUNTIME_ERROR, False)
    only_add = client.test(files=CALC, run="^TestAdd$")
    assert ([t.name for t in only_add.tests], only_add.passed) == (["TestAdd"], True)


def test_vet_gives_findings_and_fmt_the_formatted_files(client: gosandbox.Client) -> None:
    vetted = client.vet('package main\n\nimport "fmt"\n\nfunc main() { fmt.Printf("%d\\n", "x") }\n')
    assert [(d.line, d.analyzer) for d in vetted.diagnostics] == [(5, "printf")]
    formatted = client.fmt(files={"main.go": 'package main\nimport "fmt"\nfunc main(){fmt.Println( 1 )}\n'})
    assert formatted.ok
    assert formatted.changed == ["main.go"]
    assert "func main() { fmt.Println(1) }" in formatted.files["main.go"]


def test_submit_get_and_the_event_stream_to_its_end(client: gosandbox.Client) -> None:
    submission = client.submit(CHUNKS)
    assert (submission.kind, len(submission.id)) == (Kind.RUN, 32)
    events = list(client.events(submission.id))
    output = [e.text for e in events if e.name == "stdout"]
    assert "".join(output) == "one\ntwo\n"
    assert len(output) == 2, "each line arrives as it is written (300 ms apart), not at the end"
    final = events[-1]
    assert final.name == "result"
    assert final.submission is not None
    assert final.submission.state is State.DONE
    assert isinstance(final.submission.result, gosandbox.RunResult)
    assert final.submission.result.stdout == "one\ntwo\n"
    again = client.get(submission.id)
    assert (again.state, again.result) == (State.DONE, final.submission.result)
    replayed = list(client.events(submission.id, last_event_id=events[-2].id))
    assert [e.name for e in replayed] == ["result"]


def test_cancel_stops_an_endless_program_and_its_sandbox(server: Server, client: gosandbox.Client) -> None:
    submission = client.submit(ENDLESS, limits={"wall_s": 25})
    assert wait_for_program_processes(INSTANCE, 1, timeout_s=20)
    cancelled = client.cancel(submission.id)
    assert cancelled.state is State.CANCELLED
    assert wait_until_no_program_processes(5, INSTANCE) == []
    assert client.get(submission.id).state is State.CANCELLED
    with pytest.raises(gosandbox.Conflict) as raised:
        client.cancel(submission.id)
    assert raised.value.status == 409


def test_problems_are_typed_exceptions_with_status_title_and_detail(client: gosandbox.Client) -> None:
    with pytest.raises(gosandbox.BadRequest) as raised:
        client.run(HELLO, limits={"wall_s": 1000})
    assert (raised.value.status, raised.value.type) == (422, "urn:gosandbox:problem:limit-out-of-range")
    assert raised.value.title
    assert "wall_s" in raised.value.detail
    assert isinstance(raised.value, gosandbox.InvalidRequest)
    with pytest.raises(gosandbox.NotFound) as missing:
        client.get("0" * 32)
    assert missing.value.status == 404
    assert "no submission" in missing.value.detail
    with pytest.raises(gosandbox.BadRequest) as unknown_field:
        client.run(HELLO, colour="blue")  # type: ignore[call-arg]
    assert unknown_field.value.status == 422
    assert "colour" in unknown_field.value.detail


def test_the_async_client_runs_streams_and_cancels(server: Server) -> None:
    async def scenario() -> None:
        async with gosandbox.AsyncClient(server.url, timeout=60) as client:
            ran, compiled = await asyncio.gather(client.run(HELLO), client.run("package main\n\nfunc main() {"))
            assert (ran.status, ran.stdout) == (Status.OK, "hello\n")
            assert compiled.status is Status.COMPILE_ERROR
            assert compiled.diagnostics
            submission = await client.submit(CHUNKS)
            events: list[Event] = [event async for event in client.events(submission.id)]
            assert "".join(e.text for e in events if e.name == "stdout") == "one\ntwo\n"
            assert events[-1].submission is not None
            assert events[-1].submission.state is State.DONE
            endless = await client.submit(ENDLESS, limits={"wall_s": 25})
            assert await asyncio.to_thread(wait_for_program_processes, INSTANCE, 1, 20)
            assert (await client.cancel(endless.id)).state is State.CANCELLED
            with pytest.raises(gosandbox.NotFound):
                await client.cancel("f" * 32)

    started = time.monotonic()
    asyncio.run(scenario())
    assert wait_until_no_program_processes(5, INSTANCE) == []
    assert time.monotonic() - started < 30


def _python_blocks(page: str, section: str | None = None) -> list[str]:
    """The ```python blocks of ``page`` (under the heading ``## section`` only, when named)."""
    text = (ROOT / page).read_text()
    if section is not None:
        text = text.split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", text, re.DOTALL)


def test_the_readmes_tour_runs_as_written(server: Server, capsys: pytest.CaptureFixture[str]) -> None:
    (tour,) = _python_blocks("README.md")
    exec(tour.replace("http://127.0.0.1:8080", server.url), {})
    assert capsys.readouterr().out == "ok hi\n\n"


def test_the_client_pages_python_example_runs_as_written(server: Server, capsys: pytest.CaptureFixture[str]) -> None:
    example, errors = _python_blocks("docs/library.md", "Python client")[:2]
    namespace: dict[str, object] = {}
    exec(example.replace("http://127.0.0.1:8080", server.url), namespace)
    exec(errors.replace("http://127.0.0.1:8080", server.url), namespace)
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == "ok hi gopher"
    assert "stdout hi again" in printed
    assert printed[-4:] == ["done ok", "done", "cancelled", printed[-1]]
    assert printed[-1].startswith("422 Limit out of range limits.wall_s=1000.0 is outside")
