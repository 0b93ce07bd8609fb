"""go.mod read as the go command reads it: tables after golang.org/x/mod/modfile's own cases (read_test.go's
TestParsePunctuation, TestComments and modulePathTests, rule_test.go's replace errors), strconv.Unquote's, and
the spellings of a local replace a line-based check missed."""

from __future__ import annotations

import pytest

from gosandbox import gomod
from gosandbox.errors import InvalidSource, PayloadTooLarge
from gosandbox.source import MAX_GO_MOD_BYTES, check_files, check_go_mod

MAIN = "package main\n\nfunc main() {}\n"


def statements(text: str) -> list[tuple[str, ...]]:
    return [(d.verb, *d.args) for d in gomod.directives(text)]


# --- the grammar -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # modfile's TestParsePunctuation: brackets and commas are tokens even inside identifiers.
        ("require []{},", [("require", "[", "]", "{", "}", ",")]),
        ("require a[b]c{d}e,", [("require", "a", "[", "b", "]", "c", "{", "d", "}", "e", ",")]),
        ("require (\n\ta[b]\n)", [("require", "a", "[", "b", "]")]),
        ("require [v1.0.0, v1.1.0)", [("require", "[", "v1.0.0", ",", "v1.1.0", ")")]),
        ("require ()", []),  # an empty block
        # Comments: whole-line, end-of-line, in blocks; // ends an identifier.
        ("// a\nmodule m // c\n// d\n", [("module", "m")]),
        ("block ( // c\n\t// d\n\n\tx // f\n\t// g\n) // i\n// j\n", [("block", "x")]),
        ("module m//c\n", [("module", "m")]),
        ("// a\r\r\n", []),
        # Strings: // inside one is not a comment; a block's lines are statements of its verb.
        ('replace "a//b" => /x\n', [("replace", '"a//b"', "=>", "/x")]),
        ('replace (\n\t"a//b" v1.0.0 => ../x // why\n)\n', [("replace", '"a//b"', "v1.0.0", "=>", "../x")]),
        ("module `a//b` // c\n", [("module", "`a//b`")]),
        ('module "x\\"y" z\n', [("module", '"x\\"y"', "z")]),
        ('a"b c"\n', [('a"b', 'c"')]),  # a quote inside an identifier starts no string
        # \r is a space; a ( in the middle of a line is a token, not a block.
        ("module m\r\nreplace a => b v1.0.0\r\n", [("module", "m"), ("replace", "a", "=>", "b", "v1.0.0")]),
        ("replace ( a => ../b\n", [("replace", "(", "a", "=>", "../b")]),
        ("x ( ) y\n", [("x", "(", ")", "y")]),
        # The lines of a statement are numbered from the first.
        ("\n\nreplace (\n\n\ta => b v1\n)\n", [("replace", "a", "=>", "b", "v1")]),
    ],
)
def test_statements_are_the_go_commands(text: str, expected: list[tuple[str, ...]]) -> None:
    assert statements(text) == expected


def test_statements_carry_their_line() -> None:
    found = gomod.directives('module m\n\nreplace (\n\t"a//b" => /x\n\n\tc => d v1\n)\n')
    assert [(d.verb, d.line) for d in found] == [("module", 1), ("replace", 4), ("replace", 6)]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("module m /* c */\n", "must use // comments"),
        ("module a/*b\n", "must use // comments"),
        ('module "m\n', "unterminated string"),
        ("module `a\nb`\n", "unterminated string"),
        ("replace example.com/a\u00a0=> ../b\n", r"U\+00A0"),  # a no-break space is no separator
        ("module m\x0b\n", r"U\+000B"),
        ("module \ufeffm\n", r"U\+FEFF"),
        ("module m\x00\n", r"U\+0000"),
        ("replace (\n\ta => b v1\n", "unterminated block"),
        ("replace (\n\ta => b v1\n) x\n", "expected newline after closing paren"),
        ("replace x (\n\ta => ../b\n)\n", "unknown block type"),
    ],
)
def test_what_the_go_command_cannot_read_is_a_syntax_error(text: str, reason: str) -> None:
    with pytest.raises(gomod.GoModSyntaxError, match=reason):
        gomod.directives(text)


@pytest.mark.parametrize(
    ("token", "value"),
    [
        # modfile's modulePathTests, through parseString
        ('"github.com/rsc/vgotest"', "github.com/rsc/vgotest"),
        ("github.com/rsc/vgotest", "github.com/rsc/vgotest"),
        ('"   "', "   "),
        # strconv.Unquote's table
        ('"abc"', "abc"),
        ('"\\a\\b\\f\\n\\r\\t\\v\\\\\\""', '\a\b\f\n\r\t\v\\"'),
        ('"\\x2e\\x2e/b"', "../b"),
        ('"\\056\\056/b"', "../b"),
        ('"\\u002e/x"', "./x"),
        ('"\\U0000002fproc"', "/proc"),
        ('"☺\\u263a"', "☺☺"),
    ],
)
def test_strings_read_as_parse_string_reads_them(token: str, value: str) -> None:
    assert gomod.parse_string(token) == value


