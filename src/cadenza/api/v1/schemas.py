"""Bodies and answers of ``/api/v1`` (plain resources, no success envelope)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from cadenza.api.bodies import RequestBody
from cadenza.api.sunocore.schemas import iso, money
from cadenza.domain.actions import Price
from cadenza.domain.billing import ApiKey, LedgerEntry
from cadenza.domain.channels import Channel, ChannelStats
from cadenza.domain.library import Persona, Playlist
from cadenza.domain.tasks import Clip, ClipStatus, TaskView
from cadenza.domain.uploads import Upload
from cadenza.services.listings import Page, Usage
from cadenza.services.ports import MediaStorage

Money = int | float


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


PageOut = TypeVar("PageOut", bound=_Out)
Item = TypeVar("Item")


def page_of(model: type[PageOut], page: Page[Item], convert: Callable[[Item], Any]) -> PageOut:
    """A listing page as answered: every page model has ``items``, ``limit``, ``offset``
    and ``next_offset``."""
    return model.model_validate(
        {
            "items": [convert(item) for item in page.items],
            "limit": page.limit,
            "offset": page.offset,
            "next_offset": page.next_offset,
        }
    )


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


# -- upstream channels ------------------------------------------------------------------


class ChannelHealthOut(_Out):
    """The channel's health, as ``/metrics`` has it: this process's own, or (with
    ``CADENZA_CHANNEL_HEALTH=redis``) shared by every process that relays."""

    state: str = Field(description="closed, half_open, open or disabled")
    in_flight: int
    accepted: int = Field(description="submits answered with an upstream task id")
    refused: int = Field(description="submits refused before a task id (failed over)")
    ambiguous: int = Field(description="submits whose outcome was unknown (reconciled)")
    succeeded: int
    failed: int
    success_rate: float | None = Field(description="succeeded / ended; null before any ended")
    mean_seconds: float | None = Field(description="mean submit-to-end time of ended tasks")


class ChannelOut(_Out):
    """An upstream channel; its API key is never shown."""

    id: str
    name: str
    kind: str
    base_url: str
    models: list[str]
    actions: list[str]
    weight: int
    priority: int
    max_in_flight: int
    submit_timeout_s: float
    task_timeout_s: float
    cooldown_s: float
    enabled: bool
    created_at: str
    health: ChannelHealthOut | None = Field(
        description="null where this server relays nothing (no CADENZA_CHANNEL_SECRET), or"
        " while the shared health store cannot be reached"
    )


class ChannelList(_Out):
    """Every channel, by priority then name."""

    items: list[ChannelOut]


class ChannelCreate(RequestBody):
    name: str = Field(min_length=1, max_length=100)
    kind: Literal["sunocore", "acedata"] = Field(description="the upstream's dialect")
    base_url: str = Field(min_length=1, max_length=2000)
    key: str = Field(min_length=1, max_length=4000, description="the upstream's API key")
    models: list[str] = Field(default=["*"], max_length=100, description="* for every model")
    actions: list[str] = Field(
        default=["MUSIC"], max_length=50, description="what it takes: MUSIC, LYRICS"
    )
    weight: int = Field(default=1, ge=1, le=10_000)
    priority: int = Field(default=0, ge=-1000, le=1000)
    max_in_flight: int = Field(default=16, ge=1, le=100_000)
    submit_timeout_s: float = Field(default=30.0, gt=0, le=3600)
    task_timeout_s: float = Field(default=900.0, gt=0, le=86_400)
    cooldown_s: float = Field(default=30.0, ge=0, le=86_400)


class ChannelChange(RequestBody):
    enabled: bool = Field(description="false stops new tasks; its tasks in flight finish there")


def channel_out(channel: Channel, stats: ChannelStats | None) -> ChannelOut:
    health = None
    if stats is not None:
        ended = stats.succeeded + stats.failed
        health = ChannelHealthOut(
            state=stats.state,
            in_flight=stats.in_flight,
            accepted=stats.accepted,
            refused=stats.refused,
            ambiguous=stats.ambiguous,
            succeeded=stats.succeeded,
            failed=stats.failed,
            success_rate=stats.success_rate,
            mean_seconds=round(stats.seconds_total / ended, 3) if ended else None,
        )
    return ChannelOut(
        id=channel.id,
        name=channel.name,
        kind=channel.kind.value,
        base_url=channel.base_url,
        models=list(channel.models),
        actions=list(channel.actions),
        weight=channel.weight,
        priority=channel.priority,
        max_in_flight=channel.max_in_flight,
        submit_timeout_s=channel.submit_timeout_s,
        task_timeout_s=channel.task_timeout_s,
        cooldown_s=channel.cooldown_s,
        enabled=channel.enabled,
        created_at=iso(channel.created_at),
        health=health,
    )
