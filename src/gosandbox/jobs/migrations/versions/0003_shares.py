"""Shared programs (the Go Playground's /share and /p/{id}), kept under an id made from their bytes.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "shares",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("api_key_name", sa.String(64), nullable=True),  # who shared it first (GOSANDBOX_AUTH=required)
    )


def downgrade() -> None:
    op.drop_table("shares")
