"""Fixtures for the API tests: a real SQLite container with test-double engine and queue."""

from __future__ import annotations

import shutil
from collections.abc import Collection, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cadenza.api.app import create_app
from cadenza.api.observability import configure_logging
from cadenza.bootstrap import (
    Container,
    build_database,
    build_limiter,
    build_runner,
    build_storage,
    build_uow,
    migrate,
    prepare,
)
from cadenza.engines.lyrics import LyricsEngine
from cadenza.engines.registry import EngineRegistry
from cadenza.services import keys
from cadenza.services.ports import ProgressCallback
from cadenza.settings import Settings

PNG_1PX = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


# The JSON renderer, as in production (structlog's default renders rich tracebacks: slow).
configure_logging("INFO", json=True)


class FakeEngine:
    """Writes tiny files instead of rendering; can be told to fail."""

    name = "fake"

    def __init__(self) -> None:
        self.fail_with: str | None = None
        self.calls: list[dict[str, Any]] = []

    def run(
        self, action: str, params: dict[str, Any], workdir: Path, progress: ProgressCallback
    ) -> list[dict[str, Any]]:
        self.calls.append(params)
        if self.fail_with:
            raise RuntimeError(self.fail_with)
        progress(0.5, "rendering")
        request = params.get("request", {})
        results = []
        for index, clip_id in enumerate(params["clip_ids"]):
            folder = workdir / clip_id
            folder.mkdir(parents=True, exist_ok=True)
            audio = folder / "song.mp3"
            audio.write_bytes(b"ID3\x04\x00\x00\x00\x00\x00\x00" + bytes(range(256)) * 40)
            (folder / "cover.png").write_bytes(PNG_1PX)
            (folder / "cover_large.png").write_bytes(PNG_1PX)
            results.append(
                {
                    "id": clip_id,
                    "files": {
                        "song.mp3": audio,
                        "cover.png": folder / "cover.png",
                        "cover_large.png": folder / "cover_large.png",
                    },
                    "meta": {
                        "duration": 12.5 + index,
                        "title": request.get("title") or "Untitled",
                        "lyrics": request.get("lyrics") or "",
                    },
                }
            )
        return results


class ManualQueue:
    """Runs tasks at once (``auto``) or holds them until ``drain()``."""

    def __init__(self) -> None:
        self.auto = True
        self.pending: list[str] = []
        self.enqueued: list[str] = []
        self.runner: Any = None

    def enqueue(self, task_id: str, *, route: str | None = None) -> None:
        self.enqueued.append(task_id)
        if self.auto and self.runner is not None:
            self.runner.run(task_id)
        else:
            self.pending.append(task_id)

    def drain(self) -> None:
        while self.pending:
            self.runner.run(self.pending.pop(0))

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    instance: str | None = None  # a broker's queue: tasks outlive the server

    def gone(self, instances: Collection[str]) -> set[str]:
        return set()


@pytest.fixture
def engine() -> FakeEngine:
    return FakeEngine()


@pytest.fixture
def queue() -> ManualQueue:
    return ManualQueue()


@pytest.fixture(scope="session")
def migrated_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated, price-seeded database per session; each test gets a copy."""
    template = tmp_path_factory.mktemp("api-template")
    prepare_database(Settings(data_dir=template))
    return template / "cadenza.db"


@pytest.fixture
def container(
    tmp_path: Path, migrated_db: Path, engine: FakeEngine, queue: ManualQueue
) -> Container:
    shutil.copyfile(migrated_db, tmp_path / "cadenza.db")
    settings = Settings(
        data_dir=tmp_path,
        database_url="",
        public_url="http://testserver",
        reaper_interval_s=0,
        auth_cache_ttl_s=0,
        storage="local",
        limits="memory",
        queue="inprocess",
    )
    uow, views = build_database(settings)
    storage = build_storage(settings)
    engines = EngineRegistry({"MUSIC": engine, "LYRICS": LyricsEngine()})
    runner = build_runner(settings, uow, storage, engines)
    queue.runner = runner
    built = Container(
        settings=settings,
        uow=uow,
        queue=queue,
        limiter=build_limiter(settings),
        storage=storage,
        engines=engines,
        runner=runner,
        views=views,
    )
    prepare(built)  # idempotent on the copy: no new migrations, prices kept, admin exists
    return built


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(container, manage_queue=False)) as test_client:
        yield test_client


def prepare_database(settings: Settings) -> None:
    from cadenza.services import billing

    migrate(settings)
    billing.seed_prices(build_uow(settings))
    keys.ensure_admin_key(build_uow(settings))


class KeyMaker:
    def __init__(self, container: Container) -> None:
        self.container = container

    def __call__(
        self,
        credits: str = "100",
        *,
        rpm: int = 1000,
        concurrency: int = 4,
        admin: bool = False,
        name: str = "test",
    ) -> tuple[str, dict[str, str]]:
        """Returns the key's id and the headers that authenticate as it."""
        key, secret = keys.create_key(
            self.container.uow,
            name=name,
            credits=Decimal(credits),
            rate_limit_per_minute=rpm,
            concurrency_limit=concurrency,
            is_admin=admin,
        )
        return key.id, {"X-API-Key": secret}


@pytest.fixture
def make_key(container: Container) -> KeyMaker:
    return KeyMaker(container)
