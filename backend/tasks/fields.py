"""The typed values the task rules take: a new task, a change set, a repeat rule. Built from
request bodies by backend.tasks.input, already normalised (trimmed, ranks, UTC)."""

from collections.abc import Iterator
from dataclasses import dataclass, fields
from datetime import datetime
from enum import Enum
from typing import Any, Final

from generated.models import Priority

# Rank, so that sorting by priority is sorting by a number.
PRIORITY_RANKS: Final = {Priority.low: 1, Priority.medium: 2, Priority.high: 3}
PRIORITY_NAMES: Final = {rank: priority.value for priority, rank in PRIORITY_RANKS.items()}
DEFAULT_PRIORITY: Final = PRIORITY_RANKS[Priority.medium]


class Unset(Enum):
    """A field a change set leaves alone (PATCH without it)."""

    UNSET = "unset"


UNSET: Final = Unset.UNSET


@dataclass(frozen=True, slots=True)
class Rule:
    """A repeat rule as the API states it."""

    frequency: str  # daily | weekly | monthly
    interval: int


@dataclass(frozen=True, slots=True)
class NewTask:
    """What a create stores: every editable field but `completed` (a new task is pending)."""

    title: str
    description: str | None = None
    priority: int = DEFAULT_PRIORITY
    tags: tuple[str, ...] = ()
    due_at: datetime | None = None
    recurrence: Rule | None = None


@dataclass(frozen=True, slots=True)
class TaskChanges:
    """The editable fields a PATCH sets (the others are UNSET); a PUT sets them all."""

    title: str | Unset = UNSET
    description: str | Unset | None = UNSET
    completed: bool | Unset = UNSET
    priority: int | Unset = UNSET
    tags: tuple[str, ...] | Unset = UNSET
    due_at: datetime | Unset | None = UNSET
    recurrence: Rule | Unset | None = UNSET

    def items(self) -> Iterator[tuple[str, Any]]:
        """(field, value) of every field that is set."""
        for field in fields(self):
            value = getattr(self, field.name)
            if value is not UNSET:
                yield field.name, value

    @classmethod
    def replacing(cls, task: NewTask, *, completed: bool = False) -> "TaskChanges":
        """A PUT: every editable field, from a complete set of values."""
        return cls(
            title=task.title,
            description=task.description,
            completed=completed,
            priority=task.priority,
            tags=task.tags,
            due_at=task.due_at,
            recurrence=task.recurrence,
        )
