"""Alembic migrations; run them with ``cadenza.db.migrate(url)``."""
