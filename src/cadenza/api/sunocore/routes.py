"""Routes of the sunocore dialect (seed 000): task submission, polling and billing.

Submit routes all answer ``{"code":"success","message":"","data":"<task_id>"}``; the other
async routes of the seed slot into ``router`` the same way ``submit_music`` does.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Query

from cadenza.api.deps import ContainerDep, CurrentKey, FreshKey
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


@router.post("/suno/fetch")
def fetch_many(
    body: Annotated[FetchBody, Body()], key: CurrentKey, container: ContainerDep
) -> dict[str, Any]:
    ids = list(dict.fromkeys(i for i in body.ids if i))
    views = tasks.fetch(container.uow, key, ids) if ids else []
    return ok([task_object(view, container.storage) for view in views])


@router.get("/suno/fetch/{task_id}")
def fetch_one(task_id: str, key: CurrentKey, container: ContainerDep) -> dict[str, Any]:
    view = tasks.get(container.uow, key, task_id)
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
