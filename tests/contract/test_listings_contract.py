"""The listing queries (``page_for_key``, ledger pages and usage, key changes), run on
SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine
from test_repo_contract import MigratedEngine, entry, stored_key, stored_task

from cadenza.db import uow_factory
from cadenza.domain.billing import EntryType
from cadenza.domain.tasks import Clip, ClipStatus, TaskStatus, new_id, utcnow
from cadenza.domain.uploads import Upload, UploadStatus
from cadenza.services import listings
from cadenza.services.ports import UnitOfWorkFactory


@pytest.fixture(scope="module")
def db_engine(database_kind: str, migrated_engine: MigratedEngine) -> Iterator[Engine]:
    with migrated_engine(database_kind, "cadenza_l") as engine:
        yield engine


@pytest.fixture
def uow(db_engine: Engine) -> UnitOfWorkFactory:
    return uow_factory(db_engine)


def test_tasks_and_clips_by_status_and_action_newest_first(uow: UnitOfWorkFactory) -> None:
    key = stored_key(uow)
    other = stored_key(uow)
    start = utcnow()
    with uow() as u:
        made = [
            stored_task(u, key, submit_time=start + timedelta(seconds=i), action=action)
            for i, action in enumerate(["MUSIC", "LYRICS", "MUSIC", "MUSIC"])
        ]
        stored_task(u, other, submit_time=start)
        made[2].status = TaskStatus.FAILURE
        u.tasks.update(made[2])
        clips = [
            Clip(id=new_id(), task_id=task.id, key_id=key.id, status=status)
            for task, status in zip(
                made,
                [ClipStatus.COMPLETE, ClipStatus.COMPLETE, ClipStatus.ERROR, ClipStatus.COMPLETE],
                strict=True,
            )
        ]
        u.clips.add_many(clips)
        u.commit()
    with uow() as u:
        every = u.tasks.page_for_key(key.id, limit=10)
        assert [t.id for t in every] == [t.id for t in made[::-1]]
        assert [t.id for t in u.tasks.page_for_key(key.id, limit=2, offset=1)] == [
            made[2].id,
            made[1].id,
        ]
        failed = u.tasks.page_for_key(key.id, limit=10, status="FAILURE")
        assert [t.id for t in failed] == [made[2].id]
        music = u.tasks.page_for_key(key.id, limit=10, action="MUSIC", status="SUBMITTED")
        assert [t.id for t in music] == [made[3].id, made[0].id]
        newest = u.clips.page_for_key(key.id, limit=10)
        assert [c.id for c in newest] == [c.id for c in clips[::-1]]
        done = u.clips.page_for_key(key.id, limit=10, status="complete", action="MUSIC")
        assert [c.id for c in done] == [clips[3].id, clips[0].id]
        assert u.clips.page_for_key(other.id, limit=10) == []


def test_ledger_pages_and_usage_over_a_span(uow: UnitOfWorkFactory) -> None:
    key = stored_key(uow)
    other = stored_key(uow)
    old = utcnow() - timedelta(days=3)
    with uow() as u:
        topup = entry(key, EntryType.TOPUP, "20", "20", None)
        u.ledger.add(topup)
        charges = [entry(key, EntryType.CONSUME, "-5", "15", new_id()) for _ in range(2)]
        for charge in charges:
            u.ledger.add(charge)
        u.ledger.add(entry(key, EntryType.REFUND, "5", "15", charges[0].task_id))
        aged = entry(other, EntryType.CONSUME, "-2.5", "0", new_id())
        aged.created_at = old
        u.ledger.add(aged)
        u.commit()
    with uow() as u:
        page = u.ledger.page(key.id, limit=2)
        assert [e.entry_type for e in page] == [EntryType.REFUND, EntryType.CONSUME]
        assert [e.id for e in u.ledger.page(key.id, limit=10, entry_type="CONSUME")] == [
            charges[1].id,
            charges[0].id,
        ]
        recent = u.ledger.page(None, limit=100, since=old + timedelta(days=1))
        assert aged.id not in {e.id for e in recent} and topup.id in {e.id for e in recent}
        assert [e.id for e in u.ledger.page(other.id, limit=10, until=old + timedelta(1))] == [
            aged.id
        ]
        rows = u.ledger.usage(key.id)
    lines = listings.summarise(rows)
    music = next(line for line in lines if line.action == "MUSIC")
    assert (music.charged, music.refunded) == (2, 1)
    assert music.spent == Decimal(5) and music.granted == Decimal(20)
    with uow() as u:
        assert [r.key_id for r in u.ledger.usage(None, until=old + timedelta(1))] == [other.id]


def test_uploads_playlists_and_key_changes(uow: UnitOfWorkFactory) -> None:
    key = stored_key(uow)
    now = utcnow()
    uploads = [
        Upload(
            id=new_id(),
            key_id=key.id,
            extension="mp3",
            token_hash=new_id(),
            expires_at=now + timedelta(hours=1),
            created_at=now + timedelta(seconds=i),
        )
        for i in range(3)
    ]
    with uow() as u:
        for upload in uploads:
            u.uploads.add(upload)
        u.uploads.transition(uploads[1].id, UploadStatus.PENDING, UploadStatus.UPLOADED)
        assert u.keys.change(key.id, rate_limit_per_minute=9, name="renamed")
        assert not u.keys.change("missing", concurrency_limit=2)
        u.commit()
    with uow() as u:
        assert [x.id for x in u.uploads.list_for_key(key.id, limit=2)] == [
            uploads[2].id,
            uploads[1].id,
        ]
        pending = u.uploads.list_for_key(key.id, limit=10, status="pending")
        assert [x.id for x in pending] == [uploads[2].id, uploads[0].id]
        changed = u.keys.get(key.id)
        assert changed is not None
        assert (changed.name, changed.rate_limit_per_minute) == ("renamed", 9)
        assert u.playlists.list_for_key(key.id, 10, 0) == []
