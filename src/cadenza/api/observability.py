"""Structured logs with a request id, and Prometheus metrics.

A pure ASGI middleware rather than ``BaseHTTPMiddleware``: it costs a few microseconds
per request, which matters for the gateway throughput target. Keys are never logged:
only the path, status and the key id that authentication stored in the scope.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
import sys
import time
from bisect import bisect_left
from collections.abc import Callable, Iterator
from typing import Any

import pydantic_core
import structlog
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_configured = False
#: Request lines are written straight to stderr (see ``RequestLines``) when logs are JSON.
_request_lines_json = False
_request_lines_enabled = True


def configure_logging(level: str = "INFO", *, json: bool = True) -> None:
    """One log format for structlog and the standard library (uvicorn, alembic, workers)."""
    global _configured, _request_lines_json, _request_lines_enabled
    if _configured:
        return
    _configured = True
    numeric = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    _request_lines_json = json
    _request_lines_enabled = numeric <= logging.INFO
    renderer: Any = (
        structlog.processors.JSONRenderer(serializer=_json_line)
        if json
        else structlog.dev.ConsoleRenderer()
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
    # Migration chatter on every start says nothing an operator needs.
    logging.getLogger("alembic").setLevel(max(numeric, logging.WARNING))


def _json_line(event: dict[str, Any], **_: Any) -> str:
    """One log line by pydantic-core (a request is logged on every poll); values JSON has
    no type for are written as ``str`` of them."""
    return pydantic_core.to_json(event, fallback=str, inf_nan_mode="null").decode()


class Metrics:
    """Request counts and latencies by route, for ``/metrics``.

    Every request is observed, so observing is plain arithmetic on this object's own
    tables (the middleware runs on the event loop's thread only); the standard metric
    families are made from them when Prometheus scrapes (``collect``), not per request.
    """

    #: prometheus-client's default latency buckets (seconds), then +Inf.
    BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._counts: dict[tuple[str, str, int], int] = {}
        # (method, route) -> [per-bucket counts..., +Inf count, sum of seconds]
        self._latency: dict[tuple[str, str], list[float]] = {}
        self._callbacks: dict[str, int] = {}
        self.registry.register(self)

    def count_callback(self, outcome: str) -> None:
        """Counts one callback attempt by outcome (delivered, retry, failed)."""
        self._callbacks[outcome] = self._callbacks.get(outcome, 0) + 1

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Counts one request and its latency."""
        key = (method, route, status)
        self._counts[key] = self._counts.get(key, 0) + 1
        cells = self._latency.get((method, route))
        if cells is None:
            cells = self._latency[(method, route)] = [0.0] * (len(self.BUCKETS) + 2)
        cells[bisect_left(self.BUCKETS, seconds)] += 1
        cells[-1] += seconds

    def collect(self) -> Iterator[Metric]:
        """The two metric families, as prometheus-client's Counter and Histogram name
        and shape them."""
        requests = CounterMetricFamily(
            "cadenza_http_requests",
            "HTTP requests by route and status",
            labels=["method", "route", "status"],
        )
        for (method, route, status), count in list(self._counts.items()):
            requests.add_metric([method, route, str(status)], count)
        yield requests
        latency = HistogramMetricFamily(
            "cadenza_http_request_seconds",
            "HTTP request latency by route",
            labels=["method", "route"],
        )
        bounds = [*(str(b) for b in self.BUCKETS), "+Inf"]
        for (method, route), cells in list(self._latency.items()):
            running = 0.0
            buckets = []
            for bound, cell in zip(bounds, cells[:-1], strict=True):
                running += cell
                buckets.append((bound, running))
            latency.add_metric([method, route], buckets, sum_value=cells[-1])
        yield latency
        callbacks = CounterMetricFamily(
            "cadenza_callback_deliveries",
            "Callback delivery attempts by outcome (delivered, retry, failed)",
            labels=["outcome"],
        )
        for outcome, count in list(self._callbacks.items()):
            callbacks.add_metric([outcome], count)
        yield callbacks


#: Answers a request whose route raised: (scope, exception) -> the dialect's 500.
UnexpectedErrorResponder = Callable[[Scope, Exception], Response]


class RequestLines:
    """The ``request`` log line of every request, in the configured JSON format.

    It is written on every poll, thousands of times a second, so with JSON logs it skips
    structlog's processor chain (contextvars, level, timestamp, renderer: about ten
    microseconds) and writes the same fields in the same order itself. Lines are gathered
    for at most ``FLUSH_S`` and written together (one write call for many requests
    instead of one each); other events go out at once, so a request line may follow
    them by that much. Any other setup goes through structlog.
    """

    FLUSH_S = 0.05
    MAX_PENDING = 256

    def __init__(self) -> None:
        self.log = structlog.get_logger("cadenza.http")
        self._pending: list[str] = []
        self._flush_at: asyncio.TimerHandle | None = None
        self._second = -1
        self._stamp = ""

    def write(
        self, request_id: str, method: str, path: str, status: int, key_id: str | None, ms: float
    ) -> None:
        if not _request_lines_json:
            self.log.info(
                "request",
                request_id=request_id,
                method=method,
                path=path,
                status=status,
                key_id=key_id,
                ms=ms,
            )
            return
        if not _request_lines_enabled:
            return
        line = pydantic_core.to_json(
            {
                "request_id": request_id,
                "method": method,
                "path": path,
                "status": status,
                "key_id": key_id,
                "ms": ms,
                "event": "request",
                "level": "info",
                "timestamp": self._timestamp(),
            }
        )
        self._pending.append(line.decode())
        if len(self._pending) >= self.MAX_PENDING:
            self.flush()
        elif self._flush_at is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                self.flush()
                return
            self._flush_at = loop.call_later(self.FLUSH_S, self.flush)

    def flush(self) -> None:
        if self._flush_at is not None:
            self._flush_at.cancel()
            self._flush_at = None
        if not self._pending:
            return
        text = "\n".join(self._pending) + "\n"
        self._pending.clear()
        stream = sys.stderr
        stream.write(text)
        stream.flush()

    def _timestamp(self) -> str:
        """ISO 8601 UTC with microseconds, as structlog writes it; the date and time of
        day are formatted once a second."""
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second = second
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self._stamp}.{int((now - second) * 1_000_000):06d}Z"


