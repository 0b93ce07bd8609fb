"""The Go commands the builder runs, spelled once for every backend."""

from __future__ import annotations

import hashlib
import posixpath
import re
from collections.abc import Mapping
from enum import StrEnum

#: Flags of every compile; the builder image pre-builds the standard library with the same ones.
BUILD_FLAGS = ("-trimpath", "-ldflags=-s -w")

#: Separates commands the builder agent runs one after another.
THEN = "--then"
#: Like THEN, but the next command runs only if every command before it succeeded.
AND = "--and"

#: The analyzers ``go test`` runs by default (defaultVetFlags in cmd/go/internal/test/test.go).
TEST_VET_FLAGS = (
    "-atomic",
    "-bools",
    "-buildtag",
    "-directive",
    "-errorsas",
    "-ifaceassert",
    "-nilfunc",
    "-printf",
    "-slog",
    "-stdversion",
    "-stringintconv",
    "-tests",
)


class Tool(StrEnum):
    """What a builder job does with the package. Only the compiler and static analysis run there."""

    BUILD = "build"  # a program binary
    TEST = "test"  # a test binary (go test -c): it runs later, in a run sandbox
    VET = "vet"  # go vet diagnostics as JSON
    FMT = "fmt"  # gofmt every .go file and normalise go.mod, in place
    EXPLAIN = "explain"  # compile only, recording the compiler's decisions (and its assembly)


#: Where an EXPLAIN build's compiler writes its -json records: this directory beside the binary's path.
EXPLAIN_RECORDS = "json"
#: The most compiler output an EXPLAIN build keeps (its -m lines, then the assembly listing).
EXPLAIN_OUTPUT_BYTES = 8 * 1024 * 1024
#: The line a builder adds when it cut a build's output at its cap.
OUTPUT_CUT = "gosandbox: the compiler's output was cut at"


def tenant_compile_flag(tenant: str) -> str:
    """A compiler flag that changes nothing the compiler makes, distinct for every tenant.

    ``-D`` sets the prefix of relative imports, which the go command never lets reach the compiler in module mode
    (it passes ``-nolocalimports``); but the flags are part of the go command's cache key of each compile, so the
    submission's own packages compiled for one tenant are never another tenant's cache hit (issue 24: the shared
    build cache answered "has anyone compiled exactly this?" by its speed). The standard library is compiled
    without it and stays shared.

    >>> tenant_compile_flag("key-a") != tenant_compile_flag("key-b")
    True
    """
    return "-D=/gosandbox-tenant/" + hashlib.sha256(tenant.encode()).hexdigest()[:24]


def go_command(  # noqa: PLR0913 - each keyword is one option of the build
    tool: Tool,
    binary_path: str,
    *,
    cover: bool = False,
    fuzz: str | None = None,
    assembly: bool = True,
    tenant_flag: str | None = None,
) -> list[str]:
    """The argv the builder runs in the package directory (``binary_path``: where a binary goes).

    ``fuzz`` (a checked pattern, one argv element) instruments the test binary for coverage-guided fuzzing;
    ``assembly``: an EXPLAIN build lists the assembly too; ``tenant_flag`` (:func:`tenant_compile_flag`) goes to
    the compiles of the submission's own packages (``./...``) only. A race build's argv is :func:`race_command`'s.
    """
    own = (f"-gcflags=./...={tenant_flag}",) if tenant_flag else ()
    if tool is Tool.BUILD:
        return ["go", "build", *BUILD_FLAGS, *own, "-o", binary_path, "."]
    if tool is Tool.TEST:
        return _test_command(binary_path, cover=cover, fuzz=fuzz, flags=(*BUILD_FLAGS, *own))
    if tool is Tool.VET:
        return ["go", "vet", "-json", "./..."]
    if tool is Tool.EXPLAIN:
        records = posixpath.join(posixpath.dirname(binary_path), EXPLAIN_RECORDS)
        return _explain_command(records, assembly=assembly, tenant_flag=tenant_flag)
    return ["gofmt", "-l", "-w", ".", THEN, "go", "mod", "edit", "-fmt"]


def _test_command(
    binary_path: str, *, cover: bool, fuzz: str | None, flags: tuple[str, ...] = BUILD_FLAGS
) -> list[str]:
    """``go test -c``, which also runs go test's vet analyzers (a finding fails the build).

    Under ``-cover`` go test would vet the instrumented sources, so its findings would carry wrong
    columns: the package is compiled without vet (every compile error listed as usual), and only
    then, if that succeeded, vetted as written with the same analyzers. With -trimpath, as the
    compile, so vet reads the pre-built standard library; go vet then caches findings without the
    directory in the key (the same sources vetted again are told the first build's directory, which
    the builder strips as it strips its own).
    """
    fuzzing = [f"-fuzz={fuzz}"] if fuzz else []
    if not cover:
        return ["go", "test", "-c", *flags, *fuzzing, "-o", binary_path, "."]
    compile_ = ["go", "test", "-c", *flags, "-vet=off", "-cover", *fuzzing, "-o", binary_path, "."]
    return [*compile_, AND, "go", "vet", "-trimpath", *TEST_VET_FLAGS, "."]


