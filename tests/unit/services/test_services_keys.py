from __future__ import annotations

from decimal import Decimal

import pytest

from cadenza.domain.billing import EntryType
from cadenza.domain.errors import InvalidInput, NotFound, Unauthorized
from cadenza.services import billing, keys
from cadenza.services.ports import UnitOfWorkFactory
from cadenza.services.views import UowViews


def test_created_key_authenticates_and_secret_is_not_stored(uow: UnitOfWorkFactory) -> None:
    key, secret = keys.create_key(uow, name="alice", credits=Decimal("12.5"))
    assert secret.startswith("sk_")
    found = keys.authenticate(UowViews(uow), secret)
    assert found.id == key.id
    assert found.credits_balance == Decimal("12.5000")
    assert secret not in found.key_hash
    entries = billing.transactions(uow, found)
    assert [(e.entry_type, e.change_amount, e.balance_after) for e in entries] == [
        (EntryType.TOPUP, Decimal("12.5"), Decimal("12.5"))
    ]


def test_zero_credit_key_has_no_ledger_row(uow: UnitOfWorkFactory) -> None:
    key, _ = keys.create_key(uow, name="bob")
    assert billing.transactions(uow, key) == []


@pytest.mark.parametrize("secret", [None, "", "sk_unknown", "x" * 1000])
def test_bad_secrets_are_unauthorized_with_one_message(
    uow: UnitOfWorkFactory, secret: str | None
) -> None:
    with pytest.raises(Unauthorized) as err:
        keys.authenticate(UowViews(uow), secret)
    assert err.value.message == "invalid or missing API key"


def test_revoked_key_stops_at_once_by_id_or_prefix(uow: UnitOfWorkFactory) -> None:
    key, secret = keys.create_key(uow, name="a")
    other, other_secret = keys.create_key(uow, name="b")
    assert keys.revoke_key(uow, key.id).revoked
    with pytest.raises(Unauthorized) as err:
        keys.authenticate(UowViews(uow), secret)
    assert err.value.message == "invalid or missing API key"
    keys.revoke_key(uow, other.key_prefix)
    with pytest.raises(Unauthorized):
        keys.authenticate(UowViews(uow), other_secret)
    with pytest.raises(NotFound):
        keys.revoke_key(uow, "nope")


def test_grant_credits_topup_and_adjust_never_below_zero(uow: UnitOfWorkFactory) -> None:
    key, _ = keys.create_key(uow, name="c", credits=Decimal("5"))
    assert keys.grant_credits(uow, key.id, Decimal("2.25"), "gift") == Decimal("7.25")
    assert keys.grant_credits(uow, key.key_prefix, Decimal("-7"), "fix") == Decimal("0.25")
    with pytest.raises(InvalidInput):
        keys.grant_credits(uow, key.id, Decimal("-1"))
    with pytest.raises(InvalidInput):
        keys.grant_credits(uow, key.id, Decimal("0"))
    with pytest.raises(InvalidInput):
        keys.grant_credits(uow, key.id, Decimal("0.00001"))
    entries = billing.transactions(uow, key)
    assert [e.entry_type for e in entries] == [EntryType.ADJUST, EntryType.TOPUP, EntryType.TOPUP]
    assert [e.balance_after for e in entries] == [Decimal("0.25"), Decimal("7.25"), Decimal("5")]
    assert entries[1].note == "gift"


def test_create_key_validates(uow: UnitOfWorkFactory) -> None:
    with pytest.raises(InvalidInput):
        keys.create_key(uow, name=" ")
    with pytest.raises(InvalidInput):
        keys.create_key(uow, name="x", credits=Decimal("-1"))
    with pytest.raises(InvalidInput):
        keys.create_key(uow, name="x", concurrency_limit=0)
    assert keys.list_keys(uow) == []


def test_ensure_admin_key_only_once(uow: UnitOfWorkFactory) -> None:
    secret = keys.ensure_admin_key(uow)
    assert secret is not None
    assert keys.authenticate(UowViews(uow), secret).is_admin
    assert keys.ensure_admin_key(uow) is None
    keys.revoke_key(uow, keys.authenticate(UowViews(uow), secret).id)
    assert keys.ensure_admin_key(uow) is not None
    assert sum(k.is_admin for k in keys.list_keys(uow)) == 2
