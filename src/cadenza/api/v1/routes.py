"""``/api/v1``: what a key owns, page by page, its task events as they happen, and for
admin keys the keys, credits, prices and usage of the whole server.

Every data access goes through a service (``listings``, ``keys``, ``billing``,
``events``); routes only check who asks and render.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Path, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import AfterValidator, BeforeValidator
from starlette.concurrency import run_in_threadpool

from cadenza.api.deps import AuthCache, ContainerDep, CurrentKey, FreshKey, current_key
from cadenza.api.openapi import documented
from cadenza.api.v1 import schemas as s
from cadenza.bootstrap import Container
from cadenza.domain.billing import ApiKey
from cadenza.domain.channels import Channel
from cadenza.domain.errors import Forbidden, InvalidInput, UpstreamUnavailable
from cadenza.domain.events import EventKind, TaskEvent
from cadenza.services import billing, channels, events, listings
from cadenza.services import keys as key_service
from cadenza.services import tasks as task_service

PREFIX = "/api/v1"
router = APIRouter(prefix=PREFIX, tags=["api-v1"])
admin = APIRouter(prefix=PREFIX + "/admin", tags=["api-v1 admin"])

#: Seconds an event stream waits for news before it sends a keep-alive comment.
KEEP_ALIVE_S = 15.0


async def admin_key(key: Annotated[ApiKey, Depends(current_key)]) -> ApiKey:
    """The request's key, when it is an admin key (403 otherwise)."""
    if not key.is_admin:
        raise Forbidden("this route needs an admin key")
    return key


AdminKey = Annotated[ApiKey, Depends(admin_key)]
Limit = Annotated[int, Query(ge=1, le=listings.MAX_PAGE, description="items per page")]
Offset = Annotated[
    int,
    Query(ge=0, le=listings.MAX_OFFSET, description="items to skip (a page's next_offset)"),
]
KeyId = Annotated[
    str | None,
    Query(
        max_length=64, description="another key's id (admin keys only); default: the caller's key"
    ),
]
Status = Annotated[str | None, Query(max_length=16, description="only objects in this status")]
ActionFilter = Annotated[
    str | None, Query(max_length=32, description="only tasks of this action, e.g. MUSIC")
]


def _moment(value: object) -> object:
    """ISO 8601 only (pydantic would also read a number as a Unix time)."""
    if isinstance(value, str) and re.fullmatch(r"\s*[+-]?[\d.eE+-]*\s*", value):
        raise ValueError("must be an ISO 8601 date and time")
    return value


def _utc(value: datetime | None) -> datetime | None:
    """A moment without an offset is UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


Moment = Annotated[datetime | None, BeforeValidator(_moment), AfterValidator(_utc)]
Since = Annotated[Moment, Query(description="from this moment on (ISO 8601)")]
Until = Annotated[Moment, Query(description="before this moment (ISO 8601)")]


# -- a key's own objects --------------------------------------------------------------


@router.get("/me", responses=documented(s.KeyOut))
def me(key: FreshKey) -> s.KeyOut:
    """The caller's key, with its balance as it stands."""
    return s.key_out(key)


@router.get("/tasks", responses=documented(s.TaskPage, 403))
def list_tasks(
    key: CurrentKey,
    container: ContainerDep,
    limit: Limit = 50,
    offset: Offset = 0,
    status: Status = None,
    action: ActionFilter = None,
    key_id: KeyId = None,
) -> s.TaskPage:
    """The key's tasks with their clips, newest first."""
    owner = listings.owner(container.uow, key, key_id)
    page = listings.tasks(
        container.uow, owner, limit=limit, offset=offset, status=status, action=action
    )
    return s.page_of(s.TaskPage, page, lambda view: s.task_out(view, container.storage))


@router.get("/tasks/{task_id}", responses=documented(s.TaskOut))
def get_task(
    task_id: Annotated[str, Path()], key: CurrentKey, container: ContainerDep
) -> s.TaskOut:
    """One of the key's tasks."""
    return s.task_out(task_service.get(container.views, key, task_id), container.storage)


EVENT_STREAM: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "the task's events as server-sent events (`id`: the event's seq, "
        "`event`: created | state | progress | clip | preview, `data`: its JSON payload); "
        "the stream ends after the task's last state",
        "content": {
            "text/event-stream": {
                "schema": {
                    "type": "object",
                    "description": "one event",
                    "properties": {
                        "id": {"type": "string", "description": "the event's seq"},
                        "event": {"type": "string", "enum": [k.value for k in EventKind]},
                        "data": {
                            "type": "string",
                            "contentMediaType": "application/json",
                            "description": "task_id, seq, kind and the event's payload",
                        },
                    },
                    "required": ["id", "event", "data"],
                }
            }
        },
    }
}


