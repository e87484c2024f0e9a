"""Renderings of task answers, reused while the task is unchanged.

A poll of a task that has not changed since the last one answers the same bytes, and
clients poll far more often than tasks change (a queued task for minutes, a finished one
forever). Each task carries a revision the database counts up at every change to it or
its clips, so a poll reads that one number and reuses the JSON rendered for it, skipping
the rows, the objects and the encoding. The links inside depend on the base URL the
request reached, which is part of the key; presigned links expire, so storages whose
links are not stable are never served from here.
"""

from __future__ import annotations

import threading
from collections import OrderedDict


class Renderings:
    """At most ``entries`` renderings, least recently used out first (0 turns it off)."""

    def __init__(self, entries: int) -> None:
        self.entries = max(0, entries)
        self._items: OrderedDict[tuple[str, str, str], tuple[int, bytes]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @property
    def enabled(self) -> bool:
        return self.entries > 0

    def get(self, dialect: str, task_id: str, base: str, revision: int) -> bytes | None:
        """The rendering of ``task_id`` at ``revision``, if it is the one kept."""
        key = (dialect, task_id, base)
        with self._lock:
            found = self._items.get(key)
            if found is None or found[0] != revision:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return found[1]

    def put(self, dialect: str, task_id: str, base: str, revision: int, body: bytes) -> None:
        if not self.entries:
            return
        key = (dialect, task_id, base)
        with self._lock:
            kept = self._items.get(key)
            if kept is not None and kept[0] > revision:
                return  # a newer rendering got here first
            self._items[key] = (revision, body)
            self._items.move_to_end(key)
            while len(self._items) > self.entries:
                self._items.popitem(last=False)
