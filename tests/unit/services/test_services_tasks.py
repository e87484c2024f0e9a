from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from cadenza.domain.actions import Action
from cadenza.domain.billing import ApiKey, EntryType
from cadenza.domain.errors import (
    ConcurrencyLimited,
    Forbidden,
    IdempotencyConflict,
    InsufficientCredits,
    InvalidInput,
    NotFound,
    Unauthorized,
)
from cadenza.domain.tasks import ClipStatus, TaskStatus
from cadenza.services import billing, keys, tasks
from cadenza.services.ports import UnitOfWorkFactory
from cadenza.services.views import UowViews

MUSIC = {"prompt": "[Verse]\nhello world\nsing along", "tags": "pop", "mv": "chirp-v4"}


def test_submit_charges_records_and_enqueues(
    uow: UnitOfWorkFactory, queue: Any, make_key: Callable[..., ApiKey], balance: Any
) -> None:
    key = make_key("25")
    task = tasks.submit(uow, queue, key, "CROP", {"clip_id": "x"}, clip_count=1, route="w1")
    assert task.status is TaskStatus.QUEUED
    assert task.price == Decimal("2")
    assert task.dispatched
    assert queue.enqueued == [(task.id, "w1")]
    assert balance(key.id) == Decimal("23")
    view = tasks.get(UowViews(uow), key, task.id)
    assert view.task.dispatched and view.task.route == "w1"
    assert view.task.deadline is not None and view.task.deadline > view.task.submit_time
    assert [c.status for c in view.clips] == [ClipStatus.QUEUED]
    consume = billing.transactions(uow, key)[0]
    assert consume.entry_type is EntryType.CONSUME
    assert (consume.change_amount, consume.balance_after) == (Decimal("-2"), Decimal("23"))
    assert consume.task_id == task.id


def test_insufficient_credits_creates_nothing(
    uow: UnitOfWorkFactory, queue: Any, make_key: Callable[..., ApiKey], balance: Any
) -> None:
    key = make_key("9.9999")
    with pytest.raises(InsufficientCredits):
        tasks.submit_music(uow, queue, key, MUSIC)
    assert balance(key.id) == Decimal("9.9999")
    assert queue.enqueued == []
    with uow() as u:
        assert u.tasks.count_active(key.id) == 0
    assert [e.entry_type for e in billing.transactions(uow, key)] == [EntryType.TOPUP]


def test_disabled_or_unknown_action_is_forbidden(
    uow: UnitOfWorkFactory, queue: Any, make_key: Callable[..., ApiKey]
) -> None:
    key = make_key()
    billing.set_price(uow, Action.MUSIC, enabled=False)
    with pytest.raises(Forbidden):
        tasks.submit_music(uow, queue, key, MUSIC)
    with pytest.raises(Forbidden):
        tasks.submit(uow, queue, key, "NO_SUCH_ACTION", {})


def test_concurrency_limit_counts_unfinished_tasks(
    uow: UnitOfWorkFactory, queue: Any, make_key: Callable[..., ApiKey]
) -> None:
    key = make_key("100", concurrency_limit=2)
    first = tasks.submit(uow, queue, key, "CROP", {"n": 1})
    tasks.submit(uow, queue, key, "CROP", {"n": 2})
    with pytest.raises(ConcurrencyLimited):
        tasks.submit(uow, queue, key, "CROP", {"n": 3})
    assert tasks.settle_failure(uow, first.id, "boom")
    tasks.submit(uow, queue, key, "CROP", {"n": 3})


def test_revoked_key_cannot_submit(
    uow: UnitOfWorkFactory, queue: Any, make_key: Callable[..., ApiKey]
) -> None:
    key = make_key()
    keys.revoke_key(uow, key.id)
    with pytest.raises(Unauthorized):
        tasks.submit(uow, queue, key, "CROP", {})


def test_idempotency_same_body_same_task_one_charge(
    uow: UnitOfWorkFactory, queue: Any, make_key: Callable[..., ApiKey], balance: Any
) -> None:
    key = make_key("100")
    first = tasks.submit_music(uow, queue, key, MUSIC, idempotency_key="abc")
    again = tasks.submit_music(uow, queue, key, dict(MUSIC), idempotency_key="abc")
    assert again.id == first.id
    assert balance(key.id) == Decimal("90")
    assert len(queue.enqueued) == 1
    with pytest.raises(IdempotencyConflict):
        tasks.submit_music(uow, queue, key, {**MUSIC, "tags": "rock"}, idempotency_key="abc")
    with pytest.raises(IdempotencyConflict):
        tasks.submit(uow, queue, key, "CROP", MUSIC, idempotency_key="abc")
    assert balance(key.id) == Decimal("90")
    # Scoped per key: another key may use the same Idempotency-Key.
    other = make_key("100")
    assert tasks.submit_music(uow, queue, other, MUSIC, idempotency_key="abc").id != first.id
    with pytest.raises(InvalidInput):
        tasks.submit_music(uow, queue, key, MUSIC, idempotency_key="k" * 300)


