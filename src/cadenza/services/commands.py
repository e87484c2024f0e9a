"""Typed commands and the one object that handles them, whichever dialect asked.

A dialect's route translates its body into a command (named in the domain's words) and
a ``Submission`` (how it arrived: its origin, an Idempotency-Key, a callback), hands both
to ``Commands.submit`` and translates the task it gets back into its own answer. Each
command type is registered once with its handler and the actions it is priced as
(``handles``); the handler prices, charges and records through the one submit path of
``services.tasks`` (or ``services.library`` for tools answered at once), so prices,
limits, refunds, idempotency and ownership are the same from every dialect.

A handler returns the task it charged through. A command whose dialects also need what
it made, which a task does not hold (a persona, a playlist, MIDI bytes), is a
``Yields[R]``: its handler returns ``Done(task, made)``; ``Commands.run`` hands both back,
``Commands.submit`` the task alone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from cadenza.domain.actions import Action
from cadenza.domain.billing import ApiKey
from cadenza.domain.callbacks import Callback
from cadenza.domain.channels import RELAY_ROUTE
from cadenza.domain.music import MusicRequest
from cadenza.domain.tasks import Task
from cadenza.services import media, tasks
from cadenza.services.channels import ChannelRouter
from cadenza.services.ports import MediaStorage, RelayedClips, TaskQueue, UnitOfWorkFactory


@dataclass(frozen=True)
class Origin:
    """Where a task came from, kept with it (``Task.origin``): the dialect, the body as
    the client sent it (AceData hands it back when the task is retrieved), and the trace
    id the submit was answered with."""

    dialect: str
    request: Mapping[str, Any] | None = None
    trace_id: str | None = None

    def record(self) -> dict[str, Any]:
        kept: dict[str, Any] = {"dialect": self.dialect}
        if self.request is not None:
            kept["request"] = dict(self.request)
        if self.trace_id is not None:
            kept["trace_id"] = self.trace_id
        return kept


@dataclass(frozen=True)
class Submission:
    """How a command arrived, whatever it asks for."""

    origin: Origin
    idempotency_key: str | None = None
    callback: Callback | None = None
    #: What identifies the request for an idempotent retry: the body as sent (a built
    #: request may hold values the server drew, such as a random seed).
    fingerprint: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RemoteAudio:
    """How audio at a client's URL is fetched: within ``timeout_s`` (wall clock) and the
    upload byte cap; private addresses only where the operator allows them."""

    timeout_s: float = 60.0
    allow_private: bool = False


R = TypeVar("R")


class Yields(Generic[R]):
    """A command whose handler returns ``Done[R]``: the task and what it made."""

    __slots__ = ()


@dataclass(frozen=True)
class Done(Generic[R]):
    """What a ``Yields[R]`` command's handler returns: the task it charged through and
    what it made, for the dialect to answer."""

    task: Task
    made: R


# -- the commands --------------------------------------------------------------------


@dataclass(frozen=True)
class MakeMusic:
    """A song (two clips): from a description or lyrics, or an extension or cover of a
    clip, or in a persona's voice; ``request`` says which."""

    request: MusicRequest


@dataclass(frozen=True)
class WriteLyrics:
    """A title and sectioned lyrics for a description (the same for the same seed)."""

    prompt: str | None
    seed: int | None = None


@dataclass(frozen=True)
class Concat:
    """The whole song of an extend chain ending at ``clip_id``, as one clip."""

    clip_id: str
    is_infill: bool = False


@dataclass(frozen=True)
class Remaster:
    """A remastered copy of a clip."""

    clip_id: str
    model: str | None = None
    variation: str | None = None


# -- the handler ---------------------------------------------------------------------

C = TypeVar("C")
Outcome = Task | Done[Any]
Handler = Callable[["Commands", ApiKey, Any, Submission], Outcome]
_HANDLERS: dict[type[Any], Handler] = {}
_ACTIONS: dict[type[Any], frozenset[Action]] = {}


def handles(
    kind: type[C], *actions: Action
) -> Callable[[Callable[[Commands, ApiKey, C, Submission], Outcome]], Any]:
    """Registers the handler of one command type and the actions its tasks are priced
    as (one registration per action)."""

    def register(handler: Callable[[Commands, ApiKey, C, Submission], Outcome]) -> Any:
        if kind in _HANDLERS:
            raise RuntimeError(f"{kind.__name__} has a handler already")
        _HANDLERS[kind] = handler
        _ACTIONS[kind] = frozenset(actions)
        return handler

    return register


