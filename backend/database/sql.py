"""SQL that reads the same on both dialects: case-insensitive search, Unicode lower(),
INSERT … ON CONFLICT DO NOTHING."""

from typing import Any

from sqlalchemy import Boolean, ColumnElement, Connection, Select, String
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.dml import Insert
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.sql.visitors import InternalTraversal

# A SELECT of any columns (Select is generic over its column types).
AnySelect = Select[*tuple[Any, ...]]


def like_pattern(text: str) -> str:
    """A LIKE pattern for "contains `text`": `%`, `_` and the escape character taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class contains_text(ColumnElement[bool]):
    """`column` matches a like_pattern, ignoring case: ILIKE on PostgreSQL (which trigram
    indexes serve), a Unicode-aware lower() LIKE on SQLite."""

    inherit_cache = True
    type = Boolean()
    _traverse_internals = [  # noqa: RUF012  (SQLAlchemy's own declaration style)
        ("column", InternalTraversal.dp_clauseelement),
        ("pattern", InternalTraversal.dp_clauseelement),
    ]

    def __init__(self, column: Any, pattern: ColumnElement[str]) -> None:
        self.column = column
        self.pattern = pattern  # like_pattern(text), usually as a bind parameter


class lower_text(FunctionElement[str]):
    """lower() of all of Unicode on both databases (ix_tasks_user_title on PostgreSQL)."""

    inherit_cache = True
    type = String()


@compiles(lower_text)
def _lower_text(element: lower_text, compiler: SQLCompiler, **kw: Any) -> str:
    return f"lower({compiler.process(element.clauses, **kw)})"


@compiles(lower_text, "sqlite")
def _lower_text_sqlite(element: lower_text, compiler: SQLCompiler, **kw: Any) -> str:
    return f"unicode_lower({compiler.process(element.clauses, **kw)})"


@compiles(contains_text)
def _contains_text(element: contains_text, compiler: SQLCompiler, **kw: Any) -> str:
    column, pattern = (
        compiler.process(element.column, **kw),
        compiler.process(element.pattern, **kw),
    )
    return f"({column} ILIKE {pattern} ESCAPE '\\')"


@compiles(contains_text, "sqlite")
def _contains_text_sqlite(element: contains_text, compiler: SQLCompiler, **kw: Any) -> str:
    column, pattern = (
        compiler.process(element.column, **kw),
        compiler.process(element.pattern, **kw),
    )
    return f"(unicode_lower({column}) LIKE unicode_lower({pattern}) ESCAPE '\\')"


def insert_ignoring_duplicates(connection: Connection, table: Any) -> Insert:
    """INSERT … ON CONFLICT DO NOTHING in the connection's dialect."""
    if connection.dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    return sqlite.insert(table).on_conflict_do_nothing()
