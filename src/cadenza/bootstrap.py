"""The one place that turns settings into concrete adapters.

The API process and every worker process build their container here, so the embedded
default and the scale-out setup differ only in settings.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, cast

from cadenza.db.changes import NoTaskChanges
from cadenza.db.checkpoints import SqliteCheckpointer
from cadenza.domain.actions import Action
from cadenza.engines.registry import EngineFactory, EngineRegistry
from cadenza.services.callbacks import CallbackRenderers
from cadenza.services.channels import ChannelRouter
from cadenza.services.commands import Commands, RemoteAudio
from cadenza.services.events import TaskEventWaiter
from cadenza.services.media import UploadPolicy
from cadenza.services.ports import (
    CallbackSender,
    ChannelHealth,
    Engine,
    MediaStorage,
    RateLimiter,
    RelayedClips,
    SecretBox,
    TaskChanges,
    TaskQueue,
    UnitOfWork,
    UnitOfWorkFactory,
    Views,
)
from cadenza.services.worker import TaskRunner
from cadenza.settings import Settings

if TYPE_CHECKING:
    from cadenza.engines.relay import RelayEngine


@dataclass
class Container:
    settings: Settings
    uow: UnitOfWorkFactory
    queue: TaskQueue
    limiter: RateLimiter
    storage: MediaStorage
    engines: EngineRegistry
    runner: TaskRunner
    views: Views
    #: Which tasks changed, as they commit (PostgreSQL); lets polls skip the database.
    changes: TaskChanges = field(default_factory=NoTaskChanges)
    #: How each dialect renders its callbacks; dialects register here at start-up.
    callback_renderers: CallbackRenderers = field(default_factory=CallbackRenderers)
    #: Sends callbacks; None where no sender is installed (deliveries wait in the outbox).
    callback_sender: CallbackSender | None = None
    #: Which tasks go to upstream channels, and their health; None where no channel
    #: secret is set (nothing is relayed).
    channels: ChannelRouter | None = None
    #: Asks the channel that made a relayed clip what only it knows (the relay engine);
    #: None where nothing is relayed.
    relayed: RelayedClips | None = None
    #: Checkpoints a SQLite database's log off the commit path; None on PostgreSQL.
    checkpointer: SqliteCheckpointer | None = None

    @functools.cached_property
    def event_waiter(self) -> TaskEventWaiter:
        """Wakes API coroutines waiting for a task's next events (ndjson streams); the
        app feeds it the change notices."""
        return TaskEventWaiter(self.uow, self.changes)

    @functools.cached_property
    def inline_queue(self) -> TaskQueue:
        """Runs quick tasks (lyrics) in the API process itself, not behind renders."""
        from cadenza.queue.inline import InlineQueue

        return InlineQueue(self.runner.run)

    @functools.cached_property
    def commands(self) -> Commands:
        """The one handler of every dialect's commands."""
        return Commands(
            self.uow,
            self.queue,
            self.inline_queue,
            self.storage,
            deadline_s=self.settings.task_timeout_s,
            uploads=UploadPolicy(
                max_bytes=self.settings.upload_max_bytes,
                ttl_s=self.settings.upload_ttl_s,
                max_duration_s=self.settings.upload_max_duration_s,
            ),
            remote=RemoteAudio(
                timeout_s=self.settings.remote_fetch_timeout_s,
                allow_private=self.settings.allow_private_urls,
            ),
            channels=self.channels,
            relayed=self.relayed,
        )


def build_uow(settings: Settings) -> UnitOfWorkFactory:
    return build_database(settings)[0]


