"""``POST /suno/submit/upsample`` of seed 000: remaster a clip (generated or uploaded).

Answers ``{"code":"success","message":"","data":"<task_id>"}`` and is polled like music;
the result is one clip titled "<title> (Remastered)".
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body
from pydantic import Field

from cadenza.api.bodies import RequestBody
from cadenza.api.deps import ContainerDep, CurrentKey
from cadenza.api.openapi import documented
from cadenza.api.sunocore.answers import TaskIdAnswer
from cadenza.api.sunocore.routes import IdempotencyKey, submission
from cadenza.api.sunocore.schemas import ok
from cadenza.services.commands import Remaster

router = APIRouter()


class UpsampleBody(RequestBody):
    task_id: str | None = None
    clip_id: str = Field(min_length=1, max_length=64)
    model_name: str | None = Field(default=None, max_length=64)
    variation_category: str | None = Field(default=None, max_length=32)


@router.post("/suno/submit/upsample", responses=documented(TaskIdAnswer, 402, 403, 404))
def upsample(
    body: Annotated[UpsampleBody, Body()],
    key: CurrentKey,
    container: ContainerDep,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    command = Remaster(body.clip_id, model=body.model_name, variation=body.variation_category)
    return ok(container.commands.submit(key, command, submission(idempotency_key)).id)
