"""The FastAPI application: dialect routers, media, health, metrics and the reaper loop."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator, Callable
from typing import Any, Literal

import structlog
from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from fastapi.telemetry import TelemetryConfig
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict, Field
from starlette.types import ASGIApp

from cadenza import __version__
from cadenza.api import openapi
from cadenza.api.acedata.routes import body_error_for as acedata_body_error_for
from cadenza.api.acedata.routes import register_callbacks as register_acedata_callbacks
from cadenza.api.acedata.routes import router as acedata_router
from cadenza.api.acedata.tool_routes import router as acedata_tool_router
from cadenza.api.console import console_routes
from cadenza.api.deps import AuthCache
from cadenza.api.forwarding import PublicURL, TrustedProxies
from cadenza.api.guards import BodyLimit, SubmitPathCase
from cadenza.api.media import media_router
from cadenza.api.observability import Metrics, RequestContextMiddleware
from cadenza.api.renderings import Renderings
from cadenza.api.sunocore.errors import (
    error_response,
    install_error_handlers,
    unexpected_error_response,
)
from cadenza.api.sunocore.library_routes import router as sunocore_library_router
from cadenza.api.sunocore.media_routes import router as sunocore_media_router
from cadenza.api.sunocore.polling import Polls
from cadenza.api.sunocore.remaster_routes import router as sunocore_remaster_router
from cadenza.api.sunocore.routes import router as sunocore_router
from cadenza.api.v1.routes import admin as v1_admin_router
from cadenza.api.v1.routes import router as v1_router
from cadenza.bootstrap import Container
from cadenza.services.callbacks import CallbackDispatcher
from cadenza.storage.local import LocalStorage

log = structlog.get_logger("cadenza.api")


class Workers(BaseModel):
    ready: int = Field(description="workers started with the engine loaded")
    total: int


class Health(BaseModel):
    """``GET /healthz`` (no key): ``workers`` where the queue reports readiness."""

    model_config = ConfigDict(extra="forbid")

    status: Literal["ok"]
    version: str
    workers: Workers | None = None


METRICS_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Prometheus request counters and latency histograms per route",
        "content": {CONTENT_TYPE_LATEST.split(";")[0]: {"schema": {"type": "string"}}},
    }
}


async def _reaper_loop(container: Container, interval_s: float) -> None:
    """Fails overdue tasks and re-dispatches lost ones, so no task hangs forever. The first
    pass runs at start-up: tasks of a server that died before this one started (its
    in-process queue is gone) are handed out at once."""
    from cadenza.services.reaper import reap

    while True:
        try:
            report = await asyncio.to_thread(
                reap,
                container.uow,
                container.queue,
                stalled_after_s=container.settings.stalled_after_s,
                event_retention_days=container.settings.event_retention_days,
                storage=container.storage,
            )
            if (
                report.failed
                or report.redispatched
                or report.revived
                or report.recovered
                or report.pruned
            ):
                log.info(
                    "reaped",
                    failed=report.failed,
                    redispatched=report.redispatched,
                    revived=report.revived,
                    recovered=report.recovered,
                    pruned_events=report.pruned,
                )
        except Exception as exc:  # the loop must outlive a database hiccup
            log.warning("reaper_failed", error=type(exc).__name__, detail=str(exc)[:200])
        await asyncio.sleep(interval_s)


#: FastAPI's native OpenTelemetry hooks, all off (``CADENZA_OPENTELEMETRY`` turns them on).
_NO_TELEMETRY: TelemetryConfig = {
    "tracing": False,
    "metrics": False,
    "logs": False,
    "operation_spans": False,
}


def _callback_dispatcher(container: Container, metrics: Metrics) -> CallbackDispatcher | None:
    """This process's sender of the callback outbox; None without a sender or when
    ``callback_interval_s`` is 0 (another process sends them)."""
    interval = container.settings.callback_interval_s
    if container.callback_sender is None or interval <= 0:
        return None
    return CallbackDispatcher(
        container.uow,
        container.callback_renderers,
        container.callback_sender,
        interval_s=interval,
        on_outcome=metrics.count_callback,
    )


def create_app(
    container: Container, *, manage_queue: bool = True, freeze_heap: bool = False
) -> FastAPI:
    """Build the app; with ``manage_queue`` its lifespan starts/stops the queue and reaper.
    The change listener and the callback dispatcher run in every API process.

    ``freeze_heap`` (a server process of its own, never a test's) moves everything alive
    once start-up is done out of the garbage collector's reach: a full collection then
    walks only what requests made since, instead of pausing every request for 55–70 ms
    over the hundreds of thousands of objects the imports left (part of a gateway's
    submit tail while songs render)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        reaper: asyncio.Task[None] | None = None
        renderings: Renderings = app.state.renderings
        waiter = container.event_waiter

        def changed(task_id: str, revision: int) -> None:
            renderings.changed(task_id, revision)
            waiter.changed(task_id, revision)

        def reset() -> None:
            renderings.reset()
            waiter.reset()

        container.changes.start(changed, reset)
        if container.checkpointer is not None:
            container.checkpointer.start()
        dispatcher = _callback_dispatcher(container, metrics)
        if dispatcher is not None:
            dispatcher.start()
        elif container.callback_sender is None:
            log.info("callbacks_not_sent", reason="no webhook sender installed")
        if manage_queue:
            container.queue.start()
            interval = container.settings.reaper_interval_s
            if interval > 0:
                reaper = asyncio.create_task(_reaper_loop(container, interval))
        if freeze_heap:
            gc.collect()
            gc.freeze()
        try:
            yield
        finally:
            if reaper is not None:
                reaper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reaper
            if dispatcher is not None:
                await dispatcher.stop()
            close = getattr(container.callback_sender, "aclose", None)
            if close is not None:
                await close()
            if manage_queue:
                await asyncio.to_thread(container.queue.stop)
            await asyncio.to_thread(container.changes.stop)
            if container.checkpointer is not None:
                await asyncio.to_thread(container.checkpointer.stop)
            log.info("shutdown_complete")

    app = CadenzaAPI(
        title="Cadenza",
        version=__version__,
        description="Self-hostable, Suno-compatible music generation API",
        lifespan=lifespan,
        telemetry=None if container.settings.opentelemetry else _NO_TELEMETRY,
    )
    app.state.container = container
    app.state.auth_cache = AuthCache(container.settings.auth_cache_ttl_s)
    app.state.renderings = Renderings(container.settings.poll_cache_entries)
    metrics = Metrics()
    if container.channels is not None:
        from cadenza.api.channel_metrics import ChannelMetrics

        metrics.registry.register(ChannelMetrics(container.channels))
    install_error_handlers(app)
    openapi.install(app)
    polls = Polls(container, app.state.auth_cache, app.state.renderings)
    app.router.routes[:0] = polls.routes()  # matched first when the lane passes one on
    app.include_router(sunocore_router)
    app.include_router(sunocore_library_router)
    app.include_router(sunocore_media_router)
    app.include_router(sunocore_remaster_router)
    app.include_router(acedata_router)
    register_acedata_callbacks(container)
    app.include_router(acedata_tool_router)
    app.include_router(v1_router)
    app.include_router(v1_admin_router)
    if isinstance(container.storage, LocalStorage):
        app.include_router(media_router(container.storage))
    app.router.routes.extend(console_routes())

    @app.get("/healthz", responses={200: {"model": Health, "description": "the server is up"}})
    def healthz() -> JSONResponse:
        body: dict[str, Any] = {"status": "ok", "version": __version__}
        readiness = getattr(container.queue, "readiness", None)
        counts = readiness() if callable(readiness) else None
        if counts is not None:
            # Up and answering either way; "ready" once every worker has started and loaded
            # the engine, so the next song starts rendering at once.
            body["workers"] = {"ready": counts[0], "total": counts[1]}
        return JSONResponse(body)

    @app.get("/metrics", response_class=Response, responses=METRICS_RESPONSES)
    def prometheus_metrics() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    settings = container.settings

    def edge(framework: ASGIApp) -> ASGIApp:
        """Around the framework's own stack: polls answered first, then the guards, then
        the request id, log line and metrics around everything."""
        inner = polls.lane(framework)
        inner = SubmitPathCase(inner)
        inner = BodyLimit(
            inner,
            max_bytes=settings.max_body_bytes,
            error=error_response,
            streams_own_body=_streams_own_body,
            error_for=acedata_body_error_for,
        )
        inner = PublicURL(
            inner, fixed=settings.public_url, trusted=TrustedProxies(settings.forwarded_allow_ips)
        )
        return RequestContextMiddleware(inner, metrics=metrics, on_error=unexpected_error_response)

    app.edge = edge
    return app


class CadenzaAPI(FastAPI):
    """FastAPI with Cadenza's edge wrapped around its whole middleware stack, so the poll
    lane and the request middleware see every request first and last."""

    edge: Callable[[ASGIApp], ASGIApp] | None = None

    def build_middleware_stack(self) -> ASGIApp:
        framework = super().build_middleware_stack()
        return self.edge(framework) if self.edge is not None else framework


def _streams_own_body(path: str) -> bool:
    """The presigned upload form streams its file to disk under the upload size cap."""
    return path.startswith("/suno/uploads/") and path != "/suno/uploads/audio-url"
