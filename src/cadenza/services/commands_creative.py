"""Commands for the creative actions on a finished clip, whichever dialect asks:
replace a section, Add Vocals, Add Instrumental, samples, mashup and inspo
(``services.creative`` checks and submits them)."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypedDict

from cadenza.domain.actions import Action
from cadenza.domain.billing import ApiKey
from cadenza.domain.callbacks import Callback
from cadenza.domain.errors import InvalidInput
from cadenza.domain.tasks import Task, new_id
from cadenza.services import creative
from cadenza.services.commands import Commands, Submission, follow_up_route, handles


@dataclass(frozen=True)
class ReplaceSection:
    """The clip with ``[start_s, end_s)`` (moved to bar lines) composed and sung again with
    ``infill_lyrics`` (else the lines of ``lyrics``); ``lyrics`` is the song's new text."""

    clip_id: str
    start_s: float | None
    end_s: float | None
    lyrics: str | None = None
    infill_lyrics: str | None = None
    tags: str = ""
    title: str = ""
    model: str | None = None
    vocal_gender: str | None = None


@dataclass(frozen=True)
class AddVocals:
    """An instrumental clip with ``lyrics`` sung over it within ``[start_s, end_s)``."""

    clip_id: str
    start_s: float | None
    end_s: float | None
    lyrics: str | None
    tags: str = ""
    title: str = ""
    model: str | None = None
    vocal_gender: str | None = None


@dataclass(frozen=True)
class AddInstrumental:
    """A band in ``tags``' style under an a cappella upload within ``[start_s, end_s)``."""

    clip_id: str
    start_s: float | None
    end_s: float | None
    tags: str = ""
    title: str = ""
    model: str | None = None


@dataclass(frozen=True)
class Samples:
    """New songs in ``tags``' style built on a loop of the clip's ``[start_s, end_s)``:
    with ``lyrics``, or lyrics written from ``description``, or ``instrumental``."""

    clip_id: str
    start_s: float | None
    end_s: float | None
    lyrics: str | None = None
    description: str | None = None
    instrumental: bool = False
    tags: str = ""
    title: str = ""
    model: str | None = None
    vocal_gender: str | None = None


@dataclass(frozen=True)
class Mashup:
    """New songs from two clips: with ``lyrics``, or both clips' lyrics merged."""

    clip_ids: tuple[str, ...]
    lyrics: str | None = None
    description: str | None = None
    instrumental: bool = False
    tags: str = ""
    title: str = ""
    model: str | None = None


@dataclass(frozen=True)
class Inspire:
    """New songs in the style of 1 to 4 recordings at the client's URLs (fetched as an
    upload is); ``audio_weight`` sets how closely they follow them."""

    urls: tuple[str, ...]
    lyrics: str | None = None
    description: str | None = None
    instrumental: bool = False
    tags: str = ""
    title: str = ""
    model: str | None = None
    vocal_gender: str | None = None
    audio_weight: float | None = None


class _Submitted(TypedDict):
    """How every creative submit is made, whichever action it is."""

    request: Mapping[str, Any]
    deadline_s: int
    idempotency_key: str | None
    origin: dict[str, Any] | None
    callback: Callback | None


def _submitted(app: Commands, how: Submission) -> _Submitted:
    return {
        "request": how.fingerprint,
        "deadline_s": app.deadline_s,
        "idempotency_key": how.idempotency_key,
        "origin": how.origin.record(),
        "callback": how.callback,
    }


@handles(ReplaceSection, Action.REPLACE_SECTION)
def _replace_section(app: Commands, key: ApiKey, command: ReplaceSection, how: Submission) -> Task:
    return creative.submit_replace_section(
        app.uow,
        app.queue,
        key,
        clip_id=command.clip_id,
        start_s=command.start_s,
        end_s=command.end_s,
        lyrics=command.lyrics,
        infill_lyrics=command.infill_lyrics,
        tags=command.tags,
        title=command.title,
        model=command.model,
        vocal_gender=command.vocal_gender,
        relay_route=follow_up_route(app, key, command.clip_id, Action.REPLACE_SECTION),
        **_submitted(app, how),
    )


