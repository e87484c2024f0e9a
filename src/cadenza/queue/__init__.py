"""Task dispatch: an in-process worker pool (default) or Celery workers (scale-out)."""

from __future__ import annotations

from cadenza.domain.errors import UpstreamUnavailable


class QueueError(UpstreamUnavailable):
    """The task could not be handed to a worker; it stays undispatched for the reaper."""


__all__ = ["QueueError"]
