"""Cadenza as an upstream channel of the new-api gateway, held to new-api's own contract.

Every request here is one new-api's Suno channel sends (relay/channel/task/suno/adaptor.go,
service/task_polling.go): ``POST {base}/suno/submit/{ACTION}`` with the upper-cased action,
``Authorization: Bearer``, the body its ``dto.SunoSubmitReq`` marshals to (``omitempty``
rules included, ``mv`` defaulted to ``chirp-v3-0``), and one ``POST {base}/suno/fetch``
carrying every unfinished id of the channel. Every answer is decoded with Go's rules
(``go_json``) into the structs new-api and Go Suno clients declare: a field of the wrong
JSON type fails the whole answer, as it would fail the gateway's poll.
"""

from __future__ import annotations

import importlib.util
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from e2e_serving import Server, launch, new_key, stop
from go_json import (
    STRING,
    SUNO_DATA_RESPONSE,
    SUNO_LYRICS,
    SUNO_SONG,
    TASK_DTO,
    Slice,
    decode,
    marshal_submit,
    task_response,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        importlib.util.find_spec("cadenza.compose.pipeline") is None,
        reason="the built-in engine cadenza.compose.pipeline is absent",
    ),
]

CALLBACK = "http://new-api.example/suno/callback"
STATUSES = {"NOT_START", "SUBMITTED", "QUEUED", "IN_PROGRESS", "SUCCESS", "FAILURE", "UNKNOWN"}
FINISHED = {"SUCCESS", "FAILURE"}


