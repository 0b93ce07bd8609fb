"""go.mod and go.work files read the way the go command reads them (``golang.org/x/mod/modfile``'s grammar).

A check that reads these files some other way can be fooled: a line cut at the first ``//`` misses
that ``//`` inside a quoted string is not a comment, so ``replace "a//b" => /elsewhere`` looked
like a comment to it while the go command read a replace to a directory. So the lexer and the
statement parser here follow modfile's ``read.go`` rule for rule:

- a token is a quoted string (``"..."`` with backslash escapes, or ```...```, never across a line
  end), one of the punctuation marks ``( ) [ ] { } ,`` or a newline, or an identifier: a run of
  printable, non-space characters, which ``//`` ends;
- ``//`` at the start of a token begins a comment to the end of the line; ``/*`` is an error;
  spaces, tabs and carriage returns separate tokens; any other character is an error;
- a statement is the tokens of one line; ``verb (`` at the end of a line opens a block whose lines
  each are a statement of that verb, up to a line that begins with ``)``.

And a string argument is read as modfile's ``parseString`` reads it: one beginning with ``"`` is
unquoted by Go's rules (:func:`unquote`), any other holding a quote is an error.

>>> [(d.verb, d.args) for d in directives('module m\\nreplace (\\n\\t"a//b" => /x // c\\n)\\n')]
[('module', ('m',)), ('replace', ('"a//b"', '=>', '/x'))]
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple

# One pattern for modfile's tokens, tried in its lexer's order; "bad" is what its lexer refuses.
# Inside "...", a backslash takes the next character whatever it is (a newline too, as modfile's lexer does).
_TOKEN = re.compile(
    r"""(?P<space>[ \t\r]+)"""
    r"""|(?P<comment>//[^\n]*\n?)"""
    r"""|(?P<punct>[\n()\[\]{},])"""
    r"""|(?P<string>"(?:[^"\\\n]|\\[\s\S])*"|`[^`\n]*`)"""
    r"""|(?P<bad>/\*|["`])"""  # a quote here starts a string that does not end on its line
    r"""|(?P<ident>(?:[^ \t\r\n()\[\]{},/"`]|/(?![/*]))(?:[^ \t\r\n()\[\]{},/]|/(?![/*]))*)"""
)
_SIMPLE_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\", '"': '"'}
_HEX_DIGITS = {"x": 2, "u": 4, "U": 8}


