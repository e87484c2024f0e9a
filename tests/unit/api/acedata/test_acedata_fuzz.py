"""Arbitrary JSON in every field of every AceData POST route: no 5xx but a failed or
timed-out task's, every refusal in AceData's envelope with a code of the contract's table,
every answer as the document says, and the key's balance moves only on a 200.

The twin of ``test_api_fuzz_bodies`` (sunocore's), with its value strategies. The routes
and their fields come from ``/openapi.json``, so an AceData route added later is fuzzed
too. Each draw starts from a request the route accepts (pointing at the key's own clip
and task) and replaces one to three fields, sometimes adds an unknown one, sends a body
that is not an object or the request as it is; half ask for the ndjson stream.
"""

from __future__ import annotations

import json
from typing import Any, get_args

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openapi_support import Document
from test_api_fuzz import fake_engines
from test_api_fuzz_bodies import ANY_JSON, NASTY_BY_TYPE, TEXT, balance

from cadenza.api.acedata.models import ErrorCode
from cadenza.bootstrap import Container

CODES = frozenset(get_args(ErrorCode))
ENVELOPE_KEYS = {"success", "error", "trace_id", "task_id", "data"}
GENERATE = {"action": "generate", "prompt": "a song about the sea", "model": "chirp-v4"}
NDJSON = "application/x-ndjson"


@pytest.fixture
def container(container: Container, queue: Any, engine: Any) -> Container:
    """Every tool has an engine (fakes, as for schemathesis): a 5xx is then a fault."""
    return fake_engines(container, queue, engine)


def valid_bodies(clip_id: str, task_id: str) -> dict[str, list[dict[str, Any]]]:
    """Requests each route accepts, pointing at the key's own clip and task."""
    return {
        "/suno/audios": [
            GENERATE,
            {**GENERATE, "async": True},
            {"action": "generate", "custom": True, "lyric": "[Verse]\nla la", "style": "pop"},
            {"action": "extend", "audio_id": clip_id, "continue_at": 5, "instrumental": True},
            {"action": "cover", "audio_id": clip_id, "model": "chirp-v4"},
            {"action": "concat", "audio_id": clip_id},
            {"action": "remaster", "audio_id": clip_id, "model": "chirp-v5"},
        ],
        "/suno/lyrics": [{"prompt": "a song about rain", "model": "default"}],
        "/suno/style": [{"prompt": "dreamy synth-pop"}],
        "/suno/mashup-lyrics": [{"lyrics_a": "[Verse]\nrain", "lyrics_b": "[Verse]\nsun"}],
        "/suno/persona": [{"name": "me", "audio_id": clip_id}],
        "/suno/vox": [{"audio_id": clip_id, "vocal_start": 0, "vocal_end": 5}],
        **{
            f"/suno/{tool}": [{"audio_id": clip_id}, {"audio_id": clip_id, "async": True}]
            for tool in ("mp4", "timing", "wav", "midi")
        },
        "/suno/tasks": [
            {"id": task_id},
            {"action": "retrieve_batch", "ids": [task_id]},
            {"action": "retrieve_batch", "limit": 5, "offset": 0},
        ],
    }


def check_refusal(answer: Any, body: Any) -> None:
    """An error in AceData's envelope, with the request's trace id."""
    assert set(body) <= ENVELOPE_KEYS and body["success"] is False, body
    assert body["error"]["code"] in CODES, body
    message = body["error"]["message"]
    assert isinstance(message, str) and message and message.isprintable(), body
    assert body["trace_id"] == answer.headers["x-request-id"], body


