"""The playground's share links with GOSANDBOX_AUTH=required: a shared program is read with a key only."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from gosandbox.app import create_app
from gosandbox.backends.fake import FakeBackend
from gosandbox.jobs.submission import KEYLESS
from gosandbox.settings import Settings

_PROGRAM = b'package main\n\nfunc main() { println("a guess") }\n'


def test_embed_with_a_program_needs_a_key_as_the_share_itself(tmp_path: Path) -> None:
    """Else /embed?p= tells a keyless client which guessed programs were shared (200 against 404)."""
    app = create_app(Settings(state_dir=tmp_path, auth="required"), backend=FakeBackend())
    with TestClient(app) as client:
        share_id = app.state.playground.shares.put(_PROGRAM, KEYLESS)
        assert client.get(f"/p/{share_id}.txtar").status_code == 401
        assert client.get(f"/embed?p={share_id}").status_code == 401
        assert client.get("/embed?p=AAAAAAAAAAAAAAA").status_code == 401
        assert client.get("/embed").status_code == 200  # the empty page stays keyless
        assert client.get("/").status_code == 200
