"""The floor: the task endpoints written the way FastAPI tutorials write them.

Sync (`def`) endpoints, a `get_db` generator dependency yielding a SQLModel Session, ORM
objects with `session.refresh()` after commit, python-jose in a sync dependency, Pydantic
response models through `response_model=`. Same paths and the same JSON shapes as ours
(Task with all its fields and the ETag header, TaskPage), on the same tables, and the same
statements in the ORM's spelling: a list reads the page and counts only when the page is
full; a write loads the row FOR UPDATE and the UPDATE bumps the version (SQLAlchemy's
`version_id_col`: WHERE version = the one read). Nothing deliberately slow, nothing tuned
either. A PATCH handles title, description, completed and priority (tags, due dates and
repeat rules are left to ours).

    DATABASE_URL=postgresql://… BETTER_AUTH_SECRET=… uvicorn bench.floor_app:app
"""

import base64
import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, HTTPException, Query, Response, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from jose import JWTError, jwt
from sqlalchemy import JSON, Column, DateTime, Integer, SmallInteger, text
from sqlmodel import Field, Session, SQLModel, col, create_engine, func, select

DATABASE_URL = os.environ["DATABASE_URL"].replace("postgresql://", "postgresql+psycopg2://", 1)
SECRET_KEY = os.environ["BETTER_AUTH_SECRET"]
ALGORITHM = "HS256"

# SQLAlchemy's defaults (5 pooled connections + 10 overflow) unless the harness says otherwise.
engine = create_engine(
    DATABASE_URL,
    pool_size=int(os.environ.get("DB_POOL_SIZE", 5)),
    max_overflow=int(os.environ.get("DB_MAX_OVERFLOW", 10)),
)


def utcnow() -> datetime:
    return datetime.now(UTC)


class User(SQLModel, table=True):
    __tablename__ = "users"

    id: str = Field(primary_key=True, max_length=255)
    email: str | None = None
    name: str | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))


PRIORITY_RANKS = {"low": 1, "medium": 2, "high": 3}
PRIORITY_NAMES = {rank: name for name, rank in PRIORITY_RANKS.items()}
PriorityName = Literal["low", "medium", "high"]


class TaskBase(SQLModel):
    title: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=1000)


# Optimistic locking the SQLAlchemy way: every UPDATE bumps the version and says
# `WHERE version = <the one read>`.
version_column = Column("version", Integer, nullable=False, server_default=text("1"))


class Task(TaskBase, table=True):
    __tablename__ = "tasks"
    __mapper_args__ = {"version_id_col": version_column}

    id: int | None = Field(default=None, primary_key=True)
    user_id: str = Field(foreign_key="users.id", index=True)
    completed: bool = False
    completed_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    priority: int = Field(default=2, sa_type=SmallInteger)  # 1 low, 2 medium, 3 high
    tag_names: list[str] = Field(default_factory=list, sa_type=JSON)
    due_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    recurrence_frequency: str | None = None
    recurrence_interval: int | None = None
    recurrence_day: int | None = None
    next_occurrence_id: int | None = None
    version: int = Field(default=1, sa_column=version_column)
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))
    updated_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))


class TaskCreate(TaskBase):
    priority: PriorityName = "medium"


class TaskUpdate(SQLModel):
    title: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=1000)
    completed: bool | None = None
    priority: PriorityName | None = None


class TaskCompletion(SQLModel):
    completed: bool


class Recurrence(SQLModel):
    frequency: Literal["daily", "weekly", "monthly"]
    interval: int


class TaskPublic(TaskBase):
    id: int
    user_id: str
    completed: bool
    completed_at: datetime | None
    priority: PriorityName
    tags: list[str]
    due_at: datetime | None
    recurrence: Recurrence | None
    next_occurrence_id: int | None
    etag: str
    created_at: datetime
    updated_at: datetime


class TaskPage(SQLModel):
    items: list[TaskPublic]
    total: int
    limit: int
    offset: int
    next_cursor: str | None


def next_cursor(created_at: datetime, task_id: int) -> str:
    """Where the next page starts, as ours says it (an opaque token of key and id)."""
    text = json.dumps([created_at.isoformat(), task_id])
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def to_public(task: Task) -> TaskPublic:
    recurrence = None
    if task.recurrence_frequency is not None:
        recurrence = Recurrence(
            frequency=task.recurrence_frequency, interval=task.recurrence_interval
        )
    return TaskPublic(
        id=task.id,
        user_id=task.user_id,
        title=task.title,
        description=task.description,
        completed=task.completed,
        completed_at=task.completed_at,
        priority=PRIORITY_NAMES[task.priority],
        tags=task.tag_names,
        due_at=task.due_at,
        recurrence=recurrence,
        next_occurrence_id=task.next_occurrence_id,
        etag=f'"{task.id}.{task.version}"',
        created_at=task.created_at,
        updated_at=task.updated_at,
    )


def get_db() -> Iterator[Session]:
    with Session(engine) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_db)]
bearer_scheme = HTTPBearer()


