"""The relay engine: makes a task on an upstream channel and brings its media home.

It runs a task's whole life upstream: the submit (failing over to another channel only
while no upstream can have made the task), the polls (real progress onto the task), and
the download of the finished media into the work directory, which the worker stores
like any engine's output, so answers carry this server's own URLs.

A relay is recorded before its submit leaves (``Relay``). A worker that resumes a task
(after a crash or a stop) reads it: with an upstream task id it polls; mid-submit it asks
that same upstream again under the same Idempotency-Key, which answers the task the
first submit made, or makes the one it never got. It never submits the task elsewhere.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cadenza.domain.actions import Action
from cadenza.domain.channels import Channel, ChannelKind, Relay, RelayState, pinned_channel
from cadenza.domain.errors import EngineError, RemoteUrlRefused
from cadenza.domain.music import MusicRequest
from cadenza.domain.tasks import utcnow
from cadenza.engines.relay_polls import ChannelPoller
from cadenza.engines.upstream import (
    AceDataUpstream,
    Ambiguous,
    Refused,
    Rejected,
    SunocoreUpstream,
    Upstream,
    UpstreamClip,
    UpstreamTask,
)
from cadenza.net.fetch import fetch_to_file
from cadenza.services.channels import NO_WORKER, ChannelRouter
from cadenza.services.ports import ProgressCallback, SecretBox, UnitOfWorkFactory
from cadenza.services.worker import TaskAbandoned, TaskCancelled

log = logging.getLogger(__name__)

#: Polls in a row that find no such task upstream before it counts as lost there.
LOST_AFTER = 3
#: How often a relay that hears no progress checks that its task still runs here (s).
STILL_RUNNING_CHECK_S = 30.0
#: Share of the progress bar the upstream's render takes; the download takes the rest.
RENDER_SHARE = 0.9

UpstreamFactory = Callable[[Channel, str], Upstream]


def open_upstream(channel: Channel, key: str) -> Upstream:
    if channel.kind is ChannelKind.SUNOCORE:
        return SunocoreUpstream(channel.base_url, key, submit_timeout_s=channel.submit_timeout_s)
    return AceDataUpstream(channel.base_url, key, submit_timeout_s=channel.submit_timeout_s)


@dataclass(frozen=True)
class MediaPolicy:
    """How finished media is mirrored: per file, within ``max_bytes`` and ``timeout_s``;
    private addresses only on the channel's own host or where the operator allows them."""

    max_bytes: int = 200 * 1024 * 1024
    timeout_s: float = 120.0
    allow_private: bool = False


