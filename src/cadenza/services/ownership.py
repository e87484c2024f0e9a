"""The one ownership rule: a key sees only its own clips, personas and tasks, and another
key's is indistinguishable from a missing one (the same ``NotFound``, worded alike)."""

from __future__ import annotations

from typing import Protocol, TypeVar

from cadenza.domain.errors import NotFound
from cadenza.domain.library import Persona
from cadenza.domain.tasks import Clip
from cadenza.services.ports import UnitOfWork


class _Owned(Protocol):
    @property
    def key_id(self) -> str: ...


T = TypeVar("T", bound=_Owned)


def owned(found: T | None, key_id: str, what: str, ident: str) -> T:
    """``found`` if ``key_id`` owns it; else ``NotFound("<what> <ident> not found")``."""
    if found is None or found.key_id != key_id:
        raise NotFound(f"{what} {ident} not found" if ident else f"{what} not found")
    return found


def owned_clip(u: UnitOfWork, key_id: str, clip_id: str) -> Clip:
    return owned(u.clips.get(clip_id) if clip_id else None, key_id, "clip", clip_id)


def owned_persona(u: UnitOfWork, key_id: str, persona_id: str) -> Persona:
    return owned(u.personas.get(persona_id) if persona_id else None, key_id, "persona", persona_id)
