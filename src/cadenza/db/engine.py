"""Engines for SQLite (embedded default) and PostgreSQL (scale-out)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pydantic_core
from sqlalchemy import Engine, event
from sqlalchemy import create_engine as sa_create_engine
from sqlalchemy.engine import ExceptionContext, make_url

from cadenza.domain.errors import InvalidInput

#: How long a SQLite writer waits for another one before giving up (milliseconds).
SQLITE_BUSY_TIMEOUT_MS = 30_000

#: Execution option set on the connection of a read-only unit of work.
READ_ONLY_OPTION = "cadenza_read_only"


def normalize_url(url: str) -> str:
    """Plain ``postgresql://`` (and ``postgres://``) URLs use the psycopg 3 driver."""
    for scheme in ("postgresql://", "postgres://"):
        if url.startswith(scheme):
            return "postgresql+psycopg://" + url[len(scheme) :]
    return url


def _json_dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def _json_loads(text: str | bytes) -> Any:
    """pydantic-core's parser: the same values as ``json.loads`` (big integers included),
    3x faster on the JSON columns every poll reads."""
    return pydantic_core.from_json(text)


#: The message of ``InvalidInput`` for text PostgreSQL cannot store.
NUL_TEXT = "text must not contain NUL (U+0000) characters"


def is_nul_text_error(error: BaseException) -> bool:
    """PostgreSQL stores no NUL character in text or JSON (SQLite does): psycopg refuses
    one in a parameter, the server a ``\\u0000`` escape in JSON (SQLSTATE 22P05)."""
    return "cannot contain NUL" in str(error) or getattr(error, "sqlstate", None) == "22P05"


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def create_engine_for(url: str, **kwargs: Any) -> Engine:
    """An engine with the settings Cadenza relies on; extra ``kwargs`` go to SQLAlchemy."""
    url = normalize_url(url)
    parsed = make_url(url)
    kwargs.setdefault("json_serializer", _json_dumps)
    kwargs.setdefault("json_deserializer", _json_loads)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        connect_args = dict(kwargs.pop("connect_args", {}))
        connect_args.setdefault("timeout", SQLITE_BUSY_TIMEOUT_MS / 1000)
        connect_args.setdefault("check_same_thread", False)
        engine = sa_create_engine(url, connect_args=connect_args, **kwargs)
        _configure_sqlite(engine)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    engine = sa_create_engine(url, **kwargs)

    @event.listens_for(engine, "handle_error")
    def _on_error(context: ExceptionContext) -> None:
        # Client input, not a database failure: a 400 rather than a 500.
        if is_nul_text_error(context.original_exception):
            raise InvalidInput(NUL_TEXT) from context.original_exception

    return engine


def _configure_sqlite(engine: Engine) -> None:
    from cadenza.db.checkpoints import SAFETY_NET_PAGES

    """WAL, a busy timeout, and ``BEGIN IMMEDIATE`` for every transaction.

    ``BEGIN IMMEDIATE`` takes the write lock up front, so a transaction that reads a balance
    and then writes it never fails half-way (a deferred one can, under WAL) and concurrent
    writers queue on the busy timeout instead of losing updates.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event, not the driver, decide when transactions start.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
            # API processes checkpoint from a thread (``db/checkpoints.py``); a commit
            # checkpoints only a log grown past this, holding the write lock meanwhile.
            cursor.execute(f"PRAGMA wal_autocheckpoint = {SAFETY_NET_PAGES}")
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Read-only units of work take a plain (deferred) BEGIN: under WAL they read a
        # consistent snapshot beside the one writer instead of waiting for its lock.
        if connection.get_execution_options().get(READ_ONLY_OPTION):
            connection.exec_driver_sql("BEGIN")
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
