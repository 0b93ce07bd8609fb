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
# Inputs the go command would compile or link besides Go: none is needed with CGO_ENABLED=0,
# and each widens what the builder parses. Go assembly is among them: the assembler's
# preprocessor opens any #include path (comments can hide the directive from a line check),
# which would read other builds' files in the shared builder.
_REFUSED_SUFFIXES = (
    ".s", ".S", ".sx", ".c", ".cc", ".cpp", ".cxx", ".h", ".hh", ".hpp", ".hxx", ".m", ".f", ".F", ".for",
    ".f90", ".swig", ".swigcxx", ".syso",
)  # fmt: skip
_REFUSED_NAMES = {"go.work", "go.work.sum"}  # ignored under GOWORK=off: refuse rather than surprise

# The only replace directive accepted: module path [version] => module path version, unquoted.
# Anything else after "=>" (a path, a quoted or escaped string) could name a directory.
_MODULE_PATH = r"[A-Za-z0-9][A-Za-z0-9._~+\-]*(?:/[A-Za-z0-9._~+\-]+)*"
_VERSION = r"v[0-9][0-9A-Za-z.+\-]*"
_MODULE_REPLACE = re.compile(
    rf"[ \t]*(?:replace[ \t]+)?{_MODULE_PATH}(?:[ \t]+{_VERSION})?[ \t]*=>[ \t]*{_MODULE_PATH}[ \t]+{_VERSION}[ \t]*"
)

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
        raise InvalidSource(f"{shown(name)}: only Go is compiled here (no assembly, no cgo inputs)")


def check_go_mod(text: str, name: str = "go.mod") -> None:
    """Refuse go.mod files that would make the build read outside the submitted files.

    Every line holding ``=>`` must be a module-to-module replace: an allowlist, because go.mod
    strings may be quoted and escaped ("\\x2e\\x2e/x" is "../x") and a local path can hide in many
    spellings. Comments are cut first (conservatively: also inside strings, which then fail).
    """
    # Go's go.mod lexer ends lines only at \n and reads \r as a space; so must we.
    for number, line in enumerate(text.replace("\r", " ").split("\n"), start=1):
        code = line.split("//", 1)[0]
        if "=>" in code and not _MODULE_REPLACE.fullmatch(code):
            # ``name`` passed check_file_name: safe to show as it is.
            raise InvalidSource(f"{name} line {number}: replace directives may not point at a local path")


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
        if name == "go.mod" or name.endswith("/go.mod"):
            check_go_mod(text, name)
    if total > MAX_SOURCE_BYTES:
        raise PayloadTooLarge(f"the files hold {total} bytes; at most {MAX_SOURCE_BYTES} are allowed")
    if not any(name.endswith(".go") for name in files):
        raise InvalidSource("no .go file was sent")
    checked = dict(files)
    checked.setdefault("go.mod", DEFAULT_GO_MOD)
    check_no_file_is_a_directory(checked)
    return checked


def check_no_file_is_a_directory(files: Mapping[str, str]) -> None:
    """Refuse "a" beside "a/b.go": one name cannot be both a file and a directory."""
    directories = {name.rsplit("/", 1)[0] for name in files if "/" in name}
    parents = {"/".join(d.split("/")[:i]) for d in directories for i in range(1, d.count("/") + 2)}
    clash = sorted(parents & files.keys())
    if clash:
        raise InvalidSource(f"{shown(clash[0])} is sent as a file and used as a directory")


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
