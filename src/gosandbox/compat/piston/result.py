"""Our run result as Piston v2's ``{language, version, compile, run}`` answer (pure: tested by tables).

Each stage has Piston's fields: ``stdout``, ``stderr``, ``output`` (both in the order the sandbox's
reader saw them, from the job's event stream: writes a few ms apart keep their order, closer ones may
swap; stdout then stderr if the stream was lost), ``code`` (null
when ``signal`` is set, as Piston documents), ``signal``, ``message`` (our one-sentence reason),
``status`` (isolate's: ``RE`` non-zero exit, ``SG`` killed by a signal, ``TO`` timed out, ``OL``
output limit, ``XX`` the service failed; null when it went well), ``cpu_time`` and ``wall_time``
(ms) and ``memory`` (bytes). Our output cap covers stdout and stderr together, so ``EL`` (stderr
limit) never appears: ``OL`` says either. A build that fails answers its compile stage as ``run``
too, as Piston does for a stage that never started.
"""

from __future__ import annotations

from typing import Any

from gosandbox.compat.order import Chunk

Stage = dict[str, Any]

_KILLED_BY_US = {"timeout": "TO", "output_limit": "OL"}


def execute_answer(result: dict[str, Any], chunks: list[Chunk] | None, language: str, version: str) -> dict[str, Any]:
    """The answer to ``POST /api/v2/execute`` for a run that ended (``chunks``: its output in order)."""
    compiled = compile_stage(result)
    run = compiled if result["status"] == "compile_error" else run_stage(result, chunks)
    return {"language": language, "version": version, "compile": compiled, "run": run}


def compile_stage(result: dict[str, Any]) -> Stage:
    """The build: the compiler's messages on stderr; exit code 1 when it failed."""
    failed = result["status"] == "compile_error"
    output = str(result.get("compile_output") or "")
    return _stage(stdout="", stderr=output, output=output, code=1 if failed else 0,
                  message=result.get("message") if failed else None, status="RE" if failed else None,
                  wall_time=result["timings_ms"]["compile"])  # fmt: skip


def run_stage(result: dict[str, Any], chunks: list[Chunk] | None) -> Stage:
    stdout, stderr = str(result["stdout"]), str(result["stderr"])
    status = run_status(result)
    signal = "SIGKILL" if status in _KILLED_BY_US.values() else result.get("signal")
    memory_kb = result.get("peak_memory_kb")
    return _stage(stdout=stdout, stderr=stderr, output=interleaved(chunks) if chunks is not None else stdout + stderr,
                  code=None if signal else result.get("exit_code"), signal=signal, message=result.get("message"),
                  status=status, cpu_time=result.get("cpu_time_ms"), wall_time=result["timings_ms"]["run"],
                  memory=memory_kb * 1024 if memory_kb is not None else None)  # fmt: skip


def run_status(result: dict[str, Any]) -> str | None:
    """isolate's status letters: what stopped the program (ours first), else how it ended."""
    verdict = str(result["status"])
    if verdict in _KILLED_BY_US:
        return _KILLED_BY_US[verdict]
    if verdict == "ok":
        return None
    return "SG" if result.get("signal") else "RE"


def interleaved(chunks: list[Chunk]) -> str:
    return "".join(text for _, text in chunks)


def failed_answer(detail: str, language: str, version: str) -> dict[str, Any]:
    """The job ran and the service failed under it (a sandbox that could not start): status ``XX``."""
    return {"language": language, "version": version, "run": _stage(message=detail, status="XX")}


def _stage(**values: Any) -> Stage:
    stage: Stage = {"stdout": "", "stderr": "", "output": "", "code": None, "signal": None, "message": None,
                    "status": None, "cpu_time": None, "wall_time": None, "memory": None}  # fmt: skip
    stage.update(values)
    return stage
