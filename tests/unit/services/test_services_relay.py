"""Relaying music to upstream channels, against real HTTP upstreams that misbehave:
failover only while no upstream can have made the task, reconciliation (never a second
submit) after an answer is lost, and exactly one charge and at most one refund."""

from __future__ import annotations

import random
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fault_upstream import AUDIO, WAV, Behaviour, FaultUpstream, sung_words
from svc_doubles import MemoryStorage, RecordingQueue

from cadenza.channel_health.memory import MemoryChannelHealth
from cadenza.domain.billing import ApiKey, EntryType
from cadenza.domain.channels import RELAY_ROUTE, Channel, Relay
from cadenza.domain.errors import IdempotencyConflict, InvalidInput, UpstreamUnavailable
from cadenza.domain.music import build_music_request
from cadenza.domain.stems import split_stems, stem_title
from cadenza.domain.tasks import ClipStatus, TaskStatus
from cadenza.engines import relay as relay_engine
from cadenza.engines.registry import EngineRegistry
from cadenza.engines.relay import MediaPolicy, RelayEngine
from cadenza.secretbox import FernetBox
from cadenza.services import channels as channel_service
from cadenza.services import tasks
from cadenza.services.channels import NO_WORKER, ChannelRouter
from cadenza.services.commands import (
    Commands,
    Concat,
    MakeMusic,
    Origin,
    Remaster,
    Submission,
    WriteLyrics,
)
from cadenza.services.commands_creative import Mashup, ReplaceSection
from cadenza.services.commands_edits import Crop, SpeedAdjust
from cadenza.services.commands_media import AlignWords, ExportWav, NothingSung, RenderVideo
from cadenza.services.commands_stems import SplitStems
from cadenza.services.ports import UnitOfWorkFactory
from cadenza.services.tasks import settle_failure
from cadenza.services.worker import TaskRunner

BOX = FernetBox("test-channel-secret")


@pytest.fixture
def upstreams() -> Iterator[Callable[..., FaultUpstream]]:
    started: list[FaultUpstream] = []

    def make(**behaviour: Any) -> FaultUpstream:
        upstream = FaultUpstream(Behaviour(**behaviour)).start()
        started.append(upstream)
        return upstream

    yield make
    for upstream in started:
        upstream.stop()


class Gateway:
    """The services of a relaying server over one database, with real HTTP upstreams."""

    def __init__(self, uow: UnitOfWorkFactory, storage: MemoryStorage, work: Path) -> None:
        self.uow = uow
        self.storage = storage
        self.queue = RecordingQueue()
        self.router = ChannelRouter(uow, MemoryChannelHealth(), rng=random.Random(7), cache_s=0)
        self.engine = RelayEngine(
            uow, self.router, BOX, poll_s=0.05, media=MediaPolicy(), storage=storage
        )
        self.runner = TaskRunner(
            uow, storage, EngineRegistry(), work_root=work, relay=self.engine, heartbeat_s=30
        )
        self.commands = Commands(
            uow,
            self.queue,
            self.queue,
            storage,
            deadline_s=600,
            channels=self.router,
            relayed=self.engine,
        )

    def add(
        self,
        name: str,
        base: str,
        key: str = "sk_upstream",
        kind: str = "sunocore",
        **extra: Any,
    ) -> Channel:
        fields: dict[str, Any] = {"submit_timeout_s": 0.5, "task_timeout_s": 20.0, **extra}
        return channel_service.add_channel(
            self.uow, BOX, name=name, kind=kind, base_url=base, key=key, **fields
        )

    def submit(self, key: ApiKey, **params: Any) -> str:
        request = build_music_request(
            {"title": "Relayed", "tags": "lofi", "make_instrumental": True, **params}
        )
        task = self.commands.submit(key, MakeMusic(request), Submission(Origin("sunocore")))
        return task.id

    def submit_lyrics(self, key: ApiKey, prompt: str = "a song about the sea") -> str:
        command = WriteLyrics(prompt)
        return self.commands.submit(key, command, Submission(Origin("sunocore"))).id

    def follow_up(self, key: ApiKey, action: str, clip_id: str) -> str:
        """A follow-up task of ``clip_id`` (STEMS, ALL_STEMS, WAV, UPSAMPLE, CONCAT, CROP
        or SPEED_ADJUST), asked as a client asks it."""
        command: Any = {
            "STEMS": SplitStems(clip_id),
            "ALL_STEMS": SplitStems(clip_id, full=True),
            "UPSAMPLE": Remaster(clip_id),
            "CONCAT": Concat(clip_id),
            "CROP": Crop(clip_id, 1.0, 5.0),
            "SPEED_ADJUST": SpeedAdjust(clip_id, 1.25),
            "REPLACE_SECTION": ReplaceSection(clip_id, 2.0, 6.0, infill_lyrics="new words here"),
        }.get(action, ExportWav(clip_id))
        return self.commands.submit(key, command, Submission(Origin("acedata"))).id

    def run(self, task_id: str) -> None:
        self.runner.run(task_id)

    def ledger(self, key: ApiKey) -> list[EntryType]:
        with self.uow(read_only=True) as u:
            return [e.entry_type for e in u.ledger.list_for_key(key.id, 100)]


@pytest.fixture
def gateway(uow: UnitOfWorkFactory, storage: MemoryStorage, tmp_path: Path) -> Iterator[Gateway]:
    made = Gateway(uow, storage, tmp_path / "work")
    yield made
    made.engine.close()


def _closed_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def _charges(entries: list[EntryType]) -> tuple[int, int]:
    return entries.count(EntryType.CONSUME), entries.count(EntryType.REFUND)


def _task(uow: UnitOfWorkFactory, task_id: str) -> Any:
    with uow(read_only=True) as u:
        task = u.tasks.get(task_id)
        clips = u.clips.list_for_tasks([task_id])
        relay = u.relays.get(task_id)
    return task, clips, relay


def _made_upstream(
    gateway: Gateway, maker: FaultUpstream, task_id: str, channel: Any
) -> tuple[Any, Any, Any, Any]:
    """Run a follow-up queued for ``channel``'s relay lane to SUCCESS: the task, its clips,
    its relay record and the upstream's own task it made."""
    assert gateway.queue.enqueued[-1] == (task_id, f"{RELAY_ROUTE}:{channel.id}")
    gateway.run(task_id)
    task, clips, relay = _task(gateway.uow, task_id)
    assert task.status is TaskStatus.SUCCESS, task.fail_reason
    assert relay.channel_id == channel.id
    return task, clips, relay, maker.tasks[relay.upstream_task_id]


