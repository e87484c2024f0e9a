"""Callback rules: the URL's form, backoff with full jitter, and when to give up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cadenza.domain.callbacks import (
    BACKOFF_CAP_S,
    MAX_ATTEMPTS,
    Callback,
    DeliveryStatus,
    after_attempt,
    backoff_s,
)
from cadenza.domain.errors import InvalidInput

NOW = datetime(2026, 12, 9, tzinfo=UTC)


@pytest.mark.parametrize(
    "url",
    ["", "ftp://example.com/x", "example.com/hook", "https://", "https://u:p@example.com/",
     "https://example.com/" + "a" * 2000],
)  # fmt: skip
def test_a_bad_callback_url_is_invalid_input(url: str) -> None:
    with pytest.raises(InvalidInput):
        Callback(url, "acedata")


def test_a_callback_url_is_kept_trimmed() -> None:
    assert Callback("  https://example.com/hook?a=1 ", "acedata").url == (
        "https://example.com/hook?a=1"
    )


def test_backoff_doubles_to_its_cap_with_full_jitter() -> None:
    ceilings = [backoff_s(n, draw=lambda low, high: high) for n in range(1, 12)]
    assert ceilings[:5] == [2.0, 4.0, 8.0, 16.0, 32.0]
    assert max(ceilings) == BACKOFF_CAP_S == ceilings[-1]
    assert backoff_s(3, draw=lambda low, high: low) == 0.0
    drawn = [backoff_s(4) for _ in range(200)]
    assert all(0.0 <= d <= 16.0 for d in drawn) and len(set(drawn)) > 100


def test_outcomes_of_an_attempt() -> None:
    half = lambda low, high: high / 2  # noqa: E731
    done = after_attempt(1, True, False, None, NOW)
    assert done.status is DeliveryStatus.DELIVERED and done.last_error == ""
    again = after_attempt(2, False, True, "HTTP 503", NOW, draw=half)
    assert again.status is DeliveryStatus.PENDING and again.last_error == "HTTP 503"
    assert again.next_attempt_at == NOW + timedelta(seconds=2)
    refused = after_attempt(1, False, False, "HTTP 404", NOW)
    assert refused.status is DeliveryStatus.FAILED
    last = after_attempt(MAX_ATTEMPTS, False, True, None, NOW)
    assert last.status is DeliveryStatus.FAILED and last.last_error == "delivery failed"
    assert after_attempt(MAX_ATTEMPTS - 1, False, True, "x" * 900, NOW).last_error == "x" * 500
