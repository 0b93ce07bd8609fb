"""Checks on submitted files, go.mod, stdin and arguments, before anything reaches a sandbox."""

from __future__ import annotations

import pytest

from gosandbox.errors import InvalidSource, PayloadTooLarge
from gosandbox.limits import Limits
from gosandbox.source import (
    DEFAULT_GO_MOD,
    MAX_ARG_BYTES,
    MAX_ARGS,
    MAX_FILES,
    MAX_SOURCE_BYTES,
    MAX_STDIN_BYTES,
    check_file_name,
    check_files,
    check_go_mod,
    make_spec,
)

MAIN = "package main\n\nfunc main() {}\n"


@pytest.mark.parametrize(
    "name",
    [
        "main.go",
        "util.go",
        "go.mod",
        "go.sum",
        "internal/x/x.go",
        "a/b/c/d.go",
        "x_test.go",
        "my-file.v2.go",
        "testdata/in.txt",
        "static/index.html",
        "LICENSE",
        "sub/go.mod",
        "a/b/c/d/e/f/g/h.go",
    ],
)
def test_acceptable_file_names(name: str) -> None:
    check_file_name(name)


@pytest.mark.parametrize(
    "name",
    [
        "../x.go",
        "/etc/passwd",
        "/main.go",
        "a/../b.go",
        "./main.go",
        "a//b.go",
        "a/",
        "",
        ".hidden.go",
        "a/.hidden/b.go",
        "main.c",
        "x.syso",
        "inc/x.h",
        "go.work",
        "go.work.sum",
        "sub/go.work",
        "ma\x00in.go",
        "a\\b.go",
        "..\\x.go",
        "a/b/c/d/e/f/g/h/i.go",
        "main .go",
        "héllo.go",
        "-flag.go",
        "a" * 101 + ".go",
    ],
)
def test_refused_file_names(name: str) -> None:
    with pytest.raises(InvalidSource):
        check_file_name(name)


def test_nul_and_backslash_have_their_own_message() -> None:
    with pytest.raises(InvalidSource, match="NUL byte or a backslash"):
        check_file_name("a\\b.go")
    with pytest.raises(InvalidSource, match="NUL byte or a backslash"):
        check_file_name("a\x00.go")


def test_depth_has_its_own_message() -> None:
    with pytest.raises(InvalidSource, match="nested deeper than 8 levels"):
        check_file_name("a/b/c/d/e/f/g/h/i.go")


def test_absolute_has_its_own_message() -> None:
    with pytest.raises(InvalidSource, match="is absolute"):
        check_file_name("/etc/passwd")


@pytest.mark.parametrize(
    "go_mod",
    [
        "module sandbox\n\ngo 1.27\n\nreplace a => ../b\n",
        "module sandbox\n\nreplace example.com/a => /abs/path\n",
        "module sandbox\n\nreplace example.com/a v1.0.0 => ./vendored\n",
        "module sandbox\n\nreplace (\n\texample.com/a => example.com/b v1.0.0\n\texample.com/c =>../c\n)\n",
        "module sandbox\n\nreplace a => C:\\src\\b\n",
        "module sandbox\n\nreplace a => .\n",
    ],
)
def test_local_replace_directives_are_refused(go_mod: str) -> None:
    with pytest.raises(InvalidSource, match=r"go\.mod line \d+: .*local path"):
        check_go_mod(go_mod)


def test_the_refused_line_is_numbered() -> None:
    with pytest.raises(InvalidSource, match=r"go\.mod line 5:"):
        check_go_mod("module sandbox\n\ngo 1.27\n\nreplace a => ../b\n")


@pytest.mark.parametrize(
    "go_mod",
    [
        DEFAULT_GO_MOD,
        "module sandbox\n\ngo 1.27\n\nreplace example.com/a => example.com/b v1.2.3\n",
        "module sandbox\n\nreplace (\n\texample.com/a v1.0.0 => github.com/fork/a v1.0.1\n)\n",
        "module sandbox\n\n// replace a => ../b (a comment, not a directive)\n",
        "module sandbox\n\nrequire example.com/a v1.0.0 // see ../notes\n",
    ],
)
def test_module_path_replaces_and_comments_are_accepted(go_mod: str) -> None:
    check_go_mod(go_mod)


def test_check_files_adds_the_default_go_mod() -> None:
    assert check_files({"main.go": MAIN}) == {"main.go": MAIN, "go.mod": DEFAULT_GO_MOD}


def test_check_files_keeps_a_sent_go_mod_and_does_not_mutate_its_input() -> None:
    files = {"main.go": MAIN, "go.mod": "module example.com/x\n\ngo 1.27\n"}
    assert check_files(files) == files
    only_main = {"main.go": MAIN}
    check_files(only_main)
    assert only_main == {"main.go": MAIN}


def test_check_files_checks_a_sent_go_mod() -> None:
    with pytest.raises(InvalidSource, match="local path"):
        check_files({"main.go": MAIN, "go.mod": "module x\n\nreplace a => ../b\n"})


def test_check_files_refuses_no_files() -> None:
    with pytest.raises(InvalidSource, match="no files"):
        check_files({})


def test_check_files_refuses_too_many_files() -> None:
    files = {f"f{i}.go": "package main\n" for i in range(MAX_FILES + 1)}
    with pytest.raises(InvalidSource, match=f"{MAX_FILES + 1} files sent; at most {MAX_FILES}"):
        check_files(files)