def test_a_relayed_song_is_mirrored_into_local_storage_and_charged_once(
    gateway: Gateway, upstreams: Callable[..., FaultUpstream], make_key: Callable[..., ApiKey]
) -> None:
    up = upstreams(polls_to_finish=4)
    channel = gateway.add("node-a", up.base, models=["chirp-v4"])
    key = make_key()
    task_id = gateway.submit(key, mv="chirp-v4")
    assert gateway.queue.enqueued == [(task_id, RELAY_ROUTE)]

    gateway.run(task_id)

    task, clips, relay = _task(gateway.uow, task_id)
    assert task.status is TaskStatus.SUCCESS, task.fail_reason
    assert relay.channel_id == channel.id and relay.upstream_task_id in up.tasks
    assert len(up.tasks) == 1 and up.polls >= 4
    assert [c.status for c in clips] == [ClipStatus.COMPLETE] * 2
    for clip in clips:
        # Our own storage, under our own clip ids: answers carry this server's URLs.
        assert clip.audio_key and clip.audio_key.startswith(f"clips/{clip.id}-")
        assert gateway.storage.get_bytes(clip.audio_key) == AUDIO
        assert clip.image_key and clip.duration == 12.5
    assert _charges(gateway.ledger(key)) == (1, 0)


def test_a_channel_sends_our_model_under_the_name_its_upstream_knows(
    gateway: Gateway, upstreams: Callable[..., FaultUpstream], make_key: Callable[..., ApiKey]
) -> None:
    sunocore, acedata = upstreams(), upstreams()
    gateway.add("suno-like", sunocore.base, models=["chirp-v4=chirp-v3-5"])
    gateway.add("ace-like", acedata.base, kind="acedata", models=["chirp-v5=chirp-v4-5"])
    for model in ("chirp-v4", "chirp-v5"):
        task_id = gateway.submit(make_key(), mv=model)
        gateway.run(task_id)
        task, _, _ = _task(gateway.uow, task_id)
        assert task.status is TaskStatus.SUCCESS, task.fail_reason
    [sent] = [t.body for t in sunocore.tasks.values()]
    [sent_ace] = [t.body for t in acedata.tasks.values()]
    assert sent["mv"] == "chirp-v3-5" and sent_ace["model"] == "chirp-v4-5"


def test_a_model_no_channel_serves_is_made_here(
    gateway: Gateway, upstreams: Callable[..., FaultUpstream], make_key: Callable[..., ApiKey]
) -> None:
    gateway.add("node-a", upstreams().base, models=["chirp-v5"])
    task_id = gateway.submit(make_key(), mv="chirp-v4")
    assert gateway.queue.enqueued == [(task_id, None)]


@pytest.mark.parametrize("status", [500, 503, 429, 402])
def test_a_refusal_before_any_task_id_fails_over(
    status: int,
    gateway: Gateway,
    upstreams: Callable[..., FaultUpstream],
    make_key: Callable[..., ApiKey],
) -> None:
    bad, good = upstreams(submit_status=status), upstreams()
    gateway.add("first", bad.base, priority=0)
    second = gateway.add("second", good.base, priority=1)
    key = make_key()
    task_id = gateway.submit(key)
    gateway.run(task_id)

    task, _, relay = _task(gateway.uow, task_id)
    assert task.status is TaskStatus.SUCCESS, task.fail_reason
    assert bad.submits == 1 and not bad.tasks
    assert relay.channel_id == second.id and len(good.tasks) == 1
    assert _charges(gateway.ledger(key)) == (1, 0)


def test_a_refused_connection_fails_over(
    gateway: Gateway, upstreams: Callable[..., FaultUpstream], make_key: Callable[..., ApiKey]
) -> None:
    good = upstreams()
    gateway.add("down", _closed_port(), priority=0)
    gateway.add("up", good.base, priority=1)
    key = make_key()
    task_id = gateway.submit(key)
    gateway.run(task_id)
    assert _task(gateway.uow, task_id)[0].status is TaskStatus.SUCCESS
    assert len(good.tasks) == 1
    assert _charges(gateway.ledger(key)) == (1, 0)


@pytest.mark.parametrize("fault", ["hang_after_accept_s", "garbage_after_accept"])
def test_an_answer_lost_after_acceptance_is_reconciled_never_resubmitted_elsewhere(
    fault: str,
    gateway: Gateway,
    upstreams: Callable[..., FaultUpstream],
    make_key: Callable[..., ApiKey],
) -> None:
    value: float | bool = 2.0 if fault == "hang_after_accept_s" else True
    flaky, spare = upstreams(**{fault: value}), upstreams()
    channel = gateway.add("flaky", flaky.base, priority=0)
    gateway.add("spare", spare.base, priority=1)
    key = make_key()
    task_id = gateway.submit(key)
    gateway.run(task_id)

    task, clips, relay = _task(gateway.uow, task_id)
    assert task.status is TaskStatus.SUCCESS, task.fail_reason
    # Asked again under the same Idempotency-Key: the first task, not a second one.
    assert flaky.submits >= 2 and len(flaky.tasks) == 1
    assert relay.channel_id == channel.id and relay.upstream_task_id in flaky.tasks
    assert spare.submits == 0
    assert all(c.status is ClipStatus.COMPLETE for c in clips)
    assert _charges(gateway.ledger(key)) == (1, 0)


def test_a_task_the_upstream_loses_fails_and_is_refunded_once(
    gateway: Gateway, upstreams: Callable[..., FaultUpstream], make_key: Callable[..., ApiKey]
) -> None:
    up, spare = upstreams(lose_tasks=True), upstreams()
    gateway.add("loser", up.base, priority=0)
    gateway.add("spare", spare.base, priority=1)
    key = make_key()
    task_id = gateway.submit(key)
    gateway.run(task_id)
    gateway.run(task_id)  # a redelivery changes nothing

    task, clips, _ = _task(gateway.uow, task_id)
    assert task.status is TaskStatus.FAILURE and "lost" in task.fail_reason
    assert len(up.tasks) == 1 and spare.submits == 0
    assert all(c.status is ClipStatus.ERROR for c in clips)
    assert _charges(gateway.ledger(key)) == (1, 1)


def test_an_upstream_failure_fails_the_task_with_its_reason_and_one_refund(
    gateway: Gateway, upstreams: Callable[..., FaultUpstream], make_key: Callable[..., ApiKey]
) -> None:
    up = upstreams(fail_reason="the upstream's render crashed")
    gateway.add("failing", up.base)
    key = make_key()
    task_id = gateway.submit(key)
    gateway.run(task_id)
    task = _task(gateway.uow, task_id)[0]
    assert task.status is TaskStatus.FAILURE and "render crashed" in task.fail_reason
    assert _charges(gateway.ledger(key)) == (1, 1)


def test_when_every_channel_refuses_the_task_fails_with_one_refund(
    gateway: Gateway, upstreams: Callable[..., FaultUpstream], make_key: Callable[..., ApiKey]
) -> None:
    gateway.add("a", upstreams(submit_status=500).base)
    gateway.add("b", _closed_port())
    key = make_key()
    task_id = gateway.submit(key)
    gateway.run(task_id)
    task = _task(gateway.uow, task_id)[0]
    assert task.status is TaskStatus.FAILURE and NO_WORKER in task.fail_reason
    assert _charges(gateway.ledger(key)) == (1, 1)


