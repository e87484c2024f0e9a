"""The relay engine: makes a task on an upstream channel and brings its outcome home (a
song's media, a lyrics task's lyrics, or what a follow-up of a relayed clip made there:
its stems as clips, its WAV as a stored file).

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

from cadenza.audio.probe import sniff
from cadenza.domain.actions import Action
from cadenza.domain.channels import Channel, ChannelKind, Relay, RelayState, pinned_channel
from cadenza.domain.errors import EngineError, InvalidInput, RemoteUrlRefused, UpstreamUnavailable
from cadenza.domain.lyrics import LyricsRequest
from cadenza.domain.music import MusicRequest
from cadenza.domain.stems import SET_KINDS, STEM_ORDER, split_stems
from cadenza.domain.tasks import Clip, utcnow
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
from cadenza.services.media import extend_parent
from cadenza.services.ports import (
    MediaStorage,
    ProgressCallback,
    SecretBox,
    UnitOfWorkFactory,
)
from cadenza.services.worker import TaskAbandoned, TaskCancelled

log = logging.getLogger(__name__)

#: Polls in a row that find no such task upstream before it counts as lost there.
LOST_AFTER = 3
#: How often a relay that hears no progress checks that its task still runs here (s).
STILL_RUNNING_CHECK_S = 30.0
#: Share of the progress bar the upstream's render takes; the download takes the rest.
RENDER_SHARE = 0.9
#: Edits of a relayed clip that make one clip of it upstream.
EDITS = frozenset(
    {
        Action.CONCAT.value,
        Action.CROP.value,
        Action.SPEED_ADJUST.value,
        Action.REPLACE_SECTION.value,
    }
)

UpstreamFactory = Callable[[Channel, str], Upstream]
#: One submit of a task to a channel's upstream under a key: the upstream task id.
Send = Callable[[Channel, Upstream, str], str]


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
        storage: MediaStorage | None = None,
    ) -> None:
        self._uow = uow
        #: Where files that belong to no clip (an exported WAV) are kept.
        self._storage = storage
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
        self._router.health.close()

    def start(self) -> None:
        self._stopping.clear()

    def run(
        self, action: str, params: dict[str, Any], workdir: Path, progress: ProgressCallback
    ) -> list[dict[str, Any]]:
        task_id = str(params["task_id"])
        started = time.monotonic()
        send: Send
        if action == Action.MUSIC.value:
            request = self._upstream_sources(MusicRequest.from_dict(params["request"]))
            model = request.model

            def send(channel: Channel, upstream: Upstream, submit_key: str) -> str:
                return upstream.submit_music(_as_sent(channel, request), submit_key)

        elif action == Action.LYRICS.value:
            prompt = LyricsRequest.from_dict(params["request"]).prompt
            model = ""  # lyrics name no model

            def send(channel: Channel, upstream: Upstream, submit_key: str) -> str:
                return upstream.submit_lyrics(prompt, submit_key)

        elif action == Action.UPSAMPLE.value:
            # A remaster of a relayed clip, pinned to the channel that made it.
            theirs = self._upstream_clip(str(params["source_clip_id"]))
            model = str(params.get("model_name") or "")
            variation = str(params.get("variation_category") or "normal")

            def send(channel: Channel, upstream: Upstream, submit_key: str) -> str:
                return upstream.submit_remaster(
                    theirs, channel.upstream_model(model), variation, submit_key
                )

        elif action in (Action.STEMS.value, Action.ALL_STEMS.value, Action.WAV.value):
            # A follow-up of a relayed clip, pinned to the channel that made it.
            theirs = self._upstream_clip(str(params["source_clip_id"]))
            model = ""
            split = action != Action.WAV.value
            full = action == Action.ALL_STEMS.value

            def send(channel: Channel, upstream: Upstream, submit_key: str) -> str:
                if split:
                    return upstream.submit_stems(theirs, submit_key, full=full)
                return upstream.submit_wav(theirs, submit_key)

        elif action in EDITS:
            # A concat, crop or speed change of a relayed clip, pinned to its channel.
            theirs = self._upstream_clip(str(params["source_clip_id"]))
            model = ""
            options = _edit_options(action, params)

            def send(channel: Channel, upstream: Upstream, submit_key: str) -> str:
                named = dict(options)
                if named.get("model"):  # the upstream's own name for the model
                    named["model"] = channel.upstream_model(str(named["model"]))
                return upstream.submit_edit(action, theirs, named, submit_key)

        elif action == Action.MASHUP.value:
            # Two songs of two clips the channel made, pinned to it.
            first, second = (self._upstream_clip(str(c)) for c in params["mashup_clip_ids"])
            model = ""
            options = {
                "with": second,
                "lyrics": str(params.get("lyrics") or ""),
                "description": str(params.get("description") or ""),
                "instrumental": bool(params.get("instrumental")),
                "tags": str(params.get("tags") or ""),
                "title": str(params.get("title") or ""),
                "model": str(params.get("model_name") or ""),
            }

            def send(channel: Channel, upstream: Upstream, submit_key: str) -> str:
                named = {**options, "model": channel.upstream_model(str(options["model"]))}
                return upstream.submit_edit(action, first, named, submit_key)

        else:
            raise EngineError(f"action {action} cannot be relayed")
        channel, upstream, upstream_id = self._accepted(task_id, action, model, send, params)
        # From here the task holds one of the channel's in-flight slots.
        try:
            done = self._follow(channel, upstream, upstream_id, progress, task_id)
            if action == Action.LYRICS.value:
                results = _lyrics_result(done)
            elif action == Action.WAV.value:
                results = self._mirror_wav(channel, done, task_id, workdir)
            elif action in (Action.STEMS.value, Action.ALL_STEMS.value):
                clip_ids = [str(c) for c in params.get("clip_ids") or []]
                full = action == Action.ALL_STEMS.value
                results = self._mirror_stems(
                    channel, done, params, clip_ids, workdir, progress, full=full
                )
                self._remember_clips(task_id, done.clips, results)
            else:
                if not done.clips:
                    raise EngineError("the upstream finished with no clips")
                clip_ids = [str(c) for c in params.get("clip_ids") or []]
                # A remaster or an edit here makes one clip; an upstream may make more.
                one = action == Action.UPSAMPLE.value or action in EDITS
                made = done.clips[:1] if one else done.clips
                results = self._mirror(channel, made, clip_ids, workdir, progress)
                if action == Action.CONCAT.value and made[0].concat_history:
                    chain = self._our_chain(str(params["source_clip_id"]))
                    results[0]["meta"]["concat_history"] = [
                        {**e, "id": chain.get(str(e.get("id")), e.get("id"))}
                        for e in made[0].concat_history
                    ]
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
        self, task_id: str, action: str, model: str, send: Send, params: dict[str, Any]
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
                return channel, upstream, self._reconcile(channel, upstream, relay, send)
            except BaseException:
                health.release(channel)
                raise
        refused = list(relay.refused_by) if relay is not None else []
        pinned = pinned_channel(str(params.get("route") or "")) or None
        while True:
            order = self._order(action, model, pinned, refused)
            if not order:
                if not self._order(action, model, pinned, refused, room=False):
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
                    accepted = self._submit(task_id, channel, send, refused)
                except BaseException:
                    health.release(channel)
                    raise
                if accepted is None:
                    health.release(channel)
                    continue
                return channel, accepted[0], accepted[1]

    def _submit(
        self, task_id: str, channel: Channel, send: Send, refused: list[str]
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
            upstream_id = send(channel, upstream, relay.submit_key)
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
            return upstream, self._reconcile(channel, upstream, relay, send)
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

    def _our_chain(self, tail: str) -> dict[str, str]:
        """Our id of each upstream clip of the extend chain ending at our clip ``tail``
        (the upstream's concat history names its own clips)."""
        ours: dict[str, str] = {}
        current: str | None = tail
        with self._uow(read_only=True) as u:
            while current and current not in ours.values():
                clip = u.clips.get(current)
                relay = u.relays.get(clip.task_id) if clip is not None else None
                if clip is None or relay is None:
                    break
                if relay.clips.get(clip.id):
                    ours[relay.clips[clip.id]] = clip.id
                parent = extend_parent(u, clip)
                current = parent[0] if parent else None
        return ours

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

    def _reconcile(self, channel: Channel, upstream: Upstream, relay: Relay, send: Send) -> str:
        """The upstream's answer to the same submit under the same Idempotency-Key: the
        task it made, or (if the first never arrived) the one it makes now; asked until
        the channel's task timeout, never sent to another channel."""
        deadline = time.monotonic() + channel.task_timeout_s
        wait = self._poll_s
        while True:
            self._wait(wait)
            self._check_running(relay.task_id)
            try:
                upstream_id = send(channel, upstream, relay.submit_key)
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

    def _mirror_stems(
        self,
        channel: Channel,
        done: UpstreamTask,
        params: dict[str, Any],
        clip_ids: list[str],
        workdir: Path,
        progress: ProgressCallback,
        *,
        full: bool = False,
    ) -> list[dict[str, Any]]:
        """Each stem's audio, with the metadata a split made here gives it: the stem
        clips keep the titles, words and cover their task gave them at the submit. A full
        split is two sets of Suno's twelve stems, in its order."""
        names = split_stems(full)
        if len(done.clips) < len(clip_ids):
            raise EngineError(f"the upstream made {len(done.clips)} stems, not {len(clip_ids)}")
        results = []
        for index, (clip, ours) in enumerate(zip(done.clips, clip_ids, strict=False)):
            if not clip.audio_url:
                raise EngineError("an upstream stem has no audio")
            folder = workdir / f"stem-{index}"
            folder.mkdir(parents=True, exist_ok=True)
            song = self._download(channel, clip.audio_url, folder / "song.mp3")
            meta: dict[str, Any] = {
                "type": "stem",
                "stem_from_id": params.get("source_clip_id"),
                "stem": names[index],
            }
            if full:
                number = index // len(STEM_ORDER)
                meta.update(stem_set=number + 1, stem_set_kind=SET_KINDS[number])
            if clip.duration is not None:
                meta["duration"] = clip.duration
            results.append({"id": ours, "files": {"song.mp3": song}, "meta": meta})
            progress(RENDER_SHARE + (1 - RENDER_SHARE) * (index + 1) / len(clip_ids), "mirror")
        return results

    def _mirror_wav(
        self, channel: Channel, done: UpstreamTask, task_id: str, workdir: Path
    ) -> list[dict[str, Any]]:
        """The exported WAV, stored here: the task's result names it by its storage key,
        as an export made here does."""
        if not done.files:
            raise EngineError("the upstream finished with no WAV file")
        if self._storage is None:
            raise EngineError("this server keeps no relayed files")
        path = self._download(channel, done.files[0], workdir / "song.wav")
        with path.open("rb") as handle:
            if sniff(handle.read(64)) != "wav":
                raise EngineError("the upstream's WAV file is not a WAV")
        storage_key = f"relayed/{task_id}/song.wav"
        self._storage.put_file(storage_key, path, "audio/wav")
        return [{"result": {"files": [storage_key]}}]

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

    def sung_words(self, clip: Clip) -> list[dict[str, Any]] | None:
        """The words the channel that made ``clip`` sang in it, with their times (asked
        of that channel each time: nothing here knows them); None where the clip was not
        made upstream. ``UpstreamUnavailable`` where the channel cannot answer now,
        ``InvalidInput`` where it refused."""
        with self._uow(read_only=True) as u:
            relay = u.relays.get(clip.task_id)
        theirs = relay.clips.get(clip.id) if relay is not None else None
        if relay is None or not theirs:
            return None
        self._router.check_open(relay.channel_id)
        try:
            words = self._open(self._channel(relay.channel_id)).aligned_words(theirs)
        except Refused as exc:
            raise UpstreamUnavailable(f"the channel that made the clip: {exc}") from exc
        except Rejected as exc:
            raise InvalidInput(f"the channel that made the clip: {exc}") from exc
        except EngineError as exc:  # its credential no longer opens
            raise UpstreamUnavailable(str(exc)) from exc
        return [
            {
                "word": w.word,
                "start_s": w.start_s,
                "end_s": w.end_s,
                "p_align": w.p_align,
                "line": 0,
                "section": "",
            }
            for w in words
        ]

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


def _edit_options(action: str, params: dict[str, Any]) -> dict[str, Any]:
    """What the upstream needs of an edit's parameters, in the Upstream's words."""
    if action == Action.CROP.value:
        return {
            "start_s": float(params["crop_start_s"]),
            "end_s": float(params["crop_end_s"]),
            "remove": bool(params.get("is_crop_remove")),
        }
    if action == Action.SPEED_ADJUST.value:
        return {
            "multiplier": float(params["speed_multiplier"]),
            "keep_pitch": bool(params.get("keep_pitch", True)),
            "title": str(params.get("title") or ""),
        }
    if action == Action.REPLACE_SECTION.value:
        return {
            "start_s": float(params["start_s"]),
            "end_s": float(params["end_s"]),
            "lyrics": str(params.get("lyrics") or ""),
            "infill_lyrics": str(params.get("infill_lyrics") or ""),
            "tags": str(params.get("tags") or ""),
            "title": str(params.get("title") or ""),
            "model": str(params.get("model_name") or ""),
        }
    return {"is_infill": bool(params.get("is_infill"))}


def _lyrics_result(done: UpstreamTask) -> list[dict[str, Any]]:
    """The result a lyrics task written here has, so every dialect answers it alike."""
    if done.lyrics is None:
        raise EngineError("the upstream finished with no lyrics")
    return [{"result": {"title": done.lyrics.title, "text": done.lyrics.text}}]


def _as_sent(channel: Channel, request: MusicRequest) -> MusicRequest:
    """The request under the model name the channel's upstream knows."""
    model = channel.upstream_model(request.model)
    return request if model == request.model else dataclasses.replace(request, model=model)
