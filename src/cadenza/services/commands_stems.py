"""Stem splits of a clip as a typed command: ``SplitStems`` and its handler.

Checked before any charge: the clip must be the key's (another key's clip is a missing
one), complete, and have stems. Only generated clips have them (the built-in engine keeps
every part it renders); an upload has one mixed recording, and analysing it into a score
gives notes, not the recording's parts, so it is refused with AceData's wording. The task
runs on the worker holding the source's files (``engines.stems``).

A relayed clip's parts exist only upstream: its Vocals and Instrumental are asked of the
channel that made it (``follow_up_route``), and mirrored here like its song.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cadenza.domain.actions import Action
from cadenza.domain.billing import ApiKey
from cadenza.domain.callbacks import Callback
from cadenza.domain.errors import InvalidInput
from cadenza.domain.stems import (
    ALL_STEMS_MODEL,
    NO_STEMS,
    STEMS_MODEL,
    SUNG,
    split_stems,
    stem_files,
    stem_title,
)
from cadenza.domain.tasks import Clip, Task
from cadenza.services import media, tasks
from cadenza.services.commands import Commands, Submission, follow_up_route, handles
from cadenza.services.ports import TaskQueue, UnitOfWorkFactory

#: Longest title a stem clip gets (the source's title plus the stem's name).
MAX_TITLE = 200
#: Source fields every stem clip keeps.
_KEPT = ("tags", "negative_tags", "gpt_description_prompt", "major_model_version")


@dataclass(frozen=True)
class SplitStems:
    """A clip's stems as clips: Vocals and Instrumental, or (``full``) two sets of
    Suno's twelve stems."""

    clip_id: str
    full: bool = False


def _each_clip(clip: Clip, full: bool) -> list[dict[str, Any]]:
    """Every stem clip's own fields, in the order the engine fills them."""
    title = clip.title or "Untitled"
    out: list[dict[str, Any]] = []
    for stem in split_stems(full):
        sung = stem in SUNG
        out.append(
            {
                "title": stem_title(title, stem, full)[:MAX_TITLE],
                # Words belong to the stems that sing them.
                "lyrics": clip.lyrics if sung else "",
                "prompt": clip.prompt if sung else "",
                "metadata": {"type": "stem", "stem_from_id": clip.id, "stem": stem},
            }
        )
    return out


def submit_stems(
    uow: UnitOfWorkFactory,
    queue: TaskQueue,
    key: ApiKey,
    *,
    clip_id: str,
    full: bool,
    deadline_s: int = 900,
    idempotency_key: str | None = None,
    origin: dict[str, Any] | None = None,
    callback: Callback | None = None,
) -> Task:
    """Charge for and queue the split of the key's clip ``clip_id``."""
    clip = media.source_clip(uow, key, clip_id)
    stems = stem_files(clip.files)
    if not stems:
        raise InvalidInput(NO_STEMS)
    return _submit_split(
        uow,
        queue,
        key,
        clip,
        full,
        {"song.wav": clip.files["song.wav"], **stems},
        route=media.source_route(uow, clip),
        deadline_s=deadline_s,
        idempotency_key=idempotency_key,
        origin=origin,
        callback=callback,
    )


def submit_relayed_stems(
    uow: UnitOfWorkFactory,
    queue: TaskQueue,
    key: ApiKey,
    *,
    clip_id: str,
    route: str,
    full: bool = False,
    deadline_s: int = 900,
    idempotency_key: str | None = None,
    origin: dict[str, Any] | None = None,
    callback: Callback | None = None,
) -> Task:
    """Charge for and queue the Vocals and Instrumental (``full``: the two sets of twelve
    stems) of the key's relayed clip, on ``route``: the channel that made it
    (``RelayEngine`` names the clip as it knows it)."""
    clip = tasks.get_clip(uow, key, clip_id)
    return _submit_split(
        uow,
        queue,
        key,
        clip,
        full,
        None,
        route=route,
        deadline_s=deadline_s,
        idempotency_key=idempotency_key,
        origin=origin,
        callback=callback,
    )


def _submit_split(
    uow: UnitOfWorkFactory,
    queue: TaskQueue,
    key: ApiKey,
    clip: Clip,
    full: bool,
    files: dict[str, str] | None,
    *,
    route: str | None,
    deadline_s: int,
    idempotency_key: str | None,
    origin: dict[str, Any] | None,
    callback: Callback | None,
) -> Task:
    """One split task, whoever makes it: ``files`` are the source's parts where they are
    stored here (None: they are upstream)."""
    action = Action.ALL_STEMS if full else Action.STEMS
    params: dict[str, Any] = {"source_clip_id": clip.id, "title": clip.title or "Untitled"}
    if files is not None:
        params["files"] = files
    fields: dict[str, Any] = {name: getattr(clip, name) for name in _KEPT}
    fields.update(
        model_name=ALL_STEMS_MODEL if full else STEMS_MODEL,
        # The source's cover, shared: stored media is never rewritten.
        image_key=clip.image_key,
        image_large_key=clip.image_large_key,
        duration=clip.duration,
    )
    each = _each_clip(clip, full)
    return tasks.submit(
        uow,
        queue,
        key,
        action.value,
        params,
        clip_count=len(each),
        clip_fields=fields,
        each_clip=each,
        idempotency_key=idempotency_key,
        deadline_s=deadline_s,
        route=route,
        origin=origin,
        callback=callback,
    )


@handles(SplitStems, Action.STEMS, Action.ALL_STEMS)
def _split_stems(app: Commands, key: ApiKey, command: SplitStems, how: Submission) -> Task:
    # A relayed clip's parts are upstream: its split is asked of the channel that made it.
    route = None
    if command.clip_id:
        action = Action.ALL_STEMS if command.full else Action.STEMS
        route = follow_up_route(app, key, command.clip_id, action)
    if route is not None:
        return submit_relayed_stems(
            app.uow,
            app.queue,
            key,
            clip_id=command.clip_id,
            route=route,
            full=command.full,
            deadline_s=app.deadline_s,
            idempotency_key=how.idempotency_key,
            origin=how.origin.record(),
            callback=how.callback,
        )
    return submit_stems(
        app.uow,
        app.queue,
        key,
        clip_id=command.clip_id,
        full=command.full,
        deadline_s=app.deadline_s,
        idempotency_key=how.idempotency_key,
        origin=how.origin.record(),
        callback=how.callback,
    )