class RelayEngine:
    name = "relay"

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        router: ChannelRouter,
        box: SecretBox,
        *,
        poll_s: float = 1.0,
        media: MediaPolicy | None = None,
        upstreams: UpstreamFactory = open_upstream,
    ) -> None:
        self._uow = uow
        self._router = router
        self._box = box
        self._poll_s = poll_s
        self._media = media or MediaPolicy()
        self._upstreams = upstreams
        self._stopping = threading.Event()
        # One client per channel and key, shared by its relays: a client's TLS setup
        # costs more CPU than many polls, and its pool keeps connections open.
        self._clients: dict[tuple[str, str], Upstream] = {}
        self._pollers: dict[tuple[str, str], ChannelPoller] = {}
        self._clients_lock = threading.Lock()

    def stop(self) -> None:
        """Relays in flight return at their next wait, leaving their tasks to resume."""
        self._stopping.set()

    def close(self) -> None:
        """Closes the upstream clients (after ``stop``, once the relays have returned)."""
        with self._clients_lock:
            clients, self._clients = list(self._clients.values()), {}
            pollers, self._pollers = list(self._pollers.values()), {}
        for poller in pollers:
            poller.stop()
        for client in clients:
            client.close()

    def start(self) -> None:
        self._stopping.clear()

    def run(
        self, action: str, params: dict[str, Any], workdir: Path, progress: ProgressCallback
    ) -> list[dict[str, Any]]:
        if action != Action.MUSIC.value:
            raise EngineError(f"action {action} cannot be relayed yet")
        task_id = str(params["task_id"])
        request = MusicRequest.from_dict(params["request"])
        clip_ids = [str(c) for c in params.get("clip_ids") or []]
        started = time.monotonic()
        request = self._upstream_sources(request)
        channel, upstream, upstream_id = self._accepted(task_id, action, request, params)
        # From here the task holds one of the channel's in-flight slots.
        try:
            done = self._follow(channel, upstream, upstream_id, progress, task_id)
            results = self._mirror(channel, done.clips, clip_ids, workdir, progress)
            self._remember_clips(task_id, done.clips, results)
        except RemoteUrlRefused as exc:
            self._router.health.ended(channel, success=False, seconds=time.monotonic() - started)
            raise EngineError(f"the upstream's media could not be fetched: {exc}") from exc
        except EngineError:
            self._router.health.ended(channel, success=False, seconds=time.monotonic() - started)
            raise
        finally:
            self._router.health.release(channel)
        self._router.health.ended(channel, success=True, seconds=time.monotonic() - started)
        return results

    # -- submit ---------------------------------------------------------------------------

    def _accepted(
        self, task_id: str, action: str, request: MusicRequest, params: dict[str, Any]
    ) -> tuple[Channel, Upstream, str]:
        """The channel and upstream task id of this task, made now or found again; the
        task holds one of that channel's in-flight slots when this returns."""
        health = self._router.health
        with self._uow(read_only=True) as u:
            relay = u.relays.get(task_id)
        if relay is not None and relay.state is RelayState.ACCEPTED and relay.upstream_task_id:
            channel = self._channel(relay.channel_id)
            health.hold(channel)
            return channel, self._open(channel), relay.upstream_task_id
        if relay is not None and relay.channel_id not in relay.refused_by:
            # Sent before this worker started: it may be there already. Only that
            # upstream can say, so it is asked again; nothing goes elsewhere.
            channel = self._channel(relay.channel_id)
            upstream = self._open(channel)
            health.hold(channel)
            try:
                return channel, upstream, self._reconcile(channel, upstream, relay, request)
            except BaseException:
                health.release(channel)
                raise
        refused = list(relay.refused_by) if relay is not None else []
        pinned = pinned_channel(str(params.get("route") or "")) or None
        while True:
            order = self._order(action, request.model, pinned, refused)
            if not order:
                if not self._order(action, request.model, pinned, refused, room=False):
                    raise EngineError(f"{NO_WORKER}: no upstream channel took the task")
                # Every channel that may take it is at its cap: the task waits its turn
                # (until its deadline here).
                self._wait(self._poll_s)
                self._check_running(task_id)
                continue
            for channel in order:
                if not health.reserve(channel):
                    continue  # taken by another task meanwhile
                try:
                    accepted = self._submit(task_id, channel, request, refused)
                except BaseException:
                    health.release(channel)
                    raise
                if accepted is None:
                    health.release(channel)
                    continue
                return channel, accepted[0], accepted[1]

    def _submit(
        self, task_id: str, channel: Channel, request: MusicRequest, refused: list[str]
    ) -> tuple[Upstream, str] | None:
        """Submits to one channel; None when it certainly made nothing (try another)."""
        health = self._router.health
        relay = Relay(
            task_id=task_id,
            channel_id=channel.id,
            submit_key=f"cadenza-{task_id}",
            refused_by=refused,
        )
        self._save(relay)
        upstream = self._open(channel)
        try:
            upstream_id = upstream.submit_music(request, relay.submit_key)
        except Refused as exc:
            log.warning("channel %s refused task %s: %s", channel.name, task_id, exc)
            health.refused(channel)
            refused.append(channel.id)
            relay.refused_by = refused
            self._save(relay)
            return None
        except Ambiguous as exc:
            log.warning(
                "submit of task %s to %s has no known outcome (%s); reconciling",
                task_id,
                channel.name,
                exc,
            )
            health.ambiguous(channel)
            return upstream, self._reconcile(channel, upstream, relay, request)
        except Rejected as exc:
            raise EngineError(str(exc)) from exc
        health.accepted(channel)
        self._accept(relay, upstream_id)
        return upstream, upstream_id

    def _upstream_sources(self, request: MusicRequest) -> MusicRequest:
        """The request with the clips it edits named as the upstream knows them."""
        if request.continue_clip_id:
            request = dataclasses.replace(
                request, continue_clip_id=self._upstream_clip(request.continue_clip_id)
            )
        if request.cover_clip_id:
            request = dataclasses.replace(
                request, cover_clip_id=self._upstream_clip(request.cover_clip_id)
            )
        return request

    def _upstream_clip(self, ours: str) -> str:
        with self._uow(read_only=True) as u:
            clip = u.clips.get(ours)
            relay = u.relays.get(clip.task_id) if clip is not None else None
        theirs = relay.clips.get(ours) if relay is not None else None
        if not theirs:
            raise EngineError(f"clip {ours} was not made upstream")
        return theirs

    def _remember_clips(
        self, task_id: str, clips: list[UpstreamClip], results: list[dict[str, Any]]
    ) -> None:
        with self._uow(read_only=True) as u:
            relay = u.relays.get(task_id)
        if relay is None:
            return
        relay.clips = {
            str(result["id"]): clip.id
            for clip, result in zip(clips, results, strict=False)
            if clip.id
        }
        self._save(relay)

    def _order(
        self,
        action: str,
        model: str,
        pinned: str | None,
        refused: list[str],
        *,
        room: bool = True,
    ) -> list[Channel]:
        """The channels to try; a follow-up's, only the one that made its source."""
        if pinned is None:
            return self._router.order(action, model, exclude=refused, room=room)
        channel = self._router.get(pinned)
        if channel is None or not channel.enabled or channel.id in refused:
            return []
        return [channel] if self._router.health.available(channel, room=room) else []

    def _reconcile(
        self, channel: Channel, upstream: Upstream, relay: Relay, request: MusicRequest
    ) -> str:
        """The upstream's answer to the same submit under the same Idempotency-Key: the
        task it made, or (if the first never arrived) the one it makes now; asked until
        the channel's task timeout, never sent to another channel."""
        deadline = time.monotonic() + channel.task_timeout_s
        wait = self._poll_s
        while True:
            self._wait(wait)
            self._check_running(relay.task_id)
            try:
                upstream_id = upstream.submit_music(request, relay.submit_key)
            except (Refused, Ambiguous) as exc:
                if time.monotonic() > deadline:
                    raise EngineError(
                        f"the upstream never said whether it took the task ({exc})"
                    ) from exc
                wait = min(wait * 2, 30.0)
                continue
            except Rejected as exc:
                raise EngineError(str(exc)) from exc
            self._router.health.accepted(channel)
            self._accept(relay, upstream_id)
            log.info("task %s reconciled with %s as %s", relay.task_id, channel.name, upstream_id)
            return upstream_id

    def _accept(self, relay: Relay, upstream_id: str) -> None:
        relay.state = RelayState.ACCEPTED
        relay.upstream_task_id = upstream_id
        self._save(relay)

    # -- follow ---------------------------------------------------------------------------

    def _follow(
        self,
        channel: Channel,
        upstream: Upstream,
        upstream_id: str,
        progress: ProgressCallback,
        task_id: str,
    ) -> UpstreamTask:
        """Waits for the channel's poller to see the upstream task end; its progress
        becomes the task's."""
        deadline = time.monotonic() + channel.task_timeout_s
        missing = 0
        checked = time.monotonic()
        with self._poller(channel, upstream).watch(upstream_id) as watch:
            while True:
                if self._stopping.is_set():
                    raise TaskAbandoned("this process is stopping; the task resumes elsewhere")
                if time.monotonic() - checked > STILL_RUNNING_CHECK_S:
                    self._check_running(task_id)
                    checked = time.monotonic()
                got = watch.take(self._poll_s * 2)
                if time.monotonic() > deadline:
                    raise EngineError("the upstream did not finish in time")
                if got is None:
                    continue
                kind, found = got
                if kind == "failed":
                    continue  # no news: the task may still be running there
                if found is None:
                    missing += 1
                    if missing >= LOST_AFTER:
                        raise EngineError("the upstream lost the task")
                    continue
                missing = 0
                if found.status == "SUCCESS":
                    if not found.clips:
                        raise EngineError("the upstream finished with no clips")
                    return found
                if found.status == "FAILURE":
                    raise EngineError(f"the upstream failed: {found.fail_reason or 'no reason'}")
                progress(RENDER_SHARE * found.progress / 100, "upstream")

    def _mirror(
        self,
        channel: Channel,
        clips: list[UpstreamClip],
        clip_ids: list[str],
        workdir: Path,
        progress: ProgressCallback,
    ) -> list[dict[str, Any]]:
        """Downloads each clip's audio (and covers, where given) into the work directory."""
        results = []
        for index, clip in enumerate(clips):
            if not clip.audio_url:
                raise EngineError("an upstream clip has no audio")
            ours = clip_ids[index] if index < len(clip_ids) else f"extra-{index}"
            folder = workdir / f"clip-{index}"
            folder.mkdir(parents=True, exist_ok=True)
            files = {"song.mp3": self._download(channel, clip.audio_url, folder / "song.mp3")}
            for name, url in (
                ("cover.png", clip.image_url),
                ("cover_large.png", clip.image_large_url),
            ):
                if url:
                    files[name] = self._download(channel, url, folder / name)
            meta: dict[str, Any] = {"title": clip.title, "tags": clip.tags, "lyrics": clip.lyrics}
            if clip.duration is not None:
                meta["duration"] = clip.duration
            results.append({"id": ours, "files": files, "meta": meta})
            progress(RENDER_SHARE + (1 - RENDER_SHARE) * (index + 1) / len(clips), "mirror")
        return results

    def _download(self, channel: Channel, url: str, dest: Path) -> Path:
        own_host = urlsplit(url).hostname == urlsplit(channel.base_url).hostname
        fetched = fetch_to_file(
            url,
            dest,
            max_bytes=self._media.max_bytes,
            timeout_s=self._media.timeout_s,
            allow_private=self._media.allow_private or own_host,
            field="upstream media",
        )
        return fetched.path

    # -- helpers --------------------------------------------------------------------------

    def _channel(self, channel_id: str) -> Channel:
        channel = self._router.get(channel_id)
        if channel is None:
            raise EngineError("the channel that holds this task was removed")
        return channel

    def _open(self, channel: Channel) -> Upstream:
        """The channel's shared client (made on first use)."""
        with self._clients_lock:
            found = self._clients.get((channel.id, channel.credential))
            if found is not None:
                return found
            try:
                key = self._box.open(channel.credential)
            except ValueError as exc:
                raise EngineError(f"channel {channel.name}: {exc}") from exc
            client = self._clients[(channel.id, channel.credential)] = self._upstreams(channel, key)
            return client

    def _poller(self, channel: Channel, upstream: Upstream) -> ChannelPoller:
        """The poller of the channel's client (one thread per channel)."""
        with self._clients_lock:
            found = self._pollers.get((channel.id, channel.credential))
            if found is None:
                found = self._pollers[(channel.id, channel.credential)] = ChannelPoller(
                    upstream, poll_s=self._poll_s, name=channel.name
                )
            return found

    def _check_running(self, task_id: str) -> None:
        """Stops following a task finished here meanwhile (failed at its deadline)."""
        with self._uow(read_only=True) as u:
            task = u.tasks.get(task_id)
        if task is None or task.status.finished:
            raise TaskCancelled(task_id)

    def _save(self, relay: Relay) -> None:
        relay.updated_at = utcnow()
        with self._uow() as u:
            u.relays.save(relay)
            u.commit()

    def _wait(self, seconds: float) -> None:
        if self._stopping.wait(seconds):
            raise TaskAbandoned("this process is stopping; the task resumes elsewhere")
