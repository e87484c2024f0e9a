"""What the client raises: the server's refusals with its code and message, failed tasks,
waits that ran out, and calls a dialect does not have."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cadenza.client.models import Task


class ClientError(Exception):
    """Base of every error this client raises."""


class ApiError(ClientError):
    """The server refused the request: its HTTP status, its error code and message as it
    sent them (``invalid_request``, ``insufficient_credits``, ``bad_request`` …)."""

    def __init__(self, status: int, code: str, message: str, body: Any = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.body = body


class TaskFailed(ClientError):
    """The task ended in failure; ``task`` holds it, ``fail_reason`` the server's reason."""

    def __init__(self, task: Task) -> None:
        super().__init__(f"task {task.id} failed: {task.fail_reason or 'no reason given'}")
        self.task = task


class WaitTimeout(ClientError):
    """The task had not ended when the wait ran out; ``task`` is its last state."""

    def __init__(self, task: Task, waited_s: float) -> None:
        super().__init__(f"task {task.id} still {task.status} after {waited_s:.0f} s")
        self.task = task


class UnsupportedCall(ClientError):
    """The dialect has no such call (e.g. stems in sunocore, crop in AceData)."""
