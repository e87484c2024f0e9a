"""Upstream channels: other Suno-compatible services (or Cadenza nodes) that take tasks
on this server's behalf, and the rules that keep relaying safe.

A task is relayed to one channel at a time. Moving it to another is safe only while the
upstream certainly made nothing (``Refused``); once an upstream may have accepted it, its
outcome is found by asking that upstream again, never by submitting elsewhere.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from cadenza.domain.errors import InvalidInput
from cadenza.domain.tasks import new_id, utcnow

#: The route a relayed task is queued with; ``relay:<channel id>`` pins it to a channel.
RELAY_ROUTE = "relay"


def is_relay_route(route: str | None) -> bool:
    return route is not None and (route == RELAY_ROUTE or route.startswith(RELAY_ROUTE + ":"))


def pinned_channel(route: str | None) -> str | None:
    """The channel id a ``relay:<id>`` route names; None for any channel."""
    if route is None or not route.startswith(RELAY_ROUTE + ":"):
        return None
    return route.split(":", 1)[1] or None


class ChannelKind(enum.StrEnum):
    """The dialect an upstream speaks."""

    SUNOCORE = "sunocore"
    ACEDATA = "acedata"


#: Follow-ups of a clip a channel made, by the dialect that has a request for them. They
#: go back to that channel whatever actions it lists: only it has the song's real parts,
#: and it served the song itself.
FOLLOW_UPS: dict[ChannelKind, frozenset[str]] = {
    ChannelKind.ACEDATA: frozenset(
        {"STEMS", "ALL_STEMS", "WAV", "UPSAMPLE", "CONCAT", "REPLACE_SECTION", "MASHUP"}
    ),
    # Seed 000's edits: concat, crop and speed-adjust.
    ChannelKind.SUNOCORE: frozenset({"CONCAT", "CROP", "SPEED_ADJUST"}),
}

MAX_NAME = 64
#: The actions a channel can take: songs (made, extended, covered) and lyrics.
RELAYABLE_ACTIONS = frozenset({"MUSIC", "LYRICS"})
#: Those that name no model: a channel that takes them takes them whatever its models.
MODEL_FREE_ACTIONS = frozenset({"LYRICS"})


@dataclass
class Channel:
    """An upstream service. ``credential`` is the sealed form (see ``SecretBox``): the
    plain key exists only in the relay's memory while it calls the upstream."""

    id: str
    name: str
    kind: ChannelKind
    base_url: str
    credential: str
    #: Model names it serves (``chirp-v4``…); ``*`` serves every model; ``local=theirs``
    #: serves ``local`` and sends it upstream as ``theirs``.
    models: list[str] = field(default_factory=lambda: ["*"])
    #: Actions it serves (``MUSIC``…).
    actions: list[str] = field(default_factory=lambda: ["MUSIC"])
    weight: int = 1
    #: Lower is preferred: channels of a higher number take tasks only while every
    #: channel of a lower one is unavailable.
    priority: int = 0
    #: Tasks relayed to it at once (per relaying process).
    max_in_flight: int = 16
    #: One submit request; past it the outcome is unknown and reconciled, not retried.
    submit_timeout_s: float = 30.0
    #: How long a relayed task may take upstream before it fails (and is refunded).
    task_timeout_s: float = 900.0
    #: Consecutive failures that open its circuit, and how long it then stays open.
    failure_threshold: int = 3
    cooldown_s: float = 30.0
    enabled: bool = True
    created_at: datetime = field(default_factory=utcnow)

    def serves(self, action: str, model: str) -> bool:
        if action not in self.actions:
            return False
        if action in MODEL_FREE_ACTIONS:
            return True
        name = model.strip().lower()
        return any(m == "*" or m.partition("=")[0] == name for m in self.models)

    def follows_up(self, action: str) -> bool:
        """Whether a follow-up ``action`` of a clip it made can go back to it."""
        return action in FOLLOW_UPS[self.kind]

    def upstream_model(self, model: str) -> str:
        """The name the upstream knows ``model`` by: upstreams name their models in their
        own way (another version's name, a vendor's), and clients keep asking for ours."""
        name = model.strip().lower()
        for entry in self.models:
            local, mapped, theirs = entry.partition("=")
            if mapped and local == name:
                return theirs
        return model


def _model_entry(entry: str) -> str:
    """``name`` or ``name=upstream name``, trimmed and lower-cased."""
    local, mapped, theirs = (part.strip().lower() for part in entry.partition("="))
    if not mapped:
        return local
    if not local or not theirs or local == "*" or "=" in theirs:
        raise InvalidInput(f"a model mapping is 'ours=theirs', not {entry.strip()!r}")
    if len(theirs) > 100:
        raise InvalidInput("an upstream model name is at most 100 characters")
    return f"{local}={theirs}"