class Gateway:
    """The requests new-api's Suno channel makes, with one channel key."""

    def __init__(self, base: str, key: str) -> None:
        self.http = httpx.Client(base_url=base, timeout=30)
        self.headers = {
            "Authorization": f"Bearer {key}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        }

    def submit(self, action: str, **fields: Any) -> httpx.Response:
        """``BuildRequestURL`` + ``BuildRequestBody``: the action upper-cased in the path,
        ``mv`` defaulted for MUSIC (``actionValidate``), ``callBackUrl`` always set."""
        action = action.upper()
        if action == "MUSIC" and not fields.get("mv"):
            fields["mv"] = "chirp-v3-0"
        fields.setdefault("callBackUrl", CALLBACK)
        return self.http.post(
            f"/suno/submit/{action}", json=marshal_submit(**fields), headers=self.headers
        )

    def submitted_id(self, response: httpx.Response) -> str:
        """``DoResponse``: HTTP 200, ``TaskResponse[string]`` with code "success"."""
        assert response.status_code == 200, response.text
        answer = decode(response.json(), task_response(STRING))
        assert answer["code"] == "success", answer
        task_id: str = answer["data"]
        assert task_id
        return task_id

    def poll(self, ids: list[str]) -> list[dict[str, Any]]:
        """``updateSunoTasks``: one batch fetch, HTTP 200, ``TaskResponse[[]SunoDataResponse]``,
        only ids that were asked for."""
        response = self.http.post("/suno/fetch", json={"ids": ids}, headers=self.headers)
        assert response.status_code == 200, response.text
        answer = decode(response.json(), task_response(Slice(SUNO_DATA_RESPONSE)))
        assert answer["code"] == "success"
        items: list[dict[str, Any]] = answer["data"]
        asked = set(ids)
        for item in items:
            assert item["task_id"] in asked, f"answered an id never asked for: {item}"
            assert item["status"] in STATUSES, item
        return items

    def fetch_one(self, task_id: str) -> dict[str, Any]:
        response = self.http.get(f"/suno/fetch/{task_id}", headers=self.headers)
        assert response.status_code == 200, response.text
        task: dict[str, Any] = decode(response.json(), task_response(TASK_DTO))["data"]
        return task

    def wait_all(self, ids: list[str], timeout_s: float = 400) -> dict[str, dict[str, Any]]:
        """Polls as the gateway does (every 15 s there; every second here) until every task
        ended, applying its update rules: a status, times that only move forward."""
        state: dict[str, dict[str, Any]] = {}
        deadline = time.monotonic() + timeout_s
        while True:
            unfinished = [i for i in ids if state.get(i, {}).get("status") not in FINISHED]
            if not unfinished:
                return state
            assert time.monotonic() < deadline, f"tasks never finished: {state}"
            for item in self.poll(unfinished):
                before = state.get(item["task_id"])
                if before is not None:
                    for name in ("submit_time", "start_time", "finish_time"):
                        assert item[name] >= before[name], (name, before, item)
                state[item["task_id"]] = item
            time.sleep(1)

    def close(self) -> None:
        self.http.close()


def ledger(gateway: Gateway) -> list[dict[str, Any]]:
    answer = gateway.http.get("/suno/billing/transactions", headers=gateway.headers)
    rows: list[dict[str, Any]] = answer.json()["data"]
    return rows


def balance(gateway: Gateway) -> float:
    me = gateway.http.get("/suno/billing/me", headers=gateway.headers).json()
    value: float = me["data"]["api_key"]["credits_balance"]
    return value


@pytest.fixture(scope="module")
def channel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = launch(tmp_path_factory.mktemp("newapi-channel"))
    try:
        yield server
    finally:
        stop(server)


def gateway_for(server: Server, credits: str = "100") -> Gateway:
    # One key carries all of a gateway's users: limits sized for that (see the README).
    secret = new_key(server, credits, "--concurrency", "8", "--rpm", "1200")
    return Gateway(server.base, secret)


def test_music_and_lyrics_relayed_by_the_gateway_reach_success(channel: Server) -> None:
    gateway = gateway_for(channel)
    try:
        submitted = {
            # No model named by the user: new-api sends chirp-v3-0.
            "default": gateway.submit(
                "MUSIC",
                prompt="[Verse]\nHello little star\nShine on me",
                title="Gateway Song",
                tags="pop, piano",
            ),
            # The lower-case path some clients of the same dialect use, a Suno internal name.
            "auk": gateway.http.post(
                "/suno/submit/music",
                json=marshal_submit(
                    prompt="[Verse]\nRain on the window",
                    mv="chirp-auk",
                    tags="lofi",
                    callBackUrl=CALLBACK,
                ),
                headers=gateway.headers,
            ),
            # Description mode, as new-api relays it: gpt_description_prompt, no prompt.
            "described": gateway.submit(
                "MUSIC", gpt_description_prompt="a short calm folk song about rain", mv="chirp-v4"
            ),
            "lyrics": gateway.submit("LYRICS", prompt="a song about summer love on the beach"),
        }
        ids = {name: gateway.submitted_id(answer) for name, answer in submitted.items()}
        assert len(set(ids.values())) == 4

        state = gateway.wait_all(list(ids.values()))
        for name, task_id in ids.items():
            item = state[task_id]
            assert item["status"] == "SUCCESS", (name, item)
            assert item["fail_reason"] == ""
            assert 0 < item["submit_time"] <= item["start_time"] <= item["finish_time"]
            single = gateway.fetch_one(task_id)
            assert single["progress"] == "100%"
            assert single["status"] == "SUCCESS"

        models = {"default": "chirp-v3-0", "auk": "chirp-auk", "described": "chirp-v4"}
        for name, model in models.items():
            item = state[ids[name]]
            assert item["action"] == "MUSIC"
            clips = decode(item["data"], Slice(SUNO_SONG))
            assert len(clips) == 2, (name, clips)
            for clip in clips:
                assert clip["status"] == "complete"
                assert clip["model_name"] == model
                assert clip["title"]
                assert clip["metadata"]["type"] == "gen"
                audio = gateway.http.get(clip["audio_url"])
                assert audio.status_code == 200
                assert audio.headers["content-type"] == "audio/mpeg"
                assert len(audio.content) > 10_000
        assert [c["title"] for c in decode(state[ids["default"]]["data"], Slice(SUNO_SONG))] == [
            "Gateway Song",
            "Gateway Song",
        ]

        lyrics_item = state[ids["lyrics"]]
        assert lyrics_item["action"] == "LYRICS"
        lyrics = decode(lyrics_item["data"], SUNO_LYRICS)
        assert lyrics["id"] == ids["lyrics"] and lyrics["status"] == "complete"
        assert lyrics["title"] and "[Chorus]" in lyrics["text"]

        rows = [r for r in ledger(gateway) if r["task_id"] in ids.values()]
        assert sorted((r["action"], r["transaction_type"]) for r in rows) == [
            ("LYRICS", "CONSUME"),
            ("MUSIC", "CONSUME"),
            ("MUSIC", "CONSUME"),
            ("MUSIC", "CONSUME"),
        ]
        assert balance(gateway) == 100 - 3 * 10 - 1
    finally:
        gateway.close()


def test_a_poll_of_a_thousand_ids_answers_only_the_known_ones(channel: Server) -> None:
    gateway = gateway_for(channel)
    stranger = gateway_for(channel)
    try:
        mine = [
            gateway.submitted_id(gateway.submit("LYRICS", prompt=f"a song number {n}"))
            for n in range(3)
        ]
        theirs = stranger.submitted_id(stranger.submit("LYRICS", prompt="someone else's song"))
        ids = [str(uuid.uuid4()) for _ in range(996)]
        ids.insert(0, mine[1])
        ids.insert(400, theirs)
        ids.insert(700, mine[0])
        ids.append(mine[2])
        assert len(ids) == 1000
        items = gateway.poll(ids)
        assert [i["task_id"] for i in items] == [mine[1], mine[0], mine[2]]
        assert all(i["status"] == "SUCCESS" for i in items)
    finally:
        gateway.close()
        stranger.close()


def test_rejected_submits_reach_the_gateway_user_with_their_reason(channel: Server) -> None:
    """new-api turns a non-200 answer into ``fail_to_fetch_task`` carrying the status and
    the raw body, which its user sees: the body must say what was wrong."""
    poor = gateway_for(channel, credits="5")
    try:
        cases = [
            (poor.submit("MUSIC", prompt="[Verse]\nla la"), 402, "insufficient_credits", "credit"),
            (poor.submit("MUSIC", prompt="[Verse]\nla la", mv="chirp-v9"), 400, None, "chirp-v3-0"),
            (poor.submit("LYRICS", prompt=""), 400, "invalid_request", "prompt"),
            (
                poor.submit("MUSIC", prompt="[Verse]\nla", title="t" * 200),
                400,
                "invalid_request",
                "title",
            ),
        ]
        for response, status, code, words in cases:
            assert response.status_code == status, response.text
            body = decode(response.json(), task_response(STRING))
            assert body["code"] != "success"
            if code:
                assert body["code"] == code
            assert words in body["message"], body
            assert response.headers["x-request-id"]
        assert balance(poor) == 5
        assert [r for r in ledger(poor) if r["task_id"]] == []  # only the initial grant
    finally:
        poor.close()


def test_a_failed_task_reaches_the_gateway_as_failure_with_a_reason_and_one_refund(
    tmp_path: Path,
) -> None:
    """A task that outlives its deadline (one second on this server) fails; new-api refunds
    its user on FAILURE or a non-empty fail_reason, and Cadenza refunds the channel key."""
    server = launch(
        tmp_path,
        env_extra={
            "CADENZA_TASK_TIMEOUT_S": "1",
            "CADENZA_REAPER_INTERVAL_S": "1",
            "CADENZA_WARM_START": "false",
        },
    )
    gateway = gateway_for(server, credits="20")
    try:
        task_id = gateway.submitted_id(gateway.submit("MUSIC", prompt="[Verse]\nToo slow"))
        item = gateway.wait_all([task_id], timeout_s=120)[task_id]
        assert item["status"] == "FAILURE"
        assert re.search(r"timed out", item["fail_reason"]), item
        assert item["finish_time"] >= item["submit_time"] > 0
        clips = decode(item["data"], Slice(SUNO_SONG))
        assert clips and all(c["status"] == "error" for c in clips)
        assert gateway.fetch_one(task_id)["status"] == "FAILURE"
        kinds = sorted(r["transaction_type"] for r in ledger(gateway) if r["task_id"] == task_id)
        assert kinds == ["CONSUME", "REFUND"]
        assert balance(gateway) == 20
    finally:
        gateway.close()
        stop(server)