def test_arbitrary_values_in_every_field_never_crash_or_charge(
    client: TestClient, container: Container, make_key: Any
) -> None:
    key_id, sent = make_key("1000000", rpm=10**6, concurrency=10**6)
    headers = {"Authorization": f"Bearer {sent['X-API-Key']}"}
    document = Document(client.get("/openapi.json").json())
    routes = document.json_bodies("acedata")
    assert {"/suno/audios", "/suno/tasks"} <= set(routes)
    # Something real to point at, so plausible draws reach the services.
    seeded = client.post("/suno/audios", json=GENERATE, headers=headers).json()
    task_id, clip_id = seeded["task_id"], seeded["data"][0]["id"]
    plausible = st.sampled_from(
        [
            *(clip_id, task_id, "[Verse]\nhello star", "pop, rock", "chirp-v4", 0, 1, 2.5, 30),
            *(True, False, None, [clip_id], [task_id, clip_id], "retrieve_batch", "extend"),
        ]
    )
    valid = valid_bodies(clip_id, task_id)
    seen: dict[int, int] = {}
    streams: list[int] = []
    failed_tasks: list[str] = []

    @settings(
        max_examples=400,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        database=None,
    )
    @given(data=st.data())
    def check(data: st.DataObject) -> None:
        # /suno/audios, the dialect's main route (the one that streams), drawn as often as
        # all the others together.
        path = data.draw(
            st.sampled_from(sorted(routes) + ["/suno/audios"] * (len(routes) - 1)), label="route"
        )
        fields = routes[path]
        body: Any = dict(data.draw(st.sampled_from(valid.get(path, [{}])), label="base"))
        shape = data.draw(st.sampled_from(["fields"] * 5 + ["extra", "top", "as is"]))
        names = st.lists(st.sampled_from(sorted(fields)), min_size=1, max_size=3)
        for name in [] if shape == "as is" else data.draw(names):
            kind = data.draw(st.sampled_from(["nasty", "nasty", "any", "plausible"]))
            strategy = {
                "nasty": NASTY_BY_TYPE.get(fields[name], ANY_JSON),
                "any": ANY_JSON,
                "plausible": plausible,
            }[kind]
            body[name] = data.draw(strategy, label=name)
        if shape == "extra":
            body[data.draw(TEXT, label="key")] = data.draw(ANY_JSON, label="extra")
        elif shape == "top":
            body = data.draw(ANY_JSON, label="top")
        accept = data.draw(st.sampled_from(["application/json", NDJSON]), label="accept")
        send(path, body, accept)

    def send(path: str, body: Any, accept: str) -> None:
        """Posts ``body`` and checks the answer, whatever it is."""
        raw = json.dumps(body, allow_nan=True)  # NaN/Infinity tokens, \\ud83d escapes
        before = balance(container, key_id)
        answer = client.post(
            path,
            content=raw.encode(),
            headers={**headers, "Content-Type": "application/json", "Accept": accept},
        )
        seen[answer.status_code] = seen.get(answer.status_code, 0) + 1
        assert answer.headers.get("x-request-id"), (path, raw[:300])
        where = (path, raw[:300], answer.text[:500])
        if answer.headers["content-type"].startswith(NDJSON):
            assert answer.status_code == 200, where
            schema = document.paths[path]["post"]["responses"]["200"]["content"][NDJSON]["schema"]
            lines = [json.loads(line) for line in answer.text.splitlines() if line]
            assert lines and lines[-1]["trace_id"] == answer.headers["x-request-id"], where
            for line in lines:
                document.validate(line, schema)
            streams.append(len(lines))
            return
        reply = document.check(answer, path)  # a documented status, and its schema
        if answer.status_code == 200:
            return
        check_refusal(answer, reply)
        if answer.status_code >= 500:
            # The contract's only 5xx: a task that failed (500) or outlived the wait (504).
            assert answer.status_code in (500, 504) and reply.get("task_id"), where
            assert reply["error"]["code"] == (
                "timeout" if answer.status_code == 504 else "api_error"
            )
            failed_tasks.append(reply["task_id"])
        else:
            assert balance(container, key_id) == before, where

    send("/suno/audios", GENERATE, NDJSON)  # one stream at least, whatever is drawn
    assert streams
    check()
    # The fake engine neither fails nor keeps a task past the wait: no 5xx at all.
    assert not failed_tasks, failed_tasks
    # The draws reached past validation: some were accepted, some refused.
    assert seen.get(200, 0) >= 20 and seen.get(400, 0) >= 20, seen
