"""Commands for a key's library and art, whichever dialect asks: playlists of its clips
and pictures drawn for a prompt.

Both answer at once: each handler charges through ``services.library`` and returns
``Done(task, made)``, the task (what was made kept on it, storage keys and never URLs)
and the playlist or picture itself for the dialect's answer.
"""

from __future__ import annotations

from dataclasses import dataclass

from cadenza.domain.actions import Action
from cadenza.domain.billing import ApiKey
from cadenza.domain.errors import NotFound
from cadenza.domain.library import Playlist
from cadenza.domain.tasks import Task
from cadenza.services import library
from cadenza.services.commands import Commands, Done, Submission, Yields, handles


@dataclass(frozen=True)
class CreatePlaylist(Yields[Playlist]):
    """A named playlist of the key's clips; ``task_id`` is the client's note of the task
    that made them, kept with the playlist's task."""

    name: str
    clip_ids: tuple[str, ...] = ()
    task_id: str | None = None


@dataclass(frozen=True)
class PromptImage(Yields[library.PromptImage]):
    """A picture drawn for a prompt (the same prompt, the same picture), stored."""

    prompt: str


def _stored(app: Commands, task_id: str) -> Task:
    with app.uow(read_only=True) as u:
        task = u.tasks.get(task_id) if task_id else None
    if task is None:
        raise NotFound(f"task {task_id} not found")
    return task


def _recorded(how: Submission) -> library.Recorded:
    return library.Recorded(origin=how.origin.record(), callback=how.callback)


@handles(CreatePlaylist, Action.PLAYLIST)
def _create_playlist(
    app: Commands, key: ApiKey, command: CreatePlaylist, how: Submission
) -> Done[Playlist]:
    playlist = library.create_playlist(
        app.uow,
        key,
        name=command.name,
        clip_ids=list(command.clip_ids),
        task_id=command.task_id,
        recorded=_recorded(how),
    )
    return Done(_stored(app, playlist.task_id or ""), playlist)


@handles(PromptImage, Action.PROMPT_IMAGE)
def _prompt_image(
    app: Commands, key: ApiKey, command: PromptImage, how: Submission
) -> Done[library.PromptImage]:
    image = library.prompt_image(app.uow, app.storage, key, command.prompt, recorded=_recorded(how))
    return Done(_stored(app, image.task_id), image)
