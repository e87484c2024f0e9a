"""Audio uploads: a presigned, single-use, expiring slot owned by one key."""

from __future__ import annotations

import enum
import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime

from cadenza.domain.tasks import utcnow

#: Extensions a client may announce; the file's bytes decide its real format later.
UPLOAD_EXTENSIONS: frozenset[str] = frozenset({"mp3", "wav", "flac", "ogg", "m4a"})


class UploadStatus(enum.StrEnum):
    PENDING = "pending"
    UPLOADED = "uploaded"
    CONSUMED = "consumed"


def hash_token(token: str) -> str:
    """Only the digest is stored, so a database leak does not leak upload rights."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass
class Upload:
    id: str
    key_id: str
    extension: str
    token_hash: str
    expires_at: datetime
    status: UploadStatus = UploadStatus.PENDING
    storage_key: str | None = None
    size: int | None = None
    created_at: datetime = field(default_factory=utcnow)

    def expired(self, now: datetime | None = None) -> bool:
        return (now or utcnow()) >= self.expires_at


def safe_title(name: str, fallback: str = "Untitled") -> str:
    """A display title from a client's file name: no folders, no control characters.

    The name only ever becomes a title; storage keys are made by the server.
    """
    base = re.split(r"[\\/]", name or "")[-1]
    base = re.sub(r"\.(mp3|wav|flac|ogg|m4a)$", "", base, flags=re.IGNORECASE)
    base = "".join(ch for ch in base if ch.isprintable())
    base = re.sub(r"\s+", " ", base).strip(" .")
    return base[:100] or fallback
