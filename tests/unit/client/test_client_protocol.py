"""The client's reading of both dialects and its retry rules, against a scripted server
(``httpx.MockTransport``)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from cadenza.client import (
    ApiError,
    AsyncClient,
    Client,
    TaskFailed,
    UnsupportedCall,
    WaitTimeout,
)
from cadenza.client._protocol import Request, acedata_task, error_of, sunocore_task
from cadenza.client._sending import retry_delay

Handler = Callable[[httpx.Request], httpx.Response]


def _client(handler: Handler, **options: Any) -> Client:
    options.setdefault("backoff_s", 0.0)
    return Client("http://server", "sk_test", transport=httpx.MockTransport(handler), **options)


def _sunocore_task(status: str, progress: str, clips: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "code": "success",
        "message": "",
        "data": {
            "task_id": "t1",
            "action": "MUSIC",
            "status": status,
            "fail_reason": "engine broke" if status == "FAILURE" else "",
            "progress": progress,
            "data": clips,
        },
    }


def test_sunocore_submit_sends_the_key_and_an_idempotency_key() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"code": "success", "message": "", "data": "t1"})

    with _client(handler) as client:
        assert client.generate("a calm song", tags="folk", seed=3, instrumental=True) == "t1"
    [request] = seen
    assert request.url.path == "/suno/submit/music"
    assert request.headers["X-API-Key"] == "sk_test"
    assert len(request.headers["Idempotency-Key"]) == 32
    body = json.loads(request.content)
    assert body == {
        "tags": "folk",
        "make_instrumental": True,
        "gpt_description_prompt": "a calm song",
        "metadata": {"seed": 3},
    }


def test_acedata_submit_is_async_with_a_bearer_key() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            200, json={"success": True, "task_id": "t2", "trace_id": "x", "data": []}
        )

    with _client(handler, dialect="acedata") as client:
        assert client.generate(lyrics="[Verse]\nla", tags="pop", model="chirp-v4") == "t2"
    body = json.loads(seen[0].content)
    assert seen[0].headers["Authorization"] == "Bearer sk_test"
    assert body == {
        "action": "generate",
        "model": "chirp-v4",
        "instrumental": False,
        "style": "pop",
        "custom": True,
        "lyric": "[Verse]\nla",
        "async": True,
    }


def test_a_lost_answer_is_retried_with_the_same_idempotency_key() -> None:
    keys: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        keys.append(request.headers["Idempotency-Key"])
        if len(keys) == 1:
            raise httpx.ReadTimeout("lost", request=request)
        if len(keys) == 2:
            return httpx.Response(503, json={"code": "upstream_unavailable", "message": "x"})
        return httpx.Response(200, json={"code": "success", "message": "", "data": "t1"})

    with _client(handler) as client:
        assert client.concat("c1") == "t1"
    assert len(keys) == 3 and len(set(keys)) == 1


def test_a_post_that_cannot_be_repeated_safely_is_not_retried() -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(502, json={"code": "upstream_unavailable", "message": "down"})

    with _client(handler) as client, pytest.raises(ApiError) as refused:
        client.playlist("mine", ["c1"])
    assert len(calls) == 1
    assert (refused.value.status, refused.value.code, refused.value.message) == (
        502,
        "upstream_unavailable",
        "down",
    )


def test_retry_rules() -> None:
    post = Request("POST", "/x")
    safe = Request("POST", "/x", retry_safe=True)
    too_many = httpx.Response(429, headers={"Retry-After": "7"})
    assert retry_delay(post, 0, 3, 0.5, response=too_many) == 7
    assert retry_delay(post, 3, 3, 0.5, response=too_many) is None
    assert retry_delay(post, 0, 3, 0.5, response=httpx.Response(504)) is None
    assert retry_delay(safe, 2, 3, 0.5, response=httpx.Response(504)) == 2.0
    assert retry_delay(safe, 0, 3, 0.5, response=httpx.Response(500)) is None
    assert retry_delay(post, 0, 3, 0.5, error=httpx.ConnectError("no")) == 0.5
    assert retry_delay(post, 0, 3, 0.5, error=httpx.ReadTimeout("slow")) is None


def test_wait_reports_progress_and_raises_a_failure() -> None:
    answers = [
        _sunocore_task("QUEUED", "0%", []),
        _sunocore_task("IN_PROGRESS", "40%", [{"id": "c1", "status": "streaming"}]),
        _sunocore_task("IN_PROGRESS", "40%", [{"id": "c1", "status": "streaming"}]),
        _sunocore_task("FAILURE", "100%", [{"id": "c1", "status": "error"}]),
    ]

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=answers.pop(0))

    seen: list[tuple[str, int]] = []
    with _client(handler) as client, pytest.raises(TaskFailed) as failed:
        client.wait("t1", on_progress=lambda t: seen.append((t.status, t.progress)), interval_s=0)
    assert seen == [("QUEUED", 0), ("IN_PROGRESS", 40), ("FAILURE", 100)]
    assert failed.value.task.fail_reason == "engine broke"


def test_wait_gives_up_after_its_timeout() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=_sunocore_task("QUEUED", "0%", []))

    with _client(handler) as client, pytest.raises(WaitTimeout) as late:
        client.wait("t1", timeout_s=0, interval_s=0)
    assert late.value.task.status == "QUEUED"


def test_acedata_records_are_read_in_every_phase() -> None:
    pending = acedata_task({"id": "t", "state": "pending", "request": {"action": "stems"}})
    assert (pending.status, pending.action, pending.clips) == ("QUEUED", "stems", [])
    running = acedata_task({"id": "t", "status": "processing", "progress": "35%"})
    assert (running.status, running.progress) == ("IN_PROGRESS", 35)
    done = acedata_task(
        {
            "id": "t",
            "state": "complete",
            "response": {
                "success": True,
                "data": [
                    {"id": "c", "state": "succeeded", "audio_url": "https://a", "duration": 3.5}
                ],
            },
        }
    )
    assert done.succeeded and done.clips[0].complete and done.clips[0].duration == 3.5
    failed = acedata_task(
        {"id": "t", "response": {"success": False, "error": {"code": "x", "message": "no"}}}
    )
    assert (failed.status, failed.fail_reason) == ("FAILURE", "no")
    lyrics = acedata_task(
        {
            "id": "t",
            "state": "complete",
            "response": {"success": True, "data": [{"title": "T", "text": "words"}]},
        }
    )
    assert lyrics.lyrics is not None and lyrics.lyrics.text == "words"
    tool = acedata_task(
        {"id": "t", "state": "complete", "response": {"success": True, "data": {"video_url": "u"}}}
    )
    assert tool.data == {"video_url": "u"}


def test_sunocore_lyrics_tasks_and_unknown_statuses() -> None:
    raw = _sunocore_task("SUCCESS", "100%", [])["data"]
    raw["data"] = {"id": "t1", "status": "complete", "title": "T", "text": "la la"}
    task = sunocore_task(raw)
    assert task.lyrics is not None and task.lyrics.title == "T" and task.clips == []


def test_error_envelopes_of_both_dialects() -> None:
    sunocore = error_of(402, {"code": "insufficient_credits", "message": "short"}, "")
    assert (sunocore.code, sunocore.message) == ("insufficient_credits", "short")
    acedata = error_of(
        400, {"success": False, "error": {"code": "bad_request", "message": "m"}}, ""
    )
    assert (acedata.code, acedata.message) == ("bad_request", "m")
    bare = error_of(500, {"error": "boom"}, "")
    assert (bare.code, bare.message) == ("http_500", "boom")
    text = error_of(502, None, "Bad Gateway")
    assert (text.code, text.message) == ("http_502", "Bad Gateway")


def test_a_gateway_answering_200_with_an_error_code_is_an_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"code": "quota_exceeded", "message": "no", "data": None})

    with _client(handler) as client, pytest.raises(ApiError) as refused:
        client.generate("x")
    assert refused.value.code == "quota_exceeded"


def test_calls_a_dialect_lacks_are_refused_before_sending() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise AssertionError("nothing may be sent")

    with _client(handler) as client, pytest.raises(UnsupportedCall):
        client.stems("c1")
    with _client(handler, dialect="acedata") as client, pytest.raises(UnsupportedCall):
        client.speed("c1", 2.0)


def test_the_async_client_runs_the_same_calls() -> None:
    answers = [
        {"success": True, "task_id": "t9", "data": []},
        {"id": "t9", "state": "running", "progress": "50%"},
        {
            "id": "t9",
            "state": "complete",
            "response": {
                "success": True,
                "data": [{"id": "c", "state": "succeeded", "audio_url": "https://a"}],
            },
        },
    ]

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=answers.pop(0))

    async def run() -> tuple[str, str]:
        async with AsyncClient(
            "http://server",
            "sk",
            dialect="acedata",
            transport=httpx.MockTransport(handler),
            backoff_s=0,
        ) as client:
            task_id = await client.generate("a song")
            task = await client.wait(task_id, interval_s=0)
            return task_id, task.clips[0].id

    assert asyncio.run(run()) == ("t9", "c")