def test_open_circuits_refuse_the_submit_before_any_charge(
    gateway: Gateway, upstreams: Callable[..., FaultUpstream], make_key: Callable[..., ApiKey]
) -> None:
    gateway.add("only", upstreams(submit_status=503).base, cooldown_s=300)
    key = make_key()
    for _ in range(3):  # three refusals in a row open the circuit
        gateway.run(gateway.submit(key))
    assert _charges(gateway.ledger(key)) == (3, 3)
    with pytest.raises(UpstreamUnavailable, match=NO_WORKER):
        gateway.submit(key)
    assert _charges(gateway.ledger(key)) == (3, 3)
    stats = gateway.router.health.snapshot(gateway.router.channels())
    assert [(s.state, s.refused) for s in stats] == [("open", 3)]


def test_a_resumed_relay_polls_the_task_it_made_and_submits_nothing(
    gateway: Gateway, upstreams: Callable[..., FaultUpstream], make_key: Callable[..., ApiKey]
) -> None:
    up = upstreams(polls_to_finish=2)
    gateway.add("node", up.base)
    key = make_key()
    task_id = gateway.submit(key)
    gateway.run(task_id)
    assert up.submits == 1

    # A second worker handed the same task (a redelivery after the first finished it):
    again = Gateway(gateway.uow, gateway.storage, gateway.runner._work_root)
    again.run(task_id)
    again.engine.close()
    assert up.submits == 1 and len(up.tasks) == 1
    assert _charges(gateway.ledger(key)) == (1, 0)


def test_a_relay_interrupted_mid_submit_is_reconciled_on_the_same_channel(
    gateway: Gateway, upstreams: Callable[..., FaultUpstream], make_key: Callable[..., ApiKey]
) -> None:
    first, other = upstreams(), upstreams()
    channel = gateway.add("first", first.base, priority=0)
    gateway.add("other", other.base, priority=1)
    key = make_key()
    task_id = gateway.submit(key)
    # A worker recorded the submit to "first" and died before hearing back.
    with gateway.uow() as u:
        u.relays.save(
            Relay(task_id=task_id, channel_id=channel.id, submit_key=f"cadenza-{task_id}")
        )
        u.commit()
    gateway.run(task_id)
    task, _, relay = _task(gateway.uow, task_id)
    assert task.status is TaskStatus.SUCCESS
    assert relay.channel_id == channel.id and len(first.tasks) == 1 and other.submits == 0
    assert _charges(gateway.ledger(key)) == (1, 0)


def test_credentials_are_sealed_at_rest(
    gateway: Gateway, upstreams: Callable[..., FaultUpstream]
) -> None:
    gateway.add("sealed", upstreams().base, key="sk_very_secret")
    with gateway.uow(read_only=True) as u:
        stored = u.channels.find("sealed")
    assert stored is not None and "sk_very_secret" not in stored.credential
    assert BOX.open(stored.credential) == "sk_very_secret"
    with pytest.raises(ValueError):
        FernetBox("another secret").open(stored.credential)


def test_a_wrong_upstream_key_fails_over_like_a_refusal(
    gateway: Gateway, upstreams: Callable[..., FaultUpstream], make_key: Callable[..., ApiKey]
) -> None:
    a, b = upstreams(), upstreams()
    gateway.add("wrong-key", a.base, key="sk_wrong", priority=0)
    gateway.add("right-key", b.base, priority=1)
    key = make_key()
    task_id = gateway.submit(key)
    gateway.run(task_id)
    assert _task(gateway.uow, task_id)[0].status is TaskStatus.SUCCESS
    assert not a.tasks and len(b.tasks) == 1


@pytest.mark.parametrize(
    ("behaviour", "outcome", "charges"),
    [
        ({}, TaskStatus.SUCCESS, (1, 0)),
        ({"fail_reason": "upstream broke"}, TaskStatus.FAILURE, (1, 1)),
        ({"lose_tasks": True}, TaskStatus.FAILURE, (1, 1)),
        ({"hang_after_accept_s": 2.0}, TaskStatus.SUCCESS, (1, 0)),
    ],
)
def test_an_acedata_upstream_is_spoken_to_in_its_own_dialect(
    behaviour: dict[str, Any],
    outcome: TaskStatus,
    charges: tuple[int, int],
    gateway: Gateway,
    upstreams: Callable[..., FaultUpstream],
    make_key: Callable[..., ApiKey],
) -> None:
    up = upstreams(polls_to_finish=3, **behaviour)
    gateway.add("acedata", up.base, kind="acedata")
    key = make_key()
    task_id = gateway.submit(key, prompt="[Verse]\ntwo lines\nof song", make_instrumental=False)
    gateway.run(task_id)
    task, clips, _ = _task(gateway.uow, task_id)
    assert task.status is outcome, task.fail_reason
    assert len(up.tasks) == 1
    sent = next(iter(up.tasks.values())).body
    assert sent["async"] is True and sent["custom"] is True and "two lines" in sent["lyric"]
    if outcome is TaskStatus.SUCCESS:
        assert all(gateway.storage.get_bytes(c.audio_key or "") == AUDIO for c in clips)
    else:
        assert "upstream" in task.fail_reason
    assert _charges(gateway.ledger(key)) == charges


def test_an_extend_of_a_relayed_clip_goes_to_the_channel_that_made_it(
    gateway: Gateway, upstreams: Callable[..., FaultUpstream], make_key: Callable[..., ApiKey]
) -> None:
    maker, preferred = upstreams(), upstreams()
    gateway.add("maker", maker.base, priority=1)
    key = make_key()
    first = gateway.submit(key)
    gateway.run(first)
    _, clips, relay = _task(gateway.uow, first)
    source = clips[0]
    gateway.add("preferred", preferred.base, priority=0)  # now first choice for new songs

    follow_up = gateway.submit(key, task="extend", continue_clip_id=source.id, continue_at=4)
    gateway.run(follow_up)

    task, _, relay_2 = _task(gateway.uow, follow_up)
    assert task.status is TaskStatus.SUCCESS, task.fail_reason
    assert relay_2.channel_id == relay.channel_id and preferred.submits == 0
    sent = maker.tasks[relay_2.upstream_task_id].body
    # The upstream is asked to extend its own clip, by its own id.
    assert sent["task"] == "extend" and sent["continue_at"] == 4
    assert sent["continue_clip_id"] == relay.clips[source.id] != source.id
    assert _charges(gateway.ledger(key)) == (2, 0)


