"""The AceData dialect (seed 002) against a real ``cadenza serve`` and the real engine.

The requests are the seed's own examples, replayed as its Python snippets send them, and
the exact bodies of AceData's official SDK, MCP server and CLI (``acedata_clients``), whose
decoding rules read every answer. Each answer is checked field by field against the
contract (/work/shared/notes/acedata-contract.md) and against the media it points at: the
audio URL serves an MP3 that decodes to the duration the clip states.
"""

from __future__ import annotations

import importlib.util
import json
import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from acedata_checks import assert_clip
from acedata_clients import (
    MCP_HEADERS,
    SDK_HEADERS,
    cli_body,
    cli_print_audio_result,
    cli_print_task_result,
    cli_wait_status,
    mcp_generate_body,
    mcp_log_songs,
    mcp_task_is_complete,
    sdk_artifact_urls,
    sdk_generate_body,
    sdk_generate_result,
    sdk_progress,
    sdk_task_status,
)
from e2e_serving import Server, launch, new_key, stop

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        importlib.util.find_spec("cadenza.compose.pipeline") is None,
        reason="the built-in engine cadenza.compose.pipeline is absent",
    ),
]

#: Headers of the seed's snippets.
SEED_HEADERS = {"accept": "application/json", "content-type": "application/json"}
POLL_S = 0.5


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = launch(tmp_path_factory.mktemp("acedata"))
    try:
        yield server
    finally:
        stop(server)


class AceData:
    """One key, speaking AceData (``Authorization: Bearer``) and sunocore (its billing
    and fetch routes) to the same server."""

    def __init__(self, server: Server, credits: str = "200") -> None:
        self.key = new_key(server, credits, "--concurrency", "8", "--rpm", "600")
        self.http = httpx.Client(base_url=server.base, timeout=200)
        self.auth = {"authorization": f"Bearer {self.key}"}

    def post(self, path: str, body: Any, headers: dict[str, str] = SEED_HEADERS) -> httpx.Response:
        return self.http.post(path, json=body, headers={**headers, **self.auth})

    def audios(self, body: Any, headers: dict[str, str] = SEED_HEADERS) -> httpx.Response:
        return self.post("/suno/audios", body, headers)

    def record(self, task_id: str, headers: dict[str, str] = SDK_HEADERS) -> dict[str, Any]:
        answer = self.post("/suno/tasks", {"id": task_id, "action": "retrieve"}, headers)
        assert answer.status_code == 200, answer.text
        record: dict[str, Any] = answer.json()
        return record

    def balance(self) -> float:
        me = self.http.get("/suno/billing/me", headers={"X-API-Key": self.key}).json()
        value: float = me["data"]["api_key"]["credits_balance"]
        return value

    def ledger(self) -> list[dict[str, Any]]:
        answer = self.http.get("/suno/billing/transactions", headers={"X-API-Key": self.key})
        rows: list[dict[str, Any]] = answer.json()["data"]
        return [r for r in rows if r["task_id"]]

    def close(self) -> None:
        self.http.close()


@pytest.fixture
def acedata(server: Server) -> Iterator[AceData]:
    client = AceData(server)
    try:
        yield client
    finally:
        client.close()


def assert_songs(
    http: httpx.Client, answer: httpx.Response, *, model: str, clips: int = 2
) -> dict[str, Any]:
    """A blocking answer: 200, ``{success, task_id, trace_id, data}`` in that order,
    ``clips`` finished clips of two different songs."""
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    assert list(body) == ["success", "task_id", "trace_id", "data"], list(body)
    assert body["success"] is True
    uuid.UUID(body["task_id"])
    assert isinstance(body["trace_id"], str) and body["trace_id"]
    assert answer.headers["content-type"] == "application/json"
    data = body["data"]
    assert isinstance(data, list) and len(data) == clips
    assert len({c["id"] for c in data}) == clips
    for clip in data:
        assert_clip(http, clip, model=model)
    return body