class GoModSyntaxError(ValueError):
    """The go command could not read this file either; ``line`` is where it stopped."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line, self.reason = line, reason


@dataclass(frozen=True)
class Directive:
    """One statement: its verb (a block's verb for the lines of a block) and its tokens as written."""

    verb: str
    args: tuple[str, ...]
    line: int


class _Token(NamedTuple):
    kind: str  # "ident", "string", "comment", "eol-comment", "eof", or the punctuation character itself
    text: str
    line: int


_LINE_ENDS = frozenset({"\n", "eol-comment", "eof"})


def _tokens(text: str) -> list[_Token]:
    """modfile's lexer: every token of ``text``, comments included, then one ``eof``.

    One regular expression tries the token kinds in the lexer's order (a C loop, not a Python one per
    character: a 64 KiB file of one-letter tokens lexes in a few tens of milliseconds).
    """
    found: list[_Token] = []
    at, line, end = 0, 1, len(text)
    while at < end:
        match = _TOKEN.match(text, at)
        kind = match.lastgroup if match else None
        if match is None or kind is None or kind == "bad":
            raise GoModSyntaxError(line, _refusal(text, at))
        token, at = match.group(), match.end()
        if kind == "space":
            continue
        if kind == "comment":
            whole_line = not text[text.rfind("\n", 0, match.start()) + 1 : match.start()].strip()
            kind = "comment" if whole_line else "eol-comment"
        elif kind == "punct":
            kind = token
        elif kind == "ident" and not token.isprintable():
            raise GoModSyntaxError(line, _refusal(token, next(i for i, c in enumerate(token) if not c.isprintable())))
        found.append(_Token(kind, token, line))
        line += token.count("\n")
    found.append(_Token("eof", "", line))
    return found


def _refusal(text: str, at: int) -> str:
    """Why modfile's lexer stops at ``text[at]`` (in words that quote no input but a code point)."""
    if text.startswith("/*", at):
        return "mod files must use // comments (not /* */ comments)"
    if text[at] in '"`':
        return "unterminated string (a string ends on its own line)"
    return f"unexpected input character U+{ord(text[at]):04X}"


def directives(text: str) -> list[Directive]:
    """Every statement of a go.mod or go.work file, as the go command sees them; a block's lines one by one.

    Raises :class:`GoModSyntaxError` where the go command's own reader fails.
    """
    return _Parser(_tokens(text)).file()


class _Parser:
    """modfile's parseFile, parseStmt, parseLineBlock and parseLine over the tokens, comments skipped."""

    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens, self.at = tokens, 0

    def peek(self) -> _Token:
        return self.tokens[self.at]

    def take(self) -> _Token:
        token = self.tokens[self.at]
        if token.kind != "eof":  # eof repeats, as modfile's lexer's does
            self.at += 1
        return token

    def ends_line(self) -> bool:
        return self.tokens[self.at].kind in _LINE_ENDS

    def file(self) -> list[Directive]:
        found: list[Directive] = []
        while (kind := self.peek().kind) != "eof":
            if kind in ("\n", "comment"):
                self.take()
            else:
                found += self.statement()
        return found

    def statement(self) -> list[Directive]:
        first = self.take()
        tokens = [first.text]
        while (token := self.take()).kind not in _LINE_ENDS:
            if token.kind == "(" and self.ends_line():
                return self.block(tokens, first.line)
            if token.kind == "(" and self.peek().kind == ")":
                closing = self.take()
                if self.ends_line():
                    self.take()
                    return self.block_lines(tokens, first.line, [])
                tokens += [token.text, closing.text]
                continue
            tokens.append(token.text)
        return [Directive(tokens[0], tuple(tokens[1:]), first.line)]

    def block(self, header: list[str], line: int) -> list[Directive]:
        lines: list[tuple[list[str], int]] = []
        while True:
            token = self.peek()
            if token.kind == "eof":
                raise GoModSyntaxError(line, "syntax error (unterminated block)")
            if token.kind in ("\n", "comment", "eol-comment"):
                self.take()
            elif token.kind == ")":
                self.take()
                if not self.ends_line():
                    raise GoModSyntaxError(token.line, "syntax error (expected newline after closing paren)")
                self.take()
                return self.block_lines(header, line, lines)
            else:
                lines.append(self.line())

    def line(self) -> tuple[list[str], int]:
        first = self.take()
        tokens = [first.text]
        while (token := self.take()).kind not in _LINE_ENDS:
            tokens.append(token.text)
        return tokens, first.line

    @staticmethod
    def block_lines(header: list[str], line: int, lines: list[tuple[list[str], int]]) -> list[Directive]:
        if len(header) > 1:  # "replace x (": the go command refuses an unknown block type
            raise GoModSyntaxError(line, "unknown block type (a block's header is one word, as replace)")
        return [Directive(header[0], tuple(tokens), number) for tokens, number in lines]


# --- strings ---------------------------------------------------------------------------------------


def parse_string(token: str) -> str:
    """A token as modfile's ``parseString`` reads it: ``"..."`` unquoted, else as written (no quote allowed)."""
    if token.startswith('"'):
        return unquote(token)
    if any(quote in token for quote in "\"'`"):
        raise ValueError("unquoted string cannot contain quote")
    return token


def unquote(token: str) -> str:
    r"""A double-quoted Go string literal's value, as ``strconv.Unquote`` gives it.

    A byte escape (``\xff``, ``\377``) that is not UTF-8 on its own stands for U+FFFD here: the
    value is only ever compared with paths and prefixes.

    >>> unquote(r'"\x2e\x2e/b"'), unquote(r'"\u002e/x"')
    ('../b', './x')
    """
    if len(token) < 2 or token[0] != '"' or token[-1] != '"':
        raise ValueError("invalid syntax")
    body, out, at = token[1:-1], bytearray(), 0
    while at < len(body):
        char = body[at]
        if char in '"\n':
            raise ValueError("invalid syntax")
        if char != "\\":
            out += char.encode("utf-8", "surrogatepass")
            at += 1
            continue
        value, at = _escape(body, at + 1)
        out += value
    return out.decode("utf-8", "replace")


def _escape(body: str, at: int) -> tuple[bytes, int]:
    """The bytes of the escape whose letter is at ``body[at]``, and where the text goes on."""
    letter = body[at : at + 1]
    if letter in _SIMPLE_ESCAPES:
        return _SIMPLE_ESCAPES[letter].encode(), at + 1
    if letter in _HEX_DIGITS:
        digits = body[at + 1 : at + 1 + _HEX_DIGITS[letter]]
        if len(digits) != _HEX_DIGITS[letter] or not all(d in "0123456789abcdefABCDEF" for d in digits):
            raise ValueError("invalid syntax")
        value = int(digits, 16)
        if letter == "x":
            return bytes([value]), at + 1 + len(digits)
        if value > 0x10FFFF or 0xD800 <= value <= 0xDFFF:
            raise ValueError("invalid syntax")
        return chr(value).encode(), at + 1 + len(digits)
    digits = body[at : at + 3]
    if len(digits) == 3 and all(d in "01234567" for d in digits) and int(digits, 8) <= 255:
        return bytes([int(digits, 8)]), at + 3
    raise ValueError("invalid syntax")


def is_directory_path(path: str) -> bool:
    """modfile's ``IsDirectoryPath``: relative (``./``, ``../``) or rooted paths, in Unix or Windows spelling."""
    prefixes = ("./", "../", "/", ".\\", "..\\", "\\")
    return path.startswith(prefixes) or (len(path) >= 2 and path[0].isascii() and path[0].isalpha() and path[1] == ":")
