"""The Go commands the builder runs, spelled once for every backend."""

from __future__ import annotations

from enum import StrEnum

#: Flags of every compile; the builder image pre-builds the standard library with the same ones.
BUILD_FLAGS = ("-trimpath", "-ldflags=-s -w")

#: Separates commands the builder agent runs one after another.
THEN = "--then"


class Tool(StrEnum):
    """What a builder job does with the package. Only the compiler and static analysis run there."""

    BUILD = "build"  # a program binary
    TEST = "test"  # a test binary (go test -c): it runs later, in a run sandbox
    VET = "vet"  # go vet diagnostics as JSON
    FMT = "fmt"  # gofmt every .go file and normalise go.mod, in place


def go_command(tool: Tool, binary_path: str, *, cover: bool = False, fuzz: str | None = None) -> list[str]:
    """The argv the builder runs in the package directory (``binary_path``: where a binary goes).

    ``fuzz`` (a checked pattern, one argv element) instruments the test binary for coverage-guided fuzzing.
    """
    if tool is Tool.BUILD:
        return ["go", "build", *BUILD_FLAGS, "-o", binary_path, "."]
    if tool is Tool.TEST:
        extra = (["-cover"] if cover else []) + ([f"-fuzz={fuzz}"] if fuzz else [])
        return ["go", "test", "-c", *BUILD_FLAGS, *extra, "-o", binary_path, "."]
    if tool is Tool.VET:
        return ["go", "vet", "-json", "./..."]
    return ["gofmt", "-l", "-w", ".", THEN, "go", "mod", "edit", "-fmt"]
