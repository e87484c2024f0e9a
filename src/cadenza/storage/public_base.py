"""The base URL clients reach this server at, for links to media served by the API.

Set per request by the API (from ``CADENZA_PUBLIC_URL``, else from the request itself,
forwarded headers of trusted proxies included), so a server behind a TLS proxy answers
``https://`` links on the proxy's host. Outside a request (a worker, a callback) the
configured default applies.
"""

from __future__ import annotations

from contextvars import ContextVar

current: ContextVar[str | None] = ContextVar("cadenza_public_base", default=None)


def resolve(default: str) -> str:
    """The current request's base URL, or ``default`` outside a request."""
    return current.get() or default
