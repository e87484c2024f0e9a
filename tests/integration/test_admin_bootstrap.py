"""First start of several servers on one database: exactly one admin key is created."""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from cadenza.db import create_engine_for, migrate, uow_factory
from cadenza.services import keys

RACERS = 8


def _race(url: str) -> list[str | None]:
    migrate(url)
    engine = create_engine_for(url, pool_size=RACERS)
    uow = uow_factory(engine)
    barrier = threading.Barrier(RACERS)
    results: list[str | None] = []
    lock = threading.Lock()

    def start_server() -> None:
        barrier.wait()
        secret = keys.ensure_admin_key(uow)
        with lock:
            results.append(secret)

    threads = [threading.Thread(target=start_server) for _ in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    with uow() as u:
        admins = [k for k in u.keys.list() if k.is_admin]
    engine.dispose()
    assert len(results) == RACERS
    assert len(admins) == 1
    return results


def test_one_admin_key_on_sqlite(tmp_path: Path) -> None:
    results = _race(f"sqlite:///{tmp_path / 'cadenza.db'}")
    assert sum(secret is not None for secret in results) == 1


@pytest.mark.postgres
def test_one_admin_key_on_postgresql(
    postgres_database: Callable[[str], AbstractContextManager[str]],
) -> None:
    with postgres_database("cadenza_boot") as url:
        results = _race(url)
    assert sum(secret is not None for secret in results) == 1
