"""The ``explain_go`` tool: the compiler's decisions about a package and, for one function, its assembly.

An agent tuning Go code asks it what the compiler did: which values escape to the heap (allocations), which
calls were inlined and which could not be and why, which bounds and nil checks remain. The call is POST
/explain's job (:mod:`gosandbox.api.explain`); the decisions come back as data with positions, the assembly
only for the one function asked for (a whole listing would flood the model's context).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from gosandbox.explain import DecisionKind
from gosandbox.mcp.schemas import Position, SourceArgs, Timings
from gosandbox.models import Status


class ExplainArgs(SourceArgs):
    function: str | None = Field(
        None,
        description="also list this function's assembly, each instruction with its source line: 'main.add', "
        "'add', 'main.(*T).String'; leave out for the decisions only",
    )


class DecisionOut(BaseModel):
    file: str = Field(description="file name as sent")
    line: int
    column: int
    kind: DecisionKind = Field(
        description="escapes, moved_to_heap (a heap allocation each), does_not_escape, leaking_param, can_inline, "
        "cannot_inline (message: why), inlined_call, cannot_inline_call (message: why), devirtualized, bounds_check "
        "(a check remains), bounds_check_elided, nil_check, copy (a large copy), other"
    )
    message: str = Field(description="the compiler's words, e.g. '&T{...} escapes to heap', 'can inline add (cost: 4)'")


class InstructionOut(BaseModel):
    line: int | None = Field(description="the source line in the function's file; null for inlined library code")
    text: str = Field(description="the instruction in Go's assembler syntax, e.g. 'ADDQ BX, AX'")


class FunctionOut(BaseModel):
    function: str
    file: str
    line: int
    instructions: list[InstructionOut]


class ExplainOutput(BaseModel):
    """What ``explain_go`` returns: the decisions with positions, the asked function's assembly, compile errors."""

    status: Status = Field(description="ok, or compile_error (see diagnostics; nothing else is reported then)")
    decisions: list[DecisionOut] = Field(description="in source order; only the package's own files")
    assembly: list[FunctionOut] = Field(description="the asked function (empty without function, or no such one)")
    diagnostics: list[Position] = Field(description="compile errors with positions")
    truncated: bool = Field(description="the compiler said more than is returned (a very large package)")
    timings_ms: Timings
    go_version: str


def explain_body(arguments: dict[str, Any]) -> dict[str, Any]:
    """POST /explain's body for the tool's arguments: the assembly of the one function, if any."""
    function = arguments.get("function")
    return {**arguments, "assembly": function is not None}


def explain_output(result: dict[str, Any]) -> ExplainOutput:
    return ExplainOutput.model_validate(result)


EXPLAIN_DESCRIPTION = (
    "Ask the Go compiler what it decided about a package, without running it: which values escape to the heap "
    "(each one an allocation) or moved to the heap, which functions can be inlined (with their cost) or cannot (with "
    "the reason), which calls were inlined, and which bounds checks and nil checks remain in the code, each with "
    "file, line, column, kind and the compiler's message. Give function (e.g. 'main.add') to also get that "
    "function's assembly, each instruction with its source line. Use it to explain or reduce allocations, to "
    "check that a hot helper is inlined, or to see whether a loop keeps its bounds checks; measure with test_go's "
    "benchmarks. Only the package's own files are reported, never the standard library's. A compile error is a "
    "normal result (status compile_error, diagnostics)."
)