def _explain_command(records_dir: str, *, assembly: bool, tenant_flag: str | None) -> list[str]:
    """Compile the submission's packages (``./...``) without linking, recording decisions and assembly.

    ``go list -export`` compiles each package as ``go build`` does, and links nothing. The flags reach only
    the submission's packages: the standard library is read from the build cache as every build reads it.
    The records directory is new for every build, so the flags differ from every other build's: the
    compile always runs (a cached compile would replay the -m and -S text, but write no records), and
    no other build can be given its output from the cache (gopls asks the same way, with a fresh directory).
    """
    flags = f"./...=-json=0,file://{records_dir} -m" + (" -S" if assembly else "")
    flags += f" {tenant_flag}" if tenant_flag else ""
    return ["go", "list", "-export", *BUILD_FLAGS, f"-gcflags={flags}", "-f", "{{if false}}{{end}}", "."]


#: The race builder's own object (race_image.py compiles it): glibc's pthread_create tries clone3 and falls back to
#: clone only on ENOSYS, which gVisor's seccomp answers EPERM (runsc 20221219 ignores errnoRet); linked in place of
#: clone3, it answers ENOSYS, so the race runtime's threads start under every runtime.
RACE_NO_CLONE3 = "/usr/local/lib/gosandbox-race/noclone3.o"
#: Flags of a race build (the race builder pre-builds the standard library with the same ones). The race runtime
#: needs cgo; netgo and osusergo keep net and os/user pure Go, and the external linker links the program
#: statically, so it runs in the run sandbox, which has no libc. Nothing here comes from the submission.
RACE_BUILD_FLAGS = (
    "-trimpath",
    "-race",
    "-tags=netgo,osusergo",
    f"-ldflags=-s -w -linkmode=external '-extldflags=-static {RACE_NO_CLONE3} -Wl,--wrap=__clone3'",
)
#: ``go list`` refuses (its template fails) a package outside the standard library with inputs for the C
#: toolchain: the submission's own are refused before (:func:`gosandbox.race.check_race_sources`), this
#: holds for the modules it requires as well. It prints an empty line for every other package.
RACE_CGO_CHECK = (
    "{{if and (not .Standard) (or .CgoFiles .SwigFiles .SwigCXXFiles .SysoFiles)}}"
    "gosandbox: {{.ImportPath}} uses cgo, which race builds refuse{{index .CgoFiles 1000000}}{{end}}"
)


def race_command(tool: Tool, binary_path: str, *, cover: bool = False, fuzz: str | None = None) -> list[str]:
    """A program or test binary built with the race detector, once no package it builds uses cgo."""
    check = ["go", "list", "-deps", *(["-test"] if tool is Tool.TEST else []), "-f", RACE_CGO_CHECK, ".", AND]
    if tool is Tool.BUILD:
        return [*check, "go", "build", *RACE_BUILD_FLAGS, "-o", binary_path, "."]
    return [*check, *_test_command(binary_path, cover=cover, fuzz=fuzz, flags=RACE_BUILD_FLAGS)]


#: The first bytes of every program the builder makes (``go build`` of a non-main package writes an archive).
ELF_MAGIC = b"\x7fELF"
_NEEDS_MAIN = "a program to run needs package main"
_PACKAGE_CLAUSE = re.compile(r"^package[ \t]+(\w+)", re.MULTILINE)


def not_a_main_package(files: Mapping[str, str]) -> str:
    """A compiler-style line for what ``go build`` does not say: the package is a library, there is no program.

    >>> not_a_main_package({"main.go": "package foo\\n"})
    './main.go:1:9: package foo is not a main package: a program to run needs package main'
    """
    names = sorted(files, key=lambda name: (name != "main.go", name))
    for name in names:
        if "/" in name or not name.endswith(".go") or name.endswith("_test.go"):
            continue
        clause = _PACKAGE_CLAUSE.search(files[name])
        if clause is not None:
            line = files[name].count("\n", 0, clause.start()) + 1
            column = clause.start(1) - clause.start() + 1
            return f"./{name}:{line}:{column}: package {clause[1]} is not a main package: {_NEEDS_MAIN}"
    return f"the package is not a main package: {_NEEDS_MAIN}"
