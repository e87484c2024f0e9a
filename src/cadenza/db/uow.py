"""The SQL unit of work: one connection, one transaction at a time."""

from __future__ import annotations

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from cadenza.db.engine import READ_ONLY_OPTION, create_engine_for
from cadenza.db.repositories import (
    SqlClipRepository,
    SqlKeyRepository,
    SqlLedgerRepository,
    SqlPriceRepository,
    SqlTaskRepository,
)
from cadenza.db.repositories_events import SqlCallbackDeliveryRepository, SqlTaskEventRepository
from cadenza.db.repositories_library import SqlPersonaRepository, SqlPlaylistRepository
from cadenza.db.repositories_uploads import SqlUploadRepository
from cadenza.domain.errors import UpstreamUnavailable
from cadenza.services.ports import (
    CallbackDeliveryRepository,
    ClipRepository,
    KeyRepository,
    LedgerRepository,
    PersonaRepository,
    PlaylistRepository,
    PriceRepository,
    TaskEventRepository,
    TaskRepository,
    UnitOfWorkFactory,
    UploadRepository,
)


class SqlUnitOfWork:
    """A transaction starts with the first statement and ends at commit or rollback.

    Leaving the ``with`` block without ``commit`` rolls back. Lost connections and lock
    timeouts surface as ``UpstreamUnavailable`` so callers see a domain error.
    """

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

    def __init__(self, engine: Engine, *, read_only: bool = False) -> None:
        self._engine = engine
        self._read_only = read_only
        self._conn: Connection | None = None

    def __enter__(self) -> SqlUnitOfWork:
        try:
            conn = self._engine.connect()
            if self._read_only:
                conn = conn.execution_options(**{READ_ONLY_OPTION: True})
        except DBAPIError as exc:
            raise UpstreamUnavailable("database unavailable") from exc
        self._conn = conn
        self.keys = SqlKeyRepository(conn)
        self.prices = SqlPriceRepository(conn)
        self.ledger = SqlLedgerRepository(conn)
        self.tasks = SqlTaskRepository(conn)
        self.clips = SqlClipRepository(conn)
        self.uploads = SqlUploadRepository(conn)
        self.personas = SqlPersonaRepository(conn)
        self.playlists = SqlPlaylistRepository(conn)
        self.task_events = SqlTaskEventRepository(conn)
        self.callbacks = SqlCallbackDeliveryRepository(conn)
        return self

    def __exit__(self, *exc_info: object) -> None:
        exc = exc_info[1] if len(exc_info) > 1 else None
        conn = self._conn
        self._conn = None
        if conn is None:
            return
        try:
            if conn.in_transaction():
                conn.rollback()
        except DBAPIError:
            if exc is None:
                raise
        finally:
            conn.close()
        if isinstance(exc, OperationalError | InterfaceError):
            raise UpstreamUnavailable("database unavailable") from exc

    @property
    def connection(self) -> Connection:
        if self._conn is None:
            raise RuntimeError("the unit of work is not open")
        return self._conn

    def commit(self) -> None:
        try:
            self.connection.commit()
        except (OperationalError, InterfaceError) as exc:
            raise UpstreamUnavailable("database unavailable") from exc

    def rollback(self) -> None:
        self.connection.rollback()


def uow_factory(engine: Engine) -> UnitOfWorkFactory:
    """A factory of units of work over ``engine`` (one per call)."""

    def make(*, read_only: bool = False) -> SqlUnitOfWork:
        return SqlUnitOfWork(engine, read_only=read_only)

    return make


def make_uow_factory(url: str) -> UnitOfWorkFactory:
    """Shortcut: an engine for ``url`` and a factory over it."""
    return uow_factory(create_engine_for(url))
