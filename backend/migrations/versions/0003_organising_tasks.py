"""organising tasks: priority, tags, due dates, recurrence, versions; search and sort indexes

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

IdType = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# Substring search (`q`) on PostgreSQL: trigram GIN indexes led by user_id (btree_gin), so
# one index scan intersects "this user" with "contains the text". SQLite scans the user's
# rows instead. Names listed in backend.tables.POSTGRESQL_ONLY_INDEXES.
SEARCH_INDEXES = {
    "ix_tasks_search_title": "title",
    "ix_tasks_search_description": "description",
}


def upgrade() -> None:
    # Plain ADD COLUMN, also on SQLite: a batch operation would rebuild the table without
    # its AUTOINCREMENT (deleted ids would be handed out again).
    op.add_column("tasks", sa.Column("completed_at", sa.DateTime(timezone=True)))
    op.add_column(
        "tasks",
        sa.Column("priority", sa.SmallInteger(), server_default=sa.text("2"), nullable=False),
    )
    op.add_column(
        "tasks", sa.Column("tag_names", sa.JSON(), server_default=sa.text("'[]'"), nullable=False)
    )
    op.add_column("tasks", sa.Column("due_at", sa.DateTime(timezone=True)))
    op.add_column("tasks", sa.Column("recurrence_frequency", sa.String(length=10)))
    op.add_column("tasks", sa.Column("recurrence_interval", sa.Integer()))
    op.add_column("tasks", sa.Column("recurrence_day", sa.SmallInteger()))
    op.add_column("tasks", sa.Column("next_occurrence_id", IdType))
    op.add_column(
        "tasks", sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False)
    )
    # Tasks completed before this revision: their completion time is unknown, the last
    # change is the best estimate.
    op.execute("UPDATE tasks SET completed_at = updated_at WHERE completed")
    op.create_index("ix_tasks_user_updated", "tasks", ["user_id", "updated_at", "id"])
    op.create_index("ix_tasks_user_priority", "tasks", ["user_id", "priority", "id"])
    op.create_index("ix_tasks_user_due", "tasks", ["user_id", "due_at", "id"])
    op.create_index("ix_tasks_user_title", "tasks", ["user_id", sa.text("lower(title)"), "id"])
    op.create_index(
        "ix_tasks_user_completed_due",
        "tasks",
        ["user_id", "completed", "due_at"],
        postgresql_include=["priority"],
    )

    op.create_table(
        "tags",
        sa.Column("id", IdType, autoincrement=True, nullable=False),
        sa.Column("user_id", sa.String(length=255), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("uq_tags_user_key", "tags", ["user_id", "key"], unique=True)
    op.create_table(
        "task_tags",
        sa.Column("task_id", IdType, nullable=False),
        sa.Column("tag_id", IdType, nullable=False),
        sa.ForeignKeyConstraint(["task_id"], ["tasks.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["tag_id"], ["tags.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("task_id", "tag_id"),
    )
    op.create_index("ix_task_tags_tag_task", "task_tags", ["tag_id", "task_id"])

    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute("CREATE EXTENSION IF NOT EXISTS btree_gin")
        # Due date descending with undated tasks still last (the ASC index scanned
        # backwards would put them first).
        op.execute(
            "CREATE INDEX ix_tasks_user_due_desc"
            " ON tasks (user_id, due_at DESC NULLS LAST, id DESC)"
        )
        for name, column in SEARCH_INDEXES.items():
            op.execute(f"CREATE INDEX {name} ON tasks USING gin (user_id, {column} gin_trgm_ops)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name in ("ix_tasks_user_due_desc", *SEARCH_INDEXES):
            op.execute(f"DROP INDEX IF EXISTS {name}")
    op.drop_index("ix_task_tags_tag_task", table_name="task_tags")
    op.drop_table("task_tags")
    op.drop_index("uq_tags_user_key", table_name="tags")
    op.drop_table("tags")
    for name in (
        "ix_tasks_user_completed_due",
        "ix_tasks_user_title",
        "ix_tasks_user_due",
        "ix_tasks_user_priority",
        "ix_tasks_user_updated",
    ):
        op.drop_index(name, table_name="tasks")
    with op.batch_alter_table("tasks", table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        for column in (
            "version",
            "next_occurrence_id",
            "recurrence_day",
            "recurrence_interval",
            "recurrence_frequency",
            "due_at",
            "tag_names",
            "priority",
            "completed_at",
        ):
            batch_op.drop_column(column)
