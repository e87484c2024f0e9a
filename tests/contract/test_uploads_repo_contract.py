"""The upload repository contract, on SQLite and on PostgreSQL (skipped when absent)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import timedelta
from decimal import Decimal

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine

from cadenza.db import uow_factory
from cadenza.db.schema import current_revision
from cadenza.db.tables import metadata
from cadenza.domain.billing import new_api_key
from cadenza.domain.tasks import new_id, utcnow
from cadenza.domain.uploads import Upload, UploadStatus, hash_token
from cadenza.services.ports import UnitOfWorkFactory

#: The ``migrated_engine`` fixture of ``conftest``.
MigratedEngine = Callable[..., AbstractContextManager[Engine]]


@pytest.fixture(scope="module")
def upload_db(database_kind: str, migrated_engine: MigratedEngine) -> Iterator[Engine]:
    with migrated_engine(database_kind, "cadenza_up") as engine:
        yield engine


@pytest.fixture
def uow(upload_db: Engine) -> UnitOfWorkFactory:
    return uow_factory(upload_db)


def _upload(uow: UnitOfWorkFactory) -> Upload:
    key, _ = new_api_key("uploads", credits=Decimal("0"))
    upload = Upload(
        id=new_id(),
        key_id=key.id,
        extension="wav",
        token_hash=hash_token("secret"),
        expires_at=utcnow() + timedelta(minutes=15),
    )
    with uow() as u:
        u.keys.add(key)
        u.uploads.add(upload)
        u.commit()
    return upload


def test_uploads_table_matches_its_migration(upload_db: Engine) -> None:
    with upload_db.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diffs = [d for d in compare_metadata(context, metadata) if "uploads" in repr(d)]
    assert diffs == []
    assert current_revision(upload_db) is not None


def test_upload_round_trip(uow: UnitOfWorkFactory) -> None:
    upload = _upload(uow)
    with uow() as u:
        stored = u.uploads.get(upload.id)
        assert u.uploads.get("missing") is None
    assert stored is not None
    assert stored.status is UploadStatus.PENDING
    assert stored.token_hash == hash_token("secret")
    assert stored.expires_at == upload.expires_at and stored.expires_at.tzinfo is not None
    assert not stored.expired() and stored.expired(upload.expires_at)


def test_transitions_are_conditional(uow: UnitOfWorkFactory) -> None:
    upload = _upload(uow)
    with uow() as u:
        assert u.uploads.transition(
            upload.id, UploadStatus.PENDING, UploadStatus.UPLOADED, storage_key="k/a.wav", size=42
        )
        assert not u.uploads.transition(upload.id, UploadStatus.PENDING, UploadStatus.UPLOADED)
        u.commit()
    with uow() as u:
        assert u.uploads.transition(upload.id, UploadStatus.UPLOADED, UploadStatus.CONSUMED)
        assert not u.uploads.transition(upload.id, UploadStatus.UPLOADED, UploadStatus.CONSUMED)
        u.commit()
    with uow() as u:
        stored = u.uploads.get(upload.id)
    assert stored is not None
    assert (stored.status, stored.storage_key, stored.size) == (
        UploadStatus.CONSUMED,
        "k/a.wav",
        42,
    )


def test_rolled_back_transition_keeps_the_state(uow: UnitOfWorkFactory) -> None:
    upload = _upload(uow)
    with uow() as u:
        assert u.uploads.transition(upload.id, UploadStatus.PENDING, UploadStatus.UPLOADED)
    with uow() as u:
        stored = u.uploads.get(upload.id)
    assert stored is not None and stored.status is UploadStatus.PENDING