def build_database(settings: Settings) -> tuple[UnitOfWorkFactory, Views]:
    """Units of work and the polling routes' task lookups, over one engine (one pool)."""
    from cadenza.db import create_engine_for, uow_factory
    from cadenza.db.views import SqlViews

    url = settings.resolved_database_url()
    if is_sqlite(settings):
        engine = create_engine_for(url)
        return uow_factory(engine), SqlViews(engine)
    # Enough kept connections for every submit of the lane and the process's other work
    # (reaper, events, callbacks, workers' reports): a connection past the pool is closed
    # when returned, and opening one makes the server start a process (milliseconds).
    pool = {"pool_size": settings.submit_threads + 8, "max_overflow": 16}
    engine = create_engine_for(url, **pool)
    # Polls and key lookups: autocommit connections of their own, no pre-ping (SqlViews).
    reads = create_engine_for(url, pool_pre_ping=False, isolation_level="AUTOCOMMIT", **pool)
    return uow_factory(engine), SqlViews(engine, reads)


class _SerializedUnitOfWork:
    """Holds a process-wide lock for the life of one transaction.

    SQLite admits one writer at a time and every Cadenza transaction begins IMMEDIATE, so
    threads of one server that collide fall into SQLite's busy handler, which sleeps in
    steps of milliseconds. Queuing them on a lock instead hands the database over at once.
    """

    def __init__(self, inner: UnitOfWork, lock: threading.RLock) -> None:
        self._inner = inner
        self._lock = lock

    def __enter__(self) -> UnitOfWork:
        self._lock.acquire()
        try:
            return self._inner.__enter__()
        except BaseException:
            self._lock.release()
            raise

    def __exit__(self, *exc: object) -> None:
        try:
            self._inner.__exit__(*exc)
        finally:
            self._lock.release()


def serialized(factory: UnitOfWorkFactory) -> UnitOfWorkFactory:
    """Writers of one process queue on a lock; readers go straight to the database."""
    lock = threading.RLock()

    def make(*, read_only: bool = False) -> UnitOfWork:
        if read_only:
            return factory(read_only=True)
        return cast(UnitOfWork, _SerializedUnitOfWork(factory(), lock))

    return make


def is_sqlite(settings: Settings) -> bool:
    return settings.resolved_database_url().startswith("sqlite")


def migrate(settings: Settings) -> None:
    """Bring the database schema up to date (idempotent)."""
    if not settings.database_url:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    from cadenza.db import migrate as upgrade

    upgrade(settings.resolved_database_url())


def build_storage(settings: Settings) -> MediaStorage:
    if settings.storage == "s3":
        from cadenza.storage.s3 import S3Storage

        s3 = settings.s3
        storage = S3Storage(
            s3.bucket,
            endpoint_url=s3.endpoint_url,
            region=s3.region,
            access_key=s3.access_key,
            secret_key=s3.secret_key,
            public_base_url=s3.public_base_url,
        )
        return storage
    from cadenza.storage.local import LocalStorage

    return LocalStorage(settings.resolved_media_dir(), settings.resolved_public_url())


def build_limiter(settings: Settings) -> RateLimiter:
    if settings.limits == "redis":
        from cadenza.limits.redis import RedisRateLimiter

        return RedisRateLimiter(settings.redis_url)
    from cadenza.limits.memory import MemoryRateLimiter

    return MemoryRateLimiter()


def _compose_engine(workers: int, storage: MediaStorage | None = None) -> Engine:
    module = importlib.import_module("cadenza.compose.pipeline")
    engine: Engine = module.ComposeEngine(workers=workers, storage=storage)
    return engine


def builtin_engine_available() -> bool:
    """Without importing it: the API process never renders, so it never loads the engine."""
    try:
        return importlib.util.find_spec("cadenza.compose.pipeline") is not None
    except ImportError:
        return False


def _tools_engine(storage: MediaStorage) -> Engine:
    from cadenza.engines.tools import AudioToolsEngine

    return AudioToolsEngine(storage)


def _lyrics_engine() -> Engine:
    from cadenza.engines.lyrics import LyricsEngine

    return LyricsEngine()


def _video_engine(storage: MediaStorage) -> Engine:
    from cadenza.engines.video import VideoEngine

    return VideoEngine(storage)


def _stems_engine(storage: MediaStorage) -> Engine:
    from cadenza.engines.stems import StemsEngine

    return StemsEngine(storage)


