"""Handoffs: one row per shift change, a sending lease, and the acceptance deadline.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

from bot.store.tables import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("handoffs") as batch:
        batch.add_column(sa.Column("claimed_until", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("ack_due_at", UTCDateTime(), nullable=True))
    op.create_index("ix_handoffs_ack_due_at", "handoffs", ["ack_due_at"])
    op.create_index("uq_handoffs_schedule_at", "handoffs", ["schedule", "at"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_handoffs_schedule_at", table_name="handoffs")
    op.drop_index("ix_handoffs_ack_due_at", table_name="handoffs")
    with op.batch_alter_table("handoffs") as batch:
        batch.drop_column("ack_due_at")
        batch.drop_column("claimed_until")