class Commands:
    """Handles every command; built once (``Container.commands``) over the adapters."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        queue: TaskQueue,
        inline_queue: TaskQueue,
        storage: MediaStorage,
        *,
        deadline_s: int,
        uploads: media.UploadPolicy | None = None,
        remote: RemoteAudio | None = None,
        channels: ChannelRouter | None = None,
        relayed: RelayedClips | None = None,
    ) -> None:
        self.uow = uow
        self.queue = queue
        self.inline_queue = inline_queue
        self.storage = storage
        self.deadline_s = deadline_s
        self.uploads = uploads or media.UploadPolicy()
        self.remote = remote or RemoteAudio()
        #: Which tasks go to upstream channels; None where this server relays none.
        self.channels = channels
        #: Asks a relayed clip's channel what only it knows; None where nothing is relayed.
        self.relayed = relayed

    def submit(self, key: ApiKey, command: object, how: Submission) -> Task:
        """Charge for and record the command's task, then hand it to its queue."""
        outcome = self._handle(key, command, how)
        return outcome.task if isinstance(outcome, Done) else outcome

    def run(self, key: ApiKey, command: Yields[R], how: Submission) -> Done[R]:
        """As ``submit``, for a command that yields more than its task: both come back."""
        outcome = self._handle(key, command, how)
        if not isinstance(outcome, Done):
            raise TypeError(f"the handler of {type(command).__name__} returned no Done")
        return outcome

    def _handle(self, key: ApiKey, command: object, how: Submission) -> Outcome:
        handler = _HANDLERS.get(type(command))
        if handler is None:
            raise TypeError(f"no handler for {type(command).__name__}")
        return handler(self, key, command, how)

    @staticmethod
    def registered() -> frozenset[type[Any]]:
        return frozenset(_HANDLERS)

    @staticmethod
    def actions() -> dict[type[Any], frozenset[Action]]:
        """Each command type and the actions its tasks are priced as."""
        return dict(_ACTIONS)


def follow_up_route(app: Commands, key: ApiKey, clip_id: str, action: Action) -> str | None:
    """The route pinning a follow-up of a relayed clip to the channel that made it, which
    alone has the song's parts (None: the clip was made here). Refused before any charge
    where that channel cannot take it."""
    if app.channels is None or not clip_id:
        return None
    channel_id = tasks.relayed_source(app.uow, key, clip_id)
    if channel_id is None:
        return None
    app.channels.check_follow_up(channel_id, action.value)
    return f"{RELAY_ROUTE}:{channel_id}"


@handles(MakeMusic, Action.MUSIC)
def _make_music(app: Commands, key: ApiKey, command: MakeMusic, how: Submission) -> Task:
    req = command.request
    route: str | None = None
    source = req.continue_clip_id or req.cover_clip_id
    if app.channels is not None and source and not req.persona_id:
        # An edit of a relayed song goes to the channel that made it, which alone has it.
        channel_id = tasks.relayed_source(app.uow, key, source)
        if channel_id is not None:
            app.channels.check_open(channel_id)
            route = f"{RELAY_ROUTE}:{channel_id}"
    # Songs of a model an upstream channel serves are relayed; edits of a song made here
    # (extend, cover, a persona's voice) need its score, so they are made here.
    plain = not (req.persona_id or source)
    if app.channels is not None and plain and app.channels.route(Action.MUSIC.value, req.model):
        route = RELAY_ROUTE
    return tasks.submit_music_request(
        app.uow,
        app.queue,
        key,
        command.request,
        fingerprint=tasks.request_hash("MUSIC", dict(how.fingerprint)),
        idempotency_key=how.idempotency_key,
        deadline_s=app.deadline_s,
        origin=how.origin.record(),
        callback=how.callback,
        route=route,
    )


@handles(WriteLyrics, Action.LYRICS)
def _write_lyrics(app: Commands, key: ApiKey, command: WriteLyrics, how: Submission) -> Task:
    # Relayed while a healthy channel takes lyrics, on the relay lane (clients poll it);
    # else written here at once: the inline queue runs it before the submit returns.
    relayed = app.channels is not None and app.channels.route(Action.LYRICS.value, "", local=True)
    return tasks.submit_lyrics(
        app.uow,
        app.queue if relayed else app.inline_queue,
        key,
        {"prompt": command.prompt, **({"seed": command.seed} if command.seed is not None else {})},
        idempotency_key=how.idempotency_key,
        deadline_s=app.deadline_s,
        origin=how.origin.record(),
        callback=how.callback,
        route=RELAY_ROUTE if relayed else None,
    )


@handles(Concat, Action.CONCAT)
def _concat(app: Commands, key: ApiKey, command: Concat, how: Submission) -> Task:
    return media.submit_concat(
        app.uow,
        app.queue,
        key,
        clip_id=command.clip_id,
        is_infill=command.is_infill,
        deadline_s=app.deadline_s,
        idempotency_key=how.idempotency_key,
        origin=how.origin.record(),
        callback=how.callback,
        relay_route=follow_up_route(app, key, command.clip_id, Action.CONCAT),
    )


@handles(Remaster, Action.UPSAMPLE)
def _remaster(app: Commands, key: ApiKey, command: Remaster, how: Submission) -> Task:
    return media.submit_upsample(
        app.uow,
        app.queue,
        key,
        clip_id=command.clip_id,
        model_name=command.model,
        variation_category=command.variation,
        deadline_s=app.deadline_s,
        idempotency_key=how.idempotency_key,
        storage=app.storage,
        origin=how.origin.record(),
        callback=how.callback,
        relay_route=follow_up_route(app, key, command.clip_id, Action.UPSAMPLE),
    )


# Handlers kept in modules of their own register on import.
from cadenza.services import (  # noqa: E402, F401
    commands_creative,
    commands_edits,
    commands_library,
    commands_media,
    commands_stems,
)
