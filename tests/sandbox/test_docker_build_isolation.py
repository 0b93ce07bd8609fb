"""Builds are tenants too: no build can read another build's files or anything of the host."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fastapi.testclient import TestClient

VICTIM_MOD = "module example.com/victim\n\ngo 1.27\n"


def _victim(token: str) -> dict[str, str]:
    # A package that takes a moment to compile, so that the attacks run while it is on disk.
    table = "\n".join(f'\t"k{i}": "{token}{i}",' for i in range(3000))
    return {
        "go.mod": VICTIM_MOD,
        "main.go": 'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println(len(table)) }\n',
        "secret.go": f"package main\n\nvar table = map[string]string{{\n{table}\n}}\n",
    }


def _attacker(go_mod: str, main: str = "") -> dict[str, str]:
    body = main or 'package main\n\nimport victim "example.com/victim"\n\nfunc main() { _ = victim.Secret }\n'
    return {"go.mod": go_mod, "main.go": body}


ATTACKS: dict[str, dict[str, str]] = {
    "replace to the parent directory": _attacker(
        "module attacker\n\ngo 1.27\n\nrequire example.com/victim v0.0.0\n\nreplace example.com/victim => ../\n"
    ),
    "quoted replace to the builds root": _attacker(
        'module attacker\n\ngo 1.27\n\nrequire example.com/victim v0.0.0\n\nreplace example.com/victim => "/builds"\n'
    ),
    "replace block to the module cache": _attacker(
        "module attacker\n\ngo 1.27\n\nrequire example.com/victim v0.0.0\n\n"
        "replace (\n\texample.com/victim => /tmp/gopath/pkg/mod/example.com/victim\n)\n"
    ),
    "require without a replace": _attacker("module attacker\n\ngo 1.27\n\nrequire example.com/victim v0.0.0\n"),
    "embed of a parent directory": _attacker(
        "module attacker\n\ngo 1.27\n",
        'package main\n\nimport _ "embed"\n\n//go:embed ../*\nvar loot string\n\nfunc main() { print(loot) }\n',
    ),
    "assembly include of another build's file": {
        "go.mod": "module attacker\n\ngo 1.27\n",
        "main.go": "package main\n\nfunc f()\n\nfunc main() { f() }\n",
        "f_amd64.s": '#include "/proc/self/cwd/../secret.go"\nTEXT ·f(SB),0,$0\n\tRET\n',
    },
    "relative import": _attacker(
        "module attacker\n\ngo 1.27\n", 'package main\n\nimport _ "../victim"\n\nfunc main() {}\n'
    ),
}


def _post(client: TestClient, files: dict[str, str]) -> tuple[int, dict[str, Any]]:
    response = client.post("/run", json={"files": files})
    body: dict[str, Any] = response.json()
    return response.status_code, body


def test_concurrent_builds_cannot_reach_each_other(live: TestClient) -> None:
    token = f"TOKEN{uuid.uuid4().hex}"
    with ThreadPoolExecutor(max_workers=len(ATTACKS) + 1) as pool:
        victim = pool.submit(_post, live, _victim(token))
        attacks = {name: pool.submit(_post, live, files) for name, files in ATTACKS.items()}
        status, result = victim.result()
        outcomes = {name: future.result() for name, future in attacks.items()}
    assert status == 200
    assert (result["status"], result["stdout"]) == ("ok", "3000\n")
    for name, (code, body) in outcomes.items():
        text = str(body)
        assert token not in text, name
        if code == 200:
            assert body["status"] == "compile_error", (name, body)
        else:
            assert code == 422, (name, body)
            assert "local path" in body["detail"] or "only Go is compiled" in body["detail"], (name, body)
