"""Authentication and rate limits: one uniform 401, 429 with an integer Retry-After."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from cadenza.bootstrap import Container
from cadenza.services import keys

UNAUTHORIZED = {"code": "unauthorized", "message": "invalid or missing API key", "data": None}


def test_missing_key_is_401(client: TestClient) -> None:
    response = client.get("/suno/billing/me")
    assert response.status_code == 401
    assert response.json() == UNAUTHORIZED


def test_wrong_key_is_401(client: TestClient) -> None:
    response = client.get("/suno/billing/me", headers={"X-API-Key": "sk_not-a-real-key"})
    assert response.status_code == 401
    assert response.json() == UNAUTHORIZED
    bearer = client.get("/suno/billing/me", headers={"Authorization": "Bearer sk_nope"})
    assert bearer.status_code == 401
    assert bearer.json() == UNAUTHORIZED


def test_revoked_key_is_401(client: TestClient, container: Container, make_key: Any) -> None:
    key_id, headers = make_key()
    assert client.get("/suno/billing/me", headers=headers).status_code == 200
    keys.revoke_key(container.uow, key_id)
    response = client.get("/suno/billing/me", headers=headers)
    assert response.status_code == 401
    assert response.json() == UNAUTHORIZED


def test_bearer_header_authenticates(client: TestClient, make_key: Any) -> None:
    key_id, headers = make_key()
    response = client.get(
        "/suno/billing/me", headers={"Authorization": f"Bearer {headers['X-API-Key']}"}
    )
    assert response.status_code == 200
    assert response.json()["data"]["api_key"]["id"] == key_id


def test_submit_without_key_is_401_even_with_bad_body(client: TestClient) -> None:
    response = client.post("/suno/submit/music", content=b"{not json")
    assert response.status_code == 401
    assert response.json() == UNAUTHORIZED


def test_rate_limit_is_429_with_integer_retry_after(client: TestClient, make_key: Any) -> None:
    _, limited = make_key(rpm=3)
    _, other = make_key(rpm=3)
    statuses = [client.get("/suno/billing/pricing", headers=limited).status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    response = client.get("/suno/fetch/anything", headers=limited)
    assert response.status_code == 429
    assert response.json()["code"] == "rate_limited"
    assert response.json()["data"] is None
    retry_after = response.headers["Retry-After"]
    assert retry_after.isdigit() and 1 <= int(retry_after) <= 60
    # One saturated key does not reject another.
    assert client.get("/suno/billing/pricing", headers=other).status_code == 200


def test_health_needs_no_key_and_responses_carry_request_id(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.headers["x-request-id"]
    echoed = client.get("/healthz", headers={"X-Request-ID": "abc123"})
    assert echoed.headers["x-request-id"] == "abc123"


def test_metrics_exposes_request_counts(client: TestClient) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    for _ in range(3):
        client.get("/healthz")
    client.get("/suno/fetch/missing")  # no key: a 401 on the poll route
    families = {f.name: f for f in text_string_to_metric_families(client.get("/metrics").text)}
    counts = {
        (s.labels["route"], s.labels["status"]): s.value
        for s in families["cadenza_http_requests"].samples
        if s.name == "cadenza_http_requests_total"
    }
    assert counts[("/healthz", "200")] == 3
    assert counts[("/suno/fetch/{task_id}", "401")] == 1
    latency = [
        s
        for s in families["cadenza_http_request_seconds"].samples
        if s.labels.get("route") == "/healthz"
    ]
    buckets = [s for s in latency if s.name.endswith("_bucket")]
    assert [s.labels["le"] for s in buckets][-1] == "+Inf"
    assert [s.value for s in buckets] == sorted(s.value for s in buckets)  # cumulative
    assert buckets[-1].value == 3
    count = next(s for s in latency if s.name.endswith("_count"))
    total = next(s for s in latency if s.name.endswith("_sum"))
    assert count.value == 3 and 0 < total.value < 30


def test_auth_cache_forgets_keys_after_its_ttl(monkeypatch: Any) -> None:
    from cadenza.api import deps
    from cadenza.domain.billing import new_api_key

    now = [1000.0]
    monkeypatch.setattr(deps.time, "monotonic", lambda: now[0])
    cache = deps.AuthCache(ttl_s=1.0, max_entries=2)
    key, _ = new_api_key("cached")
    cache.put("digest", key)
    assert cache.get("digest") is key
    now[0] += 1.5
    assert cache.get("digest") is None
    for i in range(5):  # bounded: never more than max_entries
        cache.put(f"d{i}", key)
    assert len(cache._entries) <= 2
    assert deps.AuthCache(ttl_s=0).get("digest") is None


def test_revocation_reaches_a_cached_key_after_the_ttl(
    client: TestClient, container: Container, make_key: Any, monkeypatch: Any
) -> None:
    from cadenza.api import deps

    now = [5000.0]
    monkeypatch.setattr(deps.time, "monotonic", lambda: now[0])
    cache = client.app.state.auth_cache  # type: ignore[attr-defined]
    cache.ttl_s = 1.0
    key_id, headers = make_key()
    assert client.get("/suno/billing/pricing", headers=headers).status_code == 200
    keys.revoke_key(container.uow, key_id)
    now[0] += 1.01
    assert client.get("/suno/billing/pricing", headers=headers).status_code == 401


def test_every_request_is_logged_as_one_json_line(
    container: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from cadenza.api.app import create_app

    with TestClient(create_app(container, manage_queue=False)) as client:
        client.get("/healthz", headers={"X-Request-ID": "line-test"})
        client.get("/suno/fetch/x", headers={"X-Request-ID": "line-test-2"})
    # Lines are gathered briefly and written together; all are out once the server stops.
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]
    requests = {line["request_id"]: line for line in lines if line.get("event") == "request"}
    assert requests["line-test"]["path"] == "/healthz"
    assert requests["line-test"]["status"] == 200
    assert requests["line-test-2"] | {"ms": 0, "timestamp": ""} == {
        "request_id": "line-test-2",
        "method": "GET",
        "path": "/suno/fetch/{task_id}",
        "status": 401,
        "key_id": None,
        "ms": 0,
        "event": "request",
        "level": "info",
        "timestamp": "",
    }
    stamp = requests["line-test"]["timestamp"]
    assert stamp.endswith("Z") and len(stamp) == len("2026-01-01T00:00:00.000000Z")
