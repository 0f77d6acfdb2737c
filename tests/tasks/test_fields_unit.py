"""backend.tasks.fields: what a change set says it sets. No HTTP, no database."""

from dataclasses import fields
from datetime import UTC, datetime

from backend.tasks.fields import DEFAULT_PRIORITY, UNSET, NewTask, Rule, TaskChanges

DUE = datetime(2027, 5, 1, 10, 0, tzinfo=UTC)
EVERY_FIELD = [field.name for field in fields(TaskChanges)]


def test_an_empty_change_set_sets_nothing() -> None:
    assert list(TaskChanges().items()) == []


def test_items_yield_only_the_fields_that_are_set_in_declaration_order() -> None:
    changes = TaskChanges(due_at=DUE, title="Renamed")
    assert list(changes.items()) == [("title", "Renamed"), ("due_at", DUE)]


def test_null_and_falsy_values_are_set_values() -> None:
    changes = TaskChanges(description=None, completed=False, tags=(), recurrence=None)
    assert dict(changes.items()) == {
        "description": None,
        "completed": False,
        "tags": (),
        "recurrence": None,
    }
    assert UNSET not in dict(changes.items()).values()


def test_replacing_sets_every_field_to_the_defaults_of_a_bare_task() -> None:
    changes = TaskChanges.replacing(NewTask(title="t"))
    assert [name for name, _ in changes.items()] == EVERY_FIELD
    assert dict(changes.items()) == {
        "title": "t",
        "description": None,
        "completed": False,
        "priority": DEFAULT_PRIORITY,
        "tags": (),
        "due_at": None,
        "recurrence": None,
    }


def test_replacing_carries_every_value_over() -> None:
    rule = Rule(frequency="weekly", interval=2)
    task = NewTask(
        title="t", description="d", priority=3, tags=("a", "B"), due_at=DUE, recurrence=rule
    )
    changes = TaskChanges.replacing(task, completed=True)
    assert dict(changes.items()) == {
        "title": "t",
        "description": "d",
        "completed": True,
        "priority": 3,
        "tags": ("a", "B"),
        "due_at": DUE,
        "recurrence": rule,
    }
