"""Checks on submitted Go files, before anything reaches a sandbox."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from gosandbox.errors import InvalidSource, PayloadTooLarge
from gosandbox.limits import Limits
from gosandbox.models import RunSpec

MAX_FILES = 256
MAX_PATH_DEPTH = 8
MAX_SOURCE_BYTES = 1024 * 1024
MAX_STDIN_BYTES = 1024 * 1024
MAX_ARGS = 64
MAX_ARG_BYTES = 4096

_SEGMENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,99}")
# Inputs the go command would compile or link besides Go and Go assembly (cgo, SWIG, objects):
# none is needed with CGO_ENABLED=0, and each widens what the builder parses. Headers are
# refused too, so that an assembly #include can only reach the toolchain's own headers.
_REFUSED_SUFFIXES = (
    ".c", ".cc", ".cpp", ".cxx", ".h", ".hh", ".hpp", ".hxx", ".m", ".f", ".for", ".f90",
    ".sx", ".swig", ".swigcxx", ".syso",
)  # fmt: skip
_REFUSED_NAMES = {"go.work", "go.work.sum"}  # ignored under GOWORK=off: refuse rather than surprise
# A replace directive whose target is a filesystem path: "=> ./x", "=> ../x", "=> /x",
# also quoted ("=> \"../x\"" and backquotes), as go.mod allows.
_LOCAL_REPLACE = re.compile(r"=>\s*[\"`]?\s*(\.|/|[A-Za-z]:\\)")

_ASM_INCLUDE = re.compile(r"\s*#\s*include\b\s*(.*)")
_PLAIN_HEADER = re.compile(r"[\"<][A-Za-z0-9_][A-Za-z0-9_.\-]*\.h[\">]\s*(//.*)?")

#: go.mod written for submissions that bring none.
DEFAULT_GO_MOD = "module sandbox\n\ngo 1.27\n"


def shown(value: object, limit: int = 60) -> str:
    """A value as it may appear in an error message: repr'd and shortened, never echoed whole."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 5] + "…" + text[-4:]


def utf8_bytes(text: str, what: str) -> bytes:
    """Encode as strict UTF-8; JSON can smuggle lone surrogates that no file may hold."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidSource(f"{what} is not valid UTF-8 (position {exc.start})") from exc


def check_file_name(name: str) -> None:
    """Refuse absolute paths, ``..``, hidden files, and inputs of other compilers.

    Any other file is data of the package: testdata/, files for //go:embed, go.mod, go.sum.
    """
    if "\x00" in name or "\\" in name:
        raise InvalidSource(f"file name {shown(name)} contains a NUL byte or a backslash")
    if name.startswith("/"):
        raise InvalidSource(f"file name {shown(name)} is absolute; use a path relative to the package root")
    segments = name.split("/")
    if any(seg in ("", ".", "..") for seg in segments):
        raise InvalidSource(f"file name {shown(name)} has an empty, '.' or '..' segment")
    if len(segments) > MAX_PATH_DEPTH:
        raise InvalidSource(f"file name {shown(name)} is nested deeper than {MAX_PATH_DEPTH} levels")
    if not all(_SEGMENT.fullmatch(seg) for seg in segments):
        raise InvalidSource(f"file name {shown(name)} may use only letters, digits, '_', '-' and '.'")
    if segments[-1] in _REFUSED_NAMES:
        raise InvalidSource(f"{shown(name)}: workspaces are not supported; send one module")
    if name.endswith(_REFUSED_SUFFIXES) or name.endswith(".S"):
        raise InvalidSource(f"{shown(name)}: only Go and Go assembly (*.s) are compiled here (CGO_ENABLED=0)")


def check_assembly(name: str, text: str) -> None:
    """Refuse ``#include`` of anything but a plain header name in Go assembly.

    The assembler opens an include path as given and echoes its text in errors: an absolute
    or ``..`` path would read files of the builder (other builds' sources).
    """
    for number, line in enumerate(text.splitlines(), start=1):
        found = _ASM_INCLUDE.match(line)
        if found and not _PLAIN_HEADER.fullmatch(found.group(1)):
            raise InvalidSource(f'{name} line {number}: #include may name only a header such as "textflag.h"')


def check_go_mod(text: str) -> None:
    """Refuse go.mod files that would make the build read outside the submitted files."""
    # Go's go.mod lexer ends lines only at \n and reads \r as a space; so must we.
    for number, line in enumerate(text.replace("\r", " ").split("\n"), start=1):
        code = line.split("//", 1)[0]
        if "=>" in code and _LOCAL_REPLACE.search(code):
            raise InvalidSource(f"go.mod line {number}: replace directives may not point at a local path")


def check_files(files: Mapping[str, str]) -> dict[str, str]:
    """Validate names, count and size; add a go.mod when there is none."""
    if not files:
        raise InvalidSource("no files: send at least main.go")
    if len(files) > MAX_FILES:
        raise InvalidSource(f"{len(files)} files sent; at most {MAX_FILES} are allowed")
    total = 0
    for name, text in files.items():
        check_file_name(name)
        total += len(utf8_bytes(text, f"file {shown(name)}"))
        if name.endswith(".s"):
            check_assembly(name, text)
    if total > MAX_SOURCE_BYTES:
        raise PayloadTooLarge(f"the files hold {total} bytes; at most {MAX_SOURCE_BYTES} are allowed")
    if not any(name.endswith(".go") for name in files):
        raise InvalidSource("no .go file was sent")
    checked = dict(files)
    if "go.mod" in checked:
        check_go_mod(checked["go.mod"])
    else:
        checked["go.mod"] = DEFAULT_GO_MOD
    return checked


def check_args(args: Sequence[str]) -> tuple[str, ...]:
    if len(args) > MAX_ARGS:
        raise InvalidSource(f"{len(args)} arguments sent; at most {MAX_ARGS} are allowed")
    for arg in args:
        if "\x00" in arg:
            raise InvalidSource("an argument contains a NUL byte")
        if len(utf8_bytes(arg, "an argument")) > MAX_ARG_BYTES:
            raise InvalidSource(f"an argument is longer than {MAX_ARG_BYTES} bytes")
    return tuple(args)


def make_spec(
    files: Mapping[str, str],
    *,
    stdin: bytes = b"",
    args: Sequence[str] = (),
    limits: Limits | None = None,
    go_version: str | None = None,
) -> RunSpec:
    """Build a validated :class:`RunSpec`.

    >>> make_spec({"main.go": "package main\\nfunc main() {}\\n"}).files["go.mod"][:14]
    'module sandbox'
    """
    if len(stdin) > MAX_STDIN_BYTES:
        raise PayloadTooLarge(f"stdin holds {len(stdin)} bytes; at most {MAX_STDIN_BYTES} are allowed")
    files = check_files(files)
    return RunSpec(files=files, stdin=stdin, args=check_args(args), limits=limits or Limits(), go_version=go_version)
