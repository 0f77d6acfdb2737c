"""The floor: the task endpoints written the way FastAPI tutorials write them.

Sync (`def`) endpoints, a `get_db` generator dependency yielding a SQLModel Session, ORM
objects with `session.refresh()` after commit, python-jose in a sync dependency, Pydantic
response models through `response_model=`. Same paths and the same JSON shapes as ours
(Task, TaskPage), on the same tables; nothing deliberately slow, nothing tuned either.

    DATABASE_URL=postgresql://… BETTER_AUTH_SECRET=… uvicorn bench.floor_app:app
"""

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, HTTPException, Query, Response, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from jose import JWTError, jwt
from sqlalchemy import DateTime
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


class TaskBase(SQLModel):
    title: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=1000)


class Task(TaskBase, table=True):
    __tablename__ = "tasks"

    id: int | None = Field(default=None, primary_key=True)
    user_id: str = Field(foreign_key="users.id", index=True)
    completed: bool = False
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))
    updated_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))


class TaskCreate(TaskBase):
    pass


class TaskUpdate(SQLModel):
    title: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=1000)
    completed: bool | None = None


class TaskCompletion(SQLModel):
    completed: bool


class TaskPublic(TaskBase):
    id: int
    user_id: str
    completed: bool
    created_at: datetime
    updated_at: datetime


class TaskPage(SQLModel):
    items: list[TaskPublic]
    total: int
    limit: int
    offset: int


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


def get_task_or_404(db: Session, user_id: str, task_id: int) -> Task:
    task = db.get(Task, task_id)
    if task is None or task.user_id != user_id:
        raise HTTPException(status_code=404, detail="Task not found")
    return task


@app.get("/api/{user_id}/tasks", response_model=TaskPage)
def list_tasks(
    user: CurrentUser,
    db: SessionDep,
    status: Literal["all", "pending", "completed"] = "all",
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    query = select(Task).where(Task.user_id == user.id)
    if status != "all":
        query = query.where(Task.completed == (status == "completed"))
    total = db.exec(select(func.count()).select_from(query.subquery())).one()
    tasks = db.exec(
        query.order_by(col(Task.created_at).desc(), col(Task.id).desc()).offset(offset).limit(limit)
    ).all()
    return {"items": tasks, "total": total, "limit": limit, "offset": offset}


@app.post("/api/{user_id}/tasks", response_model=TaskPublic, status_code=201)
def create_task(task_in: TaskCreate, user: CurrentUser, db: SessionDep, response: Response) -> Task:
    task = Task.model_validate(task_in, update={"user_id": user.id})
    db.add(task)
    db.commit()
    db.refresh(task)
    response.headers["Location"] = f"/api/{user.id}/tasks/{task.id}"
    return task


@app.get("/api/{user_id}/tasks/{task_id}", response_model=TaskPublic)
def read_task(task_id: int, user: CurrentUser, db: SessionDep) -> Task:
    return get_task_or_404(db, user.id, task_id)


@app.patch("/api/{user_id}/tasks/{task_id}", response_model=TaskPublic)
def update_task(task_id: int, task_in: TaskUpdate, user: CurrentUser, db: SessionDep) -> Task:
    task = get_task_or_404(db, user.id, task_id)
    task.sqlmodel_update(task_in.model_dump(exclude_unset=True))
    task.updated_at = utcnow()
    db.add(task)
    db.commit()
    db.refresh(task)
    return task


@app.patch("/api/{user_id}/tasks/{task_id}/complete", response_model=TaskPublic)
def complete_task(
    task_id: int, user: CurrentUser, db: SessionDep, body: TaskCompletion | None = None
) -> Task:
    task = get_task_or_404(db, user.id, task_id)
    task.completed = (not task.completed) if body is None else body.completed
    task.updated_at = utcnow()
    db.add(task)
    db.commit()
    db.refresh(task)
    return task
