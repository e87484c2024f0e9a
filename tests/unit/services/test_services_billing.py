from __future__ import annotations

from decimal import Decimal

import pytest

from cadenza.domain.actions import DEFAULT_PRICES, Action
from cadenza.domain.errors import InvalidInput, NotFound
from cadenza.services import billing, keys
from cadenza.services.ports import UnitOfWorkFactory


def test_seed_prices_keeps_operator_edits(uow: UnitOfWorkFactory) -> None:
    billing.set_price(uow, Action.MUSIC, price=Decimal("3.5"), enabled=False)
    billing.seed_prices(uow)
    prices = {p.action: p for p in billing.list_prices(uow)}
    assert len(prices) == len(DEFAULT_PRICES)
    assert prices[Action.MUSIC].price == Decimal("3.5")
    assert not prices[Action.MUSIC].enabled
    assert prices[Action.UPSAMPLE_TAGS].price == Decimal("0.5")


def test_set_price_changes_only_given_fields(uow: UnitOfWorkFactory) -> None:
    updated = billing.set_price(uow, "crop", refund_on_failure=False, display_name="Cut")
    assert updated.action == "CROP"
    assert updated.price == Decimal("2")
    assert not updated.refund_on_failure
    assert updated.display_name == "Cut"
    with pytest.raises(NotFound):
        billing.set_price(uow, "NEW_THING", enabled=True)
    created = billing.set_price(uow, "NEW_THING", price=Decimal("1.25"))
    assert created.enabled and created.price == Decimal("1.25")
    with pytest.raises(InvalidInput):
        billing.set_price(uow, "CROP", price=Decimal("-1"))


def test_transactions_limit_bounds(uow: UnitOfWorkFactory) -> None:
    key, _ = keys.create_key(uow, name="k", credits=Decimal(1))
    for amount in ("1", "2", "3"):
        keys.grant_credits(uow, key.id, Decimal(amount))
    assert [e.change_amount for e in billing.transactions(uow, key, limit=2)] == [3, 2]
    for bad in (0, 501):
        with pytest.raises(InvalidInput):
            billing.transactions(uow, key, limit=bad)
    assert len(billing.transactions(uow, key, limit=500)) == 4


@pytest.mark.parametrize("raw", ["abc", "NaN", "Infinity", 0.1, "1e20", "0.00001"])
def test_parse_amount_refuses_inexact_input(raw: object) -> None:
    with pytest.raises(InvalidInput):
        billing.parse_amount(raw)
