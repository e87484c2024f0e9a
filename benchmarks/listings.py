"""Cost of the ``/api/v1`` listings: a page of a key's tasks (with their clips), of its
clips, of its ledger, and its usage report, on a key with many tasks.

    .venv/bin/python benchmarks/listings.py [--tasks 5000] [--reads 50] [--postgres URL]

Builds a fresh database (SQLite in a temporary directory; PostgreSQL when ``--postgres``
names an empty database), gives one key ``--tasks`` finished tasks with two clips and a
charge each (and another key as many), then times each read, median of ``--reads``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from cadenza.db import create_engine_for, migrate, uow_factory
from cadenza.domain.billing import EntryType, LedgerEntry, new_api_key
from cadenza.domain.tasks import Clip, ClipStatus, Task, TaskStatus, new_id, utcnow
from cadenza.services import listings
from cadenza.services.ports import UnitOfWorkFactory


def fill(uow: UnitOfWorkFactory, count: int) -> str:
    """Two keys with ``count`` tasks each; the first key's id."""
    start = utcnow() - timedelta(days=30)
    ids = []
    for _ in range(2):
        key, _ = new_api_key("bench", credits=Decimal(10**9))
        ids.append(key.id)
        with uow() as u:
            u.keys.add(key)
            u.commit()
        for first in range(0, count, 500):
            with uow() as u:
                for n in range(first, min(count, first + 500)):
                    task = Task(
                        id=new_id(),
                        key_id=key.id,
                        action="MUSIC" if n % 4 else "LYRICS",
                        params={},
                        price=Decimal(10),
                        status=TaskStatus.SUCCESS if n % 10 else TaskStatus.FAILURE,
                        submit_time=start + timedelta(seconds=n * 60),
                    )
                    u.tasks.add(task)
                    u.clips.add_many(
                        [
                            Clip(
                                id=new_id(),
                                task_id=task.id,
                                key_id=key.id,
                                status=ClipStatus.COMPLETE,
                            )
                            for _ in range(2)
                        ]
                    )
                    u.ledger.add(
                        LedgerEntry(
                            id=new_id(),
                            key_id=key.id,
                            entry_type=EntryType.CONSUME,
                            change_amount=Decimal(-10),
                            balance_after=Decimal(0),
                            action=task.action,
                            task_id=task.id,
                            created_at=task.submit_time,
                        )
                    )
                u.commit()
    return ids[0]


def median_ms(fn: Callable[[], object], reads: int) -> float:
    times = []
    for _ in range(reads):
        began = time.perf_counter()
        fn()
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


def run(url: str, count: int, reads: int) -> None:
    migrate(url)
    engine = create_engine_for(url)
    uow = uow_factory(engine)
    began = time.perf_counter()
    key_id = fill(uow, count)
    print(
        f"{engine.dialect.name}: {2 * count} tasks written in {time.perf_counter() - began:.1f} s"
    )
    deep = count - 50
    cases: dict[str, Callable[[], object]] = {
        "tasks, first page of 50": lambda: listings.tasks(uow, key_id, limit=50),
        f"tasks, page at offset {deep}": lambda: listings.tasks(uow, key_id, limit=50, offset=deep),
        "tasks, FAILURE only": lambda: listings.tasks(uow, key_id, limit=50, status="FAILURE"),
        "tasks, LYRICS only": lambda: listings.tasks(uow, key_id, limit=50, action="LYRICS"),
        "clips, first page of 50": lambda: listings.clips(uow, key_id, limit=50),
        "clips of MUSIC tasks": lambda: listings.clips(uow, key_id, limit=50, action="MUSIC"),
        "ledger, first page of 50": lambda: listings.ledger(uow, key_id, limit=50),
        "usage, the key, all time": lambda: listings.usage(uow, key_id),
        "usage, every key, last 7 days": lambda: listings.usage(
            uow, None, since=utcnow() - timedelta(days=7)
        ),
    }
    for name, fn in cases.items():
        print(f"  {name:34s} {median_ms(fn, reads):8.2f} ms")
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=5000)
    parser.add_argument("--reads", type=int, default=50)
    parser.add_argument("--postgres", default="")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run(f"sqlite:///{Path(tmp) / 'bench.db'}", args.tasks, args.reads)
    if args.postgres:
        run(args.postgres, args.tasks, args.reads)


if __name__ == "__main__":
    main()
