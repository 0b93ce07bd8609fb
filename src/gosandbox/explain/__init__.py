"""What the Go compiler decided about a package, and its assembly, read from its own records, never guessed.

One compile of the submission's packages (``Tool.EXPLAIN``) writes two records: ``-json`` files (inlinability
and cost or reason, escapes, leaking parameters, the bounds and nil checks that remain) and ``-m`` lines (the
calls inlined, what does not escape, what moved to the heap); with ``-S``, the assembly listing.
:mod:`~gosandbox.explain.decisions` merges the records into :class:`Decision` values of a closed set of kinds,
:mod:`~gosandbox.explain.assembly` reads the listing, :mod:`~gosandbox.explain.report` makes the result.
Only the submission's own files are ever reported.
"""

from gosandbox.explain.assembly import AsmFunction, AsmSelection, Instruction
from gosandbox.explain.decisions import Decision, DecisionKind, SourceNames
from gosandbox.explain.report import ExplainOptions, ExplainResult, compile_errors, read_report

__all__ = [
    "AsmFunction",
    "AsmSelection",
    "Decision",
    "DecisionKind",
    "ExplainOptions",
    "ExplainResult",
    "Instruction",
    "SourceNames",
    "compile_errors",
    "read_report",
]