def test_bola_other_keys_task_and_clip_are_not_found(
    uow: UnitOfWorkFactory, queue: Any, make_key: Callable[..., ApiKey]
) -> None:
    alice, bob = make_key(), make_key()
    task = tasks.submit_music(uow, queue, alice, MUSIC)
    clip_id = task.params["clip_ids"][0]
    assert tasks.get(UowViews(uow), alice, task.id).task.id == task.id
    assert tasks.get_clip(uow, alice, clip_id).task_id == task.id
    with pytest.raises(NotFound) as theirs:
        tasks.get(UowViews(uow), bob, task.id)
    with pytest.raises(NotFound) as missing:
        tasks.get(UowViews(uow), bob, "no-such-task")
    assert theirs.value.message == missing.value.message
    with pytest.raises(NotFound) as clip_theirs:
        tasks.get_clip(uow, bob, clip_id)
    with pytest.raises(NotFound) as clip_missing:
        tasks.get_clip(uow, bob, "no-such-clip")
    # The same words, each naming only the id the client sent.
    assert clip_theirs.value.message == f"clip {clip_id} not found"
    assert clip_missing.value.message == "clip no-such-clip not found"
    assert tasks.fetch(UowViews(uow), bob, [task.id]) == []


def test_fetch_keeps_order_and_omits_unknown(
    uow: UnitOfWorkFactory, queue: Any, make_key: Callable[..., ApiKey]
) -> None:
    key = make_key("100")
    a = tasks.submit_music(uow, queue, key, MUSIC)
    b = tasks.submit(uow, queue, key, "CROP", {})
    views = tasks.fetch(UowViews(uow), key, [b.id, "missing", a.id, b.id])
    assert [v.task.id for v in views] == [b.id, a.id]
    assert [c.id for c in views[1].clips] == a.params["clip_ids"]
    assert views[0].clips == []
    with pytest.raises(InvalidInput):
        tasks.fetch(UowViews(uow), key, [str(i) for i in range(tasks.MAX_FETCH_IDS + 1)])


def test_submit_music_stores_request_and_two_clips(
    uow: UnitOfWorkFactory, queue: Any, make_key: Callable[..., ApiKey]
) -> None:
    key = make_key()
    task = tasks.submit_music(uow, queue, key, {**MUSIC, "title": "Hi", "seed": 7})
    assert task.action == "MUSIC"
    assert task.params["request"]["seed"] == 7
    assert task.params["request"]["model"] == "chirp-v4"
    view = tasks.get(UowViews(uow), key, task.id)
    assert [c.id for c in view.clips] == task.params["clip_ids"]
    assert {c.title for c in view.clips} == {"Hi"}
    assert {c.model_name for c in view.clips} == {"chirp-v4"}
    assert view.clips[0].lyrics.startswith("[Verse]")
    with pytest.raises(InvalidInput):
        tasks.submit_music(uow, queue, key, {"mv": "chirp-v9", "prompt": "x"})


def test_follow_up_needs_own_complete_clip_and_routes_to_its_worker(
    uow: UnitOfWorkFactory, queue: Any, make_key: Callable[..., ApiKey]
) -> None:
    alice, bob = make_key(), make_key()
    original = tasks.submit_music(uow, queue, alice, MUSIC)
    clip_id = original.params["clip_ids"][0]
    extend = {**MUSIC, "task": "extend", "continue_clip_id": clip_id, "continue_at": 10}
    with pytest.raises(InvalidInput):
        tasks.submit_music(uow, queue, alice, extend)
    with uow() as u:
        done = u.tasks.get(original.id)
        assert done is not None
        done.worker = "gpu-7"
        u.tasks.update(done)
        clip = u.clips.get(clip_id)
        assert clip is not None
        clip.status = ClipStatus.COMPLETE
        clip.files = {"score.json": f"clips/{clip_id}/score.json"}
        u.clips.update(clip)
        u.commit()
    with pytest.raises(NotFound):
        tasks.submit_music(uow, queue, bob, extend)
    follow = tasks.submit_music(uow, queue, alice, extend)
    assert follow.route == "gpu-7"
    assert queue.enqueued[-1] == (follow.id, "gpu-7")
    assert follow.params["source_score_key"] == f"clips/{clip_id}/score.json"


@pytest.mark.parametrize("kind", ["extend", "cover"])
def test_follow_up_of_a_clip_without_a_score_is_refused_before_any_charge(
    uow: UnitOfWorkFactory, queue: Any, make_key: Callable[..., ApiKey], kind: str
) -> None:
    key = make_key()
    original = tasks.submit(uow, queue, key, "UPLOAD", {}, clip_count=1)
    with uow() as u:
        clip = u.clips.list_for_tasks([original.id])[0]
        clip.status = ClipStatus.COMPLETE
        clip.files = {"song.wav": "uploads/x/song.wav"}  # an upload from before analysis
        u.clips.update(clip)
        u.commit()
        before = u.keys.get(key.id)
    assert before is not None
    body = {**MUSIC, "task": kind}
    body["continue_clip_id" if kind == "extend" else "cover_clip_id"] = clip.id
    with pytest.raises(InvalidInput, match="no score"):
        tasks.submit_music(uow, queue, key, body)
    with uow() as u:
        after = u.keys.get(key.id)
        assert after is not None
        assert after.credits_balance == before.credits_balance


def test_enqueue_failure_leaves_task_for_the_reaper(
    uow: UnitOfWorkFactory, queue: Any, make_key: Callable[..., ApiKey]
) -> None:
    key = make_key()
    queue.fail = True
    task = tasks.submit(uow, queue, key, "CROP", {})
    assert not task.dispatched
    assert tasks.get(UowViews(uow), key, task.id).task.status is TaskStatus.QUEUED
    with uow() as u:
        stored = u.tasks.get(task.id)
        assert stored is not None and not stored.dispatched
