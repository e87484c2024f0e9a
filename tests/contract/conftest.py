"""Databases for the contract suites: each suite runs on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import pytest
from sqlalchemy import Engine

from cadenza.db import create_engine_for, migrate

MigratedEngine = Callable[..., AbstractContextManager[Engine]]


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def database_kind(request: pytest.FixtureRequest) -> str:
    """Every module that asks for it runs once per database."""
    kind: str = request.param
    return kind


@pytest.fixture(scope="session")
def migrated_engine(
    tmp_path_factory: pytest.TempPathFactory,
    postgres_database: Callable[[str], AbstractContextManager[str]],
) -> MigratedEngine:
    """``with migrated_engine(kind, name, **engine_options) as engine:`` a migrated, empty
    database of ``kind``, dropped (PostgreSQL) afterwards."""

    @contextmanager
    def make(kind: str, name: str, **engine_options: Any) -> Iterator[Engine]:
        if kind == "sqlite":
            url = f"sqlite:///{tmp_path_factory.mktemp(name) / 'cadenza.db'}"
            migrate(url)
            engine = create_engine_for(url)
            try:
                yield engine
            finally:
                engine.dispose()
            return
        with postgres_database(name) as url:
            migrate(url)
            engine = create_engine_for(url, **engine_options)
            try:
                yield engine
            finally:
                engine.dispose()

    return make
