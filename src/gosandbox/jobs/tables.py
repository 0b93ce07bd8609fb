"""The SQL schema of the submission store (SQLAlchemy 2, typed). Alembic migrations create it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Boolean, Float, Index, Integer, LargeBinary, String, Text, false, func, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class SubmissionRow(Base):
    __tablename__ = "submissions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    state: Mapped[str] = mapped_column(String(16))
    request: Mapped[dict[str, Any]] = mapped_column(JSON)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    events: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[float] = mapped_column(Float)
    enqueued_at: Mapped[float] = mapped_column(Float)
    started_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    finished_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    worker: Mapped[str | None] = mapped_column(String(128), nullable=True)
    #: the queue message that holds the current attempt; a redelivery of it means its worker was lost
    claim: Mapped[str | None] = mapped_column(String(64), nullable=True)
    go_version: Mapped[str | None] = mapped_column(String(40), nullable=True)
    callback_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    callback: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    #: the API node that accepted it, and whether a client waits on that node (a synchronous endpoint)
    origin: Mapped[str] = mapped_column(String(128))
    sync: Mapped[bool] = mapped_column(Boolean, default=False)
    #: unique per owner (the index below): another key's Idempotency-Key is another key
    idempotency_key: Mapped[str | None] = mapped_column(String(255), nullable=True)
    #: the name of the API key that submitted it (never the key); None without GOSANDBOX_AUTH=required
    api_key_name: Mapped[str | None] = mapped_column(String(64), nullable=True)
    #: the JSON bytes of its request, result and stored events: what its owner's storage quota counts
    stored_bytes: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))

    __table_args__ = (
        Index("ix_submissions_state_enqueued", "state", "enqueued_at"),
        Index("ix_submissions_finished_at", "finished_at"),
        Index("ix_submissions_api_key_name", "api_key_name"),
        # The keyless tenant's NULL made one key too: NULLs are distinct in a unique index.
        Index("ux_submissions_owner_idempotency_key", func.coalesce(api_key_name, ""), idempotency_key, unique=True),
    )


class ApiKeyRow(Base):
    """An API key: its SHA-256 hash (never the key), a prefix to tell keys apart, its limits (see gosandbox.auth)."""

    __tablename__ = "api_keys"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    rate_per_s: Mapped[float] = mapped_column(Float)
    burst: Mapped[int] = mapped_column(Integer)
    daily: Mapped[int] = mapped_column(Integer)  # 0: no daily quota
    max_wall_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    max_memory_mb: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[float] = mapped_column(Float)
    revoked_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    #: reads, cancels and deletes what every key owns (``gosandbox keys create --admin``)
    admin: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class ShareRow(Base):
    """A shared program (see gosandbox.jobs.shares): its bytes as sent, under an id made from them and its owner."""

    __tablename__ = "shares"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[float] = mapped_column(Float)
    api_key_name: Mapped[str | None] = mapped_column(String(64), nullable=True)
    #: len(body): what its owner's storage quota counts
    size_bytes: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    #: purged after this (None: kept until deleted); sharing it again moves it on
    expires_at: Mapped[float | None] = mapped_column(Float, nullable=True)

    __table_args__ = (
        Index("ix_shares_api_key_name", "api_key_name"),
        Index("ix_shares_expires_at", "expires_at"),
    )
