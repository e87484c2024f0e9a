"""The SQL data layer: SQLite (embedded default) or PostgreSQL, one schema, one migration set."""

from cadenza.db.engine import create_engine_for, normalize_url
from cadenza.db.schema import migrate
from cadenza.db.uow import SqlUnitOfWork, make_uow_factory, uow_factory

__all__ = [
    "SqlUnitOfWork",
    "create_engine_for",
    "make_uow_factory",
    "migrate",
    "normalize_url",
    "uow_factory",
]
