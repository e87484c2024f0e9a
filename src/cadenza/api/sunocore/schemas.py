"""Request bodies and response shapes of the sunocore dialect (seed 000).

Responses are built as plain dicts so their field order and types stay byte-compatible
with the new-api gateway's task shape.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pydantic import ConfigDict, Field

from cadenza.api.bodies import RequestBody
from cadenza.domain.actions import Action, Price
from cadenza.domain.billing import ApiKey, LedgerEntry
from cadenza.domain.tasks import (
    CLIP_STATUS_FOR_TASK,
    PREVIEW_DURATION,
    Clip,
    ClipStatus,
    Task,
    TaskView,
)
from cadenza.services.ports import MediaStorage
from cadenza.services.tasks import MAX_FETCH_IDS


class MusicMetadata(RequestBody):
    """Extended controls; unknown keys are accepted and ignored like upstream does."""

    model_config = ConfigDict(extra="allow", allow_inf_nan=False)

    vocal_gender: str | None = None
    weirdness: float | None = None
    style_influence: float | None = None
    seed: int | None = None
    persona_id: str | None = None
    continue_at: float | None = None
    gpt_description_prompt: str | None = None


class SubmitMusicBody(RequestBody):
    title: str | None = None
    tags: str | None = None
    prompt: str | None = None
    negative_tags: str | None = None
    mv: str | None = None
    #: What newer clients and gateways name ``mv``; ``mv`` wins when both are given.
    model: str | None = None
    make_instrumental: bool | None = None
    #: What newer clients name ``make_instrumental``; either one asks for no vocals.
    instrumental: bool | None = None
    task: str | None = None
    task_id: str | None = None
    continue_clip_id: str | None = None
    cover_clip_id: str | None = None
    continue_at: float | None = None
    gpt_description_prompt: str | None = None
    #: The creative tasks' source clip (``continue_clip_id`` names it too).
    clip_id: str | None = None
    #: replace_section's window (Suno's own infill names it ``infill_start_s``/``_end_s``)
    #: and the lines sung in it; ``prompt`` holds the song's whole new lyrics.
    replace_section_start: float | None = None
    replace_section_end: float | None = None
    infill_start_s: float | None = None
    infill_end_s: float | None = None
    infill_lyrics: str | None = None
    #: overpainting's (Add Vocals) window.
    overpainting_start: float | None = None
    overpainting_end: float | None = None
    #: underpainting's (Add Instrumental) window.
    underpainting_start: float | None = None
    underpainting_end: float | None = None
    #: inspo's reference recordings (1 to 4 URLs) and how closely to follow them (0-1).
    audio_urls: list[str] | None = None
    audio_weight: float | None = None
    #: mashup's two source clips.
    mashup_clip_ids: list[str] | None = None
    #: samples' window.
    samples_start: float | None = None
    samples_end: float | None = None
    vocal_gender: str | None = None
    metadata: MusicMetadata | None = None

    def to_params(self) -> dict[str, Any]:
        """Flatten into the names ``build_music_request`` expects (top level wins)."""
        params: dict[str, Any] = {}
        if self.metadata is not None:
            meta = self.metadata.model_dump(exclude_none=True)
            for name in MusicMetadata.model_fields:
                if name in meta:
                    params[name] = meta[name]
        top = self.model_dump(exclude_none=True, exclude={"metadata"})
        params.update(top)
        return params


class LyricsMetadata(RequestBody):
    model_config = ConfigDict(extra="allow", allow_inf_nan=False)

    seed: int | None = None


class SubmitLyricsBody(RequestBody):
    """``prompt`` describes the song. Gateways send their music fields here too (``mv``,
    ``make_instrumental``, ``callBackUrl`` …): they are accepted and have no effect."""

    prompt: str | None = None
    seed: int | None = None
    metadata: LyricsMetadata | None = None

    def to_params(self) -> dict[str, Any]:
        seed = self.seed
        if seed is None and self.metadata is not None:
            seed = self.metadata.seed
        return {"prompt": self.prompt, **({"seed": seed} if seed is not None else {})}


class FetchBody(RequestBody):
    #: A gateway polls every unfinished task of a channel at once (new-api: up to 1000).
    ids: list[str] = Field(default_factory=list, max_length=MAX_FETCH_IDS)
    action: str | None = None


def ok(data: Any) -> dict[str, Any]:
    return {"code": "success", "message": "", "data": data}


def money(value: Decimal) -> int | float:
    """Decimals as JSON numbers: integers when integral."""
    if value == value.to_integral_value():
        return int(value)
    return float(value)


def unix(moment: datetime | None) -> int:
    return int(moment.timestamp()) if moment is not None else 0


def iso(moment: datetime | None) -> str:
    if moment is None:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    # Millisecond precision with a Z, as Suno writes its timestamps.
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _url(storage: MediaStorage, key: str | None, ready: bool) -> str:
    return storage.url(key) if ready and key else ""


def clip_object(clip: Clip, storage: MediaStorage) -> dict[str, Any]:
    """A clip as Suno shows it. While ``streaming``, Suno's ``audio_url`` already plays
    what exists of the song (``metadata.stream``): here, once the clip's beginning is
    rendered, its preview; ``duration`` stays None until the song is complete."""
    ready = clip.status is ClipStatus.COMPLETE
    preview = clip.preview()
    audio_url = _url(storage, clip.audio_key, ready)
    if preview is not None:
        audio_url = storage.url(preview[0])
    prompt = clip.lyrics or clip.prompt
    metadata: dict[str, Any] = dict(clip.metadata)
    metadata.pop(PREVIEW_DURATION, None)
    metadata.update(
        {
            "tags": clip.tags,
            "prompt": prompt,
            "negative_tags": clip.negative_tags,
            "gpt_description_prompt": clip.gpt_description_prompt,
            "duration": clip.duration,
            "error_message": clip.error_message or None,
            "type": "gen",
            "stream": True,
        }
    )
    return {
        "id": clip.id,
        "clip_id": clip.id,
        "audio_url": audio_url,
        "video_url": _url(storage, clip.video_key, ready),
        "image_url": _url(storage, clip.image_key, ready),
        "image_large_url": _url(storage, clip.image_large_key, ready),
        "model_name": clip.model_name,
        "major_model_version": clip.major_model_version,
        "status": clip.status.value,
        "title": clip.title,
        "created_at": iso(clip.created_at),
        "duration": clip.duration,
        "prompt": prompt,
        "tags": clip.tags,
        "negative_tags": clip.negative_tags,
        "gpt_description_prompt": clip.gpt_description_prompt,
        "lyric": clip.lyrics,
        "type": "gen",
        "metadata": metadata,
    }


def lyrics_object(task: Task) -> dict[str, Any]:
    """A lyrics task's data, as Suno's lyrics endpoint and the new-api gateway shape it."""
    result = task.result or {}
    return {
        "id": task.id,
        "status": CLIP_STATUS_FOR_TASK[task.status].value,
        "title": str(result.get("title") or ""),
        "text": str(result.get("text") or ""),
    }


def task_object(view: TaskView, storage: MediaStorage) -> dict[str, Any]:
    task: Task = view.task
    data: Any = (
        lyrics_object(task)
        if task.action == Action.LYRICS
        else [clip_object(clip, storage) for clip in view.clips]
    )
    return {
        "task_id": task.id,
        "action": task.action,
        "status": task.status.value,
        "fail_reason": task.fail_reason or "",
        "submit_time": unix(task.submit_time),
        "start_time": unix(task.start_time),
        "finish_time": unix(task.finish_time),
        "progress": f"{max(0, min(100, int(task.progress)))}%",
        "data": data,
    }


def price_object(price: Price) -> dict[str, Any]:
    return {
        "action": str(price.action),
        "display_name": price.display_name,
        "price": money(price.price),
        "enabled": price.enabled,
        "refund_on_failure": price.refund_on_failure,
    }


def key_object(key: ApiKey) -> dict[str, Any]:
    return {
        "id": key.id,
        "name": key.name,
        "key_prefix": key.key_prefix,
        "credits_balance": money(key.credits_balance),
        "rate_limit_per_minute": key.rate_limit_per_minute,
        "concurrency_limit": key.concurrency_limit,
        "is_admin": key.is_admin,
        "revoked": key.revoked,
        "created_at": iso(key.created_at),
    }


def me_object(key: ApiKey) -> dict[str, Any]:
    return {"auth_type": "api_key", "is_admin": key.is_admin, "api_key": key_object(key)}


def transaction_object(entry: LedgerEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "task_id": entry.task_id,
        "action": entry.action,
        "change_amount": money(entry.change_amount),
        "balance_after": money(entry.balance_after),
        "transaction_type": entry.entry_type.value,
        "note": entry.note,
        "created_at": iso(entry.created_at),
    }
