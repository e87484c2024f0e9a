"""A lyrics request: a description the engine writes a title and sectioned lyrics for."""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass
from typing import Any

from cadenza.domain.errors import InvalidInput

#: Longest description a lyrics task takes (characters).
LYRICS_PROMPT_LIMIT = 3000


@dataclass(frozen=True)
class LyricsRequest:
    prompt: str
    seed: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LyricsRequest:
        return cls(prompt=str(data["prompt"]), seed=int(data["seed"]))


def build_lyrics_request(params: dict[str, Any]) -> LyricsRequest:
    """Validate ``prompt`` (the description) and ``seed`` (same seed, same lyrics)."""
    prompt = params.get("prompt")
    if prompt is not None and not isinstance(prompt, str):
        raise InvalidInput("prompt must be a string")
    prompt = (prompt or "").strip()
    if not prompt:
        raise InvalidInput("prompt is empty: describe the song to write lyrics for")
    if len(prompt) > LYRICS_PROMPT_LIMIT:
        raise InvalidInput(f"prompt is longer than {LYRICS_PROMPT_LIMIT} characters")
    seed_value = params.get("seed")
    if seed_value in (None, ""):
        seed = secrets.randbelow(2**31)
    else:
        if isinstance(seed_value, bool) or not isinstance(seed_value, int | str):
            raise InvalidInput("seed must be an integer")
        try:
            seed = int(seed_value)
        except ValueError:
            raise InvalidInput("seed must be an integer") from None
        if not 0 <= seed < 2**63:
            raise InvalidInput("seed must be a non-negative integer")
    return LyricsRequest(prompt=prompt, seed=seed)