def wait_record(
    client: AceData, task_id: str, timeout_s: float = 300
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Polls ``/suno/tasks`` until the SDK calls the task terminal; the last record and
    every one seen. Each poll is read by every client's rules on the way."""
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout_s
    while True:
        record = client.record(task_id)
        seen.append(record)
        assert "error" not in record or record.get("state") == "failed", record
        mcp_task_is_complete(record)  # raises if ``response`` were null
        cli_print_task_result(record)  # raises if a cell were not text
        if sdk_task_status(record):
            return record, seen
        assert "response" not in record, record
        assert time.monotonic() < deadline, f"task never finished: {record}"
        time.sleep(POLL_S)


# -- the seed's examples ---------------------------------------------------------------


def test_the_seeds_examples_work_as_written(acedata: AceData) -> None:
    http = acedata.http
    # 基本使用: inspiration mode.
    inspired = assert_songs(
        http,
        acedata.audios(
            {"action": "generate", "prompt": "A song for Christmas", "model": "chirp-v4-5"}
        ),
        model="chirp-v4-5",
    )
    for clip in inspired["data"]:
        assert clip["prompt"] == "A song for Christmas"
        assert clip["title"] and "[Verse]" in clip["lyric"]

    # 自定义生成的高级参数: custom mode with the advanced settings.
    custom = assert_songs(
        http,
        acedata.audios(
            {
                "action": "generate",
                "model": "chirp-v4-5",
                "lyric": "Hello Hello Hello ",
                "custom": True,
                "weirdness": 0.4,
                "style_influence": 0.4,
                "audio_weight": 0.4,
            }
        ),
        model="chirp-v4-5",
    )
    # The lyric comes back as sent (the outer spaces trimmed).
    assert [c["lyric"].strip() for c in custom["data"]] == ["Hello Hello Hello"] * 2
    source = custom["data"][0]

    # 继续生成功能: extend, with the seed's body (its lyric keeps the literal "\\n").
    lyric = (
        "[Verse]\\nSnowflakes falling all around\\nGlistening white\\nCovering the ground"
        "\\nChildren laughing\\nFull of delight"
    )
    extended = assert_songs(
        http,
        acedata.audios(
            {
                "action": "extend",
                "prompt": "A song for Christmas",
                "model": "chirp-v4-5",
                "audio_id": source["id"],
                "continue_at": 2,
                "lyric": lyric,
                "custom": True,
                "instrumental": False,
            }
        ),
        model="chirp-v4-5",
    )
    tail = extended["data"][0]

    # 获取完整歌曲: concat the chain ending with the extension.
    whole = acedata.audios({"action": "concat", "audio_id": tail["id"]})
    assert whole.status_code == 200, whole.text
    (song,) = whole.json()["data"]
    assert song["state"] == "succeeded" and song["id"] not in (tail["id"], source["id"])
    assert_clip(http, song, model=song["model"])
    history = song["concat_history"]
    assert [h["id"] for h in history] == [source["id"], tail["id"]], history
    # The cut lands on the bar line nearest the asked 2 s (half a bar of a slow song can
    # be over 2 s); the whole song is the source up to the cut, then the extension.
    cut = history[0]["continue_at"]
    assert cut > 0 and abs(cut - 2) < 2.5, history
    assert abs(song["duration"] - (cut + tail["duration"])) < 0.2, (song, tail)

    # 音乐翻版: cover.
    assert_songs(
        http,
        acedata.audios(
            {
                "action": "cover",
                "audio_id": tail["id"],
                "prompt": "A song for Christmas",
                "model": "chirp-v4-5",
            }
        ),
        model="chirp-v4-5",
    )

    # Remaster: no model in the seed's body (v5 then), variation_category high.
    remastered = acedata.audios(
        {"action": "remaster", "variation_category": "high", "audio_id": source["id"]}
    )
    body = assert_songs(http, remastered, model="chirp-v5", clips=len(remastered.json()["data"]))
    assert all(c["title"].endswith("(Remastered)") for c in body["data"]), body

    # Each action charged its price once, in the ledger both dialects read.
    rows = acedata.ledger()
    assert sorted((r["action"], r["transaction_type"]) for r in rows) == sorted(
        [("MUSIC", "CONSUME")] * 4 + [("CONCAT", "CONSUME"), ("UPSAMPLE", "CONSUME")]
    ), rows
    spent = -sum(r["change_amount"] for r in rows)
    assert acedata.balance() == 200 - spent


# -- the official clients ----------------------------------------------------------------


def test_sdk_and_mcp_submit_async_and_poll_tasks_to_the_end(acedata: AceData) -> None:
    http = acedata.http
    sdk_body = sdk_generate_body()
    sdk = acedata.audios(sdk_body, SDK_HEADERS)
    mcp_body = mcp_generate_body("A calm instrumental for a rainy night", instrumental=True)
    assert mcp_body["callback_url"] is None and mcp_body["async"] is True
    mcp = acedata.audios(mcp_body, MCP_HEADERS)

    for answer in (sdk, mcp):
        assert answer.status_code == 200, answer.text
        body = answer.json()
        # At once: MCP needs success, task_id and a data key; the SDK a task id and an
        # empty data (else it would take the answer for the result).
        assert list(body) == ["success", "task_id", "trace_id", "data"]
        assert body["success"] is True and body["data"] == []
        assert sdk_generate_result(body) == "handle"
        assert sdk_artifact_urls({"response": body}) == []
        assert mcp_log_songs(body) == []

    sdk_answer, mcp_answer = sdk.json(), mcp.json()
    record, seen = wait_record(acedata, sdk_answer["task_id"])
    assert sdk_task_status(record) == "succeeded" and sdk_progress(record) is None
    assert any("response" not in r and r["state"] in ("pending", "running") for r in seen)
    assert all(sdk_progress(r) is not None for r in seen[:-1])
    # The record (contract §3), with the body exactly as the SDK sent it.
    assert record["id"] == sdk_answer["task_id"]
    assert record["trace_id"] == sdk_answer["trace_id"]
    assert record["request"] == sdk_body
    assert (record["state"], record["status"], record["progress"]) == (
        "complete",
        "complete",
        "100%",
    )
    assert isinstance(record["created_at"], float)
    assert record["finished_at"] >= record["created_at"]
    assert "error" not in record
    response = record["response"]
    assert list(response) == ["success", "task_id", "trace_id", "data"]
    assert response["success"] is True and response["task_id"] == record["id"]
    assert len(response["data"]) == 2
    for clip in response["data"]:
        assert_clip(http, clip, model="chirp-v5-5")
    assert set(sdk_artifact_urls(record)) >= {c["audio_url"] for c in response["data"]}
    assert mcp_task_is_complete(record)
    assert cli_wait_status(record) == "complete"

    mcp_record, _ = wait_record(acedata, mcp_answer["task_id"])
    assert mcp_task_is_complete(mcp_record)
    assert mcp_record["request"] == mcp_body  # kept as sent, the null included
    lines = mcp_log_songs(mcp_record["response"])
    assert len(lines) == 2 and all(re.search(r" - \d+\.\ds$", line) for line in lines), lines
    for clip in mcp_record["response"]["data"]:
        assert_clip(http, clip, model="chirp-v5-5")

    # MCP's and the CLI's batch poll: {items, count}, no error key.
    batch = acedata.post(
        "/suno/tasks",
        {"ids": [sdk_answer["task_id"], mcp_answer["task_id"]], "action": "retrieve_batch"},
        MCP_HEADERS,
    )
    assert batch.status_code == 200, batch.text
    listed = batch.json()
    assert "error" not in listed and listed["count"] == 2
    assert {i["id"] for i in listed["items"]} == {sdk_answer["task_id"], mcp_answer["task_id"]}
    assert all(i["state"] == "complete" and i["response"]["success"] for i in listed["items"])
    assert "Audio URL" in cli_print_task_result(listed)


def test_cli_generates_synchronously_and_prints_its_songs(acedata: AceData) -> None:
    # ``suno generate "..." --instrumental``: every unset option is None and stripped.
    body = cli_body(
        action="generate",
        prompt="Chill lo-fi beat for studying",
        title=None,
        style=None,
        model="chirp-v5-5",
        instrumental=True,
        variation_category=None,
        weirdness=None,
        lyric_prompt=None,
        audio_urls=None,
        duration=None,
        vocal_gender=None,
        negative_tags=None,
        style_influence=None,
        audio_weight=None,
        callback_url=None,
    )
    answer = acedata.audios(body, MCP_HEADERS)
    songs = assert_songs(acedata.http, answer, model="chirp-v5-5")
    printed = cli_print_audio_result(songs)
    for clip in songs["data"]:
        assert f"{clip['duration']:.1f}s" in printed and clip["id"] in printed
        assert clip["lyric"] == ""  # instrumental
    # ``suno task <id>`` and ``suno wait <id>`` on the finished task.
    record = acedata.record(songs["task_id"], MCP_HEADERS)
    shown = cli_print_task_result(record)
    assert songs["task_id"] in shown and "complete" in shown and "100%" in shown
    assert cli_wait_status(record) == "complete"


def test_ndjson_streams_snapshots_until_the_songs_are_done(acedata: AceData) -> None:
    body = {
        "action": "generate",
        "custom": True,
        "instrumental": True,
        "title": "Night Drive",
        "style": "synthwave",
        "model": "chirp-v4",
    }
    headers = {**SEED_HEADERS, "accept": "application/x-ndjson", **acedata.auth}
    with acedata.http.stream("POST", "/suno/audios", json=body, headers=headers) as answer:
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("application/x-ndjson")
        lines = [json.loads(line) for line in answer.iter_lines() if line]
    assert len(lines) >= 2
    task_ids = {line["task_id"] for line in lines}
    assert len(task_ids) == 1
    for line in lines[:-1]:
        assert list(line) == ["success", "task_id", "data"] and line["success"] is True
        assert all(c["state"] in ("pending", "running") for c in line["data"])
        # A pending clip has nothing to play; a running one may carry its preview.
        for clip in line["data"]:
            if clip["state"] == "pending":
                assert clip["audio_url"] == ""
            elif clip["audio_url"]:
                assert clip["audio_url"].startswith("http") and clip["duration"] > 0
    last = lines[-1]
    assert list(last) == ["success", "task_id", "trace_id", "data"]
    order = ["pending", "running", "succeeded"]
    states = [order.index(line["data"][0]["state"]) for line in lines]
    assert states == sorted(states) and states[-1] == 2
    for clip in last["data"]:
        assert clip["title"] == "Night Drive"
        assert_clip(acedata.http, clip, model="chirp-v4")


def test_bad_requests_answer_the_seeds_errors_and_charge_nothing(acedata: AceData) -> None:
    missing = str(uuid.uuid4())
    cases: list[tuple[dict[str, Any], int, str, str]] = [
        ({"action": "generate"}, 400, "bad_request", "prompt is required when generate audio"),
        (
            {"action": "generate", "custom": True},
            400,
            "bad_request",
            "lyric is required when generate custom audio",
        ),
        (
            {"action": "extend", "continue_at": 3},
            400,
            "bad_request",
            "audio_id is required when extend audio",
        ),
        (
            {"action": "extend", "audio_id": missing, "custom": True, "instrumental": True},
            400,
            "bad_request",
            "continue_at is required when extend audio",
        ),
        (
            {"action": "extend", "audio_id": missing, "continue_at": 3, "instrumental": True},
            400,
            "bad_request",
            "The song id does not exist or has been taken offline.",
        ),
        ({"prompt": "x", "model": "chirp-v9"}, 400, "bad_request", "model is invalid."),
        ({"prompt": "x", "instrumental": "yes"}, 400, "bad_request", "instrumental"),
        ({"action": "concat", "audio_id": missing}, 400, "bad_request", "The song id does not"),
        ({"prompt": "x" * 501, "model": "chirp-v5"}, 400, "bad_request", "Topic too long."),
        (
            {"custom": True, "lyric": "x" * 5001, "model": "chirp-v5"},
            400,
            "bad_request",
            "Prompt too long.",
        ),
        (
            {"prompt": "x", "callback_url": "ftp://example.com/hook"},
            400,
            "bad_request",
            "callback_url",
        ),
    ]
    for body, status, code, message in cases:
        answer = acedata.audios(body)
        assert answer.status_code == status, (body, answer.text)
        error = answer.json()
        assert error["success"] is False and error["trace_id"], error
        assert error["error"]["code"] == code, (body, error)
        assert message in error["error"]["message"], (body, error)
    anonymous = acedata.http.post("/suno/audios", json={"prompt": "x"}, headers=SEED_HEADERS)
    assert anonymous.status_code == 400 and anonymous.json()["error"]["code"] == "no_token"
    wrong = acedata.http.post(
        "/suno/audios",
        json={"prompt": "x"},
        headers={**SEED_HEADERS, "authorization": "Bearer sk_not_a_key"},
    )
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_token"
    unknown = acedata.post("/suno/tasks", {"id": missing, "action": "retrieve"})
    assert unknown.status_code in (400, 404) and unknown.json()["success"] is False
    assert acedata.balance() == 200 and acedata.ledger() == []


# -- one domain ----------------------------------------------------------------------------


def test_a_sunocore_clip_extends_through_acedata_and_the_task_fetches_back(
    acedata: AceData,
) -> None:
    sunocore = {"X-API-Key": acedata.key}
    made = acedata.http.post(
        "/suno/submit/music",
        json={
            "gpt_description_prompt": "a calm piano piece",
            "make_instrumental": True,
            "mv": "chirp-v4",
        },
        headers=sunocore,
    )
    assert made.status_code == 200 and made.json()["code"] == "success", made.text
    sunocore_task = made.json()["data"]
    deadline = time.monotonic() + 300
    while True:
        fetched = acedata.http.get(f"/suno/fetch/{sunocore_task}", headers=sunocore).json()
        if fetched["data"]["status"] in ("SUCCESS", "FAILURE"):
            break
        assert time.monotonic() < deadline
        time.sleep(POLL_S)
    assert fetched["data"]["status"] == "SUCCESS", fetched
    source = fetched["data"]["data"][0]

    # The same clip id, through the other dialect: a blocking extend.
    extended = assert_songs(
        acedata.http,
        acedata.audios(
            {
                "action": "extend",
                "audio_id": source["id"],
                "continue_at": 10,
                "custom": True,
                "instrumental": True,
                "model": "chirp-v4",
            }
        ),
        model="chirp-v4",
    )
    # And back: sunocore fetches the AceData task, in its own shape.
    back = acedata.http.get(f"/suno/fetch/{extended['task_id']}", headers=sunocore)
    assert back.status_code == 200, back.text
    task = back.json()["data"]
    assert task["task_id"] == extended["task_id"] and task["status"] == "SUCCESS"
    assert task["progress"] == "100%" and task["fail_reason"] == ""
    assert [c["id"] for c in task["data"]] == [c["id"] for c in extended["data"]]
    assert [c["audio_url"] for c in task["data"]] == [c["audio_url"] for c in extended["data"]]
    assert all(c["status"] == "complete" for c in task["data"])
    # AceData's record of the sunocore task: the same task, no AceData body to hand back.
    record = acedata.record(sunocore_task)
    assert record["state"] == "complete" and record["request"] == {}
    assert [c["id"] for c in record["response"]["data"]] == [
        c["id"] for c in fetched["data"]["data"]
    ]

    # One price, one ledger: both songs are MUSIC at the same price.
    rows = {r["task_id"]: r for r in acedata.ledger()}
    mine, theirs = rows[sunocore_task], rows[extended["task_id"]]
    assert (mine["action"], mine["transaction_type"]) == ("MUSIC", "CONSUME")
    assert (theirs["action"], theirs["transaction_type"]) == ("MUSIC", "CONSUME")
    assert mine["change_amount"] == theirs["change_amount"] < 0
    price = acedata.http.get("/suno/billing/pricing", headers=sunocore).json()["data"]
    music = next(p["price"] for p in price if p["action"] == "MUSIC")
    assert -theirs["change_amount"] == music
    assert acedata.balance() == 200 - 2 * music
