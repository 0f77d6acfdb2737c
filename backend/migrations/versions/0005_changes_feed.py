"""changes feed: a change sequence per user (users.change_seq, tasks.change_seq), tombstones
of deleted tasks, and how far they were purged (users.feed_floor)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SeqType = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # Plain ADD COLUMN (a batch operation would rebuild tasks without its AUTOINCREMENT).
    op.add_column(
        "users", sa.Column("change_seq", SeqType, server_default=sa.text("0"), nullable=False)
    )
    op.add_column(
        "users", sa.Column("feed_floor", SeqType, server_default=sa.text("0"), nullable=False)
    )
    op.add_column(
        "tasks", sa.Column("change_seq", SeqType, server_default=sa.text("0"), nullable=False)
    )
    op.create_index("ix_tasks_user_change", "tasks", ["user_id", "change_seq"])
    op.create_table(
        "task_tombstones",
        sa.Column("user_id", sa.String(length=255), nullable=False),
        sa.Column("change_seq", SeqType, nullable=False),
        sa.Column("task_id", SeqType, nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", "change_seq"),
    )
    op.create_index("ix_task_tombstones_deleted_at", "task_tombstones", ["deleted_at"])


def downgrade() -> None:
    op.drop_index("ix_task_tombstones_deleted_at", table_name="task_tombstones")
    op.drop_table("task_tombstones")
    op.drop_index("ix_tasks_user_change", table_name="tasks")
    op.drop_column("tasks", "change_seq")
    with op.batch_alter_table("users") as batch_op:
        batch_op.drop_column("feed_floor")
        batch_op.drop_column("change_seq")
