"""Channel and relay repositories."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError

from cadenza.db.tables_channels import channels, relays
from cadenza.domain.channels import Channel, ChannelKind, Relay, RelayState
from cadenza.domain.errors import InvalidInput


def _channel(row: RowMapping) -> Channel:
    return Channel(
        id=row["id"],
        name=row["name"],
        kind=ChannelKind(row["kind"]),
        base_url=row["base_url"],
        credential=row["credential"],
        models=list(row["models"]),
        actions=list(row["actions"]),
        weight=row["weight"],
        priority=row["priority"],
        max_in_flight=row["max_in_flight"],
        submit_timeout_s=row["submit_timeout_s"],
        task_timeout_s=row["task_timeout_s"],
        failure_threshold=row["failure_threshold"],
        cooldown_s=row["cooldown_s"],
        enabled=row["enabled"],
        created_at=row["created_at"],
    )


def _channel_row(channel: Channel) -> dict[str, Any]:
    return {
        "id": channel.id,
        "name": channel.name,
        "kind": channel.kind.value,
        "base_url": channel.base_url,
        "credential": channel.credential,
        "models": list(channel.models),
        "actions": list(channel.actions),
        "weight": channel.weight,
        "priority": channel.priority,
        "max_in_flight": channel.max_in_flight,
        "submit_timeout_s": channel.submit_timeout_s,
        "task_timeout_s": channel.task_timeout_s,
        "failure_threshold": channel.failure_threshold,
        "cooldown_s": channel.cooldown_s,
        "enabled": channel.enabled,
        "created_at": channel.created_at,
    }


class SqlChannelRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add(self, channel: Channel) -> None:
        taken = InvalidInput(f"a channel named {channel.name!r} exists already")
        if self.find(channel.name) is not None:
            raise taken
        try:
            self._conn.execute(insert(channels), _channel_row(channel))
        except IntegrityError:  # added meanwhile by another process
            raise taken from None

    def get(self, channel_id: str) -> Channel | None:
        row = self._conn.execute(select(channels).where(channels.c.id == channel_id))
        found = row.mappings().first()
        return _channel(found) if found else None

    def find(self, ref: str) -> Channel | None:
        """By name or id."""
        row = self._conn.execute(
            select(channels).where((channels.c.name == ref) | (channels.c.id == ref))
        )
        found = row.mappings().first()
        return _channel(found) if found else None

    def list(self) -> list[Channel]:
        rows = self._conn.execute(select(channels).order_by(channels.c.priority, channels.c.name))
        return [_channel(r) for r in rows.mappings()]

    def update(self, channel: Channel) -> None:
        row = _channel_row(channel)
        row.pop("id")
        self._conn.execute(update(channels).where(channels.c.id == channel.id).values(**row))

    def remove(self, channel_id: str) -> bool:
        result = self._conn.execute(delete(channels).where(channels.c.id == channel_id))
        return bool(result.rowcount)


def _relay(row: RowMapping) -> Relay:
    return Relay(
        task_id=row["task_id"],
        channel_id=row["channel_id"],
        submit_key=row["submit_key"],
        state=RelayState(row["state"]),
        upstream_task_id=row["upstream_task_id"],
        refused_by=list(row["refused_by"] or []),
        clips=dict(row["clips"] or {}),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


class SqlRelayRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def get(self, task_id: str) -> Relay | None:
        row = self._conn.execute(select(relays).where(relays.c.task_id == task_id))
        found = row.mappings().first()
        return _relay(found) if found else None

    def save(self, relay: Relay) -> None:
        values = {
            "channel_id": relay.channel_id,
            "submit_key": relay.submit_key,
            "state": relay.state.value,
            "upstream_task_id": relay.upstream_task_id,
            "refused_by": list(relay.refused_by),
            "clips": dict(relay.clips),
            "created_at": relay.created_at,
            "updated_at": relay.updated_at,
        }
        result = self._conn.execute(
            update(relays).where(relays.c.task_id == relay.task_id).values(**values)
        )
        if not result.rowcount:
            self._conn.execute(insert(relays), {"task_id": relay.task_id, **values})

    def channel_of_clip_task(self, task_id: str) -> str | None:
        """The channel that made a task's clips (None: made here)."""
        row = self._conn.execute(
            select(relays.c.channel_id).where(
                relays.c.task_id == task_id, relays.c.state == RelayState.ACCEPTED.value
            )
        )
        found = row.first()
        return str(found[0]) if found else None
