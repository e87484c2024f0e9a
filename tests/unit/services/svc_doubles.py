"""Test doubles for the use-case tests: a queue, a media store and an engine."""

from __future__ import annotations

import threading
from collections.abc import Collection
from pathlib import Path
from typing import Any

from cadenza.domain.errors import EngineError
from cadenza.services.ports import ProgressCallback


class RecordingQueue:
    """Remembers what was enqueued; can be told to fail like a broker that is down.

    ``instance`` plays an in-process queue's identity (None: a broker); identities put in
    ``dead`` are reported ``gone``.
    """

    def __init__(self, instance: str | None = None) -> None:
        self.enqueued: list[tuple[str, str | None]] = []
        self.fail = False
        self.instance = instance
        self.dead: set[str] = set()
        self.asked: list[set[str]] = []
        self._lock = threading.Lock()

    def gone(self, instances: Collection[str]) -> set[str]:
        self.asked.append(set(instances))
        return self.dead & set(instances)

    def enqueue(self, task_id: str, *, route: str | None = None) -> None:
        if self.fail:
            raise ConnectionError("broker down")
        with self._lock:
            self.enqueued.append((task_id, route))

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass


class MemoryStorage:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def put_file(self, key: str, path: Path, content_type: str) -> None:
        self.objects[key] = Path(path).read_bytes()

    def put_bytes(self, key: str, data: bytes, content_type: str) -> None:
        self.objects[key] = data

    def get_bytes(self, key: str) -> bytes:
        return self.objects[key]

    def fetch_to(self, key: str, dest: Path) -> Path:
        dest.write_bytes(self.objects[key])
        return dest

    def exists(self, key: str) -> bool:
        return key in self.objects

    def url(self, key: str) -> str:
        return f"http://media.test/{key}"

    def delete_prefix(self, prefix: str) -> None:
        for name in [k for k in self.objects if k.startswith(prefix)]:
            del self.objects[name]


class FakeEngine:
    """Writes small files per clip id, reporting progress; or fails when told to."""

    name = "fake"

    def __init__(self, *, fail: str | None = None, steps: int = 3) -> None:
        self.fail = fail
        self.steps = steps
        self.calls: list[dict[str, Any]] = []

    def run(
        self,
        action: str,
        params: dict[str, Any],
        workdir: Path,
        progress: ProgressCallback,
    ) -> list[dict[str, Any]]:
        self.calls.append(params)
        for i in range(self.steps):
            progress((i + 1) / (self.steps + 1), "working")
        if self.fail is not None:
            raise EngineError(self.fail)
        results = []
        for clip_id in params.get("clip_ids", []):
            song = workdir / f"{clip_id}.mp3"
            song.write_bytes(b"ID3" + clip_id.encode())
            cover = workdir / f"{clip_id}.png"
            cover.write_bytes(b"\x89PNG" + clip_id.encode())
            results.append(
                {
                    "id": clip_id,
                    "files": {"song.mp3": str(song), "cover.png": str(cover)},
                    "meta": {"duration": 12.5, "title": "Made", "lyrics": "la la"},
                }
            )
        return results
