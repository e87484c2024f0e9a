"""The schema, as SQLAlchemy Core tables. Migrations under ``migrations/`` create it."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from cadenza.db.types import Money, UTCDateTime

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING)

#: Autoincrementing insertion order; SQLite only autoincrements an INTEGER primary key.
SeqType = BigInteger().with_variant(Integer(), "sqlite")

#: CONSUME and REFUND rows carry a task id, and at most one of each per task.
LEDGER_ONCE_PER_TASK = "entry_type IN ('CONSUME', 'REFUND')"

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("key_prefix", String(16), nullable=False, index=True),
    Column("credits_balance", Money(), nullable=False, server_default=text("0")),
    Column("rate_limit_per_minute", Integer, nullable=False),
    Column("concurrency_limit", Integer, nullable=False),
    Column("is_admin", Boolean, nullable=False),
    Column("revoked", Boolean, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    #: Signs the key's callbacks (migration 0012).
    Column("callback_secret", String(64), nullable=False),
    CheckConstraint("credits_balance >= 0", name="balance_not_negative"),
)

prices = Table(
    "prices",
    metadata,
    Column("action", String(32), primary_key=True),
    Column("display_name", String(200), nullable=False),
    Column("price", Money(), nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("refund_on_failure", Boolean, nullable=False),
    CheckConstraint("price >= 0", name="price_not_negative"),
)

ledger_entries = Table(
    "ledger_entries",
    metadata,
    Column("seq", SeqType, primary_key=True, autoincrement=True),
    Column("id", String(36), nullable=False, unique=True),
    Column("key_id", String(36), ForeignKey("api_keys.id"), nullable=False),
    Column("entry_type", String(16), nullable=False),
    Column("change_amount", Money(), nullable=False),
    Column("balance_after", Money(), nullable=False),
    Column("action", String(32), nullable=False),
    Column("task_id", String(36), nullable=True),
    Column("note", Text, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Index("ix_ledger_entries_key_id_seq", "key_id", "seq"),
    Index(
        "uq_ledger_entries_task_id_entry_type",
        "task_id",
        "entry_type",
        unique=True,
        sqlite_where=text(LEDGER_ONCE_PER_TASK),
        postgresql_where=text(LEDGER_ONCE_PER_TASK),
    ),
)

tasks = Table(
    "tasks",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("key_id", String(36), ForeignKey("api_keys.id"), nullable=False, index=True),
    Column("action", String(32), nullable=False),
    Column("params", JSON, nullable=False),
    Column("price", Money(), nullable=False),
    Column("status", String(16), nullable=False),
    Column("progress", Integer, nullable=False),
    Column("fail_reason", Text, nullable=False),
    Column("submit_time", UTCDateTime(), nullable=False),
    Column("start_time", UTCDateTime(), nullable=True),
    Column("finish_time", UTCDateTime(), nullable=True),
    Column("heartbeat_at", UTCDateTime(), nullable=True),
    Column("deadline", UTCDateTime(), nullable=True, index=True),
    Column("attempts", Integer, nullable=False),
    Column("dispatched", Boolean, nullable=False),
    Column("queue_instance", String(64), nullable=True),
    Column("worker", String(200), nullable=False),
    Column("route", String(200), nullable=True),
    Column("idempotency_key", String(255), nullable=True),
    Column("request_hash", String(64), nullable=True),
    Column("result", JSON, nullable=True),
    Column("origin", JSON, nullable=True),
    #: Counted up by every change to the task or one of its clips (see repositories).
    Column("revision", Integer, nullable=False, server_default=text("0")),
    #: Where the outcome is POSTed when the task ends, and who renders it (0012).
    Column("callback_url", Text, nullable=True),
    Column("callback_dialect", String(32), nullable=True),
    UniqueConstraint("key_id", "idempotency_key"),
    Index("ix_tasks_key_id_status", "key_id", "status"),
    #: A key's tasks newest first (``/api/v1/tasks``; migration 0013).
    Index("ix_tasks_key_id_submit_time", "key_id", "submit_time"),
    Index("ix_tasks_status_dispatched", "status", "dispatched"),
)

clips = Table(
    "clips",
    metadata,
    Column("seq", SeqType, primary_key=True, autoincrement=True),
    Column("id", String(36), nullable=False, unique=True),
    Column("task_id", String(36), ForeignKey("tasks.id"), nullable=False, index=True),
    Column("key_id", String(36), ForeignKey("api_keys.id"), nullable=False, index=True),
    Column("title", Text, nullable=False),
    Column("tags", Text, nullable=False),
    Column("negative_tags", Text, nullable=False),
    Column("prompt", Text, nullable=False),
    Column("gpt_description_prompt", Text, nullable=False),
    Column("lyrics", Text, nullable=False),
    Column("model_name", String(64), nullable=False),
    Column("major_model_version", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("duration", Float, nullable=True),
    Column("audio_key", Text, nullable=True),
    Column("image_key", Text, nullable=True),
    Column("image_large_key", Text, nullable=True),
    Column("video_key", Text, nullable=True),
    Column("files", JSON, nullable=False),
    Column("metadata", JSON, nullable=False),
    Column("error_message", Text, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

#: What a client can see change in each task, in order (migration 0011; see
#: ``domain.events``). Written in the transaction of the change it records.
task_events = Table(
    "task_events",
    metadata,
    Column("seq", SeqType, primary_key=True, autoincrement=True),
    Column("task_id", String(36), ForeignKey("tasks.id"), nullable=False),
    Column("key_id", String(36), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False, index=True),
    Index("ix_task_events_task_id_seq", "task_id", "seq"),
)

#: The callback outbox (migration 0012; see ``domain.callbacks``).
callback_deliveries = Table(
    "callback_deliveries",
    metadata,
    Column("seq", SeqType, primary_key=True, autoincrement=True),
    Column("event_id", String(36), nullable=False, unique=True),
    Column("task_id", String(36), ForeignKey("tasks.id"), nullable=False, index=True),
    Column("key_id", String(36), nullable=False),
    Column("url", Text, nullable=False),
    Column("dialect", String(32), nullable=False),
    Column("body", LargeBinary, nullable=True),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UTCDateTime(), nullable=False),
    Column("status", String(16), nullable=False),
    Column("last_error", Text, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("delivered_at", UTCDateTime(), nullable=True),
    Index("ix_callback_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
)


#: SQLite's record of new task revisions, written by a trigger (migration 0015; see
#: ``db.changes.SqliteTaskChanges``). ``logged_at`` is a Julian day, for pruning.
task_change_log = Table(
    "task_change_log",
    metadata,
    Column("id", SeqType, primary_key=True, autoincrement=True),
    Column("task_id", String(36), nullable=False),
    Column("revision", Integer, nullable=False),
    Column("logged_at", Float, nullable=False),
    sqlite_autoincrement=True,
)