class RequestIds:
    """Ids for requests that bring none: a random prefix per process and a counter, as
    unique in the logs as a UUID and cheaper to make."""

    def __init__(self) -> None:
        self._prefix = secrets.token_hex(8)
        self._counter = itertools.count(1)

    def next(self) -> str:
        return f"{self._prefix}{next(self._counter):016x}"


class RequestContextMiddleware:
    """Gives every request an id (``X-Request-ID``), logs it and records metrics.

    It also answers a route's unexpected exception itself, so the 500 carries the request
    id like every other answer and the client's keep-alive connection survives (Starlette's
    outermost error middleware would re-raise to the server, which drops the connection).
    """

    def __init__(self, app: ASGIApp, metrics: Metrics, on_error: UnexpectedErrorResponder) -> None:
        self.app = app
        self.metrics = metrics
        self.on_error = on_error
        self.log = structlog.get_logger("cadenza.http")
        self.lines = RequestLines()
        self.ids = RequestIds()

    def _flushing_on_shutdown(self, send: Send) -> Send:
        """Request lines still gathered are written before the server stops."""

        async def send_then_flush(message: Message) -> None:
            if message["type"].startswith("lifespan.shutdown"):
                self.lines.flush()
            await send(message)

        return send_then_flush

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                send = self._flushing_on_shutdown(send)
            await self.app(scope, receive, send)
            return
        request_id = ""
        for name, value in scope.get("headers", ()):
            if name == b"x-request-id":
                request_id = value.decode("latin-1")[:64]
                break
        if not request_id:
            request_id = self.ids.next()
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500
        started = time.perf_counter()
        response_started = response_done = False
        id_header = (b"x-request-id", request_id.encode("latin-1"))

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started, response_done
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), id_header]
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                response_done = True
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            self.log.error(
                "unhandled_error",
                request_id=request_id,
                path=scope.get("path", ""),
                error=type(exc).__name__,
                exc_info=exc,
            )
            if response_done:
                # The framework's error middleware answered it already (with the
                # dialect's 500) and raised it on for servers to log: logged, and the
                # connection stays open.
                pass
            elif response_started:  # half an answer is out: only closing is left
                raise
            else:
                await self.on_error(scope, exc)(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "")
            self.metrics.observe(method, template, status, elapsed)
            self.lines.write(
                request_id,
                method,
                template,
                status,
                scope.get("state", {}).get("key_id"),
                round(elapsed * 1000, 2),
            )
