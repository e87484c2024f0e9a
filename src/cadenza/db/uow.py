"""The SQL unit of work: one connection, one transaction at a time."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from decimal import Decimal
from typing import Any

import psycopg
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError

from cadenza.db.engine import READ_ONLY_OPTION, create_engine_for
from cadenza.db.repositories import (
    IDEMPOTENCY_INDEX,
    PriceCache,
    SqlClipRepository,
    SqlKeyRepository,
    SqlLedgerRepository,
    SqlPriceRepository,
    SqlTaskRepository,
)
from cadenza.db.repositories_channels import SqlChannelRepository, SqlRelayRepository
from cadenza.db.repositories_events import SqlCallbackDeliveryRepository, SqlTaskEventRepository
from cadenza.db.repositories_library import SqlPersonaRepository, SqlPlaylistRepository
from cadenza.db.repositories_uploads import SqlUploadRepository
from cadenza.domain.billing import LedgerEntry, key_refused, short_of_credits, too_many_active
from cadenza.domain.errors import DomainError, IdempotencyKeyTaken, UpstreamUnavailable
from cadenza.services.ports import (
    CallbackDeliveryRepository,
    ChannelRepository,
    ClipRepository,
    KeyRepository,
    LedgerRepository,
    PersonaRepository,
    PlaylistRepository,
    PriceRepository,
    RelayRepository,
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
    channels: ChannelRepository
    relays: RelayRepository

    def __init__(
        self, engine: Engine, *, read_only: bool = False, prices: PriceCache | None = None
    ) -> None:
        self._engine = engine
        self._read_only = read_only
        self._price_cache = prices
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
        self.prices = SqlPriceRepository(conn, self._price_cache)
        self.ledger = SqlLedgerRepository(conn)
        self.tasks = SqlTaskRepository(conn)
        self.clips = SqlClipRepository(conn)
        self.uploads = SqlUploadRepository(conn)
        self.personas = SqlPersonaRepository(conn)
        self.playlists = SqlPlaylistRepository(conn)
        self.task_events = SqlTaskEventRepository(conn)
        self.callbacks = SqlCallbackDeliveryRepository(conn)
        self.channels = SqlChannelRepository(conn)
        self.relays = SqlRelayRepository(conn)
        return self

    def __exit__(self, *exc_info: object) -> None:
        exc = exc_info[1] if len(exc_info) > 1 else None
        conn = self._conn
        self._conn = None
        if conn is None:
            return
        try:
            if conn.in_transaction():
                # A reader ends with COMMIT, the same for a transaction that wrote nothing:
                # a ROLLBACK would also make psycopg drop its prepared statements (one more
                # round trip, and each statement parsed again).
                if self._read_only and exc is None:
                    conn.commit()
                else:
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

    def commit(self, *, durable: bool = True) -> None:
        try:
            if not durable and self.connection.dialect.name == "postgresql":
                self.connection.exec_driver_sql("SET LOCAL synchronous_commit TO off")
            self.connection.commit()
        except (OperationalError, InterfaceError) as exc:
            raise UpstreamUnavailable("database unavailable") from exc

    def rollback(self) -> None:
        self.connection.rollback()

    def batch(self) -> AbstractContextManager[None]:
        conn = self.connection
        if conn.dialect.name != "postgresql":
            return contextlib.nullcontext()
        return _pipeline(conn)

    def admit(self, entry: LedgerEntry, *, limit_active: bool) -> LedgerEntry:
        conn = self.connection
        if conn.dialect.name == "postgresql":
            balance = _admit_in_one_flight(conn, entry, limit_active)
            conn.commit()  # ends SQLAlchemy's transaction; the driver's is committed
        else:
            balance = self._admit_step_by_step(entry, limit_active)
            self.commit()
        return dataclasses.replace(entry, balance_after=balance)

    def _admit_step_by_step(self, entry: LedgerEntry, limit_active: bool) -> Decimal:
        """SQLite: its write lock is the transaction's since the first write, so there is
        no row lock to keep short, and each step is a call into the library."""
        amount = -entry.change_amount
        locked = self.keys.get(entry.key_id, for_update=True)
        if locked is None or locked.revoked:
            raise key_refused()
        limit = locked.concurrency_limit
        if limit_active and self.tasks.count_active(entry.key_id, up_to=limit + 1) > limit:
            raise too_many_active(limit)
        balance = self.keys.debit(entry.key_id, amount)
        if balance is None:
            raise short_of_credits(entry.action, amount)
        self.ledger.add(dataclasses.replace(entry, balance_after=balance))
        return balance


@contextlib.contextmanager
def _pipeline(conn: Connection) -> Iterator[None]:
    """psycopg's pipeline mode over the unit of work's connection. SQLAlchemy's writes go
    through it unchanged (their row counts are unknown until the end); its reads cannot."""
    raw: Any = conn.connection.driver_connection
    try:
        with raw.pipeline():
            yield
    except (psycopg.errors.UniqueViolation, IntegrityError) as exc:
        # The error of a write reaches whichever later statement is being sent when its
        # answer arrives (SQLAlchemy's, wrapped, or the admission's, bare).
        cause = exc.orig if isinstance(exc, IntegrityError) else exc
        if isinstance(cause, psycopg.errors.UniqueViolation) and (
            cause.diag.constraint_name == IDEMPOTENCY_INDEX
        ):
            raise IdempotencyKeyTaken("") from None
        raise


_ADMIT = "SELECT cadenza_admit(%s, %s, %s, %s, %s, %s, %s)"
#: The admission and its COMMIT as one message (the simple query protocol), so the server
#: runs them back to back and the key's row is never locked while this process waits
#: for its turn to run. The admission commits without waiting for its WAL flush, which
#: lets go of the key's row at once; the mark after it (a transactional logical message,
#: the smallest write that takes a transaction id) commits synchronously, so the WAL is
#: flushed up to and past the admission's commit before the answer arrives. A gateway
#: key's submits wait for their flushes side by side instead of queueing behind one
#: another's, each holding the key.
_ADMIT_DURABLY = (
    "SET LOCAL synchronous_commit TO off; "
    f"{_ADMIT}; "
    "COMMIT; "
    "SELECT pg_logical_emit_message(true, 'cadenza', 'admitted')"
)
#: Whether this database lets the role write the mark; else the admission's own commit
#: is synchronous (the key's row held through its flush). Asked once per process.
_MARK_ALLOWED: bool | None = None


def _mark_allowed(raw: Any) -> bool:
    global _MARK_ALLOWED
    if _MARK_ALLOWED is None:
        row = raw.execute(
            "SELECT has_function_privilege("
            "'pg_logical_emit_message(boolean, text, text)', 'EXECUTE')"
        ).fetchone()
        _MARK_ALLOWED = bool(row and row[0])
    return _MARK_ALLOWED


def _admit_in_one_flight(conn: Connection, entry: LedgerEntry, limit_active: bool) -> Decimal:
    """``cadenza_admit`` (migration 0009) and the COMMIT in one round trip (see
    ``_ADMIT_DURABLY``). Outside a pipeline: the inserts before it are sent already."""
    raw: Any = conn.connection.driver_connection
    amount = -entry.change_amount
    values = (
        entry.key_id,
        entry.id,
        amount,
        entry.action,
        entry.task_id,
        entry.created_at,
        limit_active,
    )
    durable_mark = _mark_allowed(raw)
    cursor = psycopg.ClientCursor(raw)
    try:
        if durable_mark:
            cursor.execute(_ADMIT_DURABLY, values)
            cursor.nextset()  # past the SET, to the admission's row
        else:
            cursor.execute(f"{_ADMIT}; COMMIT", values)
        row = cursor.fetchone()
    except psycopg.OperationalError as exc:
        raise UpstreamUnavailable("database unavailable") from exc
    except psycopg.Error as exc:
        refusal = _REFUSALS.get(exc.sqlstate or "")
        if refusal is None:
            raise
        raise refusal(entry, exc.diag.message_primary or "") from None
    finally:
        cursor.close()
    assert row is not None
    return Decimal(row[0])


_REFUSALS: dict[str, Callable[[LedgerEntry, str], DomainError]] = {
    "CZ401": lambda entry, detail: key_refused(),
    "CZ429": lambda entry, detail: too_many_active(int(detail)),
    "CZ402": lambda entry, detail: short_of_credits(entry.action, -entry.change_amount),
}


def uow_factory(engine: Engine) -> UnitOfWorkFactory:
    """A factory of units of work over ``engine`` (one per call)."""

    prices = PriceCache()

    def make(*, read_only: bool = False) -> SqlUnitOfWork:
        return SqlUnitOfWork(engine, read_only=read_only, prices=prices)

    return make


def make_uow_factory(url: str) -> UnitOfWorkFactory:
    """Shortcut: an engine for ``url`` and a factory over it."""
    return uow_factory(create_engine_for(url))
