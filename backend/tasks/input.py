"""Request input of the task routes, checked and normalised into the typed values the task
rules take: bodies to NewTask / TaskChanges (trimmed, priority ranks, UTC), query parameters
to a listing's filters, time zone names."""

from dataclasses import replace
from datetime import UTC, datetime, tzinfo
from functools import cache
from zoneinfo import ZoneInfo, available_timezones

from backend.errors import InvalidInput
from backend.tasks import tags
from backend.tasks.cursors import ListCursors
from backend.tasks.fields import DEFAULT_PRIORITY, PRIORITY_RANKS, NewTask, Rule, TaskChanges
from backend.tasks.query import ListQuery
from backend.text import trimmed
from generated.models import (
    ListTasksParametersQuery,
    Location,
    RecurrenceInput,
    SortOrder,
    TagName,
    TaskCreate,
    TaskPatch,
    TaskReplace,
    TaskSort,
    TaskStatusFilter,
)


def _utc(
    value: datetime | None, pointer: str, location: Location = Location.body
) -> datetime | None:
    if value is None:
        return None
    try:
        return value.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+01:00 is before year 1 in UTC
        raise InvalidInput.at(location, pointer, "is out of range in UTC") from None


def _visible(text: str, pointer: str) -> str:
    """A text field after trimming; 422 when nothing visible was left."""
    value = trimmed(text)
    if value is None:
        raise InvalidInput.at(Location.body, pointer, "must not be blank")
    return value


def _tags(names: list[TagName]) -> tuple[str, ...]:
    normalised = tags.normalise(tag.root for tag in names)
    if normalised is None:
        raise InvalidInput.at(Location.body, "/tags", "must not be blank")
    return normalised


def _rule(rule: RecurrenceInput | None) -> Rule | None:
    if rule is None:
        return None
    # A request may omit interval (the contract's RecurrenceInput has no `default`, so
    # that generated clients keep it optional): 1 when omitted.
    interval = rule.interval if "interval" in rule.model_fields_set else 1
    return Rule(rule.frequency.value, interval)


def new_task(body: TaskCreate) -> NewTask:
    """A create: omitted fields at their defaults."""
    given = body.model_fields_set
    return NewTask(
        title=_visible(body.title, "/title"),
        description=body.description if "description" in given else None,
        priority=PRIORITY_RANKS[body.priority] if "priority" in given else DEFAULT_PRIORITY,
        due_at=_utc(body.due_at, "/due_at") if "due_at" in given else None,
        recurrence=_rule(body.recurrence) if "recurrence" in given else None,
        tags=_tags(body.tags) if "tags" in given else (),
    )


# A PUT that leaves fields out is refused rather than resetting them: a client written for
# a PUT that keeps what it was not sent (many are) would otherwise lose data without notice.
REPLACE_ADVICE = "PUT replaces the whole task; send every field, or use PATCH to change some"


def replacement(body: TaskReplace) -> TaskChanges:
    """PUT: every editable field, each one given (the contract requires them all)."""
    values = NewTask(
        title=_visible(body.title, "/title"),
        description=body.description,
        priority=PRIORITY_RANKS[body.priority],
        tags=_tags(body.tags),
        due_at=_utc(body.due_at, "/due_at"),
        recurrence=_rule(body.recurrence),
    )
    return TaskChanges.replacing(values, completed=body.completed)


def incomplete_replacement(error: InvalidInput) -> InvalidInput:
    """A PUT body's 422, saying what PUT needs when the body left fields out."""
    return InvalidInput(error.items, advice=REPLACE_ADVICE) if error.missing else error


def changes(body: TaskPatch) -> TaskChanges:
    """PATCH: only the fields present in the body."""
    given = body.model_fields_set
    change = TaskChanges()
    if "title" in given:
        change = replace(change, title=_visible(body.title, "/title"))
    if "description" in given:
        change = replace(change, description=body.description)
    if "completed" in given:
        change = replace(change, completed=body.completed)
    if "priority" in given:
        change = replace(change, priority=PRIORITY_RANKS[body.priority])
    if "tags" in given:
        change = replace(change, tags=_tags(body.tags))
    if "due_at" in given:
        change = replace(change, due_at=_utc(body.due_at, "/due_at"))
    if "recurrence" in given:
        change = replace(change, recurrence=_rule(body.recurrence))
    return change


def list_query(params: ListTasksParametersQuery, cursors: ListCursors, owner_id: str) -> ListQuery:
    """The whole listing its validated query parameters ask for: filters, order, page, and
    where the page starts (its `cursor` opened: not with an offset)."""
    query = _filters(params)
    if "cursor" not in params.model_fields_set:
        return query
    if params.offset:
        raise InvalidInput.at(Location.query, "/cursor", "cannot be combined with an offset")
    return replace(query, after=cursors.open(owner_id, query, params.cursor))


def _filters(params: ListTasksParametersQuery) -> ListQuery:
    given = params.model_fields_set
    priorities = params.priority if "priority" in given else []
    due_before = (
        _utc(params.due_before, "/due_before", Location.query) if "due_before" in given else None
    )
    due_after = (
        _utc(params.due_after, "/due_after", Location.query) if "due_after" in given else None
    )
    names = tags.normalise(tag.root for tag in params.tag) if "tag" in given else ()
    if names is None:  # the TagName pattern already requires a visible character
        raise InvalidInput.at(Location.query, "/tag", "must contain a visible character")
    return ListQuery(
        status=params.status or TaskStatusFilter.all,
        priorities=tuple(sorted({PRIORITY_RANKS[p] for p in priorities})),
        tags=names,
        q=params.q if "q" in given else None,
        due_before=due_before,
        due_after=due_after,
        overdue=params.overdue if "overdue" in given else None,
        sort=params.sort or TaskSort.created_at,
        order=params.order or SortOrder.desc,
        count_total=params.include_total is not False,
        limit=params.limit,
        offset=params.offset,
    )


@cache
def _time_zones() -> frozenset[str]:
    # "localtime" is the server's own zone, a file beside the IANA names.
    return frozenset(available_timezones() - {"localtime", "posixrules"})


def time_zone(name: str) -> tzinfo:
    if name not in _time_zones():  # not ZoneInfo(name) alone: it also opens "localtime", paths…
        raise InvalidInput.at(
            Location.query, "/tz", "must be an IANA time zone name (Europe/Berlin)"
        )
    return ZoneInfo(name)