def test_an_extend_never_fails_over_to_a_channel_that_lacks_the_clip(
    gateway: Gateway, upstreams: Callable[..., FaultUpstream], make_key: Callable[..., ApiKey]
) -> None:
    maker, other = upstreams(), upstreams()
    gateway.add("maker", maker.base)
    key = make_key()
    first = gateway.submit(key)
    gateway.run(first)
    source = _task(gateway.uow, first)[1][0]
    gateway.add("other", other.base)
    maker.behaviour.submit_status = 503

    follow_up = gateway.submit(key, task="cover", cover_clip_id=source.id)
    gateway.run(follow_up)
    task = _task(gateway.uow, follow_up)[0]
    assert task.status is TaskStatus.FAILURE and other.submits == 0
    assert _charges(gateway.ledger(key)) == (2, 1)

    # Its circuit open, the next edit of that clip is refused before any charge.
    for _ in range(2):
        gateway.run(gateway.submit(key, task="cover", cover_clip_id=source.id))
    with pytest.raises(UpstreamUnavailable):
        gateway.submit(key, task="cover", cover_clip_id=source.id)
    assert _charges(gateway.ledger(key)) == (4, 3)
    assert other.submits == 0


def test_a_stopping_server_leaves_its_relays_to_be_resumed_without_a_refund(
    gateway: Gateway, upstreams: Callable[..., FaultUpstream], make_key: Callable[..., ApiKey]
) -> None:
    up = upstreams(polls_to_finish=10**6)
    gateway.add("node", up.base)
    key = make_key()
    task_id = gateway.submit(key)
    running = threading.Thread(target=gateway.run, args=(task_id,))
    running.start()
    deadline = time.monotonic() + 30
    while up.polls < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    gateway.engine.stop()
    running.join(timeout=30)
    assert not running.is_alive()
    task = _task(gateway.uow, task_id)[0]
    assert task.status is TaskStatus.IN_PROGRESS  # left as it was, for the next server
    assert _charges(gateway.ledger(key)) == (1, 0)

    up.behaviour.polls_to_finish = 0
    successor = Gateway(gateway.uow, gateway.storage, gateway.runner._work_root)
    successor.run(task_id)
    successor.engine.close()
    assert _task(gateway.uow, task_id)[0].status is TaskStatus.SUCCESS
    assert up.submits == 1 and len(up.tasks) == 1
    assert _charges(gateway.ledger(key)) == (1, 0)


def test_garbage_and_failed_polls_are_no_news_and_the_task_still_completes(
    gateway: Gateway, upstreams: Callable[..., FaultUpstream], make_key: Callable[..., ApiKey]
) -> None:
    up = upstreams(garbage_polls=4)
    gateway.add("noisy", up.base)
    key = make_key()
    task_id = gateway.submit(key)
    gateway.run(task_id)
    assert _task(gateway.uow, task_id)[0].status is TaskStatus.SUCCESS
    assert up.polls > 4 and len(up.tasks) == 1
    assert _charges(gateway.ledger(key)) == (1, 0)


