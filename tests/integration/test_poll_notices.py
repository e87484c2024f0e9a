"""On PostgreSQL, polls of an unchanged task are answered without the database while the
server hears the database's change notices; every committed change shows on a poll
soon after, and another key still gets a 404."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cadenza.api.app import create_app
from cadenza.bootstrap import Container, build_container, prepare
from cadenza.domain.tasks import TaskView
from cadenza.services import keys
from cadenza.settings import Settings

pytestmark = pytest.mark.postgres
WAIT_S = 15.0


class HeldQueue:
    """Keeps tasks queued: this test changes them by hand."""

    instance = None

    def enqueue(self, task_id: str, *, route: str | None = None) -> None:
        pass

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def gone(self, instances: Any) -> set[str]:
        return set()


class CountingViews:
    """The real views, counting the task reads a poll makes."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.inline = inner.inline
        self.reads = 0

    def key_by_hash(self, key_hash: str) -> Any:
        return self.inner.key_by_hash(key_hash)

    def revisions(self, task_ids: Sequence[str], key_id: str) -> dict[str, int]:
        self.reads += 1
        found: dict[str, int] = self.inner.revisions(task_ids, key_id)
        return found

    def tasks(self, task_ids: Sequence[str], key_id: str) -> list[TaskView]:
        self.reads += 1
        found: list[TaskView] = self.inner.tasks(task_ids, key_id)
        return found


@pytest.fixture
def container(
    tmp_path: Path, postgres_database: Callable[[str], AbstractContextManager[str]]
) -> Iterator[Container]:
    with postgres_database("cadenza_notices") as url:
        settings = Settings(
            data_dir=tmp_path,
            database_url=url,
            public_url="http://testserver",
            reaper_interval_s=0,
            auth_cache_ttl_s=60,
        )
        built = build_container(settings)
        prepare(built)
        built.queue = HeldQueue()
        built.views = CountingViews(built.views)  # type: ignore[assignment]
        yield built


def test_unchanged_tasks_are_answered_without_the_database(container: Container) -> None:
    views: CountingViews = container.views  # type: ignore[assignment]
    _, secret = keys.create_key(container.uow, name="a", credits=Decimal("100"))
    _, other = keys.create_key(container.uow, name="b", credits=Decimal("100"))
    headers, stranger = {"X-API-Key": secret}, {"X-API-Key": other}
    with TestClient(create_app(container, manage_queue=False)) as client:
        deadline = time.monotonic() + WAIT_S
        while not container.changes.live:
            assert time.monotonic() < deadline, "the server never heard the database"
            time.sleep(0.05)
        body = {"prompt": "[Verse]\nhello little star"}
        task_id = client.post("/suno/submit/music", json=body, headers=headers).json()["data"]
        first = client.get(f"/suno/fetch/{task_id}", headers=headers)
        assert first.status_code == 200
        reads = views.reads
        for _ in range(5):
            assert client.get(f"/suno/fetch/{task_id}", headers=headers).content == first.content
        batch = client.post("/suno/fetch", json={"ids": [task_id]}, headers=headers).json()
        assert batch["data"] == [first.json()["data"]]
        assert views.reads == reads  # no database read for any of them
        # Another key: the database says 404, whatever is kept.
        assert client.get(f"/suno/fetch/{task_id}", headers=stranger).status_code == 404
        # A change commits: it shows on a poll as soon as its notice is heard.
        with container.uow() as u:
            task = u.tasks.get(task_id, for_update=True)
            assert task is not None
            task.progress = 42
            u.tasks.update(task)
            u.commit()
        deadline = time.monotonic() + WAIT_S
        while True:
            shown = client.get(f"/suno/fetch/{task_id}", headers=headers).json()["data"]
            if shown["progress"] == "42%":
                break
            assert time.monotonic() < deadline, "the change never showed"
            time.sleep(0.01)
