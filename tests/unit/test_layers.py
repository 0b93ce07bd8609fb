"""The package's layers: no module imports one of a higher layer, not even lazily inside a function.

The table below is the house's map (docs/development.md describes it): the core knows nothing of sandboxes, the
backends nothing of runs' verdicts, jobs nothing of HTTP keys, the HTTP toolkit nothing of the routes that use it.
Modules of one layer may import each other; what a lower layer needs from a higher one is passed to it by the
layer that assembles things (``wiring``, ``app``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import gosandbox

PACKAGE = Path(gosandbox.__file__).parent

#: Low to high. A module belongs to the first prefix that matches its dotted name (longest prefixes first).
LAYERS: list[tuple[str, ...]] = [
    (
        "gosandbox._version", "gosandbox.errors", "gosandbox.limits", "gosandbox.models", "gosandbox.policy",
        "gosandbox.source", "gosandbox.gomod", "gosandbox.txtar", "gosandbox.diagnostics", "gosandbox.gotest",
        "gosandbox.toolchain", "gosandbox.defaults", "gosandbox.logs", "gosandbox.metrics", "gosandbox.problems",
        "gosandbox.settings", "gosandbox.binary_cache", "gosandbox.examples", "gosandbox.images", "gosandbox.seccomp",
        "gosandbox.race", "gosandbox.single_flight",
    ),
    ("gosandbox.backends",),
    ("gosandbox.verdict", "gosandbox.runner", "gosandbox.go_tools", "gosandbox.explain", "gosandbox.judge"),
    ("gosandbox.jobs", "gosandbox.client"),
    ("gosandbox.auth",),
    ("gosandbox.edge",),
    ("gosandbox.api", "gosandbox.compat", "gosandbox.mcp", "gosandbox.web"),
    ("gosandbox.wiring", "gosandbox.app"),
    ("gosandbox.cli", "gosandbox.bench", "gosandbox.mcp.stdio", "gosandbox"),
]  # fmt: skip


def layer_of(module: str) -> int:
    best = (-1, -1)  # (prefix length, layer)
    for level, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best[0]:
                best = (len(prefix), level)
    assert best[1] >= 0, f"{module} is in no layer: add it to LAYERS"
    return best[1]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> set[str]:
    """Every gosandbox module ``path`` imports, at the top or inside a function (``TYPE_CHECKING`` included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:  # `from gosandbox import errors` imports gosandbox.errors, not the facade
                dotted = f"{node.module}.{alias.name}"
                found.add(dotted if _is_module(dotted) else node.module)
    return {name for name in found if name == "gosandbox" or name.startswith("gosandbox.")}


def _is_module(dotted: str) -> bool:
    relative = Path(*dotted.split(".")[1:])
    return (PACKAGE / relative).with_suffix(".py").exists() or (PACKAGE / relative / "__init__.py").exists()


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "migrations" not in p.parts)


@pytest.mark.parametrize("path", _modules(), ids=module_name)
def test_no_module_imports_a_higher_layer(path: Path) -> None:
    here = module_name(path)
    upward = sorted(target for target in imports_of(path) if layer_of(target) > layer_of(here))
    assert not upward, f"{here} (layer {layer_of(here)}) imports higher layers: {upward}"


def test_every_module_has_a_layer() -> None:
    for path in _modules():
        layer_of(module_name(path))


def test_no_two_top_level_modules_share_a_prefix() -> None:
    """A prefix shared by several top-level modules (``bench_*``) is a package asking to exist."""
    names = [p.stem for p in PACKAGE.glob("*.py") if not p.stem.startswith("_")]
    prefixes = [name.split("_")[0] for name in names if "_" in name]
    shared = sorted({p for p in prefixes if sum(n.startswith(p + "_") or n == p for n in names) > 1})
    assert not shared, f"top-level modules sharing a prefix: {shared}"
