"""API keys: authentication, issuing, revocation and credits."""

from __future__ import annotations

from decimal import Decimal

from cadenza.domain.billing import ApiKey, EntryType, LedgerEntry, hash_key, new_api_key
from cadenza.domain.errors import InvalidInput, NotFound, Unauthorized
from cadenza.domain.tasks import new_id
from cadenza.services.billing import parse_amount
from cadenza.services.ports import UnitOfWork, UnitOfWorkFactory, Views

#: One message for every failure, so a caller cannot tell unknown keys from revoked ones.
UNAUTHORIZED = "invalid or missing API key"
MAX_SECRET_LENGTH = 512


def authenticate(views: Views, secret: str | None) -> ApiKey:
    if not secret or len(secret) > MAX_SECRET_LENGTH:
        raise Unauthorized(UNAUTHORIZED)
    key = views.key_by_hash(hash_key(secret.strip()))
    if key is None or key.revoked:
        raise Unauthorized(UNAUTHORIZED)
    return key


def create_key(
    uow: UnitOfWorkFactory,
    *,
    name: str,
    credits: Decimal = Decimal(0),
    rate_limit_per_minute: int = 60,
    concurrency_limit: int = 4,
    is_admin: bool = False,
) -> tuple[ApiKey, str]:
    """Issue a key; the secret is returned here once and stored only as a hash."""
    name = name.strip()
    if not name or len(name) > 200:
        raise InvalidInput("name must be 1 to 200 characters")
    amount = parse_amount(credits, "credits")
    if rate_limit_per_minute < 1:
        raise InvalidInput("rate_limit_per_minute must be at least 1")
    if concurrency_limit < 1:
        raise InvalidInput("concurrency_limit must be at least 1")
    key, secret = new_api_key(
        name,
        credits=amount,
        rate_limit_per_minute=rate_limit_per_minute,
        concurrency_limit=concurrency_limit,
        is_admin=is_admin,
    )
    with uow() as u:
        _store(u, key)
        u.commit()
    return key, secret


def _store(u: UnitOfWork, key: ApiKey) -> None:
    u.keys.add(key)
    if key.credits_balance > 0:
        u.ledger.add(
            LedgerEntry(
                id=new_id(),
                key_id=key.id,
                entry_type=EntryType.TOPUP,
                change_amount=key.credits_balance,
                balance_after=key.credits_balance,
                note="initial credits",
            )
        )


def list_keys(uow: UnitOfWorkFactory) -> list[ApiKey]:
    with uow() as u:
        return u.keys.list()


def _resolve(u: UnitOfWork, ref: str) -> ApiKey:
    """A key by id, or by the prefix shown in listings."""
    ref = ref.strip()
    if not ref:
        raise NotFound("API key not found")
    key = u.keys.get(ref)
    if key is not None:
        return key
    matches = [k for k in u.keys.list() if k.key_prefix == ref]
    if len(matches) > 1:
        raise InvalidInput(f"prefix '{ref}' matches {len(matches)} keys; use the key id")
    if not matches:
        raise NotFound("API key not found")
    return matches[0]


def callback_secret(uow: UnitOfWorkFactory, ref: str) -> tuple[ApiKey, str]:
    """The key and the secret that signs its callbacks (its owner checks signatures with it)."""
    with uow(read_only=True) as u:
        key = _resolve(u, ref)
    return key, key.callback_secret


def revoke_key(uow: UnitOfWorkFactory, ref: str) -> ApiKey:
    with uow() as u:
        key = _resolve(u, ref)
        u.keys.revoke(key.id)
        u.commit()
    key.revoked = True
    return key


def get_key(uow: UnitOfWorkFactory, ref: str) -> ApiKey:
    """A key by id or prefix (``NotFound`` otherwise)."""
    with uow(read_only=True) as u:
        return _resolve(u, ref)


def set_limits(
    uow: UnitOfWorkFactory,
    ref: str,
    *,
    name: str | None = None,
    rate_limit_per_minute: int | None = None,
    concurrency_limit: int | None = None,
) -> ApiKey:
    """Rename a key or change its limits; fields left None stay as they are. Running
    servers apply the change within their key cache's lifetime (a second or two)."""
    values: dict[str, object] = {}
    if name is not None:
        name = name.strip()
        if not name or len(name) > 200:
            raise InvalidInput("name must be 1 to 200 characters")
        values["name"] = name
    if rate_limit_per_minute is not None:
        if rate_limit_per_minute < 1:
            raise InvalidInput("rate_limit_per_minute must be at least 1")
        values["rate_limit_per_minute"] = rate_limit_per_minute
    if concurrency_limit is not None:
        if concurrency_limit < 1:
            raise InvalidInput("concurrency_limit must be at least 1")
        values["concurrency_limit"] = concurrency_limit
    with uow() as u:
        key = _resolve(u, ref)
        u.keys.change(key.id, **values)
        updated = u.keys.get(key.id)
        u.commit()
    if updated is None:  # resolved in this very transaction
        raise NotFound("API key not found")
    return updated


def grant_credits(uow: UnitOfWorkFactory, ref: str, amount: Decimal, note: str = "") -> Decimal:
    """Add credits (TOPUP) or, with a negative amount, remove them (ADJUST); never below 0."""
    return change_credits(uow, ref, amount, note).balance_after


def change_credits(
    uow: UnitOfWorkFactory, ref: str, amount: Decimal, note: str = ""
) -> LedgerEntry:
    """``grant_credits``, answering the ledger row it wrote."""
    value = parse_amount(amount, "amount", allow_negative=True)
    if value == 0:
        raise InvalidInput("amount must not be zero")
    with uow() as u:
        key = _resolve(u, ref)
        if value > 0:
            balance = u.keys.credit(key.id, value)
            entry_type = EntryType.TOPUP
        else:
            debited = u.keys.debit(key.id, -value)
            if debited is None:
                raise InvalidInput("the balance cannot go below zero")
            balance = debited
            entry_type = EntryType.ADJUST
        entry = LedgerEntry(
            id=new_id(),
            key_id=key.id,
            entry_type=entry_type,
            change_amount=value,
            balance_after=balance,
            note=note[:500],
        )
        u.ledger.add(entry)
        u.commit()
    return entry


def ensure_admin_key(uow: UnitOfWorkFactory) -> str | None:
    """Create the first admin key when no usable one exists; its secret, shown once, or None."""
    with uow() as u:
        u.keys.lock_for_bootstrap()
        if any(k.is_admin and not k.revoked for k in u.keys.list()):
            return None
        key, secret = new_api_key("admin", is_admin=True, concurrency_limit=16)
        _store(u, key)
        u.commit()
    return secret