def test_check_files_accepts_exactly_the_most_files() -> None:
    files = {f"f{i}.go": "package main\n" for i in range(MAX_FILES)}
    assert len(check_files(files)) == MAX_FILES + 1  # plus go.mod


def test_check_files_refuses_too_many_bytes() -> None:
    half = "x" * (MAX_SOURCE_BYTES // 2 + 1)
    with pytest.raises(PayloadTooLarge, match=f"at most {MAX_SOURCE_BYTES}"):
        check_files({"main.go": half, "util.go": half})


def test_source_size_is_counted_in_utf8_bytes() -> None:
    # 3 bytes per character in UTF-8: under the cap in characters, over it in bytes.
    text = "€" * (MAX_SOURCE_BYTES // 3 + 1)
    assert len(text) < MAX_SOURCE_BYTES
    with pytest.raises(PayloadTooLarge):
        check_files({"main.go": text})


def test_check_files_refuses_a_package_without_go_files() -> None:
    with pytest.raises(InvalidSource, match=r"no \.go file"):
        check_files({"go.mod": DEFAULT_GO_MOD})


def test_check_files_refuses_bad_names() -> None:
    with pytest.raises(InvalidSource, match=r"'\.\.' segment"):
        check_files({"main.go": MAIN, "../evil.go": MAIN})


@pytest.mark.parametrize("text", ["\ud800", "package main // \udfff\n"])
def test_lone_surrogates_are_invalid_source(text: str) -> None:
    with pytest.raises(InvalidSource, match="not valid UTF-8"):
        check_files({"main.go": text})


def test_make_spec_defaults() -> None:
    spec = make_spec({"main.go": MAIN})
    assert spec.files == {"main.go": MAIN, "go.mod": DEFAULT_GO_MOD}
    assert spec.stdin == b""
    assert spec.args == ()
    assert spec.limits == Limits()


def test_make_spec_keeps_stdin_args_and_limits() -> None:
    limits = Limits(wall_s=1.0)
    spec = make_spec({"main.go": MAIN}, stdin=b"in\x00put", args=["-n", "3", "ünïcode"], limits=limits)
    assert spec.stdin == b"in\x00put"
    assert spec.args == ("-n", "3", "ünïcode")
    assert spec.limits is limits


def test_make_spec_stdin_cap() -> None:
    assert make_spec({"main.go": MAIN}, stdin=b"x" * MAX_STDIN_BYTES).stdin == b"x" * MAX_STDIN_BYTES
    with pytest.raises(PayloadTooLarge, match="stdin holds"):
        make_spec({"main.go": MAIN}, stdin=b"x" * (MAX_STDIN_BYTES + 1))


def test_make_spec_refuses_args_with_nul() -> None:
    with pytest.raises(InvalidSource, match="NUL byte"):
        make_spec({"main.go": MAIN}, args=["ok", "bad\x00arg"])


def test_make_spec_refuses_too_many_args() -> None:
    make_spec({"main.go": MAIN}, args=["a"] * MAX_ARGS)
    with pytest.raises(InvalidSource, match="arguments sent"):
        make_spec({"main.go": MAIN}, args=["a"] * (MAX_ARGS + 1))


def test_make_spec_refuses_too_long_args() -> None:
    make_spec({"main.go": MAIN}, args=["a" * MAX_ARG_BYTES])
    with pytest.raises(InvalidSource, match="longer than"):
        make_spec({"main.go": MAIN}, args=["a" * (MAX_ARG_BYTES + 1)])


def test_make_spec_refuses_lone_surrogate_args() -> None:
    with pytest.raises(InvalidSource, match="not valid UTF-8"):
        make_spec({"main.go": MAIN}, args=["\ud800"])


def test_quoted_local_replace_is_refused() -> None:
    # `go mod edit -json` reads this as Replace.New.Path == "../b", and `go build` then reads ../b.
    with pytest.raises(InvalidSource):
        check_go_mod('module sandbox\n\nrequire example.com/a v1.0.0\n\nreplace example.com/a => "../b"\n')


@pytest.mark.parametrize(
    "go_mod",
    [
        'replace example.com/a => "\\x2e\\x2e/b"',
        'replace example.com/a => "\\u002e./b"',
        'replace example.com/a => "\\x2fproc/1/cwd"',
        "replace example.com/a => example.com/b",
        "replace example.com/a => example.com/b v1.0.0 extra",
    ],
)
def test_escaped_or_odd_replace_targets_are_refused(go_mod: str) -> None:
    with pytest.raises(InvalidSource, match="local path"):
        check_go_mod(f"module sandbox\n\n{go_mod}\n")


@pytest.mark.parametrize("name", ["x_amd64.s", "x.S", "inc/x.h"])
def test_assembly_and_headers_are_refused(name: str) -> None:
    with pytest.raises(InvalidSource, match="only Go is compiled"):
        check_file_name(name)


def test_a_name_used_as_file_and_directory_is_refused() -> None:
    with pytest.raises(InvalidSource, match="file and used as a directory"):
        check_files({"main.go": MAIN, "a": "x", "a/b.go": "package a\n"})
    with pytest.raises(InvalidSource, match="file and used as a directory"):
        check_files({"main.go": MAIN, "go.mod/x.go": "package x\n"})