def test_a_task_failed_here_at_its_deadline_stops_its_relay_with_one_refund(
    gateway: Gateway,
    upstreams: Callable[..., FaultUpstream],
    make_key: Callable[..., ApiKey],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(relay_engine, "STILL_RUNNING_CHECK_S", 0.1)
    up = upstreams(polls_to_finish=10**6)  # a stuck upstream
    gateway.add("stuck", up.base)
    key = make_key()
    task_id = gateway.submit(key)
    running = threading.Thread(target=gateway.run, args=(task_id,))
    running.start()
    deadline = time.monotonic() + 30
    while up.polls < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert settle_failure(gateway.uow, task_id, "timed out")  # what the reaper does
    running.join(timeout=10)  # well before the channel's own 20 s task timeout
    assert not running.is_alive()
    task = _task(gateway.uow, task_id)[0]
    assert task.status is TaskStatus.FAILURE and task.fail_reason == "timed out"
    assert _charges(gateway.ledger(key)) == (1, 1)


def test_a_channels_cap_holds_under_a_burst_and_the_others_wait_their_turn(
    gateway: Gateway, upstreams: Callable[..., FaultUpstream], make_key: Callable[..., ApiKey]
) -> None:
    up = upstreams(polls_to_finish=3)
    gateway.add("one-at-a-time", up.base, max_in_flight=1)
    key = make_key(concurrency_limit=10)
    ids = [gateway.submit(key) for _ in range(4)]
    burst = [threading.Thread(target=gateway.run, args=(task_id,)) for task_id in ids]
    for thread in burst:
        thread.start()
    for thread in burst:
        thread.join(timeout=60)
    assert all(_task(gateway.uow, t)[0].status is TaskStatus.SUCCESS for t in ids)
    assert len(up.tasks) == 4 and up.max_open == 0  # never two there at once
    assert _charges(gateway.ledger(key)) == (4, 0)


# -- lyrics ---------------------------------------------------------------------------

LYRICS = ["MUSIC", "LYRICS"]


@pytest.mark.parametrize("kind", ["sunocore", "acedata"])
def test_relayed_lyrics_are_the_upstreams_as_a_local_lyrics_task_holds_them(
    kind: str,
    gateway: Gateway,
    upstreams: Callable[..., FaultUpstream],
    make_key: Callable[..., ApiKey],
) -> None:
    up = upstreams(polls_to_finish=2)
    # Lyrics name no model: the channel's models do not narrow them.
    channel = gateway.add("writer", up.base, kind=kind, models=["chirp-v5"], actions=LYRICS)
    key = make_key()
    task_id = gateway.submit_lyrics(key, "rain over the harbour")
    # Not written inline: queued for the relay lane, as a relayed song is.
    assert gateway.queue.enqueued == [(task_id, RELAY_ROUTE)]

    gateway.run(task_id)

    task, clips, relay = _task(gateway.uow, task_id)
    assert task.status is TaskStatus.SUCCESS, task.fail_reason
    [made] = up.tasks.values()
    assert made.lyrics and made.body == {"prompt": "rain over the harbour"}
    assert task.result == {"title": made.title, "text": made.text}
    assert clips == [] and relay.channel_id == channel.id and relay.upstream_task_id == made.id
    assert _charges(gateway.ledger(key)) == (1, 0)
    stats = gateway.router.health.snapshot(gateway.router.channels())
    assert [(s.accepted, s.succeeded, s.in_flight) for s in stats] == [(1, 1, 0)]


def test_lyrics_stay_local_where_no_healthy_channel_takes_them(
    gateway: Gateway, upstreams: Callable[..., FaultUpstream], make_key: Callable[..., ApiKey]
) -> None:
    key = make_key()
    gateway.add("songs-only", upstreams().base)  # MUSIC alone, by default
    first = gateway.submit_lyrics(key)
    assert gateway.queue.enqueued == [(first, None)]

    gateway.add("writer", upstreams(submit_status=503).base, actions=LYRICS, cooldown_s=300)
    for _ in range(3):  # three refusals in a row open its circuit
        gateway.run(gateway.submit_lyrics(key))
    # With its circuit open, lyrics are written here again rather than refused.
    last = gateway.submit_lyrics(key)
    assert gateway.queue.enqueued[-1] == (last, None)
    assert _charges(gateway.ledger(key)) == (5, 3)


@pytest.mark.parametrize("kind", ["sunocore", "acedata"])
@pytest.mark.parametrize("status", [503, 429])
def test_lyrics_refused_before_any_task_id_fail_over(
    kind: str,
    status: int,
    gateway: Gateway,
    upstreams: Callable[..., FaultUpstream],
    make_key: Callable[..., ApiKey],
) -> None:
    bad, good = upstreams(submit_status=status), upstreams()
    first = gateway.add("first", bad.base, kind=kind, actions=LYRICS, priority=0)
    second = gateway.add("second", good.base, kind=kind, actions=LYRICS, priority=1)
    key = make_key()
    task_id = gateway.submit_lyrics(key)
    gateway.run(task_id)

    task, _, relay = _task(gateway.uow, task_id)
    assert task.status is TaskStatus.SUCCESS, task.fail_reason
    assert bad.submits == 1 and not bad.tasks
    assert relay.channel_id == second.id and len(good.tasks) == 1
    assert relay.refused_by == [first.id]
    assert _charges(gateway.ledger(key)) == (1, 0)


@pytest.mark.parametrize("kind", ["sunocore", "acedata"])
@pytest.mark.parametrize("fault", ["hang_after_accept_s", "garbage_after_accept"])
def test_lyrics_whose_answer_is_lost_are_reconciled_never_written_twice(
    kind: str,
    fault: str,
    gateway: Gateway,
    upstreams: Callable[..., FaultUpstream],
    make_key: Callable[..., ApiKey],
) -> None:
    value: float | bool = 2.0 if fault == "hang_after_accept_s" else True
    flaky, spare = upstreams(**{fault: value}), upstreams()
    channel = gateway.add("flaky", flaky.base, kind=kind, actions=LYRICS, priority=0)
    gateway.add("spare", spare.base, kind=kind, actions=LYRICS, priority=1)
    key = make_key()
    task_id = gateway.submit_lyrics(key)
    gateway.run(task_id)

    task, _, relay = _task(gateway.uow, task_id)
    assert task.status is TaskStatus.SUCCESS, task.fail_reason
    # Asked again under the same Idempotency-Key: the first task, not a second one.
    assert flaky.submits >= 2 and len(flaky.tasks) == 1 and spare.submits == 0
    [made] = flaky.tasks.values()
    assert relay.channel_id == channel.id and relay.upstream_task_id == made.id
    assert task.result == {"title": made.title, "text": made.text}
    stats = {s.name: s for s in gateway.router.health.snapshot(gateway.router.channels())}
    assert stats["flaky"].ambiguous == 1 and stats["flaky"].in_flight == 0
    assert _charges(gateway.ledger(key)) == (1, 0)


@pytest.mark.parametrize("kind", ["sunocore", "acedata"])
@pytest.mark.parametrize(
    ("behaviour", "reason"),
    [({"fail_reason": "the writer crashed"}, "writer crashed"), ({"lose_tasks": True}, "lost")],
)
def test_lyrics_failed_or_lost_upstream_are_refunded_once(
    kind: str,
    behaviour: dict[str, Any],
    reason: str,
    gateway: Gateway,
    upstreams: Callable[..., FaultUpstream],
    make_key: Callable[..., ApiKey],
) -> None:
    up, spare = upstreams(**behaviour), upstreams()
    gateway.add("failing", up.base, kind=kind, actions=LYRICS, priority=0)
    gateway.add("spare", spare.base, kind=kind, actions=LYRICS, priority=1)
    key = make_key()
    task_id = gateway.submit_lyrics(key)
    gateway.run(task_id)
    gateway.run(task_id)  # a redelivery changes nothing

    task = _task(gateway.uow, task_id)[0]
    assert task.status is TaskStatus.FAILURE and reason in task.fail_reason
    assert len(up.tasks) == 1 and spare.submits == 0
    assert _charges(gateway.ledger(key)) == (1, 1)


def test_a_relay_interrupted_mid_submit_of_lyrics_is_reconciled_on_the_same_channel(
    gateway: Gateway, upstreams: Callable[..., FaultUpstream], make_key: Callable[..., ApiKey]
) -> None:
    first, other = upstreams(), upstreams()
    channel = gateway.add("first", first.base, kind="acedata", actions=LYRICS, priority=0)
    gateway.add("other", other.base, kind="acedata", actions=LYRICS, priority=1)
    key = make_key()
    task_id = gateway.submit_lyrics(key)
    # A worker recorded the submit to "first", which made the task, and died before
    # hearing back.
    submit_key = f"cadenza-{task_id}"
    httpx.post(
        f"{first.base}/suno/lyrics",
        json={"prompt": "a song about the sea"},
        headers={"Authorization": "Bearer sk_upstream", "Idempotency-Key": submit_key},
    ).raise_for_status()
    with gateway.uow() as u:
        u.relays.save(Relay(task_id=task_id, channel_id=channel.id, submit_key=submit_key))
        u.commit()
    gateway.run(task_id)
    task, _, relay = _task(gateway.uow, task_id)
    assert task.status is TaskStatus.SUCCESS, task.fail_reason
    assert relay.channel_id == channel.id and len(first.tasks) == 1 and other.submits == 0
    assert relay.upstream_task_id in first.tasks
    assert _charges(gateway.ledger(key)) == (1, 0)


def test_a_channel_lists_lyrics_among_its_actions_and_no_other_new_one(
    gateway: Gateway, upstreams: Callable[..., FaultUpstream]
) -> None:
    channel = gateway.add("both", upstreams().base, actions=["lyrics", "MUSIC"])
    assert channel.actions == ["LYRICS", "MUSIC"]
    with pytest.raises(InvalidInput, match="STEMS cannot be relayed"):
        gateway.add("stems", upstreams().base, actions=["STEMS"])


# -- follow-ups of a relayed clip: stems, WAV and remaster ---------------------------------------

#: Each follow-up, with the kind of channel whose dialect has a request for it.
FOLLOW_UPS = [
    ("STEMS", "acedata"),
    ("ALL_STEMS", "acedata"),
    ("WAV", "acedata"),
    ("UPSAMPLE", "acedata"),
    ("CONCAT", "acedata"),
    ("REPLACE_SECTION", "acedata"),
    ("CONCAT", "sunocore"),
    ("CROP", "sunocore"),
    ("SPEED_ADJUST", "sunocore"),
]
#: Each follow-up, with the kind of channel whose dialect has none.
LACKING = [
    ("STEMS", "sunocore"),
    ("ALL_STEMS", "sunocore"),
    ("WAV", "sunocore"),
    ("UPSAMPLE", "sunocore"),
    ("REPLACE_SECTION", "sunocore"),
    ("CROP", "acedata"),
    ("SPEED_ADJUST", "acedata"),
]


def _relayed_song(
    gateway: Gateway, up: FaultUpstream, key: ApiKey, kind: str = "acedata"
) -> tuple[Channel, Any, Relay]:
    """A song the channel ``maker`` made; its first clip, and the song's relay."""
    channel = gateway.add("maker", up.base, kind=kind, priority=1)
    song = gateway.submit(key)
    gateway.run(song)
    _, clips, relay = _task(gateway.uow, song)
    return channel, clips[0], relay


def test_a_relayed_clips_stems_are_split_by_the_channel_that_made_it_and_mirrored(
    gateway: Gateway, upstreams: Callable[..., FaultUpstream], make_key: Callable[..., ApiKey]
) -> None:
    maker, preferred = upstreams(), upstreams()
    key = make_key()
    channel, source, song_relay = _relayed_song(gateway, maker, key)
    # Another channel, first choice for new songs (and listing every action), is not asked.
    gateway.add("preferred", preferred.base, kind="acedata", priority=0)

    task_id = gateway.follow_up(key, "STEMS", source.id)
    _, stems, relay, made = _made_upstream(gateway, maker, task_id, channel)
    assert preferred.submits == 0
    # The upstream is asked for its own clip's stems, by its own id.
    assert made.kind == "stems"
    assert made.body == {"action": "stems", "audio_id": song_relay.clips[source.id], "async": True}
    assert [c.title for c in stems] == [
        stem_title(source.title, "Vocals", False),
        stem_title(source.title, "Instrumental", False),
    ]
    for stem, name in zip(stems, ("Vocals", "Instrumental"), strict=True):
        assert stem.status is ClipStatus.COMPLETE
        assert stem.audio_key and stem.audio_key.startswith(f"clips/{stem.id}-")
        assert gateway.storage.get_bytes(stem.audio_key) == AUDIO
        assert stem.metadata["type"] == "stem" and stem.metadata["stem"] == name
        assert stem.metadata["stem_from_id"] == source.id
        # The source's cover, shared, as a split made here keeps it.
        assert stem.image_key == source.image_key and stem.duration == 12.5
    # A stem is a relayed clip too: its own follow-ups go to the same channel.
    assert set(relay.clips) == {c.id for c in stems}
    assert _charges(gateway.ledger(key)) == (2, 0)


def test_a_relayed_clips_wav_is_exported_by_the_channel_that_made_it_and_stored_here(
    gateway: Gateway, upstreams: Callable[..., FaultUpstream], make_key: Callable[..., ApiKey]
) -> None:
    maker = upstreams()
    key = make_key()
    channel, source, song_relay = _relayed_song(gateway, maker, key)

    task_id = gateway.follow_up(key, "WAV", source.id)
    # Queued for the relay lane, where a WAV made here is answered at once.
    task, clips, _, made = _made_upstream(gateway, maker, task_id, channel)
    assert made.kind == "wav"
    assert made.body == {"audio_id": song_relay.clips[source.id], "async": True}
    # The result a WAV export made here holds: the file's storage key, no clips.
    assert task.result == {"files": [f"relayed/{task_id}/song.wav"]} and clips == []
    assert gateway.storage.get_bytes(task.result["files"][0]) == WAV
    assert _charges(gateway.ledger(key)) == (2, 0)


def test_a_relayed_clip_is_remastered_by_the_channel_that_made_it_and_mirrored(
    gateway: Gateway, upstreams: Callable[..., FaultUpstream], make_key: Callable[..., ApiKey]
) -> None:
    maker = upstreams()
    key = make_key()
    channel, source, song_relay = _relayed_song(gateway, maker, key)

    task_id = gateway.follow_up(key, "UPSAMPLE", source.id)
    _, clips, relay, made = _made_upstream(gateway, maker, task_id, channel)
    assert made.kind == "upsample"
    assert made.body == {
        "action": "remaster",
        "audio_id": song_relay.clips[source.id],
        "variation_category": "normal",
        "async": True,
    }
    # One clip, as a remaster made here: the upstream's first, mirrored here.
    [clip] = clips
    assert clip.title == f"{source.title} (Remastered)" and clip.status is ClipStatus.COMPLETE
    assert clip.audio_key and gateway.storage.get_bytes(clip.audio_key) == AUDIO
    # A remastered clip is a relayed clip too: its follow-ups go to the same channel.
    assert set(relay.clips) == {clip.id}
    assert _charges(gateway.ledger(key)) == (2, 0)


@pytest.mark.parametrize(("action", "kind"), FOLLOW_UPS)
@pytest.mark.parametrize(
    ("behaviour", "reason"),
    [
        ({"submit_status": 503}, NO_WORKER),
        ({"fail_reason": "the split crashed"}, "split crashed"),
        ({"lose_tasks": True}, "lost"),
    ],
)
def test_a_follow_up_never_fails_over_and_a_failure_is_refunded_once(
    action: str,
    kind: str,
    behaviour: dict[str, Any],
    reason: str,
    gateway: Gateway,
    upstreams: Callable[..., FaultUpstream],
    make_key: Callable[..., ApiKey],
) -> None:
    maker, other = upstreams(), upstreams()
    key = make_key()
    _, source, _ = _relayed_song(gateway, maker, key, kind)
    gateway.add("other", other.base, kind="acedata", priority=0)
    for name, value in behaviour.items():
        setattr(maker.behaviour, name, value)
    made_before = len(maker.tasks)

    task_id = gateway.follow_up(key, action, source.id)
    gateway.run(task_id)
    gateway.run(task_id)  # a redelivery changes nothing

    task, clips, _ = _task(gateway.uow, task_id)
    assert task.status is TaskStatus.FAILURE and reason in task.fail_reason
    # Only the maker has the song: nothing goes elsewhere, whatever it answers.
    assert other.submits == 0
    assert len(maker.tasks) == made_before + (0 if "submit_status" in behaviour else 1)
    assert all(c.status is ClipStatus.ERROR for c in clips)
    assert _charges(gateway.ledger(key)) == (2, 1)


@pytest.mark.parametrize(("action", "kind"), FOLLOW_UPS)
@pytest.mark.parametrize("fault", ["hang_after_accept_s", "garbage_after_accept"])
def test_a_follow_up_whose_answer_is_lost_is_reconciled_never_made_twice(
    action: str,
    kind: str,
    fault: str,
    gateway: Gateway,
    upstreams: Callable[..., FaultUpstream],
    make_key: Callable[..., ApiKey],
) -> None:
    maker, other = upstreams(), upstreams()
    key = make_key()
    channel, source, _ = _relayed_song(gateway, maker, key, kind)
    gateway.add("other", other.base, kind="acedata", priority=0)
    setattr(maker.behaviour, fault, 2.0 if fault == "hang_after_accept_s" else True)
    submits = maker.submits

    task_id = gateway.follow_up(key, action, source.id)
    gateway.run(task_id)

    task, _, relay = _task(gateway.uow, task_id)
    assert task.status is TaskStatus.SUCCESS, task.fail_reason
    # Asked again under the same Idempotency-Key: the first task, not a second one.
    assert maker.submits >= submits + 2 and other.submits == 0
    assert len(maker.tasks) == 2 and relay.channel_id == channel.id
    assert maker.tasks[relay.upstream_task_id].kind == action.lower()
    assert _charges(gateway.ledger(key)) == (2, 0)


@pytest.mark.parametrize(("action", "kind"), FOLLOW_UPS)
@pytest.mark.parametrize("gone", ["disabled", "removed"])
def test_a_follow_up_of_a_clip_whose_channel_is_gone_is_refused_before_any_charge(
    action: str,
    kind: str,
    gone: str,
    gateway: Gateway,
    upstreams: Callable[..., FaultUpstream],
    make_key: Callable[..., ApiKey],
) -> None:
    maker, other = upstreams(), upstreams()
    key = make_key()
    channel, source, _ = _relayed_song(gateway, maker, key, kind)
    gateway.add("other", other.base, kind="acedata")
    if gone == "disabled":
        channel_service.set_enabled(gateway.uow, channel.id, False)
    else:
        channel_service.remove_channel(gateway.uow, channel.id)

    with pytest.raises(UpstreamUnavailable, match=NO_WORKER):
        gateway.follow_up(key, action, source.id)
    assert _charges(gateway.ledger(key)) == (1, 0)
    assert other.submits == 0 and maker.submits == 1


@pytest.mark.parametrize(("action", "kind"), LACKING)
def test_a_follow_up_the_channels_dialect_has_no_request_for_is_refused_before_any_charge(
    action: str,
    kind: str,
    gateway: Gateway,
    upstreams: Callable[..., FaultUpstream],
    make_key: Callable[..., ApiKey],
) -> None:
    maker = upstreams()
    key = make_key()
    _, source, _ = _relayed_song(gateway, maker, key, kind=kind)
    with pytest.raises(InvalidInput, match=f"{kind}, which has no {action} request"):
        gateway.follow_up(key, action, source.id)
    assert _charges(gateway.ledger(key)) == (1, 0)
    assert maker.submits == 1


@pytest.mark.parametrize(
    ("action", "kind", "body"),
    [
        ("CONCAT", "acedata", {"action": "concat", "async": True}),
        (
            "REPLACE_SECTION",
            "acedata",
            {
                "action": "replace_section",
                "replace_section_start": 2.0,
                "replace_section_end": 6.0,
                "prompt": "new words here",
                "model": "chirp-v4-5",  # the song's model, as the upstream names it
                "custom": True,
                "async": True,
            },
        ),
        ("CONCAT", "sunocore", {"is_infill": False}),
        ("CROP", "sunocore", {"crop_start_s": 1.0, "crop_end_s": 5.0, "is_crop_remove": False}),
        ("SPEED_ADJUST", "sunocore", {"speed_multiplier": 1.25, "keep_pitch": True}),
    ],
)
def test_a_relayed_clips_edit_is_made_by_the_channel_that_made_it_and_mirrored(
    action: str,
    kind: str,
    body: dict[str, Any],
    gateway: Gateway,
    upstreams: Callable[..., FaultUpstream],
    make_key: Callable[..., ApiKey],
) -> None:
    maker, preferred = upstreams(), upstreams()
    key = make_key()
    channel, source, song_relay = _relayed_song(gateway, maker, key, kind)
    gateway.add("preferred", preferred.base, kind=kind, priority=0)

    task_id = gateway.follow_up(key, action, source.id)
    _, clips, relay, made = _made_upstream(gateway, maker, task_id, channel)
    assert preferred.submits == 0
    assert made.kind == action.lower()
    # The upstream's own clip, named in its dialect's way.
    theirs = song_relay.clips[source.id]
    named = {"acedata": "audio_id", "sunocore": "song_id" if action == "CROP" else "clip_id"}
    sent = {k: v for k, v in made.body.items() if k != "title"}
    assert sent == {**body, named[kind]: theirs}
    # One clip, as the same edit made here, mirrored here; a relayed clip in turn.
    [clip] = clips
    assert clip.status is ClipStatus.COMPLETE
    titled = {"CONCAT": "", "CROP": " (cropped)", "SPEED_ADJUST": " (1.25x)", "REPLACE_SECTION": ""}
    assert clip.title == source.title + titled[action]
    assert clip.audio_key and gateway.storage.get_bytes(clip.audio_key) == AUDIO
    assert set(relay.clips) == {clip.id}
    assert _charges(gateway.ledger(key)) == (2, 0)


def test_two_relayed_clips_are_mashed_up_by_the_channel_that_made_them(
    gateway: Gateway, upstreams: Callable[..., FaultUpstream], make_key: Callable[..., ApiKey]
) -> None:
    maker, preferred = upstreams(), upstreams()
    key = make_key()
    channel = gateway.add("maker", maker.base, kind="acedata", priority=1)
    song = gateway.submit(key)
    gateway.run(song)
    _, (a, b), song_relay = _task(gateway.uow, song)
    gateway.add("preferred", preferred.base, kind="acedata", priority=0)

    command = Mashup((a.id, b.id), description="two rivers meet", title="Confluence")
    task_id = gateway.commands.submit(key, command, Submission(Origin("acedata"))).id
    _, clips, relay, made = _made_upstream(gateway, maker, task_id, channel)
    assert preferred.submits == 0
    assert made.kind == "mashup"
    assert made.body == {
        "action": "mashup",
        "mashup_audio_ids": [song_relay.clips[a.id], song_relay.clips[b.id]],
        "instrumental": False,
        "custom": False,
        "prompt": "two rivers meet",
        "title": "Confluence",
        "model": a.model_name,
        "async": True,
    }
    # Two songs, as a mashup made here; relayed clips in turn.
    assert len(clips) == 2 and all(c.status is ClipStatus.COMPLETE for c in clips)
    assert all(gateway.storage.get_bytes(str(c.audio_key)) == AUDIO for c in clips)
    assert set(relay.clips) == {c.id for c in clips}
    assert _charges(gateway.ledger(key)) == (2, 0)


def test_a_mashup_of_clips_two_channels_made_is_refused_before_any_charge(
    gateway: Gateway, upstreams: Callable[..., FaultUpstream], make_key: Callable[..., ApiKey]
) -> None:
    one, two = upstreams(), upstreams()
    key = make_key()
    gateway.add("one", one.base, kind="acedata", priority=0)
    first = gateway.submit(key)
    gateway.run(first)
    channel_service.set_enabled(gateway.uow, "one", False)
    gateway.add("two", two.base, kind="acedata", priority=0)
    second = gateway.submit(key)
    gateway.run(second)
    channel_service.set_enabled(gateway.uow, "one", True)
    (a, *_), (b, *_) = (_task(gateway.uow, t)[1] for t in (first, second))

    with pytest.raises(InvalidInput, match="both clips made by the same upstream channel"):
        gateway.commands.submit(key, Mashup((a.id, b.id)), Submission(Origin("acedata")))
    assert _charges(gateway.ledger(key)) == (2, 0)
    assert one.submits == 1 and two.submits == 1


def test_a_relayed_clips_full_split_is_two_sets_of_twelve_made_upstream(
    gateway: Gateway, upstreams: Callable[..., FaultUpstream], make_key: Callable[..., ApiKey]
) -> None:
    maker = upstreams()
    key = make_key()
    channel, source, song_relay = _relayed_song(gateway, maker, key)

    task_id = gateway.follow_up(key, "ALL_STEMS", source.id)
    _, stems, relay, made = _made_upstream(gateway, maker, task_id, channel)
    assert made.body == {
        "action": "all_stems",
        "audio_id": song_relay.clips[source.id],
        "async": True,
    }
    assert [c.title for c in stems] == [
        stem_title(source.title, name, True) for name in split_stems(True)
    ]
    assert [c.metadata["stem"] for c in stems] == split_stems(True)
    assert [c.metadata["stem_set_kind"] for c in stems] == ["mix"] * 12 + ["solo"] * 12
    assert all(gateway.storage.get_bytes(str(c.audio_key)) == AUDIO for c in stems)
    assert set(relay.clips) == {c.id for c in stems}
    assert _charges(gateway.ledger(key)) == (2, 0)


def test_stems_and_wav_of_a_clip_made_here_stay_here_whatever_the_channels(
    gateway: Gateway, upstreams: Callable[..., FaultUpstream], make_key: Callable[..., ApiKey]
) -> None:
    up = upstreams()
    gateway.add("ace", up.base, kind="acedata", actions=["MUSIC", "LYRICS"])
    key = make_key()
    original = tasks.submit(gateway.uow, gateway.queue, key, "MUSIC", {}, clip_count=1)
    with gateway.uow() as u:
        clip = u.clips.list_for_tasks([original.id])[0]
        clip.status = ClipStatus.COMPLETE
        clip.duration = 10.0
        clip.files = {"song.wav": "clips/x/song.wav", "stems/Vocals.wav": "clips/x/v.wav"}
        u.clips.update(clip)
        u.commit()

    split = gateway.follow_up(key, "STEMS", clip.id)
    assert gateway.queue.enqueued[-1] == (split, None)  # the render queue, as before
    wav = gateway.follow_up(key, "WAV", clip.id)
    task = _task(gateway.uow, wav)[0]
    # Answered at once from the stored WAV, as before.
    assert task.status is TaskStatus.SUCCESS and task.result == {"files": ["clips/x/song.wav"]}
    assert up.submits == 0

    # Exported again under one Idempotency-Key (a relaying server's retry): one task.
    how = Submission(Origin("acedata"), idempotency_key="cadenza-retry")
    first = gateway.commands.submit(key, ExportWav(clip.id), how)
    assert gateway.commands.submit(key, ExportWav(clip.id), how).id == first.id
    with pytest.raises(IdempotencyConflict):
        gateway.commands.submit(key, SplitStems(clip.id), how)
    assert _charges(gateway.ledger(key)) == (4, 0)  # the song, a split and two exports


def test_a_relayed_clips_video_is_rendered_by_any_worker(
    gateway: Gateway, upstreams: Callable[..., FaultUpstream], make_key: Callable[..., ApiKey]
) -> None:
    """A relayed song's files are mirrored into storage by the process that followed it,
    whose relay lane takes no render task: its video must not be queued for that process."""
    maker = upstreams()
    key = make_key()
    _, source, _ = _relayed_song(gateway, maker, key)
    with gateway.uow() as u:  # the process that followed it, as a named worker records it
        song = u.tasks.get(source.task_id, for_update=True)
        assert song is not None
        song.worker = "api-1"
        u.tasks.update(song)
        u.commit()

    video = gateway.commands.submit(key, RenderVideo(source.id), Submission(Origin("sunocore")))
    assert gateway.queue.enqueued[-1] == (video.id, None)


def _align(gateway: Gateway, key: ApiKey, clip_id: str, dialect: str = "sunocore") -> Any:
    command = AlignWords(clip_id, waveform=False)
    return gateway.commands.run(key, command, Submission(Origin(dialect)))


@pytest.mark.parametrize("kind", ["acedata", "sunocore"])
def test_a_relayed_clips_word_timings_are_asked_of_the_channel_that_made_it(
    kind: str,
    gateway: Gateway,
    upstreams: Callable[..., FaultUpstream],
    make_key: Callable[..., ApiKey],
) -> None:
    maker = upstreams()
    key = make_key()
    _, source, song_relay = _relayed_song(gateway, maker, key, kind)
    theirs = song_relay.clips[source.id]

    done = _align(gateway, key, source.id)
    # Asked in the channel's dialect, for its own clip, each time (nothing is kept here).
    assert maker.timings == [theirs]
    expected = [(w["word"], w["start_s"], w["end_s"], w["p_align"]) for w in sung_words(theirs)]
    assert [(w["word"], w["start_s"], w["end_s"], w["p_align"]) for w in done.made] == expected
    answered = done.task.result["aligned_words"]
    assert [(w["word"], w["p_align"]) for w in answered] == [(w, p) for w, _, _, p in expected]
    assert _charges(gateway.ledger(key)) == (2, 0)


@pytest.mark.parametrize(
    ("status", "error"),
    [(503, UpstreamUnavailable), (429, UpstreamUnavailable), (404, InvalidInput)],
)
def test_a_relayed_clips_word_timings_its_channel_cannot_give_are_refused_uncharged(
    status: int,
    error: type[Exception],
    gateway: Gateway,
    upstreams: Callable[..., FaultUpstream],
    make_key: Callable[..., ApiKey],
) -> None:
    maker = upstreams()
    key = make_key()
    _, source, _ = _relayed_song(gateway, maker, key)
    maker.behaviour.timing_status = status
    with pytest.raises(error, match="the channel that made the clip"):
        _align(gateway, key, source.id, "acedata")
    assert _charges(gateway.ledger(key)) == (1, 0)


def test_word_timings_of_a_relayed_clip_whose_channel_is_gone_are_refused_uncharged(
    gateway: Gateway, upstreams: Callable[..., FaultUpstream], make_key: Callable[..., ApiKey]
) -> None:
    maker = upstreams()
    key = make_key()
    channel, source, _ = _relayed_song(gateway, maker, key)
    channel_service.set_enabled(gateway.uow, channel.id, False)
    with pytest.raises(UpstreamUnavailable, match=NO_WORKER):
        _align(gateway, key, source.id)
    assert maker.timings == [] and _charges(gateway.ledger(key)) == (1, 0)


def test_a_relayed_clip_its_channel_says_sang_nothing_is_answered_as_nothing_sung(
    gateway: Gateway, upstreams: Callable[..., FaultUpstream], make_key: Callable[..., ApiKey]
) -> None:
    maker = upstreams()
    key = make_key()
    _, source, _ = _relayed_song(gateway, maker, key)
    maker.sing_nothing = True
    with pytest.raises(NothingSung):
        _align(gateway, key, source.id)
    assert _charges(gateway.ledger(key)) == (1, 0)
