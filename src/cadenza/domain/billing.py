"""API keys and the ledger. Money is ``Decimal``, never float."""

from __future__ import annotations

import enum
import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from cadenza.domain.errors import ConcurrencyLimited, InsufficientCredits, Unauthorized
from cadenza.domain.tasks import new_id, utcnow

KEY_PREFIX = "sk_"


class EntryType(enum.StrEnum):
    CONSUME = "CONSUME"
    REFUND = "REFUND"
    TOPUP = "TOPUP"
    ADJUST = "ADJUST"


def new_callback_secret() -> str:
    return secrets.token_urlsafe(32)


@dataclass
class ApiKey:
    id: str
    name: str
    key_hash: str
    key_prefix: str
    credits_balance: Decimal = Decimal("0")
    rate_limit_per_minute: int = 60
    concurrency_limit: int = 4
    is_admin: bool = False
    revoked: bool = False
    created_at: datetime = field(default_factory=utcnow)
    #: Signs the key's callbacks (receivers check the signature with it); not a login.
    callback_secret: str = field(default_factory=new_callback_secret)


@dataclass
class LedgerEntry:
    id: str
    key_id: str
    entry_type: EntryType
    change_amount: Decimal
    balance_after: Decimal
    action: str = ""
    task_id: str | None = None
    note: str = ""
    created_at: datetime = field(default_factory=utcnow)


@dataclass(frozen=True)
class UsageRow:
    """The ledger rows of one key, action and entry type over a span: how many, and the
    sum of their changes (negative for charges)."""

    key_id: str
    action: str
    entry_type: EntryType
    count: int
    total: Decimal


def hash_key(secret: str) -> str:
    """Keys are stored only as this digest; the secret is shown once at creation."""
    return hashlib.sha256(secret.encode()).hexdigest()


def generate_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def new_api_key(
    name: str,
    *,
    credits: Decimal = Decimal("0"),
    rate_limit_per_minute: int = 60,
    concurrency_limit: int = 4,
    is_admin: bool = False,
) -> tuple[ApiKey, str]:
    """Make a key; returns the record to store and the secret to show once."""
    secret = generate_key()
    key = ApiKey(
        id=new_id(),
        name=name,
        key_hash=hash_key(secret),
        key_prefix=secret[:10],
        credits_balance=credits,
        rate_limit_per_minute=rate_limit_per_minute,
        concurrency_limit=concurrency_limit,
        is_admin=is_admin,
    )
    return key, secret


def key_refused() -> Unauthorized:
    return Unauthorized("invalid or missing API key")


def too_many_active(limit: int) -> ConcurrencyLimited:
    return ConcurrencyLimited(f"too many tasks in progress (limit {limit}); retry later")


def short_of_credits(action: str, amount: Decimal) -> InsufficientCredits:
    return InsufficientCredits(f"insufficient credits: {action} costs {amount}")
