"""Renderings of task answers, reused while the task is unchanged.

A poll of a task that has not changed since the last one answers the same bytes, and
clients poll far more often than tasks change (a queued task for minutes, a finished one
forever). Each task carries a revision the database counts up at every change to it or
its clips. Two ways to know a kept rendering is current:

- *checked*: the poll reads the task's revision (one indexed read) and reuses the
  rendering made for that revision;
- *told*: where the database announces each new revision as it commits (PostgreSQL, see
  ``db.changes``), a rendering stands until its task's next notice, and a poll needs no
  database at all. Each rendering remembers the key that owns its task, so another key
  still gets its 404 from the database.

The links inside depend on the base URL the request reached, which is part of the key;
presigned links expire, so storages whose links are not stable are never served from
here.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

#: How long a change notice is remembered: a poll that read a task before the change and
#: stores its rendering after the notice (a few milliseconds later) is refused for it.
NOTICE_MEMORY_S = 60.0


@dataclass(frozen=True)
class _Kept:
    revision: int
    body: bytes
    owner: str


class Renderings:
    """At most ``entries`` renderings, least recently used out first (0 turns it off)."""

    def __init__(self, entries: int) -> None:
        self.entries = max(0, entries)
        self._items: OrderedDict[tuple[str, str, str], _Kept] = OrderedDict()
        self._by_task: dict[str, set[tuple[str, str, str]]] = {}
        self._notices: dict[str, tuple[int, float]] = {}
        self._lock = threading.Lock()
        #: Counted up when notices may have been missed; a rendering read before is stale.
        self.generation = 0
        self.hits = 0
        self.misses = 0

    @property
    def enabled(self) -> bool:
        return self.entries > 0

    def get(self, dialect: str, task_id: str, base: str, revision: int) -> bytes | None:
        """*Checked*: the rendering of ``task_id`` at ``revision``, if it is the one kept."""
        key = (dialect, task_id, base)
        with self._lock:
            found = self._items.get(key)
            if found is None or found.revision != revision:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return found.body

    def current(self, dialect: str, task_id: str, base: str, owner: str) -> bytes | None:
        """*Told*: the kept rendering, current since no notice has come for it; only for
        the key that owns the task."""
        key = (dialect, task_id, base)
        with self._lock:
            found = self._items.get(key)
            if found is None or found.owner != owner:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return found.body

    def put(
        self,
        dialect: str,
        task_id: str,
        base: str,
        revision: int,
        body: bytes,
        *,
        owner: str,
        generation: int,
    ) -> None:
        """Keep a rendering made from a read that began at ``generation``; refused when a
        newer revision is kept or was announced, or notices were missed since the read."""
        if not self.entries:
            return
        key = (dialect, task_id, base)
        with self._lock:
            if generation != self.generation:
                return
            notice = self._notices.get(task_id)
            if notice is not None and notice[0] > revision:
                return
            kept = self._items.get(key)
            if kept is not None and kept.revision > revision:
                return  # a newer rendering got here first
            self._items[key] = _Kept(revision, body, owner)
            self._items.move_to_end(key)
            self._by_task.setdefault(task_id, set()).add(key)
            while len(self._items) > self.entries:
                old, _ = self._items.popitem(last=False)
                self._forget(old)

    def changed(self, task_id: str, revision: int) -> None:
        """A notice: ``task_id`` is at ``revision`` now; older renderings go."""
        now = time.monotonic()
        with self._lock:
            notice = self._notices.get(task_id)
            if notice is None or notice[0] < revision:
                self._notices[task_id] = (revision, now)
            for key in list(self._by_task.get(task_id, ())):
                kept = self._items.get(key)
                if kept is not None and kept.revision < revision:
                    del self._items[key]
                    self._forget(key)
            if len(self._notices) > 4 * max(self.entries, 1024):
                self._notices = {
                    t: n for t, n in self._notices.items() if now - n[1] < NOTICE_MEMORY_S
                }

    def reset(self) -> None:
        """Notices may have been missed: nothing kept can be trusted."""
        with self._lock:
            self.generation += 1
            self._items.clear()
            self._by_task.clear()
            self._notices.clear()

    def _forget(self, key: tuple[str, str, str]) -> None:
        keys = self._by_task.get(key[1])
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self._by_task[key[1]]
