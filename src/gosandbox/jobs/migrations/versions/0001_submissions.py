"""The submissions table.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "submissions",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("error", sa.JSON(), nullable=True),
        sa.Column("events", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("enqueued_at", sa.Float(), nullable=False),
        sa.Column("started_at", sa.Float(), nullable=True),
        sa.Column("finished_at", sa.Float(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("worker", sa.String(128), nullable=True),
        sa.Column("claim", sa.String(64), nullable=True),
        sa.Column("go_version", sa.String(40), nullable=True),
        sa.Column("callback_url", sa.Text(), nullable=True),
        sa.Column("callback", sa.JSON(), nullable=True),
        sa.Column("origin", sa.String(128), nullable=False),
        sa.Column("sync", sa.Boolean(), nullable=False),
        sa.Column("idempotency_key", sa.String(255), nullable=True, unique=True),
    )
    op.create_index("ix_submissions_state_enqueued", "submissions", ["state", "enqueued_at"])
    op.create_index("ix_submissions_finished_at", "submissions", ["finished_at"])


def downgrade() -> None:
    op.drop_table("submissions")
