"""The small Protocols every backend implements (one in-process, one distributed).

Each has a contract test suite under ``tests/contract`` run against every implementation.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from cadenza.domain.actions import Price
from cadenza.domain.billing import ApiKey, LedgerEntry, UsageRow
from cadenza.domain.callbacks import CallbackDelivery, DeliveryStatus
from cadenza.domain.channels import Channel, ChannelStats, Relay
from cadenza.domain.events import TaskEvent
from cadenza.domain.library import Persona, Playlist
from cadenza.domain.tasks import Clip, Task, TaskView
from cadenza.domain.uploads import Upload, UploadStatus


class KeyRepository(Protocol):
    def add(self, key: ApiKey) -> None: ...
    def get(self, key_id: str, *, for_update: bool = False) -> ApiKey | None:
        """``for_update`` locks the row until the transaction ends (serialises a key's submits)."""
        ...

    def get_by_hash(self, key_hash: str) -> ApiKey | None: ...
    def list(self) -> list[ApiKey]: ...
    def lock_for_bootstrap(self) -> None:
        """Until the transaction ends, other processes doing first-start work wait here,
        so two servers starting together on one database create one admin key."""
        ...

    def revoke(self, key_id: str) -> bool: ...
    def change(self, key_id: str, **values: Any) -> bool:
        """Set plain columns of a key (``name``, ``rate_limit_per_minute``,
        ``concurrency_limit``); False when there is no such key."""
        ...

    def debit(self, key_id: str, amount: Decimal) -> Decimal | None:
        """Atomic conditional debit; the new balance, or None if it would go negative."""
        ...

    def credit(self, key_id: str, amount: Decimal) -> Decimal:
        """Add (or with a negative amount, remove) credits; returns the new balance."""
        ...


class PriceRepository(Protocol):
    def get(self, action: str) -> Price | None: ...
    def current(self, action: str) -> Price | None:
        """The price as read at most ``PRICE_CACHE_S`` ago in this process (for submits:
        an operator's change takes effect within that time, and a submit saves a read)."""
        ...

    def list(self) -> list[Price]: ...
    def upsert(self, price: Price) -> None: ...


class LedgerRepository(Protocol):
    def add(self, entry: LedgerEntry) -> None:
        """Raises ``DuplicateLedgerEntry`` for a second CONSUME/REFUND of one task."""
        ...

    def list_for_key(self, key_id: str, limit: int) -> list[LedgerEntry]: ...
    def page(
        self,
        key_id: str | None,
        *,
        limit: int,
        offset: int = 0,
        action: str | None = None,
        entry_type: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[LedgerEntry]:
        """Rows of one key (None: every key), newest first; ``until`` is exclusive."""
        ...

    def usage(
        self,
        key_id: str | None,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[UsageRow]:
        """Counts and sums per key, action and entry type (None: every key)."""
        ...


class TaskRepository(Protocol):
    def add(self, task: Task) -> None:
        """Raises ``IdempotencyKeyTaken`` when the key has a task with this Idempotency-Key."""
        ...

    def get(self, task_id: str, *, for_update: bool = False) -> Task | None: ...
    def get_many(self, task_ids: Sequence[str], key_id: str) -> list[Task]: ...
    def list_for_key(
        self,
        key_id: str,
        *,
        limit: int,
        offset: int = 0,
        submitted_after: datetime | None = None,
        submitted_before: datetime | None = None,
    ) -> list[Task]:
        """The key's tasks, newest first."""
        ...

    def page_for_key(
        self,
        key_id: str,
        *,
        limit: int,
        offset: int = 0,
        status: str | None = None,
        action: str | None = None,
    ) -> list[Task]:
        """The key's tasks of that status and action (None: any), newest first."""
        ...

    def revisions(self, task_ids: Sequence[str], key_id: str) -> dict[str, int]:
        """The revision of each of the key's tasks among ``task_ids`` (others left out)."""
        ...

    def update(self, task: Task) -> None: ...
    def count_active(self, key_id: str, up_to: int | None = None) -> int:
        """The key's unfinished tasks, counted up to ``up_to`` at most."""
        ...

    def find_by_idempotency(self, key_id: str, idempotency_key: str) -> Task | None: ...
    def find_expired(self, now: datetime) -> list[Task]:
        """Unfinished tasks whose deadline has passed."""
        ...

    def beat(self, task_id: str, now: datetime) -> bool:
        """Record that the worker running the task is alive; False once it is not running."""
        ...

    def find_stalled(self, silent_since: datetime) -> list[Task]:
        """Running tasks whose worker has given no sign of life since ``silent_since``."""
        ...

    def find_undispatched(self, older_than: datetime) -> list[Task]:
        """Committed tasks never handed to the queue (a crash between commit and enqueue)."""
        ...

    def queue_instances(self) -> set[str]:
        """The in-process queues holding unfinished tasks (``Task.queue_instance``)."""
        ...

    def find_held_by(self, instances: Collection[str]) -> list[Task]:
        """Unfinished tasks last handed to one of ``instances``, oldest first."""
        ...


class ClipRepository(Protocol):
    def add(self, clip: Clip) -> None: ...
    def add_many(self, clips: Sequence[Clip]) -> None:
        """Like ``add`` for each, in one statement (the clips of a new task)."""
        ...

    def get(self, clip_id: str) -> Clip | None: ...
    def list_for_tasks(self, task_ids: Sequence[str]) -> list[Clip]: ...
    def page_for_key(
        self,
        key_id: str,
        *,
        limit: int,
        offset: int = 0,
        status: str | None = None,
        action: str | None = None,
    ) -> list[Clip]:
        """The key's clips of that status, made by tasks of that action, newest first."""
        ...

    def update(self, clip: Clip) -> None: ...


class TaskEventRepository(Protocol):
    """A task's events, in order. The task and clip repositories add them as they store
    each change (see ``domain.events``); readers page through them by ``seq``."""

    def add(self, event: TaskEvent) -> None:
        """Store one event in the current transaction."""
        ...

    def after(self, task_id: str, seq: int, limit: int = 100) -> list[TaskEvent]:
        """The task's events with a ``seq`` above ``seq``, oldest first, at most ``limit``."""
        ...

    def latest_seq(self, task_id: str) -> int:
        """The ``seq`` of the task's last event; 0 when it has none."""
        ...

    def prune(self, finished_before: datetime, limit: int = 5000) -> int:
        """Delete up to ``limit`` events of tasks finished before then; how many went."""
        ...


class CallbackDeliveryRepository(Protocol):
    """The callback outbox. A delivery is added by the transaction that finishes its task."""

    def add(self, delivery: CallbackDelivery) -> None: ...
    def get(self, event_id: str) -> CallbackDelivery | None: ...
    def for_task(self, task_id: str) -> list[CallbackDelivery]: ...
    def due(self, now: datetime) -> bool:
        """Whether any pending delivery is due by ``now`` (a read: no claim)."""
        ...

    def claim_due(self, now: datetime, lease_until: datetime, limit: int) -> list[CallbackDelivery]:
        """Pending deliveries due by ``now``, each counted as attempted and held until
        ``lease_until`` (then due again, should its sender die). Rows another transaction
        holds are skipped, so several processes share the work."""
        ...

    def freeze_body(self, event_id: str, body: bytes, now: datetime) -> bytes:
        """Keep ``body`` unless one was kept already; the body kept."""
        ...

    def record_attempt(
        self,
        event_id: str,
        *,
        status: DeliveryStatus,
        next_attempt_at: datetime,
        last_error: str,
        now: datetime,
    ) -> None:
        """The outcome of the attempt counted at the claim (pending ones only)."""
        ...


class UploadRepository(Protocol):
    def add(self, upload: Upload) -> None: ...
    def get(self, upload_id: str) -> Upload | None: ...
    def list_for_key(
        self, key_id: str, *, limit: int, offset: int = 0, status: str | None = None
    ) -> list[Upload]:
        """The key's uploads, newest first."""
        ...

    def transition(
        self,
        upload_id: str,
        current: UploadStatus,
        new: UploadStatus,
        *,
        storage_key: str | None = None,
        size: int | None = None,
    ) -> bool:
        """Conditional state change; False when the upload was not in ``current``."""
        ...


class PersonaRepository(Protocol):
    def add(self, persona: Persona) -> None: ...
    def get(self, persona_id: str) -> Persona | None: ...
    def list_for_key(self, key_id: str, limit: int = 100, offset: int = 0) -> list[Persona]: ...
    def count_for_key(self, key_id: str) -> int: ...
    def delete(self, persona_id: str, key_id: str) -> bool:
        """Deletes the key's persona; False when the key has none of that id."""
        ...


class PlaylistRepository(Protocol):
    def add(self, playlist: Playlist) -> None: ...
    def get(self, playlist_id: str) -> Playlist | None: ...
    def list_for_key(self, key_id: str, limit: int = 100, offset: int = 0) -> list[Playlist]: ...


class ChannelRepository(Protocol):
    def add(self, channel: Channel) -> None:
        """Raises ``InvalidInput`` when a channel of that name exists."""
        ...

    def get(self, channel_id: str) -> Channel | None: ...
    def find(self, ref: str) -> Channel | None:
        """A channel by name or id."""
        ...

    def list(self) -> list[Channel]: ...
    def update(self, channel: Channel) -> None: ...
    def remove(self, channel_id: str) -> bool: ...


class RelayRepository(Protocol):
    """Where each relayed task went (one row per task, rewritten as it moves on)."""

    def get(self, task_id: str) -> Relay | None: ...
    def save(self, relay: Relay) -> None: ...
    def channel_of_clip_task(self, task_id: str) -> str | None:
        """The channel that accepted the task (None: it was made here)."""
        ...


class RelayedClips(Protocol):
    """What only the channel that made a clip knows of it, asked of that channel."""

    def sung_words(self, clip: Clip) -> list[dict[str, Any]] | None:
        """Its sung words (``word``, ``start_s``, ``end_s``, ``line``, ``section``); None
        where the clip was not made upstream. ``UpstreamUnavailable`` where its channel
        cannot answer now, ``InvalidInput`` where that channel refused."""
        ...


class SecretBox(Protocol):
    """Seals channel credentials for storage and opens them for use."""

    def seal(self, plain: str) -> str: ...
    def open(self, sealed: str) -> str:
        """Raises ``ValueError`` when ``sealed`` was not sealed with this box's key."""
        ...


class UnitOfWork(Protocol):
    """One database transaction; leaving the block without ``commit`` rolls back."""

    keys: KeyRepository
    prices: PriceRepository
    ledger: LedgerRepository
    tasks: TaskRepository
    clips: ClipRepository
    uploads: UploadRepository
    personas: PersonaRepository
    playlists: PlaylistRepository
    task_events: TaskEventRepository
    callbacks: CallbackDeliveryRepository
    channels: ChannelRepository
    relays: RelayRepository

    def __enter__(self) -> UnitOfWork: ...
    def __exit__(self, *exc: object) -> None: ...
    def commit(self, *, durable: bool = True) -> None:
        """``durable=False``: the commit may be lost with the database server's crash (it
        does not wait for its log to reach the disk), for advisory writes such as
        progress, which then hold their locks for less time."""
        ...

    def rollback(self) -> None: ...
    def batch(self) -> AbstractContextManager[None]:
        """Writes inside are sent together where the database allows it (PostgreSQL's
        pipeline): one round trip at the block's end instead of one per statement.
        Nothing may be read inside; errors of the writes surface at the end."""
        ...

    def admit(self, entry: LedgerEntry, *, limit_active: bool) -> LedgerEntry:
        """Lock the entry's key, refuse a revoked key (``Unauthorized``) and, with
        ``limit_active``, more unfinished tasks than its concurrency limit
        (``ConcurrencyLimited``), debit the charge (``InsufficientCredits`` when short),
        record ``entry`` with the balance after it, and COMMIT. On PostgreSQL all of it
        travels with the COMMIT in one message, and the key's row is let go before the
        commit's log flush (the answer still waits for it); a refusal rolls nothing back
        (the caller's block does)."""
        ...


class UnitOfWorkFactory(Protocol):
    """Opens a unit of work. ``read_only`` ones never write, so SQLite runs them beside
    writers (WAL readers) instead of queueing them for the write lock."""

    def __call__(self, *, read_only: bool = False) -> UnitOfWork: ...


class Views(Protocol):
    """Read-only lookups on the API's hottest paths: the key of a request, task polls.

    ``inline`` says a lookup does no network I/O and costs less than a hop to a worker
    thread, so an async route may make it on the event loop.
    """

    inline: bool

    def key_by_hash(self, key_hash: str) -> ApiKey | None: ...

    def tasks(self, task_ids: Sequence[str], key_id: str) -> list[TaskView]:
        """The tasks of ``key_id`` among ``task_ids``, in the order asked, each once.

        Every field reads back as stored, except that a task's ``params`` (the request,
        which no poll shows) may be left unread, as ``{}``.
        """
        ...

    def revisions(self, task_ids: Sequence[str], key_id: str) -> dict[str, int]:
        """The current revision of each of the key's tasks among ``task_ids``: what a poll
        checks before answering from the rendering of an earlier one."""
        ...


class TaskQueue(Protocol):
    """Hands task ids to workers. At-least-once: workers must be idempotent."""

    def enqueue(self, task_id: str, *, route: str | None = None) -> None: ...
    def start(self) -> None: ...
    def stop(self) -> None: ...

    @property
    def instance(self) -> str | None:
        """This start of a queue whose tasks live only in its process (an in-process pool:
        they die with it), recorded on each task handed to it; None where a broker keeps
        them across restarts (Celery), so nothing is handed out again on that account."""
        ...

    def gone(self, instances: Collection[str]) -> set[str]:
        """Those of ``instances`` (values of ``instance``) certainly dead, by a stop or a
        crash: nothing will run the tasks handed to them. Any it cannot tell are alive."""
        ...


class TaskChanges(Protocol):
    """Says which tasks changed as their changes commit, where the database can.

    While ``live``, every change to a task is reported (``on_change(task_id, revision)``)
    soon after it commits; when notices may have been missed, ``on_reset`` says so before
    they flow again."""

    @property
    def live(self) -> bool: ...

    def start(
        self, on_change: Callable[[str, int], None], on_reset: Callable[[], None]
    ) -> None: ...

    def stop(self) -> None: ...


class CallbackSender(Protocol):
    """POSTs a callback body. The sender signs it with ``secret`` (its own header), sends
    ``event_id`` so receivers can drop a repeat, and refuses addresses a server must not
    reach. Answers ``(delivered, retryable, error)``: a 2xx is delivered; a refused
    address or a 4xx other than 408/429 is not worth retrying."""

    async def send(
        self, url: str, body: bytes, event_id: str, secret: str
    ) -> tuple[bool, bool, str | None]: ...


#: Renders the body of a callback from the finished task, in its dialect's shape.
CallbackRenderer = Callable[[TaskView], bytes]


class RateLimiter(Protocol):
    def hit(self, key_id: str, limit_per_minute: int) -> int | None:
        """Record one request; None if allowed, else seconds to wait."""
        ...


class ChannelHealth(Protocol):
    """Circuits, in-flight slots and outcome counters of the upstream channels, shared by
    every process that relays (a channel's cap and circuit are the channel's, not one
    process's). Admission (``available``, ``reserve``) raises ``UpstreamUnavailable``
    when the store cannot be reached; bookkeeping never raises, so a song the upstream
    made is never lost to a counter."""

    def available(self, channel: Channel, *, room: bool = True) -> bool:
        """Its circuit lets a submit through (and, with ``room``, it is under its cap)."""
        ...

    def reserve(self, channel: Channel) -> bool:
        """Takes one of its in-flight slots if its circuit lets a submit through and it
        is under its cap, checked and taken at once (a half-open circuit: one probe)."""
        ...

    def hold(self, channel: Channel) -> None:
        """Takes a slot whatever the cap: a task the channel holds already (resumed)."""
        ...

    def release(self, channel: Channel) -> None:
        """Gives back one slot this process took."""
        ...

    def accepted(self, channel: Channel) -> None:
        """A submit got a task id: the circuit closes."""
        ...

    def refused(self, channel: Channel) -> None:
        """A submit certainly made nothing: a failure of the circuit."""
        ...

    def ambiguous(self, channel: Channel) -> None:
        """A submit's outcome is unknown: a failure of the circuit."""
        ...

    def ended(self, channel: Channel, *, success: bool, seconds: float) -> None: ...
    def snapshot(self, channels: Sequence[Channel]) -> list[ChannelStats]: ...
    def close(self) -> None:
        """Gives back this process's slots and stops any background work."""
        ...


class MediaStorage(Protocol):
    """Where clip files live. Keys are generated by the server, never taken from users."""

    #: ``url(key)`` is the same for the same key and base URL every time (not a presigned
    #: link that expires), so answers carrying it may be reused.
    stable_urls: bool

    def put_file(self, key: str, path: Path, content_type: str) -> None: ...
    def put_bytes(self, key: str, data: bytes, content_type: str) -> None: ...
    def get_bytes(self, key: str) -> bytes: ...
    def fetch_to(self, key: str, dest: Path) -> Path: ...
    def exists(self, key: str) -> bool: ...
    def url(self, key: str) -> str: ...
    def delete_prefix(self, prefix: str) -> None: ...


ProgressCallback = Callable[[float, str], None]


@runtime_checkable
class PartialReporter(Protocol):
    """What the worker's ``progress`` callback also is: where an engine that has a
    playable part of a clip before the end (a preview) hands it over.

    An engine checks ``isinstance(progress, PartialReporter)`` and, if so, may call
    ``partial`` with a clip entry shaped like those ``run`` returns, files
    ``{"preview.mp3": path}`` and meta ``{"preview_duration": seconds}``; the file must
    stay in place until ``partial`` returns. Engines that never do keep working unchanged.
    """

    def partial(self, result: dict[str, Any]) -> None: ...


class Engine(Protocol):
    """Turns a task's parameters into clip files in a work directory.

    ``progress`` is called with the fraction done and a stage name; it may also be a
    ``PartialReporter`` (the worker's is), to hand over previews while the task runs.
    """

    name: str

    def run(
        self,
        action: str,
        params: dict[str, Any],
        workdir: Path,
        progress: ProgressCallback,
    ) -> list[dict[str, Any]]:
        """Returns one dict per clip: ``{"id", "files": {name: path}, "meta": {...}}``.

        An action whose answer is data rather than media returns ``{"result": {...}}``
        instead (it becomes the task's ``result``), with or without clips beside it.
        """
        ...


__all__ = [
    "CallbackDeliveryRepository",
    "CallbackRenderer",
    "CallbackSender",
    "ChannelRepository",
    "ClipRepository",
    "Engine",
    "KeyRepository",
    "LedgerRepository",
    "MediaStorage",
    "PartialReporter",
    "PersonaRepository",
    "PlaylistRepository",
    "PriceRepository",
    "ProgressCallback",
    "RateLimiter",
    "RelayRepository",
    "SecretBox",
    "TaskChanges",
    "TaskEventRepository",
    "TaskQueue",
    "TaskRepository",
    "UnitOfWork",
    "UnitOfWorkFactory",
    "UploadRepository",
]
