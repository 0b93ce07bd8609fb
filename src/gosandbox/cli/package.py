"""A package on the user's disk, as the sandbox sees it and back: every position the CLI prints
names the user's own path (relative to where the command ran), never the sandbox's.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from gosandbox.errors import InvalidSource
from gosandbox.gotest import module_path
from gosandbox.source import DEFAULT_GO_MOD, check_file_name

_MAX_FILE_BYTES = 1024 * 1024
_GO_SOURCES = (".go", "go.mod", "go.sum")


@dataclass(frozen=True)
class LocalPackage:
    """``files`` by the names the sandbox uses; ``shown`` maps each name to the user's path."""

    root: Path
    files: dict[str, str]
    shown: dict[str, str]

    def show(self, name: str) -> str:
        return self.shown.get(name.removeprefix("./"), name)

    def write(self, name: str, text: str) -> None:
        """Write a file of the package back where it came from."""
        target = self.root if self.root.is_file() else self.root / name
        target.write_text(text, encoding="utf-8")

    def rewrite(self, text: str) -> str:
        """Tool output with every ``file:line`` of the package naming the user's path.

        Go writes ``./main.go:6:6`` (compiler), ``main.go:6`` (t.Log) and ``<module>/main.go:8``
        (stack traces of a -trimpath build); all three become the path the user typed.
        """
        if not self.shown:
            return text
        return self._position_pattern.sub(lambda m: self.shown[m["name"]], text)

    @cached_property  # built once: rewrite runs on every line of output
    def _position_pattern(self) -> re.Pattern[str]:
        module = module_path(self.files.get("go.mod", DEFAULT_GO_MOD))
        names = "|".join(re.escape(name) for name in sorted(self.shown, key=len, reverse=True))
        return re.compile(rf"(?<![\w./-])(?:\./|{re.escape(module)}/)?(?P<name>{names})(?=:\d)")


def read_package(path: Path) -> LocalPackage:
    """A .go file under its own name, or every acceptable file of a directory (hidden ones skipped).

    A file whose name the sandbox refuses (a space, say) goes in as main.go.
    """
    if path.is_file():
        name = path.name if _acceptable(path.name) and path.name.endswith(".go") else "main.go"
        return LocalPackage(path, {name: _read_source(path)}, {name: _relative(path)})
    files, shown = {}, {}
    for item in sorted(path.rglob("*")):
        name = item.relative_to(path).as_posix()
        if not item.is_file() or any(part.startswith(".") for part in name.split("/")) or not _acceptable(name):
            continue
        if item.stat().st_size > _MAX_FILE_BYTES:
            sys.stderr.write(f"gosandbox: skipping {_relative(item)}: larger than {_MAX_FILE_BYTES} bytes\n")
            continue
        try:
            files[name] = _read_source(item)
        except InvalidSource:
            if name.endswith(_GO_SOURCES):
                raise
            sys.stderr.write(f"gosandbox: skipping {_relative(item)}: not UTF-8 text\n")
            continue
        shown[name] = _relative(item)
    return LocalPackage(path, files, shown)


def _acceptable(name: str) -> bool:
    try:
        check_file_name(name)
    except InvalidSource:
        return False
    return True


def _read_source(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidSource(f"{_relative(path)} is not UTF-8 text (byte {exc.start})") from None


def _relative(path: Path) -> str:
    """The path as the user typed it: relative to here, unless it was absolute."""
    return path.as_posix() if path.is_absolute() else Path(os.path.relpath(path)).as_posix()
