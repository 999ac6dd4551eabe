"""Muting: silences, and what muted each alert.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

from bot.store.tables import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("muted_by", sa.String(), nullable=True))
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(sa.Column("muted_count", sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("incidents") as batch:
        batch.alter_column("muted_count", server_default=None)
    op.create_table(
        "silences",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("matchers", sa.String(), nullable=False),
        sa.Column("starts_at", UTCDateTime(), nullable=False),
        sa.Column("ends_at", UTCDateTime(), nullable=False),
        sa.Column("owner", sa.String(), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column("created_by", sa.String(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expired_at", UTCDateTime(), nullable=True),
        sa.Column("alertmanager_id", sa.String(), nullable=True),
        sa.Column("last_matched_at", UTCDateTime(), nullable=True),
        sa.Column("reminded_expiry_at", UTCDateTime(), nullable=True),
        sa.Column("reminded_unused_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_silences_ends_at", "silences", ["ends_at"])


def downgrade() -> None:
    op.drop_table("silences")
    with op.batch_alter_table("incidents") as batch:
        batch.drop_column("muted_count")
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("muted_by")
