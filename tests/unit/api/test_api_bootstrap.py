"""Settings select the adapters in one place; the engine registry builds engines lazily."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

from cadenza.bootstrap import build_container, build_engines, worker_route
from cadenza.domain.errors import EngineError
from cadenza.engines.registry import EngineRegistry
from cadenza.limits.memory import MemoryRateLimiter
from cadenza.queue.inprocess import InProcessQueue
from cadenza.settings import Settings
from cadenza.storage.local import LocalStorage


def test_embedded_default(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, host="0.0.0.0", port=8123, workers=3)
    container = build_container(settings)
    assert isinstance(container.queue, InProcessQueue)
    assert isinstance(container.limiter, MemoryRateLimiter)
    assert isinstance(container.storage, LocalStorage)
    assert container.storage.root == (tmp_path / "media").resolve()
    assert container.storage.url("clips/a/song.mp3") == (
        "http://127.0.0.1:8123/media/clips/a/song.mp3"
    )
    assert settings.resolved_database_url().startswith("sqlite:///")
    assert settings.resolved_workers() == 3
    assert worker_route(settings) == settings.worker_name


@pytest.mark.parametrize(
    ("cores", "queue", "workers", "compose"),
    [(1, "inprocess", 2, 1), (2, "inprocess", 2, 2), (8, "inprocess", 4, 2), (8, "celery", 8, 2)],
)
def test_default_workers_keep_every_core_busy(
    monkeypatch: pytest.MonkeyPatch, cores: int, queue: str, workers: int, compose: int
) -> None:
    # In process, a music task renders its two clips at once: half as many tasks as cores.
    monkeypatch.setattr("cadenza.settings.os.cpu_count", lambda: cores)
    settings = Settings(queue=queue)  # type: ignore[arg-type]
    assert (settings.resolved_workers(), settings.resolved_compose_workers()) == (workers, compose)


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CADENZA_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CADENZA_QUEUE", "celery")
    monkeypatch.setenv("CADENZA_WORKER_NAME", "gpu1")
    monkeypatch.setenv("CADENZA_S3__BUCKET", "songs")
    monkeypatch.setenv("CADENZA_PUBLIC_URL", "https://music.example.com/")
    monkeypatch.setenv("CADENZA_WORKER_QUEUES", '["a", "b"]')
    settings = Settings()
    assert settings.data_dir == tmp_path
    assert settings.s3.bucket == "songs"
    assert settings.resolved_public_url() == "https://music.example.com"
    assert settings.worker_queues == ["a", "b"]
    # Follow-ups are routed to the queue that only this worker consumes.
    assert worker_route(settings) == "cadenza.worker.gpu1"


def test_invalid_backend_name_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CADENZA_QUEUE", "carrier-pigeon")
    with pytest.raises(ValueError):
        Settings()


def test_registry_builds_each_engine_once_and_refuses_unknown_actions() -> None:
    built: list[int] = []

    class Engine:
        name = "x"

        def run(self, *args: Any) -> list[dict[str, Any]]:
            return []

    def factory() -> Any:
        built.append(1)
        return Engine()

    registry = EngineRegistry(factories={"MUSIC": factory})
    assert built == []
    first = registry("MUSIC")
    assert registry("MUSIC") is first
    assert built == [1]
    assert registry.actions() == ["MUSIC"]
    with pytest.raises(EngineError):
        registry("STEMS")


@pytest.mark.skipif(
    importlib.util.find_spec("cadenza.compose.pipeline") is None,
    reason="the built-in engine cadenza.compose.pipeline is absent",
)
def test_builtin_engine_is_registered_for_music(tmp_path: Path) -> None:
    registry = build_engines(Settings(data_dir=tmp_path))
    assert registry.actions() == ["LYRICS", "MUSIC", "UPSAMPLE"]


def test_sqlite_transactions_of_one_process_take_turns(tmp_path: Path) -> None:
    from cadenza.bootstrap import build_uow, migrate, serialized
    from cadenza.services import billing

    settings = Settings(data_dir=tmp_path)
    migrate(settings)
    uow = serialized(build_uow(settings))
    billing.seed_prices(uow)
    with uow() as outer, uow() as inner:  # re-entrant within one thread
        assert outer is not inner
    with pytest.raises(RuntimeError), uow():
        raise RuntimeError("rolled back")
    # The lock was released on the error: another thread can still get a turn.
    import threading

    done = threading.Event()

    def other() -> None:
        assert billing.list_prices(uow)
        done.set()

    thread = threading.Thread(target=other)
    thread.start()
    thread.join(timeout=30)
    assert done.is_set()


@pytest.mark.parametrize("freeze", [False, True])
def test_a_server_process_freezes_its_start_up_heap(container: Any, freeze: bool) -> None:
    """A server's full collections walk only what requests made: what start-up left alive
    is moved out of the collector's reach once the lifespan has started. Tests build many
    apps in one process and keep theirs collectable."""
    import gc

    from fastapi.testclient import TestClient

    from cadenza.api.app import create_app

    gc.unfreeze()
    try:
        with TestClient(create_app(container, manage_queue=False, freeze_heap=freeze)):
            frozen = gc.get_freeze_count()
    finally:
        gc.unfreeze()
    assert (frozen > 10_000) is freeze
