"""The submission's own compiles carry a per-tenant flag the compiler ignores; the standard library's do not."""

from __future__ import annotations

import pytest

from gosandbox.toolchain import Tool, go_command, tenant_compile_flag


def test_each_tenant_has_its_own_flag() -> None:
    flags = {tenant_compile_flag(name) for name in ("key-a", "key-b", "key-c")}
    assert len(flags) == 3
    assert tenant_compile_flag("key-a") == tenant_compile_flag("key-a")
    assert all(flag.startswith("-D=/gosandbox-tenant/") for flag in flags)  # the relative-import prefix


@pytest.mark.parametrize("tool", [Tool.BUILD, Tool.TEST])
def test_the_flag_reaches_the_submissions_packages_only(tool: Tool) -> None:
    flag = tenant_compile_flag("key-a")
    argv = go_command(tool, "/o", tenant_flag=flag)
    assert f"-gcflags=./...={flag}" in argv  # ./...: the packages under the build's directory, never std
    assert not any(arg.startswith("-gcflags") for arg in go_command(tool, "/o"))


def test_explain_keeps_one_gcflags_with_the_tenant_flag_in_it() -> None:
    """Two -gcflags for one pattern: the go command keeps the last only, so the flag joins the explain's own."""
    flag = tenant_compile_flag("key-a")
    gcflags = [arg for arg in go_command(Tool.EXPLAIN, "/b/out/prog", tenant_flag=flag) if arg.startswith("-gcflags")]
    assert len(gcflags) == 1
    assert gcflags[0].startswith("-gcflags=./...=-json=0,file:///b/out/json -m")
    assert gcflags[0].endswith(f" {flag}")
