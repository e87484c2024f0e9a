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
from cadenza.domain.errors import InvalidInput
from cadenza.domain.music import build_music_request, looks_like_lyrics
from cadenza.services import billing
from cadenza.services.commands import MakeMusic, Origin, Submission, WriteLyrics
from cadenza.services.commands_creative import (
    AddInstrumental,
    AddVocals,
    Inspire,
    Mashup,
    ReplaceSection,
    Samples,
)

router = APIRouter()

IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=255)]
SUNOCORE = Origin("sunocore")


def submission(idempotency_key: str | None, body: dict[str, Any] | None = None) -> Submission:
    """How a sunocore request arrived; its body, as given, tells an idempotent retry."""
    return Submission(SUNOCORE, idempotency_key=idempotency_key, fingerprint=body or {})


#: ``task`` names of the creative actions (AceData's action names; ``add_vocals`` and
#: ``add_instrumental`` too).
CREATIVE_TASKS = (
    "replace_section",
    "overpainting",
    "add_vocals",
    "underpainting",
    "add_instrumental",
    "samples",
    "mashup",
    "inspo",
)


def _first(params: dict[str, Any], *names: str) -> Any:
    return next((params[n] for n in names if params.get(n) is not None), None)


def _gender(value: Any) -> str | None:
    if value in (None, ""):
        return None
    gender = {"m": "male", "male": "male", "f": "female", "female": "female"}.get(
        str(value).lower()
    )
    if gender is None:
        raise InvalidInput("vocal_gender must be 'm' or 'f'")
    return gender


def creative_command(
    params: dict[str, Any],
) -> ReplaceSection | AddVocals | AddInstrumental | Samples | Mashup | Inspire | None:
    """The command of a creative ``task`` (None for songs, extensions and covers)."""
    task = str(params.get("task") or "").strip().lower()
    if task not in CREATIVE_TASKS:
        return None
    model = str(_first(params, "mv", "model") or "").strip() or None
    prompt = str(params.get("prompt") or "").strip()
    described = str(params.get("gpt_description_prompt") or "").strip()
    lyrical = bool(prompt) and (bool(described) or looks_like_lyrics(prompt))
    instrumental = bool(params.get("make_instrumental") or params.get("instrumental"))
    if task == "inspo":
        urls = params.get("audio_urls") or []
        if not isinstance(urls, list) or not 1 <= len(urls) <= 4:
            raise InvalidInput("task 'inspo' needs audio_urls: 1 to 4 URLs")
        weight = params.get("audio_weight")
        return Inspire(
            tuple(str(u) for u in urls),
            lyrics=prompt if lyrical else None,
            description=described or (None if lyrical else prompt or None),
            instrumental=instrumental,
            tags=str(params.get("tags") or ""),
            title=str(params.get("title") or ""),
            model=model,
            vocal_gender=_gender(params.get("vocal_gender")),
            audio_weight=None if weight is None else float(weight),
        )
    if task == "mashup":
        ids = params.get("mashup_clip_ids") or []
        if not isinstance(ids, list) or len(ids) != 2:
            raise InvalidInput("task 'mashup' needs mashup_clip_ids: two clip ids")
        return Mashup(
            tuple(str(i) for i in ids),
            lyrics=prompt if lyrical else None,
            description=described or (None if lyrical else prompt or None),
            instrumental=instrumental,
            tags=str(params.get("tags") or ""),
            title=str(params.get("title") or ""),
            model=model,
        )
    clip_id = str(_first(params, "clip_id", "continue_clip_id") or "").strip()
    if not clip_id:
        raise InvalidInput(f"task '{task}' needs clip_id (or continue_clip_id)")
    common: dict[str, Any] = {
        "tags": str(params.get("tags") or ""),
        "title": str(params.get("title") or ""),
        "model": model,
        "vocal_gender": _gender(params.get("vocal_gender")),
    }
    if task == "replace_section":
        return ReplaceSection(
            clip_id,
            _first(params, "replace_section_start", "infill_start_s"),
            _first(params, "replace_section_end", "infill_end_s"),
            lyrics=params.get("prompt"),
            infill_lyrics=params.get("infill_lyrics"),
            **common,
        )
    if task in ("underpainting", "add_instrumental"):
        return AddInstrumental(
            clip_id,
            params.get("underpainting_start"),
            params.get("underpainting_end"),
            tags=common["tags"],
            title=common["title"],
            model=model,
        )
    if task == "samples":
        return Samples(
            clip_id,
            params.get("samples_start"),
            params.get("samples_end"),
            lyrics=prompt if lyrical else None,
            description=described or (None if lyrical else prompt or None),
            instrumental=instrumental,
            **common,
        )
    return AddVocals(
        clip_id,
        params.get("overpainting_start"),
        params.get("overpainting_end"),
        lyrics=params.get("prompt"),
        **common,
    )


@router.post("/suno/submit/music", responses=documented(TaskIdAnswer, 402, 403, 404))
async def submit_music(
    body: Annotated[SubmitMusicBody, Body()],
    key: CurrentKey,
    container: ContainerDep,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    params = body.to_params()
    command = creative_command(params) or MakeMusic(build_music_request(params))
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
