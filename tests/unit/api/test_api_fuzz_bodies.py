"""Arbitrary JSON in every field of every JSON POST route: never a 5xx, always the error
envelope with a request id, and the key's balance moves only on a 200.

Each draw starts from a request the route accepts (pointing at the key's own clip and
task) and replaces one to three fields: with a value of the field's own JSON type that is
nasty (text with lone surrogates or control characters, NaN, infinities, huge numbers),
with any JSON value at all, or with a plausible one; sometimes it adds an unknown field or
sends a body that is not an object. So most draws get past the other fields and reach the
services and the database.
"""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openapi_support import Document

from cadenza.bootstrap import Container

ODD_TEXT = st.sampled_from(
    ["\ud83d", "a\udc00b", "\x00", "evil\x1b[31m\n", "\u202e", "", " ", "💥", "../../x", "x" * 6000]
)
#: Any code point, lone surrogates and controls included (hypothesis leaves surrogates out
#: unless asked).
ANY_TEXT = st.text(alphabet=st.characters(exclude_categories=[]), max_size=30)
TEXT = st.one_of(ANY_TEXT, ODD_TEXT, st.text(max_size=40))
NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(),
    st.sampled_from([10**400, -(10**400), 2**63, -1, 0, 1e308, -0.0, 1e-300]),
)
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, TEXT)
ANY_JSON = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(TEXT, inner, max_size=4)),
    max_leaves=12,
)
NASTY_BY_TYPE = {
    "string": TEXT,
    "number": NUMBERS,
    "integer": NUMBERS,
    "boolean": st.one_of(st.booleans(), st.sampled_from([0, 1, "true", "yes"])),
    "array": st.lists(st.one_of(TEXT, NUMBERS), max_size=5),
    "object": st.dictionaries(TEXT, SCALARS, max_size=4),
}


def json_post_routes(client: TestClient) -> dict[str, dict[str, str]]:
    """Every POST route of the sunocore dialect with a JSON body (the polling route's twin
    included; the multipart upload form is not JSON), with the JSON type of each field.
    AceData's answer in their own envelope: ``acedata/test_acedata_fuzz.py``."""
    return Document(client.get("/openapi.json").json()).json_bodies("sunocore")


def valid_bodies(clip_id: str, task_id: str) -> dict[str, dict[str, Any]]:
    """A request each route accepts, pointing at the key's own clip and task."""
    return {
        "/suno/submit/music": {"prompt": "[Verse]\nla la", "title": "T", "tags": "pop"},
        "/suno/submit/lyrics": {"prompt": "a song about rain"},
        "/suno/submit/upsample": {"clip_id": clip_id},
        "/suno/submit/concat": {"clip_id": clip_id},
        "/suno/submit/speed-adjust": {"clip_id": clip_id, "speed_multiplier": 1.5},
        "/api/crop": {"song_id": clip_id, "crop_start_s": 0, "crop_end_s": 5},
        "/suno/api/create_audio_upload": {"extension": "mp3"},
        "/suno/uploads/audio-url": {"upload_id": "missing"},
        "/suno/persona/create": {"root_clip_id": clip_id, "name": "p"},
        "/suno/persona/create-with-vox-stem": {"song_id": clip_id},
        "/api/playlist/create_with_clips": {"name": "pl", "clip_ids": [clip_id]},
        "/api/generate/upsample-tags": {"original_tags": "pop"},
        "/suno/prompt_image": {"prompt": "a cat"},
        "/suno/fetch": {"ids": [task_id]},
    }


def balance(container: Container, key_id: str) -> Decimal:
    with container.uow(read_only=True) as u:
        key = u.keys.get(key_id)
    assert key is not None
    return Decimal(key.credits_balance)


def test_arbitrary_values_in_every_field_never_crash_or_charge(
    client: TestClient, container: Container, make_key: Any
) -> None:
    key_id, headers = make_key("1000000", rpm=10**6, concurrency=10**6)
    routes = json_post_routes(client)
    assert {"/suno/submit/music", "/suno/submit/lyrics", "/suno/fetch", "/api/crop"} <= set(routes)
    # Something real to point at, so plausible draws reach the services.
    seeded = client.post(
        "/suno/submit/music", json={"prompt": "[Verse]\nla la"}, headers=headers
    ).json()["data"]
    task = client.get(f"/suno/fetch/{seeded}", headers=headers).json()["data"]
    clip_id = task["data"][0]["id"]
    plausible = st.sampled_from(
        [clip_id, seeded, "[Verse]\nhello star", "pop, rock", 0, 1, 2.5, 30, True, [clip_id]]
    )
    valid = valid_bodies(clip_id, seeded)
    seen: dict[int, int] = {}

    @settings(
        max_examples=600,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        database=None,
    )
    @given(data=st.data())
    def check(data: st.DataObject) -> None:
        path = data.draw(st.sampled_from(sorted(routes)), label="route")
        fields = routes[path]
        body: Any = dict(valid.get(path, {}))
        for name in data.draw(st.lists(st.sampled_from(sorted(fields)), min_size=1, max_size=3)):
            kind = data.draw(st.sampled_from(["nasty", "nasty", "any", "plausible"]))
            strategy = {
                "nasty": NASTY_BY_TYPE.get(fields[name], ANY_JSON),
                "any": ANY_JSON,
                "plausible": plausible,
            }[kind]
            body[name] = data.draw(strategy, label=name)
        shape = data.draw(st.sampled_from(["fields"] * 6 + ["extra", "top"]), label="shape")
        if shape == "extra":
            body[data.draw(TEXT, label="key")] = data.draw(ANY_JSON, label="extra")
        elif shape == "top":
            body = data.draw(ANY_JSON, label="top")
        raw = json.dumps(body, allow_nan=True)  # NaN/Infinity tokens, \\ud83d escapes
        before = balance(container, key_id)
        answer = client.post(
            path, content=raw.encode(), headers={**headers, "Content-Type": "application/json"}
        )
        seen[answer.status_code] = seen.get(answer.status_code, 0) + 1
        assert answer.status_code < 500, (path, raw[:300], answer.text)
        assert answer.headers.get("x-request-id"), (path, raw[:300])
        envelope = answer.json()
        assert set(envelope) == {"code", "message", "data"}, envelope
        assert isinstance(envelope["message"], str) and envelope["message"].isprintable()
        if answer.status_code != 200:
            assert envelope["code"] != "success" and envelope["data"] is None, envelope
            assert balance(container, key_id) == before, (path, raw[:300], answer.text)
        else:
            assert envelope["code"] == "success"

    check()
    # The draws reached past validation: some were accepted, some refused.
    assert seen.get(200, 0) >= 30 and seen.get(400, 0) >= 30, seen


def test_json_dumps_writes_the_tokens_the_fuzzer_relies_on() -> None:
    # The body goes out as Python writes it: NaN/Infinity tokens and \\uXXXX escapes.
    assert json.dumps([math.nan, math.inf, "\ud83d"]) == '[NaN, Infinity, "\\ud83d"]'