def new_channel(
    *,
    name: str,
    kind: str,
    base_url: str,
    credential: str,
    models: Sequence[str] = ("*",),
    actions: Sequence[str] = ("MUSIC",),
    weight: int = 1,
    priority: int = 0,
    max_in_flight: int = 16,
    submit_timeout_s: float = 30.0,
    task_timeout_s: float = 900.0,
    cooldown_s: float = 30.0,
) -> Channel:
    """A validated channel; ``credential`` must already be sealed."""
    name = name.strip()
    if not name or len(name) > MAX_NAME or not all(c.isalnum() or c in "-_." for c in name):
        raise InvalidInput(f"a channel name is 1-{MAX_NAME} letters, digits, '-', '_' or '.'")
    try:
        dialect = ChannelKind(kind.strip().lower())
    except ValueError:
        raise InvalidInput("kind must be sunocore or acedata") from None
    url = base_url.strip().rstrip("/")
    if not url.startswith(("http://", "https://")) or len(url) > 2000:
        raise InvalidInput("base URL must be an http:// or https:// URL")
    model_names = sorted({_model_entry(m) for m in models if m.strip()}) or ["*"]
    if len({m.partition("=")[0] for m in model_names}) < len(model_names):
        raise InvalidInput("a model is named twice in the channel's models")
    action_names = sorted({a.strip().upper() for a in actions if a.strip()}) or ["MUSIC"]
    unknown = set(action_names) - RELAYABLE_ACTIONS
    if unknown:
        raise InvalidInput(
            f"actions {', '.join(sorted(unknown))} cannot be relayed; "
            f"relayable: {', '.join(sorted(RELAYABLE_ACTIONS))}"
        )
    if weight < 1 or max_in_flight < 1:
        raise InvalidInput("weight and max in flight must be at least 1")
    if submit_timeout_s <= 0 or task_timeout_s <= 0 or cooldown_s < 0:
        raise InvalidInput("timeouts must be positive")
    return Channel(
        id=new_id(),
        name=name,
        kind=dialect,
        base_url=url,
        credential=credential,
        models=model_names,
        actions=action_names,
        weight=weight,
        priority=priority,
        max_in_flight=max_in_flight,
        submit_timeout_s=submit_timeout_s,
        task_timeout_s=task_timeout_s,
        cooldown_s=cooldown_s,
    )


class RelayState(enum.StrEnum):
    #: Sent (or about to be) to ``channel_id``; whether the upstream took it is unknown.
    SUBMITTING = "submitting"
    #: The upstream answered its task id.
    ACCEPTED = "accepted"


@dataclass
class Relay:
    """Where a task was relayed: written before the submit leaves, so a worker that dies
    mid-submit leaves what a successor needs to reconcile rather than resubmit."""

    task_id: str
    channel_id: str
    #: Sent as the upstream's Idempotency-Key: asking again with it finds the task the
    #: first submit made, if it made one, instead of making another.
    submit_key: str
    state: RelayState = RelayState.SUBMITTING
    upstream_task_id: str | None = None
    #: Channels that refused it before any accepted (never tried again for this task).
    refused_by: list[str] = field(default_factory=list)
    #: Each of its clips' id upstream, by its id here: what a follow-up names there.
    clips: dict[str, str] = field(default_factory=dict)
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime = field(default_factory=utcnow)


@dataclass
class ChannelStats:
    """One channel's health: its circuit, tasks held now, submits and ended tasks."""

    name: str
    #: ``closed``, ``half_open``, ``open`` or ``disabled``.
    state: str = "closed"
    in_flight: int = 0
    #: Submits answered with a task id, refused (another channel may take the task),
    #: and whose outcome was unknown (reconciled by asking again).
    accepted: int = 0
    refused: int = 0
    ambiguous: int = 0
    #: Relayed tasks that ended, by outcome, and their seconds from submit to the end.
    succeeded: int = 0
    failed: int = 0
    seconds_total: float = 0.0

    @property
    def success_rate(self) -> float | None:
        ended = self.succeeded + self.failed
        return self.succeeded / ended if ended else None


class Breaker:
    """A channel's circuit: closed while it answers; open for ``cooldown_s`` after
    ``threshold`` failures in a row; then half-open, letting one probe through, whose
    outcome closes it or opens it again. Times are monotonic seconds, given by the caller."""

    def __init__(self, threshold: int, cooldown_s: float) -> None:
        self.threshold = max(1, threshold)
        self.cooldown_s = cooldown_s
        self.failures = 0
        self.open_until: float | None = None
        self._probing = False

    def state(self, now: float) -> str:
        if self.open_until is None:
            return "closed"
        return "open" if now < self.open_until else "half_open"

    def available(self, now: float) -> bool:
        """Whether a submit may go to it now (a half-open circuit: one probe at a time)."""
        state = self.state(now)
        return state == "closed" or (state == "half_open" and not self._probing)

    def attempt(self, now: float) -> None:
        if self.state(now) == "half_open":
            self._probing = True

    def succeeded(self) -> None:
        self.failures = 0
        self.open_until = None
        self._probing = False

    def failed(self, now: float) -> None:
        self.failures += 1
        self._probing = False
        if self.failures >= self.threshold or self.open_until is not None:
            self.open_until = now + self.cooldown_s


def candidates(
    channels: Sequence[Channel],
    action: str,
    model: str,
    *,
    available: set[str],
    rng: random.Random | None = None,
) -> list[Channel]:
    """The channels to try, in order: enabled ones serving ``action`` and ``model`` whose
    id is in ``available``, by priority, and within a priority a weighted draw without
    replacement (a channel of weight 3 comes first three times as often as one of 1)."""
    pick = rng or random
    usable = [c for c in channels if c.enabled and c.id in available and c.serves(action, model)]
    ordered: list[Channel] = []
    for level in sorted({c.priority for c in usable}):
        pool = [c for c in usable if c.priority == level]
        while pool:
            total = sum(c.weight for c in pool)
            draw = pick.uniform(0, total)
            for index, channel in enumerate(pool):
                draw -= channel.weight
                if draw <= 0 or index == len(pool) - 1:
                    ordered.append(pool.pop(index))
                    break
    return ordered
