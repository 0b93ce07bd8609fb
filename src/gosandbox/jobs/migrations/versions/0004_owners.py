"""Owners and storage: an Idempotency-Key unique per owner, admin keys, the bytes each row stores, shares' expiry.

- ``submissions.idempotency_key`` was unique in the whole table (another key's request could be
  answered with this one's submission); it is now unique per owner, the keyless tenant (NULL)
  counting as one owner: a unique index on ``(coalesce(api_key_name, ''), idempotency_key)``.
- ``submissions.stored_bytes``: what the owner's storage quota counts (rows made before count 0;
  they go within GOSANDBOX_RESULT_TTL_S).
- ``api_keys.admin``: the key reads, cancels and deletes every owner's submissions and shares.
- ``shares.size_bytes`` (filled from the bodies) and ``shares.expires_at`` (NULL: kept until deleted,
  which is what the shares made before were promised).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_OWNER_KEY = "ux_submissions_owner_idempotency_key"
#: How SQLite's unnamed UNIQUE of 0001 is named while its table is copied (batch mode), so it can be dropped.
_NAMES = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def _drop_global_key_uniqueness() -> None:
    """PostgreSQL named 0001's constraint itself; SQLite did not, and cannot drop one in place."""
    found = sa.inspect(op.get_bind()).get_unique_constraints("submissions")
    names = [c["name"] for c in found if c["column_names"] == ["idempotency_key"]]
    with op.batch_alter_table("submissions", naming_convention=_NAMES) as batch:
        if names:
            batch.drop_constraint(names[0] or "uq_submissions_idempotency_key", type_="unique")
        batch.add_column(sa.Column("stored_bytes", sa.Integer(), nullable=False, server_default=sa.text("0")))


def upgrade() -> None:
    _drop_global_key_uniqueness()
    op.create_index("ix_submissions_api_key_name", "submissions", ["api_key_name"])
    op.create_index(_OWNER_KEY, "submissions", [sa.text("coalesce(api_key_name, '')"), "idempotency_key"],
                    unique=True)  # fmt: skip
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("admin", sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table("shares") as batch:
        batch.add_column(sa.Column("size_bytes", sa.Integer(), nullable=False, server_default=sa.text("0")))
        batch.add_column(sa.Column("expires_at", sa.Float(), nullable=True))
    op.execute("UPDATE shares SET size_bytes = length(body)")
    op.create_index("ix_shares_api_key_name", "shares", ["api_key_name"])
    op.create_index("ix_shares_expires_at", "shares", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_shares_expires_at", "shares")
    op.drop_index("ix_shares_api_key_name", "shares")
    with op.batch_alter_table("shares") as batch:
        batch.drop_column("expires_at")
        batch.drop_column("size_bytes")
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("admin")
    op.drop_index(_OWNER_KEY, "submissions")
    op.drop_index("ix_submissions_api_key_name", "submissions")
    with op.batch_alter_table("submissions") as batch:
        batch.drop_column("stored_bytes")
        batch.create_unique_constraint("uq_submissions_idempotency_key", ["idempotency_key"])