def build_engines(settings: Settings, storage: MediaStorage | None = None) -> EngineRegistry:
    factories: dict[str, EngineFactory] = {}
    if builtin_engine_available():
        workers = settings.resolved_compose_workers()
        factories[Action.MUSIC.value] = functools.partial(_compose_engine, workers, storage)
        # Remasters re-render one stored score: no worker pool needed.
        factories[Action.UPSAMPLE.value] = functools.partial(_compose_engine, 1, storage)
    if builtin_engine_available() and storage is not None:
        # The creative actions read stored clips and references, one task at a time.
        for action in (
            Action.REPLACE_SECTION,
            Action.ADD_VOCALS,
            Action.ADD_INSTRUMENTAL,
            Action.SAMPLES,
            Action.MASHUP,
            Action.INSPO,
        ):
            factories[action.value] = functools.partial(_compose_engine, 1, storage)
    factories[Action.LYRICS.value] = _lyrics_engine
    if storage is not None:
        tools = functools.partial(_tools_engine, storage)
        for action in (Action.CROP, Action.SPEED_ADJUST, Action.CONCAT, Action.UPLOAD):
            factories[action.value] = tools
        factories[Action.MP4.value] = functools.partial(_video_engine, storage)
        stems = functools.partial(_stems_engine, storage)
        factories[Action.STEMS.value] = factories[Action.ALL_STEMS.value] = stems
    return EngineRegistry(factories=factories)


def build_queue(settings: Settings) -> TaskQueue:
    if settings.queue == "celery":
        from cadenza.queue.celery import CeleryQueue

        return CeleryQueue(settings.broker_url, default_queue=settings.queue_name)
    from cadenza.queue.inprocess import InProcessQueue

    return InProcessQueue(
        run_task,
        workers=settings.resolved_workers(),
        warm=warm_worker if settings.warm_start else None,
        presence_dir=settings.data_dir / "queues",
    )


def build_runner(
    settings: Settings,
    uow: UnitOfWorkFactory,
    storage: MediaStorage,
    engines: EngineRegistry,
    relay: Engine | None = None,
) -> TaskRunner:
    return TaskRunner(
        uow,
        storage,
        engines,
        work_root=settings.data_dir / "work",
        max_attempts=settings.max_attempts,
        worker_name=worker_route(settings),
        heartbeat_s=settings.heartbeat_interval_s,
        relay=relay,
    )


def worker_route(settings: Settings) -> str:
    """What a task records as its worker: with Celery, the queue only this worker consumes,
    so a follow-up routed there reaches the machine that holds the original's files."""
    if settings.queue == "celery":
        from cadenza.queue.celery_app import worker_queue

        return worker_queue(settings.worker_name, settings.queue_name)
    return settings.worker_name


def build_container(settings: Settings) -> Container:
    uow, views = build_database(settings)
    if is_sqlite(settings):
        uow = serialized(uow)
    storage = build_storage(settings)
    engines = build_engines(settings, storage)
    channels, relay = build_relay(settings, uow, storage)
    runner = build_runner(settings, uow, storage, engines, relay)
    queue = build_queue(settings)
    if relay is not None:
        from cadenza.queue.lanes import LaneQueue, RelayLane

        lane = RelayLane(
            runner.run,
            threads=settings.relay_threads,
            on_start=relay.start,
            on_stop=relay.stop,
            after_stop=relay.close,
        )
        queue = LaneQueue(queue, lane)
    return Container(
        settings=settings,
        uow=uow,
        queue=queue,
        limiter=build_limiter(settings),
        storage=storage,
        engines=engines,
        runner=runner,
        views=views,
        changes=build_changes(settings),
        callback_sender=build_callback_sender(settings),
        channels=channels,
        relayed=relay,
        checkpointer=build_checkpointer(settings),
    )


def build_secret_box(settings: Settings) -> SecretBox | None:
    """What seals channel credentials; None without ``channel_secret``."""
    if not settings.channel_secret:
        return None
    from cadenza.secretbox import FernetBox

    return FernetBox(settings.channel_secret)


