"""Personas and playlists: what a key keeps besides its tasks and clips."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cadenza.domain.tasks import utcnow

MAX_NAME = 200
MAX_DESCRIPTION = 2000
MAX_PLAYLIST_CLIPS = 500
MAX_PERSONA_CLIPS = 20


class PersonaType(enum.StrEnum):
    """``singer``: voice and style from a clip's score; ``vox``: from its vocal stem."""

    SINGER = "singer"
    VOX = "vox"


@dataclass
class Persona:
    """A singer and a style taken from clips, reusable by later music requests.

    ``voice`` holds the lead ``VoiceSettings`` fields plus ``range_low``/``range_high`` (MIDI
    pitches the singer covered); ``style`` holds ``tags`` and ``genre``. A vox persona also
    keeps the storage key of its reference vocal in ``reference``.
    """

    id: str
    key_id: str
    name: str
    persona_type: PersonaType = PersonaType.SINGER
    description: str = ""
    is_public: bool = False
    root_clip_id: str = ""
    clip_ids: list[str] = field(default_factory=list)
    voice: dict[str, Any] = field(default_factory=dict)
    style: dict[str, Any] = field(default_factory=dict)
    reference: dict[str, Any] = field(default_factory=dict)
    task_id: str | None = None
    created_at: datetime = field(default_factory=utcnow)

    def request_payload(self) -> dict[str, Any]:
        """What a music request carries so the engine can sing with this persona."""
        return {
            "id": self.id,
            "type": self.persona_type.value,
            "voice": dict(self.voice),
            "style": dict(self.style),
        }


@dataclass
class Playlist:
    id: str
    key_id: str
    name: str
    clip_ids: list[str] = field(default_factory=list)
    task_id: str | None = None
    created_at: datetime = field(default_factory=utcnow)
