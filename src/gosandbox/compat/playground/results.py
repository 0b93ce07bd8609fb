"""Our results as the Go Playground answers them: ``/compile``'s response, ``/fmt``'s, ``/version``'s fields.

Pure functions of a result dict (the native API's JSON), table-tested. What the Playground's front end
(``playground.js``) reads, and so what these keep to:

- a build failure is ``Errors`` (its text, positions naming ``prog.go``: the page marks the lines that
  ``prog.go:LINE`` names), with no ``Events``;
- a timeout is ``Errors == "process took too long"`` with the output written before it in ``Events``:
  the one ``Errors`` value the page plays back instead of showing as a build failure;
- otherwise ``Events`` (``Message``, ``Kind`` stdout|stderr, ``Delay`` in ns: always 0 here, our programs
  run on real time, not the Playground's fake clock) and ``Status``, the exit code;
- a test run: ``IsTest`` and ``TestsFailed``, its output as ``go test -v`` prints it;
- ``VetErrors`` or ``VetOK`` only when vet was asked for and the program built (``omitempty`` in Go).
"""

from __future__ import annotations

import re
from typing import Any

from gosandbox.compat.order import Chunk

PROG = "prog.go"
PROG_TEST = "prog_test.go"
TIMEOUT_ERROR = "process took too long"
#: The verdicts whose reason the Playground has no field for: our sentence is added to the output.
_EXPLAINED = ("memory_limit", "output_limit")
_RELEASE = re.compile(r"^go(\d+)\.(\d+)")


def _empty(is_test: bool = False) -> dict[str, Any]:
    return {"Errors": "", "Events": None, "Status": 0, "IsTest": is_test, "TestsFailed": 0}


def build_failed(text: str) -> dict[str, Any]:
    """A program that could not be built (or a body the Playground itself would refuse, e.g. a bad archive)."""
    return {**_empty(), "Errors": text}


def errors_text(output: str, renamed: bool) -> str:
    """Compiler or vet output as the Playground shows it: no ``# package`` banner, the test file named prog.go."""
    lines = output.splitlines(keepends=True)
    while lines and lines[0].startswith("#"):
        lines.pop(0)
    text = "".join(lines)
    return text.replace(f"{PROG_TEST}:", f"{PROG}:") if renamed else text


def events(chunks: list[Chunk]) -> list[dict[str, Any]] | None:
    """Output chunks in order as Events; neighbours of one stream are joined (None when there is no output)."""
    found: list[dict[str, Any]] = []
    for kind, text in chunks:
        if not text:
            continue
        if found and found[-1]["Kind"] == kind:
            found[-1]["Message"] += text
        else:
            found.append({"Message": text, "Kind": kind, "Delay": 0})
    return found or None


def run_response(result: dict[str, Any], chunks: list[Chunk] | None) -> dict[str, Any]:
    """A ``run`` job's result. ``chunks``: its output in order (None: stdout, then stderr)."""
    if result["status"] == "compile_error":
        return build_failed(errors_text(result.get("compile_output", ""), renamed=False))
    output = list(chunks) if chunks is not None else [("stdout", result["stdout"]), ("stderr", result["stderr"])]
    answer = _empty()
    if result["status"] == "timeout":
        answer["Errors"] = TIMEOUT_ERROR
    else:
        answer["Status"] = result.get("exit_code") or 0
    if result["status"] in _EXPLAINED and result.get("message"):
        output.append(("stderr", f"\n{result['message']}\n"))
        answer["Status"] = answer["Status"] or 1
    answer["Events"] = events(output)
    return answer


def verbose_test_output(result: dict[str, Any]) -> str:
    """A ``test`` job's per-test results printed back as ``go test -v`` does (subtests indented)."""
    parts = []
    for case in result.get("tests", []):
        name = case["name"]
        parts += [f"=== RUN   {name}\n", case.get("output", "")]
        if case.get("result") in ("pass", "fail", "skip"):
            indent = "    " * name.count("/")
            parts.append(f"{indent}--- {case['result'].upper()}: {name} ({case.get('elapsed_s', 0.0):.2f}s)\n")
    parts += [result.get("output", ""), "PASS\n" if result.get("passed") else "FAIL\n"]
    return "".join(parts)


def test_response(result: dict[str, Any]) -> dict[str, Any]:
    """A ``test`` job's result: IsTest, TestsFailed (the ``--- FAIL`` lines), the verbose output."""
    if result["status"] == "compile_error":
        return build_failed(errors_text(result.get("compile_output", ""), renamed=True))
    answer = _empty(is_test=True)
    answer["TestsFailed"] = sum(1 for case in result.get("tests", []) if case.get("result") == "fail")
    if result["status"] == "timeout":
        answer["Errors"] = TIMEOUT_ERROR
    answer["Status"] = 0 if result.get("passed") else 1
    answer["Events"] = events([("stdout", verbose_test_output(result)), ("stderr", result.get("stderr", ""))])
    return answer


test_response.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


def vet_fields(vet: dict[str, Any], renamed: bool) -> dict[str, Any]:
    """``VetErrors`` (one ``./file:line:col: message`` line per finding) or ``VetOK``."""
    lines = [f"./{d['file'].removeprefix('./')}:{d['line']}:{d['column']}: {d['message']}\n"
             for d in vet.get("diagnostics", [])]  # fmt: skip
    text = errors_text("".join(lines), renamed)
    return {"VetErrors": text} if text else {"VetOK": True}


def built(answer: dict[str, Any]) -> bool:
    """The program built (whatever it did then): only then does the Playground run vet."""
    return answer["Errors"] in ("", TIMEOUT_ERROR)


def fmt_response(result: dict[str, Any], files: dict[str, str], implicit_prog: bool) -> dict[str, Any]:
    """``{Body, Error}``: the files formatted, put back together as they came (one file, or an archive)."""
    if not result.get("ok"):
        found = [f"{d['file']}:{d['line']}:{d['column']}: {d['message']}" for d in result.get("diagnostics", [])]
        return {"Body": "", "Error": "\n".join(found) or result.get("output", "") or "the program does not format"}
    formatted = {name: result.get("files", {}).get(name, text) for name, text in files.items()}
    return {"Body": format_txtar(formatted, implicit_prog), "Error": ""}


def format_txtar(files: dict[str, str], implicit_prog: bool) -> str:
    """Files as a txtar archive; prog.go first and without a header line when it came without one."""
    parts = [files[PROG]] if implicit_prog else []
    for name, text in files.items():
        if implicit_prog and name == PROG:
            continue
        parts.append(f"-- {name} --\n{text}" + ("" if not text or text.endswith("\n") else "\n"))
    return "".join(parts)


def version_fields(go_version: str | None) -> dict[str, str]:
    """The Playground's ``/version``: ``Version`` (go1.27.3), ``Release`` (go1.27), ``Name`` (Go 1.27)."""
    match = _RELEASE.match(go_version or "")
    if match is None:
        return {"Version": go_version or "", "Release": "", "Name": ""}
    major, minor = match.groups()
    return {"Version": go_version or "", "Release": f"go{major}.{minor}", "Name": f"Go {major}.{minor}"}
