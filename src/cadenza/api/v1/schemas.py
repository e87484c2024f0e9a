"""Bodies and answers of ``/api/v1`` (plain resources, no success envelope)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from cadenza.api.bodies import RequestBody
from cadenza.api.sunocore.schemas import iso, money
from cadenza.domain.actions import Price
from cadenza.domain.billing import ApiKey, LedgerEntry
from cadenza.domain.library import Persona, Playlist
from cadenza.domain.tasks import Clip, ClipStatus, TaskView
from cadenza.domain.uploads import Upload
from cadenza.services.listings import Usage
from cadenza.services.ports import MediaStorage

Money = int | float


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- answers --------------------------------------------------------------------------


class KeyOut(_Out):
    """An API key (never its secret)."""

    id: str
    name: str
    key_prefix: str = Field(description="the first characters of the secret, to tell keys apart")
    credits_balance: Money
    rate_limit_per_minute: int
    concurrency_limit: int
    is_admin: bool
    revoked: bool
    created_at: str


class KeyCreated(KeyOut):
    """A new key with its secret, shown only in this answer."""

    secret: str = Field(description="the API key itself; stored only as a hash")
    callback_secret: str = Field(description="signs the key's callbacks")


class KeyPage(_Out):
    """A page of keys, oldest first."""

    items: list[KeyOut]
    limit: int
    offset: int
    next_offset: int | None = Field(description="offset of the next page; null on the last")


class LedgerEntryOut(_Out):
    """One ledger row: a change of a key's balance."""

    id: str
    key_id: str
    entry_type: Literal["CONSUME", "REFUND", "TOPUP", "ADJUST"]
    change_amount: Money
    balance_after: Money
    action: str
    task_id: str | None
    note: str
    created_at: str


class LedgerPage(_Out):
    """A page of ledger rows, newest first."""

    items: list[LedgerEntryOut]
    limit: int
    offset: int
    next_offset: int | None


class PriceOut(_Out):
    """The price of an action."""

    action: str
    display_name: str
    price: Money
    enabled: bool
    refund_on_failure: bool


class PriceList(_Out):
    """Every action's price."""

    items: list[PriceOut]


class UsageOut(_Out):
    key_id: str
    action: str = Field(description="the action; empty for operators' grants")
    charged: int = Field(description="tasks charged")
    refunded: int = Field(description="tasks refunded")
    spent: Money = Field(description="credits spent, net of refunds")
    granted: Money = Field(description="credits added (or removed, negative) by operators")


class UsageReport(_Out):
    """Use per key and action over ``[since, until)``."""

    since: str | None
    until: str | None
    items: list[UsageOut]


class ClipOut(_Out):
    """A clip, with links to its media once complete."""

    id: str
    task_id: str
    status: str
    title: str
    tags: str
    negative_tags: str
    prompt: str
    lyrics: str
    model_name: str
    duration: float | None
    audio_url: str
    image_url: str
    video_url: str
    files: dict[str, str] = Field(description="name -> link of every file the clip has")
    error_message: str
    created_at: str


class ClipPage(_Out):
    """A page of clips, newest first."""

    items: list[ClipOut]
    limit: int
    offset: int
    next_offset: int | None


class TaskOut(_Out):
    """A task with its clips."""

    id: str
    action: str
    status: str
    progress: int
    fail_reason: str
    price: Money
    submit_time: str
    start_time: str | None
    finish_time: str | None
    result: dict[str, Any] | None
    clips: list[ClipOut]


class TaskPage(_Out):
    """A page of tasks, newest first."""

    items: list[TaskOut]
    limit: int
    offset: int
    next_offset: int | None


class PersonaOut(_Out):
    id: str
    name: str
    persona_type: str
    description: str
    root_clip_id: str
    clip_ids: list[str]
    created_at: str


class PersonaPage(_Out):
    """A page of personas, newest first."""

    items: list[PersonaOut]
    limit: int
    offset: int
    next_offset: int | None


class PlaylistOut(_Out):
    id: str
    name: str
    clip_ids: list[str]
    created_at: str


class PlaylistPage(_Out):
    """A page of playlists, newest first."""

    items: list[PlaylistOut]
    limit: int
    offset: int
    next_offset: int | None


class UploadOut(_Out):
    id: str
    extension: str
    status: str
    size: int | None
    expires_at: str
    created_at: str


class UploadPage(_Out):
    """A page of uploads, newest first."""

    items: list[UploadOut]
    limit: int
    offset: int
    next_offset: int | None


# -- bodies ---------------------------------------------------------------------------


