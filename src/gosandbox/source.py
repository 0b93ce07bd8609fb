"""Checks on submitted Go files, before anything reaches a sandbox."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace

from gosandbox import gomod
from gosandbox.errors import InvalidSource, PayloadTooLarge
from gosandbox.limits import Limits
from gosandbox.models import RunSpec
from gosandbox.race import check_race_sources

MAX_FILES = 256
MAX_PATH_DEPTH = 8
MAX_SOURCE_BYTES = 1024 * 1024
MAX_STDIN_BYTES = 1024 * 1024
MAX_ARGS = 64
MAX_ARG_BYTES = 4096
#: The largest go.mod read (a large project's has ~20 KB); it keeps its parse within ~0.1 s.
MAX_GO_MOD_BYTES = 64 * 1024

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

# What a replace directive's replacement must be: a module path and a version (see check_go_mod).
_MODULE_PATH = re.compile(r"[A-Za-z0-9][A-Za-z0-9._~+\-]*(?:/[A-Za-z0-9._~+\-]+)*")
_VERSION = re.compile(r"v[0-9][0-9A-Za-z.+\-]*")

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

    The file is read as the go command reads it (:mod:`gosandbox.gomod`: quoted strings, blocks,
    comments), and every ``replace`` must name a module path and a version: an allowlist, because
    a local path has many spellings (quoted, escaped: "\\x2e\\x2e/x" is "../x"). A file the go
    command could not read is refused too: what it would make of it is not ours to guess.
    """
    if len(text.encode("utf-8", "surrogatepass")) > MAX_GO_MOD_BYTES:
        raise PayloadTooLarge(f"{name} holds more than {MAX_GO_MOD_BYTES} bytes; a go.mod holds at most that")
    if "replace" not in text:  # a replace directive's verb is this word, unquoted: nothing to check
        return
    try:
        statements = gomod.directives(text)
    except gomod.GoModSyntaxError as exc:
        # ``name`` passed check_file_name: safe to show as it is; the reason quotes no input.
        raise InvalidSource(f"{name} line {exc.line}: {exc.reason}") from None
    for statement in statements:
        if statement.verb == "replace" and not _is_module_replace(statement.args):
            raise InvalidSource(f"{name} line {statement.line}: replace directives may not point at a local path")


def _is_module_replace(args: tuple[str, ...]) -> bool:
    """``old [version] => new version`` (modfile's parseReplace's shape), ``new`` a module path, not a directory."""
    arrow = 1 if len(args) >= 2 and args[1] == "=>" else 2
    if len(args) != arrow + 3 or args[arrow] != "=>":
        return False
    try:
        target, version = gomod.parse_string(args[arrow + 1]), gomod.parse_string(args[arrow + 2])
    except ValueError:
        return False
    return not gomod.is_directory_path(target) and bool(_MODULE_PATH.fullmatch(target) and _VERSION.fullmatch(version))


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


def with_race(spec: RunSpec, race: bool = True) -> RunSpec:
    """``spec`` built with the race detector (``race``), once nothing in it would reach the C toolchain."""
    if not race:
        return spec
    check_race_sources(spec.files)
    return replace(spec, race=True)
