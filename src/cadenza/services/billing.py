"""Prices, the ledger, and the charge/refund rules every other use case relies on."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation

from cadenza.domain.actions import DEFAULT_PRICES, Price
from cadenza.domain.billing import ApiKey, EntryType, LedgerEntry
from cadenza.domain.errors import InvalidInput, NotFound
from cadenza.domain.tasks import Task, new_id, utcnow
from cadenza.services.ports import UnitOfWork, UnitOfWorkFactory

#: Largest amount ``Numeric(18, 4)`` holds.
MAX_AMOUNT = Decimal("99999999999999.9999")
MAX_TRANSACTIONS = 500


def parse_amount(value: object, name: str = "amount", *, allow_negative: bool = False) -> Decimal:
    """A money amount from user input: exact, at most 4 decimal places, in range."""
    if isinstance(value, float):
        raise InvalidInput(f"{name} must be given as a decimal string, not a float")
    try:
        amount = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except InvalidOperation:
        raise InvalidInput(f"{name} must be a number") from None
    if not amount.is_finite():
        raise InvalidInput(f"{name} must be a finite number")
    if abs(amount) > MAX_AMOUNT or amount != amount.quantize(Decimal("0.0001")):
        raise InvalidInput(f"{name} must have at most 4 decimal places and be below 1e14")
    if amount < 0 and not allow_negative:
        raise InvalidInput(f"{name} must not be negative")
    return amount


def seed_prices(uow: UnitOfWorkFactory) -> None:
    """Insert the default price of every action that has none (operators' edits stay)."""
    with uow() as u:
        for price in DEFAULT_PRICES:
            if u.prices.get(price.action) is None:
                u.prices.upsert(price)
        u.commit()


def list_prices(uow: UnitOfWorkFactory) -> list[Price]:
    with uow(read_only=True) as u:
        return u.prices.list()


def set_price(
    uow: UnitOfWorkFactory,
    action: str,
    *,
    price: Decimal | None = None,
    enabled: bool | None = None,
    refund_on_failure: bool | None = None,
    display_name: str | None = None,
) -> Price:
    """Change fields of an action's price; a new action needs an explicit price."""
    name = str(action).strip().upper()
    if not name or len(name) > 32:
        raise InvalidInput("action must be 1 to 32 characters")
    amount = parse_amount(price, "price") if price is not None else None
    with uow() as u:
        current = u.prices.get(name)
        if current is None:
            if amount is None:
                raise NotFound(f"no price for action '{name}'; give a price to create one")
            current = Price(name, name, amount)
        updated = Price(
            action=name,
            display_name=display_name if display_name is not None else current.display_name,
            price=amount if amount is not None else current.price,
            enabled=enabled if enabled is not None else current.enabled,
            refund_on_failure=(
                refund_on_failure if refund_on_failure is not None else current.refund_on_failure
            ),
        )
        u.prices.upsert(updated)
        u.commit()
        return updated


def transactions(uow: UnitOfWorkFactory, key: ApiKey, limit: int = 100) -> list[LedgerEntry]:
    """The key's ledger, newest first."""
    if not 1 <= limit <= MAX_TRANSACTIONS:
        raise InvalidInput(f"limit must be between 1 and {MAX_TRANSACTIONS}")
    with uow(read_only=True) as u:
        return u.ledger.list_for_key(key.id, limit)


def charge_and_commit(u: UnitOfWork, task: Task, *, limit_active: bool) -> LedgerEntry:
    """The one charge of every priced action: debit the task's price under its key's lock,
    record it, and commit the caller's transaction with it (the task and whatever the
    action writes must be in it already). ``limit_active`` counts the task against the
    key's concurrency limit; actions answered at once skip it."""
    amount = Decimal(task.price)
    entry = LedgerEntry(
        id=new_id(),
        key_id=task.key_id,
        entry_type=EntryType.CONSUME,
        change_amount=-amount,
        balance_after=Decimal(0),
        action=str(task.action),
        task_id=task.id,
        note="",
    )
    return u.admit(entry, limit_active=limit_active)


def refund(u: UnitOfWork, task: Task, now: datetime | None = None) -> LedgerEntry | None:
    """Give a failed task's price back when its price allows it, inside the caller's transaction.

    Raises ``DuplicateLedgerEntry`` when the task was already refunded: the caller must
    then roll back its whole transaction (the balance was already credited in it).
    """
    amount = Decimal(task.price)
    if amount <= 0:
        return None
    price = u.prices.get(task.action)
    if price is not None and not price.refund_on_failure:
        return None
    balance = u.keys.credit(task.key_id, amount)
    entry = LedgerEntry(
        id=new_id(),
        key_id=task.key_id,
        entry_type=EntryType.REFUND,
        change_amount=amount,
        balance_after=balance,
        action=str(task.action),
        task_id=task.id,
        note=task.fail_reason[:200],
        created_at=now or utcnow(),
    )
    u.ledger.add(entry)
    return entry
