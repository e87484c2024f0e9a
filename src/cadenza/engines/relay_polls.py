"""Polls every task relayed to one channel together: one request per ``POLL_BATCH``
tasks each interval, whatever the number in flight, so a gateway with hundreds of tasks
upstream stays within the upstream's rate limits and spends little CPU on polling."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from cadenza.engines.upstream import POLL_BATCH, PollFailed, Upstream, UpstreamTask

log = logging.getLogger(__name__)

#: What a poll said of one task: ``found`` (with the task, or None: unknown there) or
#: ``failed`` (the poll got no usable answer).
PollResult = tuple[str, UpstreamTask | None]


class Watch:
    """The latest poll result of one upstream task, for the relay that waits on it."""

    def __init__(self) -> None:
        self._ready = threading.Event()
        self._lock = threading.Lock()
        self._result: PollResult | None = None

    def deliver(self, result: PollResult) -> None:
        with self._lock:
            self._result = result
            self._ready.set()

    def take(self, timeout: float) -> PollResult | None:
        """The result delivered since the last take; None if none came within ``timeout``."""
        if not self._ready.wait(timeout):
            return None
        with self._lock:
            result, self._result = self._result, None
            self._ready.clear()
        return result


class ChannelPoller:
    """A thread that polls every watched task of one channel each ``poll_s``."""

    def __init__(self, upstream: Upstream, *, poll_s: float, name: str) -> None:
        self._upstream = upstream
        self._poll_s = poll_s
        self._name = name
        self._cond = threading.Condition()
        self._watches: dict[str, list[Watch]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @contextmanager
    def watch(self, upstream_id: str) -> Iterator[Watch]:
        watch = Watch()
        with self._cond:
            self._watches.setdefault(upstream_id, []).append(watch)
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(
                    target=self._loop, name=f"cadenza-poll-{self._name}", daemon=True
                )
                self._thread.start()
            self._cond.notify_all()
        try:
            yield watch
        finally:
            with self._cond:
                watches = self._watches.get(upstream_id, [])
                if watch in watches:
                    watches.remove(watch)
                if not watches:
                    self._watches.pop(upstream_id, None)

    def stop(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout=self._poll_s + 15)

    def _loop(self) -> None:
        while not self._stop.is_set():
            with self._cond:
                while not self._watches and not self._stop.is_set():
                    self._cond.wait()
                ids = list(self._watches)
            for start in range(0, len(ids), POLL_BATCH):
                self._poll(ids[start : start + POLL_BATCH])
            self._stop.wait(self._poll_s)

    def _poll(self, ids: list[str]) -> None:
        try:
            found = self._upstream.fetch_many(ids)
        except PollFailed as exc:
            log.info("poll of %d tasks on %s failed: %s", len(ids), self._name, exc)
            results: dict[str, PollResult] = {i: ("failed", None) for i in ids}
        except Exception:  # the poller must outlive any one answer
            log.warning("poll of %d tasks on %s raised", len(ids), self._name, exc_info=True)
            results = {i: ("failed", None) for i in ids}
        else:
            results = {i: ("found", found.get(i)) for i in ids}
        with self._cond:
            for upstream_id, result in results.items():
                for watch in self._watches.get(upstream_id, []):
                    watch.deliver(result)
