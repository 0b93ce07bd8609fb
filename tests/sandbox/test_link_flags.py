"""Run binaries are linked without DWARF and without a symbol table (``-s -w``), and still tell the user where.

``-s -w`` drops ``.symtab`` and the ``.debug_*`` sections; the Go runtime's own table of functions, files and
lines (``.gopclntab``) stays, and it is what panics, ``runtime.Caller`` and ``runtime.FuncForPC`` read. Each
program here is built by the project's own build and run on the default combination; the last one reads its
own ELF file, so the flags are shown to be in force, not assumed.
"""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from support.docker_helpers import run

PANIC_IN_HELPER = {
    "main.go": 'package main\n\nimport "fmt"\n\nfunc main() {\n\tfmt.Println("start")\n\tdivide(1, 0)\n}\n',
    "divide.go": "package main\n\nfunc divide(a, b int) int {\n\treturn a / b\n}\n",
}

CALLER = """package main

import (
\t"fmt"
\t"runtime"
)

func where() {
\tpc, file, line, ok := runtime.Caller(1)
\tfmt.Println(file, line, ok, runtime.FuncForPC(pc).Name())
}

func main() {
\twhere()
}
"""

#: Two packages: a program the go command must build (a direct compile-and-link of one package could not).
TWO_PACKAGES = {
    "go.mod": "module example.com/app\n\ngo 1.27\n",
    "main.go": 'package main\n\nimport "example.com/app/lib"\n\nfunc main() {\n\tlib.Fail("deep")\n}\n',
    "lib/lib.go": 'package lib\n\nimport "fmt"\n\n// Fail panics.\nfunc Fail(why string) {\n'
    '\tpanic(fmt.Sprint("failed: ", why))\n}\n',
}

SELF_INSPECTION = """package main

import (
\t"debug/elf"
\t"fmt"
\t"os"
\t"strings"
)

func main() {
\tpath, err := os.Executable()
\tif err != nil {
\t\tpanic(err)
\t}
\tf, err := elf.Open(path)
\tif err != nil {
\t\tpanic(err)
\t}
\tfor _, s := range f.Sections {
\t\tif s.Name == ".symtab" || s.Name == ".gopclntab" || strings.HasPrefix(s.Name, ".debug_") ||
\t\t\tstrings.HasPrefix(s.Name, ".zdebug_") {
\t\t\tfmt.Println(s.Name)
\t\t}
\t}
}
"""

BUILDER_PATHS = ("/builds", "/tmp/", "/root/", "/home/", "/usr/local/go/src/sandbox")


def _frames(stderr: str) -> list[str]:
    """The traceback's file:line lines (the tab-indented ones), without the ``+0x..`` offsets."""
    return [line.strip().split(" ")[0] for line in stderr.splitlines() if line.startswith("\t")]


def test_a_panic_names_the_users_files_and_lines(sandbox_app: TestClient) -> None:
    result = run(sandbox_app, files=PANIC_IN_HELPER)
    assert result["status"] == "runtime_error", result
    assert "panic: runtime error: integer divide by zero" in result["stderr"]
    frames = _frames(result["stderr"])
    assert any(re.fullmatch(r"(\S*/)?divide\.go:4", frame) for frame in frames), result["stderr"]
    assert any(re.fullmatch(r"(\S*/)?main\.go:7", frame) for frame in frames), result["stderr"]
    assert "main.divide(" in result["stderr"]
    assert "main.main()" in result["stderr"]
    assert not any(path in result["stderr"] for path in BUILDER_PATHS), result["stderr"]


def test_runtime_caller_gives_the_users_file_line_and_function(sandbox_app: TestClient) -> None:
    result = run(sandbox_app, CALLER)
    assert result["status"] == "ok", result
    file, line, ok, function = result["stdout"].split()
    assert re.fullmatch(r"(\S*/)?main\.go", file), file
    assert (line, ok, function) == ("14", "true", "main.main")
    assert not any(path in file for path in BUILDER_PATHS), file


def test_a_panic_in_another_package_names_its_file_and_line(sandbox_app: TestClient) -> None:
    result = run(sandbox_app, files=TWO_PACKAGES)
    assert result["status"] == "runtime_error", result
    assert "panic: failed: deep" in result["stderr"]
    frames = _frames(result["stderr"])
    assert any(re.fullmatch(r"example\.com/app/lib/lib\.go:7", frame) for frame in frames), result["stderr"]
    assert any(re.fullmatch(r"example\.com/app/main\.go:6", frame) for frame in frames), result["stderr"]
    assert "example.com/app/lib.Fail(" in result["stderr"]


def test_run_binaries_have_no_symbol_table_and_no_dwarf_but_keep_the_line_table(sandbox_app: TestClient) -> None:
    result = run(sandbox_app, SELF_INSPECTION)
    assert result["status"] == "ok", result
    assert result["stdout"].split() == [".gopclntab"], result
