"""``gosandbox keys``: create, list and revoke API keys in the store (GOSANDBOX_DATABASE_URL)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click

from gosandbox.cli.exits import SERVICE_FAILED
from gosandbox.errors import GosandboxError, InvalidRequest
from gosandbox.settings import Settings

if TYPE_CHECKING:  # SQLAlchemy and Alembic load only when a keys command runs
    from gosandbox.auth.keys import ApiKey, KeyStore

#: Used when ``keys create`` is not told otherwise.
DEFAULT_RATE, DEFAULT_BURST, DEFAULT_DAILY = "5/s", 10, 10_000


def _key_store() -> KeyStore:
    from gosandbox.auth.keys import KeyStore  # noqa: PLC0415
    from gosandbox.wiring import open_store  # noqa: PLC0415

    return KeyStore(open_store(Settings()).engine)


def _fail(exc: GosandboxError) -> None:
    click.echo(f"gosandbox: {exc}", err=True)
    sys.exit(2 if isinstance(exc, InvalidRequest) else SERVICE_FAILED)


def _when(epoch_s: float | None) -> str:
    return "-" if epoch_s is None else datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def describe(key: ApiKey) -> str:
    from gosandbox.auth.keys import show_rate  # noqa: PLC0415

    caps = f"wall {key.max_wall_s:g} s" if key.max_wall_s is not None else "wall: server cap"
    caps += f", memory {key.max_memory_mb} MiB" if key.max_memory_mb is not None else ", memory: server cap"
    daily = str(key.daily) if key.daily else "unlimited"
    state = f"revoked {_when(key.revoked_at)}" if key.revoked_at is not None else "live"
    return (f"{key.name}\t{key.prefix}…\trate {show_rate(key.rate_per_s)}, burst {key.burst}, daily {daily}\t"
            f"{caps}\tcreated {_when(key.created_at)}\t{state}")  # fmt: skip


@click.group("keys")
def keys() -> None:
    """API keys of GOSANDBOX_AUTH=required: stored hashed; a key is shown once, when it is made."""


@keys.command("create")
@click.option("--name", required=True, help="unique, never reused: 1-64 letters, digits, '_', '.', '-'")
@click.option("--rate", default=DEFAULT_RATE, show_default=True, help="token refill rate: N/s, N/m or N/h")
@click.option("--burst", type=click.IntRange(1), default=DEFAULT_BURST, show_default=True, help="bucket size")
@click.option("--daily", type=click.IntRange(0), default=DEFAULT_DAILY, show_default=True,
              help="counted requests per UTC day (0: no daily quota)")  # fmt: skip
@click.option("--max-wall-s", type=click.FloatRange(0, min_open=True), help="cap on limits.wall_s (default: server's)")
@click.option("--max-memory-mb", type=click.IntRange(1), help="cap on limits.memory_mb (default: server's)")
@click.option("--admin", is_flag=True, help="may read, cancel and delete every key's submissions and shares")
def create(name: str, rate: str, burst: int, daily: int, admin: bool, **caps: Any) -> None:
    """Make a key; print it once (only its hash is kept)."""
    from gosandbox.auth.keys import ApiKey, parse_rate  # noqa: PLC0415

    try:
        spec = ApiKey(name, "", parse_rate(rate), burst, daily, caps["max_wall_s"], caps["max_memory_mb"],
                      admin=admin)  # fmt: skip
        key, stored = _key_store().create(spec)
    except GosandboxError as exc:
        _fail(exc)
    click.echo(key)
    click.echo(f"# {describe(stored)}", err=True)
    click.echo("# shown once: the server keeps only its SHA-256 hash. Send it as Authorization: Bearer <key>", err=True)


@keys.command("list")
def list_keys() -> None:
    """Every key, revoked ones too: name, prefix, limits, caps, when made, state."""
    try:
        for key in _key_store().list():
            click.echo(describe(key))
    except GosandboxError as exc:
        _fail(exc)


@keys.command("revoke")
@click.argument("name")
def revoke(name: str) -> None:
    """Revoke the key NAME; every API node refuses it within 5 s (their caches' lifetime)."""
    try:
        revoked = _key_store().revoke(name)
    except GosandboxError as exc:
        _fail(exc)
    if not revoked:
        click.echo(f"gosandbox: no live key named {name!r}", err=True)
        sys.exit(1)
    click.echo(f"revoked {name}")
