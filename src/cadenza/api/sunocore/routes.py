"""Routes of the sunocore dialect (seed 000): task submission, polling and billing.

Submit routes all answer ``{"code":"success","message":"","data":"<task_id>"}``; the other
async routes of the seed slot into ``router`` the same way ``submit_music`` does.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Query, Request

from cadenza.api.deps import ContainerDep, CurrentKey, FreshKey, container_of, look_up
from cadenza.api.sunocore.schemas import (
    FetchBody,
    SubmitMusicBody,
    me_object,
    ok,
    price_object,
    task_object,
    transaction_object,
)
from cadenza.services import billing, tasks

router = APIRouter()

IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=255)]


@router.post("/suno/submit/music")
def submit_music(
    body: Annotated[SubmitMusicBody, Body()],
    key: CurrentKey,
    container: ContainerDep,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    task = tasks.submit_music(
        container.uow,
        container.queue,
        key,
        body.to_params(),
        idempotency_key=idempotency_key,
        deadline_s=container.settings.task_timeout_s,
    )
    return ok(task.id)


# The polling routes are the hottest path: clients poll every few seconds per task. They
# take the container from the request rather than through a second dependency (FastAPI
# spends ~20 µs solving one), and look one task up on the event loop where that is
# cheaper than a thread hop (see ``look_up``); a batch goes to the thread pool.


@router.post("/suno/fetch")
async def fetch_many(
    body: Annotated[FetchBody, Body()], key: CurrentKey, request: Request
) -> dict[str, Any]:
    views = container_of(request).views
    inline = views.inline and len(body.ids) == 1
    found = await look_up(inline, tasks.fetch, views, key, body.ids)
    return ok([task_object(view, container_of(request).storage) for view in found])


@router.get("/suno/fetch/{task_id}")
async def fetch_one(task_id: str, key: CurrentKey, request: Request) -> dict[str, Any]:
    container = container_of(request)
    views = container.views
    view = await look_up(views.inline, tasks.get, views, key, task_id)
    return ok(task_object(view, container.storage))


@router.get("/suno/billing/pricing")
def pricing(key: CurrentKey, container: ContainerDep) -> dict[str, Any]:
    return ok([price_object(p) for p in billing.list_prices(container.uow)])


@router.get("/suno/billing/me")
def me(key: FreshKey) -> dict[str, Any]:
    return ok(me_object(key))


@router.get("/suno/billing/transactions")
def transactions(
    key: CurrentKey,
    container: ContainerDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    entries = billing.transactions(container.uow, key, limit)
    return ok([transaction_object(e) for e in entries])
