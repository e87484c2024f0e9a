"""Routes of the sunocore dialect (seed 000): task submission and billing (polling is in
``polling``).

Submit routes all answer ``{"code":"success","message":"","data":"<task_id>"}``; the other
async routes of the seed slot into ``router`` the same way ``submit_music`` does.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Query

from cadenza.api.deps import ContainerDep, CurrentKey, FreshKey, run_submit
from cadenza.api.openapi import documented
from cadenza.api.sunocore.answers import MeAnswer, PricesAnswer, TaskIdAnswer, TransactionsAnswer
from cadenza.api.sunocore.schemas import (
    SubmitLyricsBody,
    SubmitMusicBody,
    me_object,
    ok,
    price_object,
    transaction_object,
)
from cadenza.domain.music import build_music_request
from cadenza.services import billing
from cadenza.services.commands import MakeMusic, Origin, Submission, WriteLyrics

router = APIRouter()

IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=255)]
SUNOCORE = Origin("sunocore")


def submission(idempotency_key: str | None, body: dict[str, Any] | None = None) -> Submission:
    """How a sunocore request arrived; its body, as given, tells an idempotent retry."""
    return Submission(SUNOCORE, idempotency_key=idempotency_key, fingerprint=body or {})


@router.post("/suno/submit/music", responses=documented(TaskIdAnswer, 402, 403, 404))
async def submit_music(
    body: Annotated[SubmitMusicBody, Body()],
    key: CurrentKey,
    container: ContainerDep,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    params = body.to_params()
    command = MakeMusic(build_music_request(params))
    how = submission(idempotency_key, params)
    task = await run_submit(container, container.commands.submit, key, command, how)
    return ok(task.id)


@router.post("/suno/submit/lyrics", responses=documented(TaskIdAnswer, 402, 403))
def submit_lyrics(
    body: Annotated[SubmitLyricsBody, Body()],
    key: CurrentKey,
    container: ContainerDep,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """Lyrics for a description; written at once, polled like any task (action LYRICS)."""
    params = body.to_params()
    command = WriteLyrics(params.get("prompt"), params.get("seed"))
    task = container.commands.submit(key, command, submission(idempotency_key, params))
    return ok(task.id)


@router.get("/suno/billing/pricing", responses=documented(PricesAnswer))
def pricing(key: CurrentKey, container: ContainerDep) -> dict[str, Any]:
    return ok([price_object(p) for p in billing.list_prices(container.uow)])


@router.get("/suno/billing/me", responses=documented(MeAnswer))
def me(key: FreshKey) -> dict[str, Any]:
    return ok(me_object(key))


@router.get("/suno/billing/transactions", responses=documented(TransactionsAnswer))
def transactions(
    key: CurrentKey,
    container: ContainerDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    entries = billing.transactions(container.uow, key, limit)
    return ok([transaction_object(e) for e in entries])