def _frame(event: TaskEvent) -> bytes:
    data = json.dumps(
        {"task_id": event.task_id, "seq": event.seq, "kind": event.kind.value, **event.payload},
        ensure_ascii=False,
    )
    return f"id: {event.seq}\nevent: {event.kind.value}\ndata: {data}\n\n".encode()


async def _event_stream(
    container: Container, task_id: str, first: list[TaskEvent], after: int
) -> AsyncIterator[bytes]:
    found = first
    while True:
        for event in found:
            yield _frame(event)
            after = event.seq
            if event.terminal:
                return
        found = await container.event_waiter.wait_events(task_id, after, KEEP_ALIVE_S)
        if not found:
            yield b": keep-alive\n\n"


@router.get("/tasks/{task_id}/events", response_class=StreamingResponse, responses=EVENT_STREAM)
async def task_events(
    task_id: Annotated[str, Path()],
    key: CurrentKey,
    container: ContainerDep,
    after: Annotated[int, Query(ge=0, description="resume after this event seq")] = 0,
    last_event_id: Annotated[
        str | None, Header(alias="Last-Event-ID", description="what browsers send to resume")
    ] = None,
) -> StreamingResponse:
    """The task's events from the start (or after a cursor), then each as it happens."""
    if last_event_id:
        try:
            after = max(after, int(last_event_id))
        except ValueError:
            raise InvalidInput("Last-Event-ID must be an event seq") from None
    first = await run_in_threadpool(events.events_after, container.uow, key, task_id, after)
    return StreamingResponse(
        _event_stream(container, task_id, first, after),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.get("/clips", responses=documented(s.ClipPage, 403))
def list_clips(
    key: CurrentKey,
    container: ContainerDep,
    limit: Limit = 50,
    offset: Offset = 0,
    status: Status = None,
    action: ActionFilter = None,
    key_id: KeyId = None,
) -> s.ClipPage:
    """The key's clips, newest first; ``action`` is the action of the task that made them."""
    owner = listings.owner(container.uow, key, key_id)
    page = listings.clips(
        container.uow, owner, limit=limit, offset=offset, status=status, action=action
    )
    return s.page_of(s.ClipPage, page, lambda clip: s.clip_out(clip, container.storage))


@router.get("/personas", responses=documented(s.PersonaPage, 403))
def list_personas(
    key: CurrentKey,
    container: ContainerDep,
    limit: Limit = 50,
    offset: Offset = 0,
    key_id: KeyId = None,
) -> s.PersonaPage:
    owner = listings.owner(container.uow, key, key_id)
    page = listings.personas(container.uow, owner, limit=limit, offset=offset)
    return s.page_of(s.PersonaPage, page, s.persona_out)


@router.get("/playlists", responses=documented(s.PlaylistPage, 403))
def list_playlists(
    key: CurrentKey,
    container: ContainerDep,
    limit: Limit = 50,
    offset: Offset = 0,
    key_id: KeyId = None,
) -> s.PlaylistPage:
    owner = listings.owner(container.uow, key, key_id)
    page = listings.playlists(container.uow, owner, limit=limit, offset=offset)
    return s.page_of(s.PlaylistPage, page, s.playlist_out)


@router.get("/uploads", responses=documented(s.UploadPage, 403))
def list_uploads(
    key: CurrentKey,
    container: ContainerDep,
    limit: Limit = 50,
    offset: Offset = 0,
    status: Status = None,
    key_id: KeyId = None,
) -> s.UploadPage:
    owner = listings.owner(container.uow, key, key_id)
    page = listings.uploads(container.uow, owner, limit=limit, offset=offset, status=status)
    return s.page_of(s.UploadPage, page, s.upload_out)


def _ledger_page(page: listings.Page[Any]) -> s.LedgerPage:
    return s.page_of(s.LedgerPage, page, s.entry_out)


EntryTypeFilter = Annotated[str | None, Query(description="CONSUME, REFUND, TOPUP or ADJUST")]


@router.get("/ledger", responses=documented(s.LedgerPage, 403))
def ledger(
    key: CurrentKey,
    container: ContainerDep,
    limit: Limit = 50,
    offset: Offset = 0,
    action: ActionFilter = None,
    entry_type: EntryTypeFilter = None,
    since: Since = None,
    until: Until = None,
    key_id: KeyId = None,
) -> s.LedgerPage:
    """The key's ledger rows, newest first."""
    owner = listings.owner(container.uow, key, key_id)
    page = listings.ledger(
        container.uow,
        owner,
        limit=limit,
        offset=offset,
        action=action,
        entry_type=entry_type,
        since=since,
        until=until,
    )
    return _ledger_page(page)


def _usage(
    container: Container, key_id: str | None, since: datetime | None, until: datetime | None
) -> s.UsageReport:
    lines = listings.usage(container.uow, key_id, since=since, until=until)
    return s.UsageReport(
        since=since.isoformat() if since else None,
        until=until.isoformat() if until else None,
        items=[s.usage_out(line) for line in lines],
    )


@router.get("/usage", responses=documented(s.UsageReport, 403))
def usage(
    key: CurrentKey,
    container: ContainerDep,
    since: Since = None,
    until: Until = None,
    key_id: KeyId = None,
) -> s.UsageReport:
    """The key's use per action over a span, from its ledger."""
    return _usage(container, listings.owner(container.uow, key, key_id), since, until)


# -- admin: keys, credits, prices, usage ----------------------------------------------

KeyRef = Annotated[str, Path(description="the key's id or its prefix")]


@admin.get("/keys", responses=documented(s.KeyPage, 403))
def admin_list_keys(
    key: AdminKey, container: ContainerDep, limit: Limit = 50, offset: Offset = 0
) -> s.KeyPage:
    page = listings.list_keys(container.uow, limit=limit, offset=offset)
    return s.page_of(s.KeyPage, page, s.key_out)


CREATED: dict[int | str, dict[str, Any]] = {
    201: documented(s.KeyCreated)[200],
    **documented(None, 403),
}


@admin.post("/keys", status_code=201, responses=CREATED)
def admin_create_key(
    body: Annotated[s.KeyCreate, Body()], key: AdminKey, container: ContainerDep
) -> JSONResponse:
    """A new key; its secret is in this answer only."""
    made, secret = key_service.create_key(
        container.uow,
        name=body.name,
        credits=body.credits,
        rate_limit_per_minute=body.rate_limit_per_minute,
        concurrency_limit=body.concurrency_limit,
        is_admin=body.is_admin,
    )
    answer = s.KeyCreated(
        **s.key_out(made).model_dump(), secret=secret, callback_secret=made.callback_secret
    )
    return JSONResponse(answer.model_dump(), status_code=201)


@admin.get("/keys/{ref}", responses=documented(s.KeyOut, 403))
def admin_get_key(ref: KeyRef, key: AdminKey, container: ContainerDep) -> s.KeyOut:
    return s.key_out(key_service.get_key(container.uow, ref))


def _forget_keys(request: Request) -> None:
    """This process stops using what it remembers of keys at once (others within their
    key cache's lifetime)."""
    cache: AuthCache = request.app.state.auth_cache
    cache.clear()


@admin.patch("/keys/{ref}", responses=documented(s.KeyOut, 403))
def admin_change_key(
    ref: KeyRef,
    body: Annotated[s.KeyChange, Body()],
    key: AdminKey,
    container: ContainerDep,
    request: Request,
) -> s.KeyOut:
    """Rename a key or change its limits."""
    changed = key_service.set_limits(
        container.uow,
        ref,
        name=body.name,
        rate_limit_per_minute=body.rate_limit_per_minute,
        concurrency_limit=body.concurrency_limit,
    )
    _forget_keys(request)
    return s.key_out(changed)


@admin.post("/keys/{ref}/revoke", responses=documented(s.KeyOut, 403))
def admin_revoke_key(
    ref: KeyRef, key: AdminKey, container: ContainerDep, request: Request
) -> s.KeyOut:
    """Revoke a key: this server refuses it at once, others within their key cache's
    lifetime (``CADENZA_AUTH_CACHE_TTL_S``)."""
    revoked = key_service.revoke_key(container.uow, ref)
    _forget_keys(request)
    return s.key_out(key_service.get_key(container.uow, revoked.id))


@admin.post("/keys/{ref}/credits", responses=documented(s.LedgerEntryOut, 403))
def admin_change_credits(
    ref: KeyRef, body: Annotated[s.CreditChange, Body()], key: AdminKey, container: ContainerDep
) -> s.LedgerEntryOut:
    """Grant credits (a TOPUP row) or, with a negative amount, take them (ADJUST)."""
    entry = key_service.change_credits(container.uow, ref, body.amount, body.note)
    return s.entry_out(entry)


ChannelRef = Annotated[str, Path(max_length=200, description="the channel's id or name")]


def _channel_answers(container: Container, found: list[Channel]) -> list[s.ChannelOut]:
    router = container.channels
    if router is None:
        return [s.channel_out(c, None) for c in found]
    try:
        stats = router.health.snapshot(found)
    except UpstreamUnavailable:  # the shared health store is away: the channels still list
        return [s.channel_out(c, None) for c in found]
    return [s.channel_out(c, st) for c, st in zip(found, stats, strict=True)]


@admin.get("/channels", responses=documented(s.ChannelList, 403))
def admin_list_channels(key: AdminKey, container: ContainerDep) -> s.ChannelList:
    """Upstream channels with their health (``null`` while a shared store is away)."""
    found = channels.list_channels(container.uow)
    return s.ChannelList(items=_channel_answers(container, found))


CHANNEL_CREATED: dict[int | str, dict[str, Any]] = {
    201: documented(s.ChannelOut)[200],
    **documented(None, 403),
}


@admin.post("/channels", status_code=201, responses=CHANNEL_CREATED)
def admin_add_channel(
    body: Annotated[s.ChannelCreate, Body()], key: AdminKey, container: ContainerDep
) -> JSONResponse:
    """Add a channel: its key is sealed with ``CADENZA_CHANNEL_SECRET`` before it is
    stored and never shown again. Tasks of the models it serves go to it from then on
    (within the channel cache's two seconds)."""
    from cadenza.bootstrap import build_secret_box

    box = build_secret_box(container.settings)
    if box is None:
        raise InvalidInput("set CADENZA_CHANNEL_SECRET first: channel keys are sealed with it")
    made = channels.add_channel(
        container.uow,
        box,
        name=body.name,
        kind=body.kind,
        base_url=body.base_url,
        key=body.key,
        models=body.models,
        actions=body.actions,
        weight=body.weight,
        priority=body.priority,
        max_in_flight=body.max_in_flight,
        submit_timeout_s=body.submit_timeout_s,
        task_timeout_s=body.task_timeout_s,
        cooldown_s=body.cooldown_s,
    )
    answer = _channel_answers(container, [made])[0]
    return JSONResponse(answer.model_dump(), status_code=201)


@admin.patch("/channels/{ref}", responses=documented(s.ChannelOut, 403))
def admin_change_channel(
    ref: ChannelRef,
    body: Annotated[s.ChannelChange, Body()],
    key: AdminKey,
    container: ContainerDep,
) -> s.ChannelOut:
    """Enable or disable a channel; a disabled one takes no new task, and the tasks it
    holds are still followed there to their end."""
    changed = channels.set_enabled(container.uow, ref, body.enabled)
    return _channel_answers(container, [changed])[0]


@admin.delete("/channels/{ref}", responses=documented(s.ChannelOut, 403))
def admin_remove_channel(ref: ChannelRef, key: AdminKey, container: ContainerDep) -> s.ChannelOut:
    """Remove a channel (disable it first and let its tasks finish)."""
    removed = channels.remove_channel(container.uow, ref)
    return s.channel_out(removed, None)


@admin.get("/prices", responses=documented(s.PriceList, 403))
def admin_prices(key: AdminKey, container: ContainerDep) -> s.PriceList:
    return s.PriceList(items=[s.price_out(p) for p in billing.list_prices(container.uow)])


@admin.put("/prices/{action}", responses=documented(s.PriceOut, 403))
def admin_set_price(
    action: Annotated[str, Path(description="the action, e.g. MUSIC")],
    body: Annotated[s.PriceChange, Body()],
    key: AdminKey,
    container: ContainerDep,
) -> s.PriceOut:
    """Change an action's price, enable or disable it, or its refunds."""
    price = billing.set_price(
        container.uow,
        action,
        price=body.price,
        enabled=body.enabled,
        refund_on_failure=body.refund_on_failure,
        display_name=body.display_name,
    )
    return s.price_out(price)


@admin.get("/ledger", responses=documented(s.LedgerPage, 403))
def admin_ledger(
    key: AdminKey,
    container: ContainerDep,
    limit: Limit = 50,
    offset: Offset = 0,
    action: ActionFilter = None,
    entry_type: EntryTypeFilter = None,
    since: Since = None,
    until: Until = None,
    key_id: Annotated[
        str | None, Query(max_length=64, description="one key; default: every key")
    ] = None,
) -> s.LedgerPage:
    """Ledger rows of every key (or one), newest first."""
    page = listings.ledger(
        container.uow,
        key_id,
        limit=limit,
        offset=offset,
        action=action,
        entry_type=entry_type,
        since=since,
        until=until,
    )
    return _ledger_page(page)


@admin.get("/usage", responses=documented(s.UsageReport, 403))
def admin_usage(
    key: AdminKey,
    container: ContainerDep,
    since: Since = None,
    until: Until = None,
    key_id: Annotated[
        str | None, Query(max_length=64, description="one key; default: every key")
    ] = None,
) -> s.UsageReport:
    """Use per key and action over a span, from the ledger."""
    return _usage(container, key_id, since, until)
