"""A task listing as a request asks for it, complete (its cursor opened): what
backend.tasks.input builds from the query parameters and backend.tasks.listing runs."""

from dataclasses import dataclass
from datetime import datetime

from generated.models import SortOrder, TaskSort, TaskStatusFilter


@dataclass(frozen=True)
class After:
    """Where a cursor page starts: after the task with this sort key (None: an undated
    task, sorting by due_at) and id, in the listing's order."""

    key: datetime | int | str | None
    id: int


@dataclass(frozen=True)
class ListQuery:
    """A task listing as asked: filters (every filter narrows; None/empty = no filter),
    order, where the page starts (after a cursor's task, or an offset) and its length."""

    status: TaskStatusFilter = TaskStatusFilter.all
    priorities: tuple[int, ...] = ()
    tags: tuple[str, ...] = ()  # all of these
    # The ids of `tags`, looked up first (list_tasks does): with literal ids PostgreSQL
    # estimates each tag's share of the user's tasks from statistics, where a join on the
    # tags table leaves it guessing the average (a few rows) and picking a bad plan.
    tag_ids: tuple[int, ...] | None = None
    q: str | None = None
    due_before: datetime | None = None
    due_after: datetime | None = None
    overdue: bool | None = None
    sort: TaskSort = TaskSort.created_at
    order: SortOrder = SortOrder.desc
    after: After | None = None  # a cursor page (backend.tasks.cursors)
    count_total: bool = True
    limit: int = 20
    offset: int = 0


# Listings that cost more than a page of an index range: served in the narrower lane of
# heavy work (backend.database.admission), so they can never hold every connection.
DEEP_OFFSET = 1_000


def expensive(query: ListQuery) -> bool:
    """A search (every match may be read to rank and count) or a deep offset."""
    return query.q is not None or query.offset >= DEEP_OFFSET
