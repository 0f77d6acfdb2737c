"""What the task rules refuse, as named problems (backend.http.problems renders them)."""

from backend.errors import ProblemError


class TaskNotFound(ProblemError):
    """No such task for this user; another user's task is reported the same way."""

    status = 404

    def __init__(self, task_id: int) -> None:
        super().__init__(f"Task {task_id} does not exist.")


class PreconditionFailed(ProblemError):
    """If-Match does not name the task's current ETag: the client's copy is stale."""

    status = 412

    def __init__(self, task_id: int, current_etag: str) -> None:
        super().__init__(
            f"Task {task_id} has changed (its ETag is now {current_etag}); fetch it again "
            "and retry.",
            headers={"ETag": current_etag},
        )