class KeyCreate(RequestBody):
    name: str = Field(default="default", min_length=1, max_length=200)
    credits: Decimal = Field(default=Decimal(0), description="starting credits")
    rate_limit_per_minute: int = Field(default=60, ge=1)
    concurrency_limit: int = Field(default=4, ge=1)
    is_admin: bool = False


class KeyChange(RequestBody):
    """Fields left out stay as they are."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    rate_limit_per_minute: int | None = Field(default=None, ge=1)
    concurrency_limit: int | None = Field(default=None, ge=1)


class CreditChange(RequestBody):
    amount: Decimal = Field(description="credits to add; negative to remove (never below 0)")
    note: str = Field(default="", max_length=500)


class PriceChange(RequestBody):
    """Fields left out stay as they are; a new action needs ``price``."""

    price: Decimal | None = Field(default=None, ge=0)
    enabled: bool | None = None
    refund_on_failure: bool | None = None
    display_name: str | None = Field(default=None, min_length=1, max_length=200)


# -- rendering ------------------------------------------------------------------------


def key_out(key: ApiKey) -> KeyOut:
    return KeyOut(
        id=key.id,
        name=key.name,
        key_prefix=key.key_prefix,
        credits_balance=money(key.credits_balance),
        rate_limit_per_minute=key.rate_limit_per_minute,
        concurrency_limit=key.concurrency_limit,
        is_admin=key.is_admin,
        revoked=key.revoked,
        created_at=iso(key.created_at),
    )


def entry_out(entry: LedgerEntry) -> LedgerEntryOut:
    return LedgerEntryOut(
        id=entry.id,
        key_id=entry.key_id,
        entry_type=entry.entry_type.value,
        change_amount=money(entry.change_amount),
        balance_after=money(entry.balance_after),
        action=str(entry.action),
        task_id=entry.task_id,
        note=entry.note,
        created_at=iso(entry.created_at),
    )


def price_out(price: Price) -> PriceOut:
    return PriceOut(
        action=str(price.action),
        display_name=price.display_name,
        price=money(price.price),
        enabled=price.enabled,
        refund_on_failure=price.refund_on_failure,
    )


def usage_out(line: Usage) -> UsageOut:
    return UsageOut(
        key_id=line.key_id,
        action=line.action,
        charged=line.charged,
        refunded=line.refunded,
        spent=money(line.spent),
        granted=money(line.granted),
    )


def clip_out(clip: Clip, storage: MediaStorage) -> ClipOut:
    ready = clip.status is ClipStatus.COMPLETE

    def link(key: str | None) -> str:
        return storage.url(key) if ready and key else ""

    return ClipOut(
        id=clip.id,
        task_id=clip.task_id,
        status=clip.status.value,
        title=clip.title,
        tags=clip.tags,
        negative_tags=clip.negative_tags,
        prompt=clip.prompt,
        lyrics=clip.lyrics,
        model_name=clip.model_name,
        duration=clip.duration,
        audio_url=link(clip.audio_key),
        image_url=link(clip.image_key),
        video_url=link(clip.video_key),
        files={name: storage.url(key) for name, key in sorted(clip.files.items())} if ready else {},
        error_message=clip.error_message,
        created_at=iso(clip.created_at),
    )


def task_out(view: TaskView, storage: MediaStorage) -> TaskOut:
    task = view.task
    return TaskOut(
        id=task.id,
        action=str(task.action),
        status=task.status.value,
        progress=max(0, min(100, int(task.progress))),
        fail_reason=task.fail_reason,
        price=money(Decimal(task.price)),
        submit_time=iso(task.submit_time),
        start_time=iso(task.start_time) or None,
        finish_time=iso(task.finish_time) or None,
        result=task.result,
        clips=[clip_out(clip, storage) for clip in view.clips],
    )


def persona_out(persona: Persona) -> PersonaOut:
    return PersonaOut(
        id=persona.id,
        name=persona.name,
        persona_type=persona.persona_type.value,
        description=persona.description,
        root_clip_id=persona.root_clip_id,
        clip_ids=list(persona.clip_ids),
        created_at=iso(persona.created_at),
    )


def playlist_out(playlist: Playlist) -> PlaylistOut:
    return PlaylistOut(
        id=playlist.id,
        name=playlist.name,
        clip_ids=list(playlist.clip_ids),
        created_at=iso(playlist.created_at),
    )


def upload_out(upload: Upload) -> UploadOut:
    return UploadOut(
        id=upload.id,
        extension=upload.extension,
        status=upload.status.value,
        size=upload.size,
        expires_at=iso(upload.expires_at),
        created_at=iso(upload.created_at),
    )
