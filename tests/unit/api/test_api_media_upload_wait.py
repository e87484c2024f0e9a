"""``wait_audio`` on POST /suno/uploads/audio-url: answer once the upload's task has ended."""

from __future__ import annotations

import dataclasses
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import soundfile as sf
from api_media_support import RATE, tone, with_tools
from fastapi.testclient import TestClient

from cadenza.bootstrap import Container


@pytest.fixture
def container(container: Container, queue: Any, engine: Any) -> Container:
    built = with_tools(container, queue, engine)
    queue.auto = False  # tasks run only when a "worker" drains the queue
    settings = built.settings.model_copy(update={"wait_audio_s": 30.0})
    return dataclasses.replace(built, settings=settings)


def _uploaded(client: TestClient, headers: dict[str, str], content: bytes) -> str:
    slot = client.post(
        "/suno/api/create_audio_upload", json={"extension": "wav"}, headers=headers
    ).json()["data"]
    sent = client.post(
        f"/suno/uploads/{slot['upload_id']}",
        data=slot["fields"],
        files={"file": ("a.wav", content, "application/octet-stream")},
    )
    assert sent.status_code == 200, sent.text
    return str(slot["upload_id"])


def _wav(tmp: Path) -> bytes:
    path = tmp / "a.wav"
    sf.write(str(path), tone(1.0), RATE, subtype="PCM_16")
    return path.read_bytes()


def _status(client: TestClient, headers: dict[str, str], task_id: str) -> Any:
    return client.get(f"/suno/fetch/{task_id}", headers=headers).json()["data"]


class _Worker:
    """Runs queued tasks from another thread, as a separate worker would."""

    def __init__(self, queue: Any) -> None:
        self.queue = queue
        self.thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        for _ in range(500):
            if self.queue.pending:
                time.sleep(0.5)  # a render that takes a while
                self.queue.drain()
                return
            time.sleep(0.02)

    def __enter__(self) -> _Worker:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.thread.join()


def test_wait_audio_answers_once_the_clip_is_ready(
    client: TestClient, make_key: Any, queue: Any, tmp_path: Path
) -> None:
    _, headers = make_key()
    upload_id = _uploaded(client, headers, _wav(tmp_path))
    with _Worker(queue):
        response = client.post(
            "/suno/uploads/audio-url",
            json={"upload_id": upload_id, "upload_filename": "demo.wav"},  # wait_audio: default
            headers=headers,
        )
        assert response.status_code == 200, response.text
        task = _status(client, headers, response.json()["data"])  # right after the answer
    assert task["status"] == "SUCCESS"
    assert task["data"][0]["status"] == "complete" and task["data"][0]["title"] == "demo"


def test_wait_audio_false_answers_at_once(
    client: TestClient, make_key: Any, queue: Any, tmp_path: Path
) -> None:
    _, headers = make_key()
    upload_id = _uploaded(client, headers, _wav(tmp_path))
    response = client.post(
        "/suno/uploads/audio-url",
        json={"upload_id": upload_id, "wait_audio": False},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    assert _status(client, headers, response.json()["data"])["status"] == "QUEUED"
    queue.drain()
    assert _status(client, headers, response.json()["data"])["status"] == "SUCCESS"


def test_a_failed_upload_task_still_answers_its_id(
    client: TestClient, container: Container, make_key: Any, queue: Any, tmp_path: Path
) -> None:
    _, headers = make_key()
    upload_id = _uploaded(client, headers, _wav(tmp_path))
    with container.uow() as u:
        upload = u.uploads.get(upload_id)
    assert upload is not None and upload.storage_key

    def worker() -> None:  # the stored object is damaged before the worker reads it
        for _ in range(500):
            if queue.pending:
                container.storage.put_bytes(upload.storage_key, b"RIFF garbage", "audio/wav")
                time.sleep(0.5)
                queue.drain()
                return
            time.sleep(0.02)

    thread = threading.Thread(target=worker)
    thread.start()
    try:
        response = client.post(
            "/suno/uploads/audio-url", json={"upload_id": upload_id}, headers=headers
        )
        assert response.status_code == 200, response.text
        task = _status(client, headers, response.json()["data"])  # right after the answer
    finally:
        thread.join()
    assert task["status"] == "FAILURE" and task["fail_reason"]


def test_a_database_error_while_waiting_still_answers_the_task_id(
    client: TestClient, make_key: Any, queue: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cadenza.api.sunocore import media_routes
    from cadenza.domain.errors import UpstreamUnavailable

    def broken(*args: Any, **kwargs: Any) -> None:
        raise UpstreamUnavailable("database unavailable")

    monkeypatch.setattr(media_routes, "wait_for_task", broken)
    _, headers = make_key()
    upload_id = _uploaded(client, headers, _wav(tmp_path))
    response = client.post(
        "/suno/uploads/audio-url", json={"upload_id": upload_id}, headers=headers
    )
    assert response.status_code == 200, response.text
    task_id = response.json()["data"]
    queue.drain()
    assert _status(client, headers, task_id)["status"] == "SUCCESS"