def get_current_user(
    user_id: str,
    credentials: Annotated[HTTPAuthorizationCredentials, Depends(bearer_scheme)],
    db: SessionDep,
) -> User:
    credentials_exception = HTTPException(
        status_code=status.HTTP_401_UNAUTHORIZED,
        detail="Could not validate credentials",
        headers={"WWW-Authenticate": "Bearer"},
    )
    try:
        payload = jwt.decode(credentials.credentials, SECRET_KEY, algorithms=[ALGORITHM])
    except JWTError:
        raise credentials_exception from None
    subject = payload.get("sub")
    if not subject:
        raise credentials_exception
    if subject != user_id:
        raise HTTPException(status_code=status.HTTP_403_FORBIDDEN, detail="Not your tasks")
    user = db.get(User, subject)
    if user is None:
        user = User(id=subject, email=payload.get("email"), name=payload.get("name"))
        db.add(user)
        db.commit()
        db.refresh(user)
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]

app = FastAPI(title="Task API (tutorial-style floor)")


@app.get("/api/health/ready")
def ready(db: SessionDep) -> dict[str, str]:
    db.exec(select(1)).one()
    return {"status": "ok", "database": "ok"}


def get_task_or_404(db: Session, user_id: str, task_id: int, for_update: bool = False) -> Task:
    task = db.get(Task, task_id, with_for_update=for_update)
    if task is None or task.user_id != user_id:
        raise HTTPException(status_code=404, detail="Task not found")
    return task


def task_response(task: Task, response: Response) -> TaskPublic:
    public = to_public(task)
    response.headers["ETag"] = public.etag
    return public


@app.get("/api/{user_id}/tasks", response_model=TaskPage)
def list_tasks(
    user: CurrentUser,
    db: SessionDep,
    status: Literal["all", "pending", "completed"] = "all",
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    conditions = [Task.user_id == user.id]
    if status != "all":
        conditions.append(Task.completed == (status == "completed"))
    query = (
        select(Task)
        .where(*conditions)
        .order_by(col(Task.created_at).desc(), col(Task.id).desc())
        .offset(offset)
        .limit(limit + 1)  # one more: is there a next page?
    )
    tasks = db.exec(query).all()
    more = len(tasks) > limit
    tasks = tasks[:limit]
    if not more and (tasks or offset == 0):
        total = offset + len(tasks)  # the last page: nothing more to count
    else:
        total = db.exec(select(func.count()).select_from(Task).where(*conditions)).one()
    items = [to_public(task) for task in tasks]
    following = next_cursor(tasks[-1].created_at, tasks[-1].id or 0) if more else None
    return {
        "items": items,
        "total": total,
        "limit": limit,
        "offset": offset,
        "next_cursor": following,
    }


@app.post("/api/{user_id}/tasks", response_model=TaskPublic, status_code=201)
def create_task(
    task_in: TaskCreate, user: CurrentUser, db: SessionDep, response: Response
) -> TaskPublic:
    now = utcnow()
    task = Task.model_validate(
        task_in,
        update={
            "user_id": user.id,
            "priority": PRIORITY_RANKS[task_in.priority],
            "created_at": now,
            "updated_at": now,
        },
    )
    db.add(task)
    db.commit()
    db.refresh(task)
    response.headers["Location"] = f"/api/{user.id}/tasks/{task.id}"
    return task_response(task, response)


@app.get("/api/{user_id}/tasks/{task_id}", response_model=TaskPublic)
def read_task(task_id: int, user: CurrentUser, db: SessionDep, response: Response) -> TaskPublic:
    return task_response(get_task_or_404(db, user.id, task_id), response)


def set_completed(task: Task, completed: bool, now: datetime) -> None:
    if completed != task.completed:
        task.completed = completed
        task.completed_at = now if completed else None


@app.patch("/api/{user_id}/tasks/{task_id}", response_model=TaskPublic)
def update_task(
    task_id: int, task_in: TaskUpdate, user: CurrentUser, db: SessionDep, response: Response
) -> TaskPublic:
    task = get_task_or_404(db, user.id, task_id, for_update=True)
    now = utcnow()
    update_data = task_in.model_dump(exclude_unset=True)
    if "priority" in update_data:
        update_data["priority"] = PRIORITY_RANKS[update_data["priority"]]
    if "completed" in update_data:
        set_completed(task, update_data.pop("completed"), now)
    task.sqlmodel_update(update_data)
    task.updated_at = now
    db.add(task)
    db.commit()
    db.refresh(task)
    return task_response(task, response)


@app.patch("/api/{user_id}/tasks/{task_id}/complete", response_model=TaskPublic)
def complete_task(
    task_id: int,
    user: CurrentUser,
    db: SessionDep,
    response: Response,
    body: TaskCompletion | None = None,
) -> TaskPublic:
    task = get_task_or_404(db, user.id, task_id, for_update=True)
    now = utcnow()
    set_completed(task, (not task.completed) if body is None else body.completed, now)
    task.updated_at = now
    db.add(task)
    db.commit()
    db.refresh(task)
    return task_response(task, response)
