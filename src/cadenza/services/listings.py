"""Pages of what a key owns (tasks, clips, personas, playlists, uploads), its ledger and
its usage: what a console or an operator reads, newest first.

A key sees its own objects; an admin key may name another key. Pages are counted by
offset and read one row past the page, so ``next_offset`` says whether more follow
without counting every row.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Generic, TypeVar

from cadenza.domain.billing import ApiKey, EntryType, LedgerEntry, UsageRow
from cadenza.domain.errors import Forbidden, InvalidInput, NotFound
from cadenza.domain.library import Persona, Playlist
from cadenza.domain.tasks import Clip, ClipStatus, TaskStatus, TaskView
from cadenza.domain.uploads import Upload, UploadStatus
from cadenza.services.ports import UnitOfWork, UnitOfWorkFactory

T = TypeVar("T")

#: Largest page a listing answers, and the farthest it reads (pages are by offset).
MAX_PAGE = 200
MAX_OFFSET = 1_000_000


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    limit: int
    offset: int
    #: The offset of the next page; None on the last one.
    next_offset: int | None


@dataclass(frozen=True)
class Usage:
    """One key's use of one action over a span."""

    key_id: str
    action: str
    #: Tasks charged (CONSUME rows) and refunded (REFUND rows).
    charged: int
    refunded: int
    #: Credits spent, net of refunds (positive).
    spent: Decimal
    #: Credits added and removed by operators (TOPUP and ADJUST rows, signed).
    granted: Decimal


def _window(limit: int, offset: int) -> None:
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}")
    if not 0 <= offset <= MAX_OFFSET:
        raise InvalidInput(f"offset must be between 0 and {MAX_OFFSET}")


def _page(found: Sequence[T], limit: int, offset: int) -> Page[T]:
    more = len(found) > limit
    return Page(list(found[:limit]), limit, offset, offset + limit if more else None)


def _span(since: datetime | None, until: datetime | None) -> None:
    if since is not None and until is not None and until <= since:
        raise InvalidInput("until must be after since")


#: What an id or an action name may hold (no database stores a NUL; none has a space).
_TOKEN = re.compile(r"[A-Za-z0-9_.:-]{1,64}")


def _token(value: str, name: str) -> str:
    if not _TOKEN.fullmatch(value):
        raise InvalidInput(f"{name} must be 1 to 64 letters, digits, '_', '.', ':' or '-'")
    return value


def owner(uow: UnitOfWorkFactory, key: ApiKey, key_id: str | None) -> str:
    """Whose objects ``key`` may list: its own, or (admin keys only) any existing key's."""
    if key_id is not None:
        _token(key_id, "key_id")
    if key_id is None or key_id == key.id:
        return key.id
    if not key.is_admin:
        raise Forbidden("only an admin key may read another key's objects")
    with uow(read_only=True) as u:
        if u.keys.get(key_id) is None:
            raise NotFound("API key not found")
    return key_id


def _read(
    uow: UnitOfWorkFactory, limit: int, offset: int, read: Callable[[UnitOfWork], Sequence[T]]
) -> Page[T]:
    _window(limit, offset)
    with uow(read_only=True) as u:
        return _page(read(u), limit, offset)


def _choice(value: str | None, allowed: type[TaskStatus | ClipStatus | UploadStatus]) -> None:
    if value is not None and value not in {member.value for member in allowed}:
        names = ", ".join(member.value for member in allowed)
        raise InvalidInput(f"status must be one of {names}")


def tasks(
    uow: UnitOfWorkFactory,
    key_id: str,
    *,
    limit: int = 50,
    offset: int = 0,
    status: str | None = None,
    action: str | None = None,
) -> Page[TaskView]:
    """The key's tasks with their clips."""
    _choice(status, TaskStatus)
    _window(limit, offset)
    with uow(read_only=True) as u:
        found = u.tasks.page_for_key(
            key_id, limit=limit + 1, offset=offset, status=status, action=_action(action)
        )
        clips = u.clips.list_for_tasks([task.id for task in found[:limit]])
    by_task: dict[str, list[Clip]] = {}
    for clip in clips:
        by_task.setdefault(clip.task_id, []).append(clip)
    views = [TaskView(task, by_task.get(task.id, [])) for task in found]
    return _page(views, limit, offset)


