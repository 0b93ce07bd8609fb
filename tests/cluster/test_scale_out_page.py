"""The scale-out commands of docs/scale-out.md, run exactly as written (on loopback: Redis, PostgreSQL, two workers)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
import redis

from support.docker_helpers import reap_until_quiet

pytestmark = pytest.mark.docker

ROOT = Path(__file__).parents[2]
INSTANCES = ("worker-1", "worker-2", "api-1")


def scale_out_commands() -> str:
    page = (ROOT / "docs" / "scale-out.md").read_text()
    found = re.search(r"<!-- scale-out -->\n```sh\n(.*?)```", page, re.DOTALL)
    assert found, "docs/scale-out.md has no scale-out block"
    return found.group(1)


def stop_group(group: int, timeout_s: float = 60) -> None:
    """Wait for every process of the group to exit (SIGKILL after ``timeout_s``)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            os.killpg(group, signal.SIGKILL if time.monotonic() > deadline else 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)


def test_the_scale_out_commands_work_as_written(tmp_path: Path) -> None:
    commands = scale_out_commands()
    assert "gosandbox worker" in commands
    queue_url = re.search(r"GOSANDBOX_QUEUE_URL=(\S+)", commands)
    assert queue_url
    redis.Redis.from_url(queue_url.group(1)).flushdb()  # no worker announcements left from an earlier run
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOSANDBOX_")}
    out = tmp_path / "stdout"
    with out.open("w") as stdout:  # a file, not a pipe: the workers left in the background keep it open
        shell = subprocess.Popen(["sh", "-c", commands], cwd=ROOT, env=env, stdout=stdout, start_new_session=True)
    try:
        shell.wait(timeout=180)
        output = out.read_text()
    finally:
        os.killpg(shell.pid, signal.SIGTERM)  # the workers drain and remove their sandboxes
        stop_group(shell.pid)
    result = json.loads(output.splitlines()[-1].removeprefix('{"status":"ready"}'))
    assert shell.returncode == 0
    assert result["status"] == "ok", output
    assert result["stdout"] == "Hello from a gosandbox sandbox!\n"
    for instance in INSTANCES:
        reap_until_quiet(instance)
