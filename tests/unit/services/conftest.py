"""Fixtures for the use-case tests: a migrated SQLite database per test and test doubles."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from svc_doubles import MemoryStorage, RecordingQueue

from cadenza.db import create_engine_for, migrate, uow_factory
from cadenza.domain.billing import ApiKey
from cadenza.services import billing, keys
from cadenza.services.ports import UnitOfWorkFactory


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Migrating once and copying the file keeps each test's fresh database cheap."""
    path = tmp_path_factory.mktemp("svc-template") / "template.db"
    migrate(f"sqlite:///{path}")
    return path


@pytest.fixture
def engine(migrated_template: Path, tmp_path: Path) -> Iterator[Engine]:
    path = tmp_path / "cadenza.db"
    shutil.copy(migrated_template, path)
    eng = create_engine_for(f"sqlite:///{path}")
    yield eng
    eng.dispose()


@pytest.fixture
def uow(engine: Engine) -> UnitOfWorkFactory:
    factory = uow_factory(engine)
    billing.seed_prices(factory)
    return factory


@pytest.fixture
def queue() -> RecordingQueue:
    return RecordingQueue()


@pytest.fixture
def storage() -> MemoryStorage:
    return MemoryStorage()


@pytest.fixture
def make_key(uow: UnitOfWorkFactory) -> Callable[..., ApiKey]:
    def make(credits: str = "100", **kwargs: Any) -> ApiKey:
        key, _ = keys.create_key(uow, name="tester", credits=Decimal(credits), **kwargs)
        return key

    return make


@pytest.fixture
def balance(uow: UnitOfWorkFactory) -> Callable[[str], Decimal]:
    def read(key_id: str) -> Decimal:
        with uow() as u:
            key = u.keys.get(key_id)
            assert key is not None
            return key.credits_balance

    return read
