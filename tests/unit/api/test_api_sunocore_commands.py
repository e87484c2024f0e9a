"""Sunocore's priced routes charge through ``Commands``: each task keeps the sunocore
origin and is priced as an action its command is registered with."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from api_media_support import seed_clip
from fastapi.testclient import TestClient
from library_helpers import generated_clip

from cadenza.bootstrap import Container
from cadenza.domain.actions import Action
from cadenza.domain.tasks import Clip
from cadenza.services.commands import Commands, Done, Origin, Submission
from cadenza.services.commands_edits import Crop, SpeedAdjust
from cadenza.services.commands_library import CreatePlaylist, PromptImage
from cadenza.services.commands_media import (
    AlignWords,
    CreatePersona,
    ExpandStyle,
    ExportMidi,
    NothingSung,
)

Call = Callable[[TestClient, dict[str, str], Clip], Any]

#: Each sunocore route, the command it submits, and the call (on a generated clip).
ROUTES: dict[str, tuple[type[Any], Call]] = {
    "persona": (
        CreatePersona,
        lambda c, h, clip: c.post(
            "/suno/persona/create", json={"root_clip_id": clip.id}, headers=h
        ),
    ),
    "vox": (
        CreatePersona,
        lambda c, h, clip: c.post(
            "/suno/persona/create-with-vox-stem", json={"song_id": clip.id}, headers=h
        ),
    ),
    "midi": (ExportMidi, lambda c, h, clip: c.get(f"/suno/midi/t/{clip.id}", headers=h)),
    "aligned": (
        AlignWords,
        lambda c, h, clip: c.get(
            "/api/get_aligned_lyrics_v3", params={"song_id": clip.id}, headers=h
        ),
    ),
    "playlist": (
        CreatePlaylist,
        lambda c, h, clip: c.post(
            "/api/playlist/create_with_clips", json={"name": "P", "clip_ids": [clip.id]}, headers=h
        ),
    ),
    "tags": (
        ExpandStyle,
        lambda c, h, clip: c.post(
            "/api/generate/upsample-tags", json={"original_tags": "rock"}, headers=h
        ),
    ),
    "image": (
        PromptImage,
        lambda c, h, clip: c.post("/suno/prompt_image", json={"prompt": "blue sea"}, headers=h),
    ),
}


def _charged_task(client: TestClient, headers: dict[str, str]) -> str:
    entries = client.get("/suno/billing/transactions", headers=headers).json()["data"]
    consumed = [e for e in entries if e["transaction_type"] == "CONSUME"]
    assert len(consumed) == 1
    return str(consumed[0]["task_id"])


def _check_task(container: Container, task_id: str, command: type[Any]) -> None:
    with container.uow(read_only=True) as u:
        task = u.tasks.get(task_id)
    assert task is not None
    assert task.origin == {"dialect": "sunocore"}
    assert Action(task.action) in Commands.actions()[command]


@pytest.mark.parametrize("route", sorted(ROUTES))
def test_library_route_charges_through_its_command(
    route: str, client: TestClient, container: Container, make_key: Any
) -> None:
    key_id, headers = make_key("10")
    clip = generated_clip(container, key_id).clip
    command, call = ROUTES[route]
    response = call(client, headers, clip)
    assert response.status_code == 200, response.text
    _check_task(container, _charged_task(client, headers), command)


@pytest.mark.parametrize(
    ("path", "body", "command"),
    [
        ("/api/crop", {"crop_start_s": 0.5, "crop_end_s": 2.0}, Crop),
        ("/suno/submit/speed-adjust", {"speed_multiplier": 1.5}, SpeedAdjust),
    ],
)
def test_edit_route_charges_through_its_command(
    path: str,
    body: dict[str, Any],
    command: type[Any],
    client: TestClient,
    container: Container,
    make_key: Any,
    tmp_path: Path,
) -> None:
    key_id, headers = make_key("10")
    clip = seed_clip(container, key_id, tmp_path, seconds=4.0)
    field = "song_id" if command is Crop else "clip_id"
    response = client.post(path, json={field: clip.id, **body}, headers=headers)
    assert response.status_code == 200, response.text
    task_id = response.json()["data"]
    assert _charged_task(client, headers) == task_id
    _check_task(container, task_id, command)


def test_a_yielding_command_gives_its_task_alone_to_submit(
    container: Container, make_key: Any
) -> None:
    key_id, _ = make_key("10")
    with container.uow(read_only=True) as u:
        key = u.keys.get(key_id)
    assert key is not None
    how = Submission(Origin("test"))
    task = container.commands.submit(key, ExpandStyle("rock"), how)
    done = container.commands.run(key, ExpandStyle("rock"), how)
    assert isinstance(done, Done) and done.task.id != task.id
    assert task.action == done.task.action == Action.UPSAMPLE_TAGS
    assert done.made == (task.result or {})["upsampled_tags"]


def test_nothing_sung_is_refused_before_any_charge(container: Container, make_key: Any) -> None:
    key_id, _ = make_key("10")
    with container.uow(read_only=True) as u:
        key = u.keys.get(key_id)
    assert key is not None
    clip = generated_clip(container, key_id, instrumental=True, lyrics="").clip
    with pytest.raises(NothingSung):
        container.commands.run(key, AlignWords(clip.id), Submission(Origin("test")))
    with container.uow(read_only=True) as u:
        charged = [t for t in u.tasks.list_for_key(key_id, limit=10) if t.id != clip.task_id]
        fresh = u.keys.get(key_id)
    assert charged == []
    assert fresh is not None and fresh.credits_balance == key.credits_balance
