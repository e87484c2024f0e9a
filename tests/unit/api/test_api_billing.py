"""Billing routes of seed 000 §4: pricing, identity and the ledger."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient

from cadenza.bootstrap import Container
from cadenza.services import billing


def test_pricing_lists_every_action(client: TestClient, make_key: Any) -> None:
    _, headers = make_key()
    body = client.get("/suno/billing/pricing", headers=headers).json()
    assert body["code"] == "success" and body["message"] == ""
    music = next(p for p in body["data"] if p["action"] == "MUSIC")
    assert set(music) == {"action", "display_name", "price", "enabled", "refund_on_failure"}
    assert music["price"] == 10 and isinstance(music["price"], int)
    assert music["enabled"] is True and music["refund_on_failure"] is True
    half = next(p for p in body["data"] if p["action"] == "UPSAMPLE_TAGS")
    assert half["price"] == 0.5


def test_me_shows_the_key_without_its_secret(client: TestClient, make_key: Any) -> None:
    key_id, headers = make_key("12.5", rpm=77, concurrency=3)
    response = client.get("/suno/billing/me", headers=headers)
    data = response.json()["data"]
    assert data["auth_type"] == "api_key" and data["is_admin"] is False
    api_key = data["api_key"]
    assert api_key["id"] == key_id
    assert api_key["credits_balance"] == 12.5
    assert api_key["rate_limit_per_minute"] == 77
    assert api_key["concurrency_limit"] == 3
    assert headers["X-API-Key"].startswith(api_key["key_prefix"])
    assert headers["X-API-Key"] not in response.text
    assert api_key["created_at"].endswith("Z")


def test_transactions_after_a_submit(client: TestClient, make_key: Any) -> None:
    _, headers = make_key("100")
    task_id = client.post(
        "/suno/submit/music", json={"tags": "pop", "prompt": "a song"}, headers=headers
    ).json()["data"]
    rows = client.get("/suno/billing/transactions", headers=headers).json()["data"]
    consume = [r for r in rows if r["transaction_type"] == "CONSUME"]
    assert len(consume) == 1
    assert consume[0]["task_id"] == task_id
    assert consume[0]["action"] == "MUSIC"
    assert consume[0]["change_amount"] == -10
    assert consume[0]["balance_after"] == 90
    assert {"task_id", "action", "change_amount", "balance_after", "transaction_type"} <= set(
        consume[0]
    )
    assert (
        client.get("/suno/billing/me", headers=headers).json()["data"]["api_key"]["credits_balance"]
        == 90
    )


def test_transactions_limit_bounds(client: TestClient, make_key: Any) -> None:
    _, headers = make_key("100")
    for _ in range(3):
        client.post("/suno/submit/music", json={"tags": "rock"}, headers=headers)
    limited = client.get("/suno/billing/transactions?limit=2", headers=headers).json()["data"]
    assert len(limited) == 2
    for bad in ("0", "501", "abc"):
        response = client.get(f"/suno/billing/transactions?limit={bad}", headers=headers)
        assert response.status_code == 400
        assert response.json()["code"] == "invalid_request"


def test_disabled_price_is_403_and_charges_nothing(
    client: TestClient, container: Container, make_key: Any
) -> None:
    _, headers = make_key("100")
    billing.set_price(container.uow, "MUSIC", enabled=False)
    response = client.post("/suno/submit/music", json={"tags": "jazz"}, headers=headers)
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"
    assert response.json()["data"] is None
    me = client.get("/suno/billing/me", headers=headers).json()["data"]["api_key"]
    assert me["credits_balance"] == 100
    billing.set_price(container.uow, "MUSIC", price=Decimal("3"), enabled=True)
    assert (
        client.post("/suno/submit/music", json={"tags": "jazz"}, headers=headers).status_code == 200
    )