def _action(action: str | None) -> str | None:
    if action is None or not action.strip():
        return None
    return _token(action.strip().upper(), "action")


def clips(
    uow: UnitOfWorkFactory,
    key_id: str,
    *,
    limit: int = 50,
    offset: int = 0,
    status: str | None = None,
    action: str | None = None,
) -> Page[Clip]:
    _choice(status, ClipStatus)
    return _read(
        uow,
        limit,
        offset,
        lambda u: u.clips.page_for_key(
            key_id, limit=limit + 1, offset=offset, status=status, action=_action(action)
        ),
    )


def personas(
    uow: UnitOfWorkFactory, key_id: str, *, limit: int = 50, offset: int = 0
) -> Page[Persona]:
    return _read(uow, limit, offset, lambda u: u.personas.list_for_key(key_id, limit + 1, offset))


def playlists(
    uow: UnitOfWorkFactory, key_id: str, *, limit: int = 50, offset: int = 0
) -> Page[Playlist]:
    return _read(uow, limit, offset, lambda u: u.playlists.list_for_key(key_id, limit + 1, offset))


def uploads(
    uow: UnitOfWorkFactory,
    key_id: str,
    *,
    limit: int = 50,
    offset: int = 0,
    status: str | None = None,
) -> Page[Upload]:
    _choice(status, UploadStatus)
    return _read(
        uow,
        limit,
        offset,
        lambda u: u.uploads.list_for_key(key_id, limit=limit + 1, offset=offset, status=status),
    )


def ledger(
    uow: UnitOfWorkFactory,
    key_id: str | None,
    *,
    limit: int = 50,
    offset: int = 0,
    action: str | None = None,
    entry_type: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Page[LedgerEntry]:
    """Ledger rows of one key (None: every key's, for operators), newest first."""
    if key_id is not None:
        _token(key_id, "key_id")
    if entry_type is not None and entry_type.upper() not in {e.value for e in EntryType}:
        raise InvalidInput(f"entry_type must be one of {', '.join(e.value for e in EntryType)}")
    _span(since, until)
    return _read(
        uow,
        limit,
        offset,
        lambda u: u.ledger.page(
            key_id,
            limit=limit + 1,
            offset=offset,
            action=_action(action),
            entry_type=entry_type.upper() if entry_type else None,
            since=since,
            until=until,
        ),
    )


def usage(
    uow: UnitOfWorkFactory,
    key_id: str | None,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[Usage]:
    """Use per key and action over ``[since, until)`` from the ledger (None: all time)."""
    if key_id is not None:
        _token(key_id, "key_id")
    _span(since, until)
    with uow(read_only=True) as u:
        rows = u.ledger.usage(key_id, since=since, until=until)
    return summarise(rows)


def summarise(rows: Sequence[UsageRow]) -> list[Usage]:
    """Ledger sums per entry type folded into one line per key and action."""
    lines: dict[tuple[str, str], dict[str, Decimal | int]] = {}
    for row in rows:
        line = lines.setdefault(
            (row.key_id, row.action),
            {"charged": 0, "refunded": 0, "spent": Decimal(0), "granted": Decimal(0)},
        )
        if row.entry_type is EntryType.CONSUME:
            line["charged"] = int(line["charged"]) + row.count
            line["spent"] = Decimal(line["spent"]) - row.total
        elif row.entry_type is EntryType.REFUND:
            line["refunded"] = int(line["refunded"]) + row.count
            line["spent"] = Decimal(line["spent"]) - row.total
        else:
            line["granted"] = Decimal(line["granted"]) + row.total
    return [
        Usage(
            key_id=key_id,
            action=action,
            charged=int(line["charged"]),
            refunded=int(line["refunded"]),
            spent=Decimal(line["spent"]),
            granted=Decimal(line["granted"]),
        )
        for (key_id, action), line in sorted(lines.items())
    ]


def list_keys(uow: UnitOfWorkFactory, *, limit: int = 50, offset: int = 0) -> Page[ApiKey]:
    """Every key, oldest first (the order ``cadenza keys list`` shows)."""
    _window(limit, offset)
    with uow(read_only=True) as u:
        found = u.keys.list()
    return _page(found[offset : offset + limit + 1], limit, offset)