@pytest.mark.parametrize(
    "token",
    ['"a', '"\\q"', '"\\x2"', '"\\400"', '"\\ud800"', '"\\U00110000"', '"\\\'"', '"a"b"', "`a`", "'a'", "a'b", 'v1"'],
)
def test_strings_the_go_command_refuses(token: str) -> None:
    with pytest.raises(ValueError, match=r"invalid syntax|cannot contain quote"):
        gomod.parse_string(token)


@pytest.mark.parametrize(
    ("path", "directory"),
    [("./x", True), ("../x", True), ("/x", True), (".\\x", True), ("..\\x", True), ("\\x", True), ("C:x", True),
     ("c:\\x", True), (".", False), ("..", False), ("example.com/x", False), ("1:x", False)],
)  # fmt: skip
def test_directory_paths_are_modfiles(path: str, directory: bool) -> None:
    assert gomod.is_directory_path(path) is directory


# --- the check ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        'replace "example.com/probe//x" => /usr/local/go/src',  # the probe that read a go.mod outside the submission
        'replace "example.com/probe//x" v1.0.0 => ../',
        'replace (\n\t"a//b" => /proc/self/cwd\n)',
        "replace (\n\texample.com/a => example.com/b v1.0.0 // fine\n\texample.com/c => ../c\n)",
        'replace example.com/a => "../b"',
        'replace example.com/a => "\\x2e\\x2e/b"',
        'replace example.com/a => "\\x2fproc/1/cwd"',
        'replace example.com/a => "\\057proc"',
        'replace example.com/a => "\\U0000002e/x"',
        "replace example.com/a => ../b v1.0.0",  # a directory with a version: the go command refuses it too
        "replace example.com/a => C:\\src\\b",
        "replace example.com/a => example.com/b",  # no version: the go command reads it as a directory or fails
        "replace example.com/a => example.com/b v1.0.0 extra",
        "replace example.com/a => `../b`",
        "replace example.com/a v1 => => ../b",
        "replace\texample.com/a\t=>\t/tmp",
        "replace example.com/a =>../b",
    ],
)
def test_every_spelling_of_a_local_replace_is_refused(line: str) -> None:
    with pytest.raises(InvalidSource, match=r"go\.mod line \d+: replace directives may not point at a local path"):
        check_go_mod(f"module sandbox\n\ngo 1.27\n\n{line}\n")


@pytest.mark.parametrize(
    "go_mod",
    [
        "module sandbox\n\ngo 1.27\n",
        "module sandbox\n\nreplace example.com/a => example.com/b v1.2.3\n",
        "module sandbox\n\nreplace example.com/a v1.0.0 => example.com/b v1.2.3 // a fork\n",
        'module sandbox\n\nreplace "example.com/a" => "example.com/b" "v1.2.3"\n',
        "module m\n\nreplace (\n\t// forks\n\texample.com/a => example.com/b v1.0.1\n\n\tx.org/c => y.org/c v0.1\n)\n",
        "module sandbox\n\n// replace a => ../b (a comment, not a directive)\n",
        "module sandbox\n\nrequire example.com/a v1.0.0 // see ../notes about the replace\n",
        'module sandbox\n\nrequire "example.com/a//x" v1.0.0\n',  # odd, but no replace: the go command judges it
    ],
)
def test_module_replaces_and_comments_pass(go_mod: str) -> None:
    check_go_mod(go_mod)


def test_the_refused_line_is_numbered_as_the_go_command_numbers_it() -> None:
    with pytest.raises(InvalidSource, match=r"go\.mod line 6:"):
        check_go_mod("module sandbox\n\nreplace (\n\ta => b v1.0.0\n\n\tc => ../d\n)\n")


def test_a_file_the_go_command_cannot_read_is_refused_when_it_may_replace() -> None:
    with pytest.raises(InvalidSource, match=r"sub/go\.mod line 3: unterminated string"):
        check_files({"main.go": MAIN, "sub/go.mod": 'module sub\n\nreplace "a => ../b\n'})


def test_a_go_mod_beyond_the_cap_is_refused_before_it_is_read() -> None:
    with pytest.raises(PayloadTooLarge, match=r"go\.mod holds"):
        check_go_mod("module m\n" + "// x\n" * (MAX_GO_MOD_BYTES // 5))