@handles(AddVocals, Action.ADD_VOCALS)
def _add_vocals(app: Commands, key: ApiKey, command: AddVocals, how: Submission) -> Task:
    return creative.submit_add_vocals(
        app.uow,
        app.queue,
        key,
        clip_id=command.clip_id,
        start_s=command.start_s,
        end_s=command.end_s,
        lyrics=command.lyrics,
        tags=command.tags,
        title=command.title,
        model=command.model,
        vocal_gender=command.vocal_gender,
        **_submitted(app, how),
    )


@handles(AddInstrumental, Action.ADD_INSTRUMENTAL)
def _add_instrumental(
    app: Commands, key: ApiKey, command: AddInstrumental, how: Submission
) -> Task:
    return creative.submit_add_instrumental(
        app.uow,
        app.queue,
        key,
        clip_id=command.clip_id,
        start_s=command.start_s,
        end_s=command.end_s,
        tags=command.tags,
        title=command.title,
        model=command.model,
        **_submitted(app, how),
    )


@handles(Samples, Action.SAMPLES)
def _samples(app: Commands, key: ApiKey, command: Samples, how: Submission) -> Task:
    return creative.submit_samples(
        app.uow,
        app.queue,
        key,
        clip_id=command.clip_id,
        start_s=command.start_s,
        end_s=command.end_s,
        lyrics=command.lyrics,
        description=command.description,
        instrumental=command.instrumental,
        tags=command.tags,
        title=command.title,
        model=command.model,
        vocal_gender=command.vocal_gender,
        **_submitted(app, how),
    )


@handles(Mashup, Action.MASHUP)
def _mashup(app: Commands, key: ApiKey, command: Mashup, how: Submission) -> Task:
    return creative.submit_mashup(
        app.uow,
        app.queue,
        key,
        clip_ids=command.clip_ids,
        lyrics=command.lyrics,
        description=command.description,
        instrumental=command.instrumental,
        tags=command.tags,
        title=command.title,
        model=command.model,
        relay_route=_mashup_route(app, key, command.clip_ids),
        **_submitted(app, how),
    )


def _mashup_route(app: Commands, key: ApiKey, clip_ids: tuple[str, ...]) -> str | None:
    """The channel both clips of a mashup were made by, which alone has their scores;
    None when both were made here. One of each is refused before any charge."""
    ids = [c.strip() for c in clip_ids if c and c.strip()]
    if len(ids) != 2 or ids[0] == ids[1]:
        return None  # refused by the mashup's own checks
    first, second = (follow_up_route(app, key, c, Action.MASHUP) for c in ids)
    if first != second:
        raise InvalidInput(
            "a mashup of a relayed clip needs both clips made by the same upstream channel"
        )
    return first


@handles(Inspire, Action.INSPO)
def _inspire(app: Commands, key: ApiKey, command: Inspire, how: Submission) -> Task:
    from cadenza.audio.probe import MediaRejected, probe
    from cadenza.services.commands_media import _earlier, _remote_audio

    if not 1 <= len(command.urls) <= creative.MAX_REFERENCES:
        raise InvalidInput("audio_urls must be a list of 1 to 4 audio URLs")
    earlier = _earlier(app, key, how)
    if earlier is not None:
        return earlier
    prefix = f"inspo/{new_id()}-{secrets.token_urlsafe(9)}"
    keys: list[str] = []
    try:
        for index, url in enumerate(command.urls):
            with _remote_audio(app, url) as (path, _size, extension):
                try:
                    probe(
                        path,
                        max_bytes=app.uploads.max_bytes,
                        max_duration_s=app.uploads.max_duration_s,
                    )
                except MediaRejected as exc:
                    raise InvalidInput(f"audio_urls[{index}]: {exc.message}") from None
                stored = f"{prefix}/reference-{index}.{extension}"
                app.storage.put_file(stored, path, "application/octet-stream")
                keys.append(stored)
        return creative.submit_inspo(
            app.uow,
            app.queue,
            key,
            reference_keys=keys,
            lyrics=command.lyrics,
            description=command.description,
            instrumental=command.instrumental,
            tags=command.tags,
            title=command.title,
            model=command.model,
            vocal_gender=command.vocal_gender,
            audio_weight=command.audio_weight,
            max_reference_s=app.uploads.max_duration_s,
            **_submitted(app, how),
        )
    except Exception:
        # Refused or failed before the task: the fetched references go.
        if keys:
            app.storage.delete_prefix(prefix + "/")
        raise