def build_relay(
    settings: Settings, uow: UnitOfWorkFactory, storage: MediaStorage | None = None
) -> tuple[ChannelRouter | None, RelayEngine | None]:
    """The channel router and the relay engine, where a channel secret is set: relayed
    tasks run in the process that serves the API, on its relay lane."""
    box = build_secret_box(settings)
    if box is None:
        return None, None
    from cadenza.engines.relay import MediaPolicy, RelayEngine

    router = ChannelRouter(uow, build_channel_health(settings))
    engine = RelayEngine(
        uow,
        router,
        box,
        poll_s=settings.relay_poll_s,
        media=MediaPolicy(
            max_bytes=settings.relay_media_max_bytes,
            timeout_s=settings.relay_media_timeout_s,
            allow_private=settings.allow_private_urls,
        ),
        storage=storage,
    )
    return router, engine


def build_channel_health(settings: Settings) -> ChannelHealth:
    """Channels' circuits, caps and counters: this process's own, or shared in Redis by
    every process that relays (several API processes behind one database)."""
    if settings.resolved_channel_health() == "redis":
        from cadenza.channel_health.redis import RedisChannelHealth

        return RedisChannelHealth(settings.redis_url)
    from cadenza.channel_health.memory import MemoryChannelHealth

    return MemoryChannelHealth()


def build_callback_sender(settings: Settings) -> CallbackSender:
    """Signed deliveries through the outbound layer's address checks."""
    from cadenza.net.webhooks import WebhookSender

    return WebhookSender(allow_private=settings.allow_private_urls)


def _sqlite_file(settings: Settings) -> str | None:
    """The SQLite database's file; None for an in-memory one (one connection's own, with
    no log: nothing to follow or checkpoint from another connection) or a URI."""
    from sqlalchemy.engine import make_url

    path = make_url(settings.resolved_database_url()).database
    if not path or path == ":memory:" or path.startswith("file:"):
        return None
    return path


def build_checkpointer(settings: Settings) -> SqliteCheckpointer | None:
    """A SQLite file's checkpoints, run by the API process."""
    path = _sqlite_file(settings) if is_sqlite(settings) else None
    return SqliteCheckpointer(path) if path else None


def build_changes(settings: Settings) -> TaskChanges:
    if is_sqlite(settings):
        from cadenza.db.changes import SqliteTaskChanges

        path = _sqlite_file(settings)
        if settings.sqlite_change_poll_ms <= 0 or not path:
            return NoTaskChanges()
        return SqliteTaskChanges(path, poll_s=settings.sqlite_change_poll_ms / 1000)
    from cadenza.db.changes import PostgresTaskChanges

    return PostgresTaskChanges(settings.resolved_database_url())


def prepare(container: Container) -> str | None:
    """Migrate, seed prices, and create the first admin key; returns its secret once."""
    from cadenza.services import billing, keys

    migrate(container.settings)
    billing.seed_prices(container.uow)
    return keys.ensure_admin_key(container.uow)


_runner: TaskRunner | None = None
_runner_lock = threading.Lock()


def _process_runner() -> TaskRunner:
    global _runner
    with _runner_lock:
        if _runner is None:
            settings = Settings()
            from cadenza.api.observability import configure_logging

            configure_logging(settings.log_level, json=settings.log_json)
            uow = build_uow(settings)
            storage = build_storage(settings)
            _runner = build_runner(settings, uow, storage, build_engines(settings, storage))
        return _runner


def run_task(task_id: str) -> None:
    """Worker entry point (picklable): builds its container from the environment once."""
    _process_runner().run(task_id)


def warm_worker() -> None:
    """Worker start-up (picklable), paid before the first task instead of by it: the
    runner, and the render processes of the music engine with their SoundFont."""
    runner = _process_runner()
    engine = runner.engine_for(Action.MUSIC.value)
    warm = getattr(engine, "warm", None)
    if callable(warm):
        warm()
