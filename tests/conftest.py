"""Fixtures shared by every test folder."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

import pytest
from sqlalchemy import create_engine, text

# librosa's numba kernels are cached on disk, and processes filling one cold cache at once can
# load each other's half-written entries and crash (numba/numba#10128): one cache per worker.
# Set, not defaulted: workers inherit the controller's environment.
os.environ["NUMBA_CACHE_DIR"] = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    ".numba-cache",
    os.environ.get("PYTEST_XDIST_WORKER", "main"),
)

PG_ADMIN_URL = os.environ.get(
    "CADENZA_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)

PostgresDatabase = Callable[[str], AbstractContextManager[str]]


@contextmanager
def _temporary_database(prefix: str) -> Iterator[str]:
    """A fresh PostgreSQL database, dropped afterwards; skips (saying why) if unreachable."""
    admin = create_engine(
        PG_ADMIN_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3}
    )
    try:
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        admin.dispose()
        pytest.skip(f"PostgreSQL unreachable at {PG_ADMIN_URL}: {type(exc).__name__}")
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_database() -> PostgresDatabase:
    """``with postgres_database("prefix") as url:`` gives a throw-away database."""
    return _temporary_database
