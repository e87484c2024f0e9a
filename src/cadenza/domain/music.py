"""A music request as the engines see it, built from either dialect's parameters."""

from __future__ import annotations

import re
import secrets
from dataclasses import asdict, dataclass
from typing import Any

from cadenza.domain.errors import InvalidInput
from cadenza.domain.models import DESCRIPTION_PROMPT_LIMIT, resolve_model

_SECTION_MARK = re.compile(r"^\s*[\[【(（]\s*[^\]】)）]{1,40}[\]】)）]\s*$", re.MULTILINE)

TASK_KINDS = ("", "generate", "extend", "cover")


def looks_like_lyrics(prompt: str) -> bool:
    """A prompt is lyrics when it has a ``[Section]`` mark or two or more lines.

    Suno clients send lyrics and descriptions in the same ``prompt`` field; a one-line
    prompt with no section marks is a description the engine writes lyrics for.
    """
    if _SECTION_MARK.search(prompt):
        return True
    lines = [ln for ln in prompt.splitlines() if ln.strip()]
    return len(lines) >= 2


@dataclass(frozen=True)
class MusicRequest:
    title: str = ""
    tags: str = ""
    negative_tags: str = ""
    lyrics: str | None = None
    description: str | None = None
    instrumental: bool = False
    model: str = ""
    major_model_version: str = ""
    max_duration_s: int = 240
    vocal_gender: str | None = None
    weirdness: float = 0.5
    style_influence: float = 0.5
    seed: int = 0
    persona_id: str | None = None
    task: str = ""
    continue_clip_id: str | None = None
    continue_at: float | None = None
    cover_clip_id: str | None = None
    #: The resolved persona (``Persona.request_payload()``): its voice and style to sing with.
    persona: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MusicRequest:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


def _unit(value: Any, name: str, default: float) -> float:
    if value is None or value == "":
        return default
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"{name} must be a number between 0 and 1") from None
    if not 0.0 <= number <= 1.0:
        raise InvalidInput(f"{name} must be between 0 and 1")
    return number


def _text(params: dict[str, Any], name: str) -> str:
    value = params.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be a string")
    return value.strip()


def build_music_request(params: dict[str, Any]) -> MusicRequest:
    """Validate generic music parameters (already named as the domain names them).

    Expected keys: title, tags, negative_tags, prompt, gpt_description_prompt,
    make_instrumental, mv, vocal_gender, weirdness, style_influence, seed, persona_id,
    task, continue_clip_id, continue_at, cover_clip_id.
    """
    asked = str(params.get("mv") or params.get("model") or "").strip().lower()
    spec = resolve_model(asked)
    # Clips carry the model name the client used (chirp-crow stays chirp-crow, as
    # upstream shows it); short aliases such as "v5" become the public name.
    model = asked if asked.startswith("chirp-") else spec.name
    title = _text(params, "title")
    tags = _text(params, "tags")
    negative = _text(params, "negative_tags")
    prompt = _text(params, "prompt")
    description = _text(params, "gpt_description_prompt")
    instrumental = bool(params.get("make_instrumental") or params.get("instrumental"))
    task = _text(params, "task").lower()
    if task not in TASK_KINDS:
        raise InvalidInput(f"task must be one of extend, cover (got '{task}')")

    title_limit = 100 if spec.max_duration_s >= 480 else 80
    if len(title) > title_limit:
        raise InvalidInput(f"title is longer than {title_limit} characters for {spec.name}")
    if len(tags) > spec.style_limit:
        raise InvalidInput(f"tags are longer than {spec.style_limit} characters for {spec.name}")
    if len(negative) > spec.style_limit:
        raise InvalidInput(
            f"negative_tags are longer than {spec.style_limit} characters for {spec.name}"
        )

    lyrics: str | None = None
    if prompt and not description and looks_like_lyrics(prompt):
        lyrics = prompt
    elif prompt and not description:
        description = prompt
    elif prompt:
        lyrics = prompt
    if lyrics is not None and len(lyrics) > spec.prompt_limit:
        raise InvalidInput(f"prompt is longer than {spec.prompt_limit} characters for {spec.name}")
    if description and len(description) > DESCRIPTION_PROMPT_LIMIT:
        raise InvalidInput(
            f"description prompt is longer than {DESCRIPTION_PROMPT_LIMIT} characters"
        )
    if task == "" and not (lyrics or description or tags or instrumental):
        raise InvalidInput("give a prompt (lyrics or a description) or tags")

    gender = params.get("vocal_gender")
    if gender in ("", None):
        gender = None
    elif str(gender).lower() in ("m", "male"):
        gender = "male"
    elif str(gender).lower() in ("f", "female"):
        gender = "female"
    else:
        raise InvalidInput("vocal_gender must be 'm' or 'f'")

    seed_value = params.get("seed")
    if seed_value in (None, ""):
        seed = secrets.randbelow(2**31)
    else:
        try:
            seed = int(seed_value)
        except (TypeError, ValueError):
            raise InvalidInput("seed must be an integer") from None
        if not 0 <= seed < 2**63:
            raise InvalidInput("seed must be a non-negative integer")

    continue_at = params.get("continue_at")
    if continue_at not in (None, ""):
        try:
            continue_at = float(continue_at)
        except (TypeError, ValueError):
            raise InvalidInput("continue_at must be a number of seconds") from None
        if continue_at < 0:
            raise InvalidInput("continue_at must not be negative")
    else:
        continue_at = None

    if task == "extend" and not params.get("continue_clip_id"):
        raise InvalidInput("task 'extend' needs continue_clip_id")
    if task == "cover" and not params.get("cover_clip_id"):
        raise InvalidInput("task 'cover' needs cover_clip_id")

    return MusicRequest(
        title=title,
        tags=tags,
        negative_tags=negative,
        lyrics=lyrics,
        description=description or None,
        instrumental=instrumental,
        model=model,
        major_model_version=spec.major_version,
        max_duration_s=spec.max_duration_s,
        vocal_gender=gender,
        weirdness=_unit(params.get("weirdness"), "weirdness", 0.5),
        style_influence=_unit(params.get("style_influence"), "style_influence", 0.5),
        seed=seed,
        persona_id=params.get("persona_id") or None,
        task=task if task != "generate" else "",
        continue_clip_id=params.get("continue_clip_id") or None,
        continue_at=continue_at,
        cover_clip_id=params.get("cover_clip_id") or None,
    )
