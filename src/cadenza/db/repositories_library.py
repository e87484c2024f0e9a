"""Persona and playlist repositories over the unit of work's connection."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, delete, func, insert, select
from sqlalchemy.engine import RowMapping

from cadenza.db import tables_library as tl
from cadenza.domain.library import Persona, PersonaType, Playlist


def _persona(row: RowMapping) -> Persona:
    return Persona(
        id=row["id"],
        key_id=row["key_id"],
        name=row["name"],
        persona_type=PersonaType(row["persona_type"]),
        description=row["description"],
        is_public=bool(row["is_public"]),
        root_clip_id=row["root_clip_id"],
        clip_ids=list(row["clip_ids"] or []),
        voice=dict(row["voice"] or {}),
        style=dict(row["style"] or {}),
        reference=dict(row["reference"] or {}),
        task_id=row["task_id"],
        created_at=row["created_at"],
    )


class SqlPersonaRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add(self, persona: Persona) -> None:
        values: dict[str, Any] = {
            "id": persona.id,
            "key_id": persona.key_id,
            "name": persona.name,
            "persona_type": persona.persona_type.value,
            "description": persona.description,
            "is_public": persona.is_public,
            "root_clip_id": persona.root_clip_id,
            "clip_ids": list(persona.clip_ids),
            "voice": dict(persona.voice),
            "style": dict(persona.style),
            "reference": dict(persona.reference),
            "task_id": persona.task_id,
            "created_at": persona.created_at,
        }
        self._conn.execute(insert(tl.personas), values)

    def get(self, persona_id: str) -> Persona | None:
        query = select(tl.personas).where(tl.personas.c.id == persona_id)
        row = self._conn.execute(query).mappings().first()
        return _persona(row) if row else None

    def list_for_key(self, key_id: str, limit: int = 100, offset: int = 0) -> list[Persona]:
        query = (
            select(tl.personas)
            .where(tl.personas.c.key_id == key_id)
            .order_by(tl.personas.c.seq.desc())
            .limit(limit)
            .offset(offset)
        )
        return [_persona(row) for row in self._conn.execute(query).mappings()]

    def count_for_key(self, key_id: str) -> int:
        query = select(func.count()).select_from(tl.personas).where(tl.personas.c.key_id == key_id)
        return int(self._conn.execute(query).scalar_one())

    def delete(self, persona_id: str, key_id: str) -> bool:
        """Only the owner's row goes: the key is part of the condition."""
        query = delete(tl.personas).where(
            tl.personas.c.id == persona_id, tl.personas.c.key_id == key_id
        )
        return bool(self._conn.execute(query).rowcount)


def _playlist(row: RowMapping) -> Playlist:
    return Playlist(
        id=row["id"],
        key_id=row["key_id"],
        name=row["name"],
        clip_ids=list(row["clip_ids"] or []),
        task_id=row["task_id"],
        created_at=row["created_at"],
    )


class SqlPlaylistRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add(self, playlist: Playlist) -> None:
        values: dict[str, Any] = {
            "id": playlist.id,
            "key_id": playlist.key_id,
            "name": playlist.name,
            "clip_ids": list(playlist.clip_ids),
            "task_id": playlist.task_id,
            "created_at": playlist.created_at,
        }
        self._conn.execute(insert(tl.playlists), values)

    def get(self, playlist_id: str) -> Playlist | None:
        query = select(tl.playlists).where(tl.playlists.c.id == playlist_id)
        row = self._conn.execute(query).mappings().first()
        return _playlist(row) if row else None

    def list_for_key(self, key_id: str, limit: int = 100, offset: int = 0) -> list[Playlist]:
        query = (
            select(tl.playlists)
            .where(tl.playlists.c.key_id == key_id)
            .order_by(tl.playlists.c.seq.desc())
            .limit(limit)
            .offset(offset)
        )
        return [_playlist(row) for row in self._conn.execute(query).mappings()]
