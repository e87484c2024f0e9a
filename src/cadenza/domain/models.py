"""The model catalogue: names clients send, and the limits each one enforces."""

from __future__ import annotations

from dataclasses import dataclass

from cadenza.domain.errors import InvalidInput


@dataclass(frozen=True)
class ModelSpec:
    name: str
    aliases: tuple[str, ...]
    prompt_limit: int
    style_limit: int
    max_duration_s: int
    major_version: str


MODELS: tuple[ModelSpec, ...] = (
    # What the new-api gateway sends when its user names no model.
    ModelSpec("chirp-v3-0", ("chirp-v3", "chirp-v3.0", "v3"), 3000, 200, 120, "v3"),
    ModelSpec("chirp-v3-5", ("chirp-v3.5", "v3.5"), 3000, 200, 120, "v3.5"),
    ModelSpec("chirp-v4", ("v4",), 3000, 200, 150, "v4"),
    ModelSpec("chirp-v4-5", ("chirp-auk", "chirp-v4.5", "v4.5"), 5000, 1000, 240, "v4.5"),
    ModelSpec(
        "chirp-v4-5-plus", ("chirp-bluejay", "chirp-v4.5-plus", "v4.5+"), 5000, 1000, 480, "v4.5+"
    ),
    ModelSpec("chirp-v5", ("chirp-crow", "v5"), 5000, 1000, 480, "v5"),
    ModelSpec("chirp-v5-5", ("chirp-fenix", "chirp-v5.5", "v5.5"), 5000, 1000, 480, "v5.5"),
)

DEFAULT_MODEL = "chirp-v4-5"

#: Description-mode prompts are shorter than lyrics (as upstream enforces).
DESCRIPTION_PROMPT_LIMIT = 500

_BY_NAME = {alias: m for m in MODELS for alias in (m.name, *m.aliases)}


def resolve_model(name: str | None) -> ModelSpec:
    """Find a model by its public or internal name; ``None``/empty means the default."""
    if not name:
        return _BY_NAME[DEFAULT_MODEL]
    spec = _BY_NAME.get(name.strip().lower())
    if spec is None:
        known = ", ".join(m.name for m in MODELS)
        raise InvalidInput(f"unknown model '{name}'; known models: {known}")
    return spec
