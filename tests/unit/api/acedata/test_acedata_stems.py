"""``stems`` and ``all_stems`` of ``/suno/audios`` through the app: the clips' shape and
order, their audio, and what is charged (nothing for a clip that cannot be split)."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from fastapi.testclient import TestClient
from PIL import Image

from cadenza.bootstrap import Container, build_engines, build_runner
from cadenza.domain.actions import Action
from cadenza.domain.stems import STEM_ORDER
from cadenza.domain.tasks import Clip, ClipStatus, Task, TaskStatus, new_id
from cadenza.engines.registry import EngineRegistry
from cadenza.engines.stems import StemsEngine
from cadenza.services import billing
from cadenza.storage.local import LocalStorage

RATE = 44100
SECONDS = 1.0
#: Three parts of the seeded song: stem -> tone (Hz) and level.
PARTS = {"Vocals": (440.0, 0.2), "Drums": (110.0, 0.3), "Bass": (55.0, 0.25)}
QUANTUM = 1.0 / 32768


@pytest.fixture
def container(container: Container, queue: Any, engine: Any) -> Container:
    """The conftest container with the real stems engine behind STEMS and ALL_STEMS."""
    stems = StemsEngine(container.storage)
    engines = EngineRegistry({"MUSIC": engine, "STEMS": stems, "ALL_STEMS": stems})
    runner = build_runner(container.settings, container.uow, container.storage, engines)
    queue.runner = runner
    return dataclasses.replace(container, engines=engines, runner=runner)


def bearer(make_key: Any, credits: str = "100") -> tuple[str, dict[str, str]]:
    key_id, headers = make_key(credits)
    return key_id, {"Authorization": f"Bearer {headers['X-API-Key']}"}


def balance(container: Container, key_id: str) -> Decimal:
    with container.uow(read_only=True) as u:
        key = u.keys.get(key_id)
        assert key is not None
        return key.credits_balance


def price(container: Container, action: Action) -> Decimal:
    return next(p.price for p in billing.list_prices(container.uow) if p.action == action)


def part(freq: float, level: float) -> np.ndarray:
    t = np.arange(round(SECONDS * RATE)) / RATE
    mono = (level * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return np.stack([mono, 0.5 * mono], axis=1)


def seed_clip(
    container: Container, key_id: str, tmp: Path, *, stems: bool = True, title: str = "Tide"
) -> Clip:
    """A finished clip as the compose engine leaves one: float stems summing to a 16-bit
    song, a cover; without ``stems``, an upload (its song and an analysis score only)."""
    clip_id, task_id = new_id(), new_id()
    folder = tmp / clip_id
    folder.mkdir(parents=True)
    tracks = {name: part(*spec) for name, spec in PARTS.items()}
    song = sum(tracks.values())
    local = {"song.wav": folder / "song.wav", "cover.png": folder / "cover.png"}
    sf.write(str(local["song.wav"]), song, RATE, subtype="PCM_16")
    Image.new("RGB", (8, 8), (40, 90, 160)).save(local["cover.png"])
    if stems:
        for name, audio in tracks.items():
            local[f"stems/{name}.wav"] = folder / f"{name}.wav"
            sf.write(str(local[f"stems/{name}.wav"]), audio, RATE, subtype="FLOAT")
    else:
        local["score.json"] = folder / "score.json"
        local["score.json"].write_text('{"extra": {"analysed": true}}')
    files: dict[str, str] = {}
    for name, path in local.items():
        files[name] = f"clips/{clip_id}-seed/{name}"
        container.storage.put_file(files[name], path, "application/octet-stream")
    task = Task(
        id=task_id,
        key_id=key_id,
        action="MUSIC" if stems else "UPLOAD",
        params={},
        price=Decimal(0),
        status=TaskStatus.SUCCESS,
        progress=100,
        dispatched=True,
    )
    clip = Clip(
        id=clip_id,
        task_id=task_id,
        key_id=key_id,
        title=title,
        tags="pop",
        lyrics="[Verse]\nsea",
        status=ClipStatus.COMPLETE,
        duration=SECONDS,
        audio_key=files["song.wav"],
        image_key=files["cover.png"],
        files=files,
        metadata={"type": "gen" if stems else "upload"},
    )
    with container.uow() as u:
        u.tasks.add(task)
        u.clips.add(clip)
        u.commit()
    return clip


def read_wav(container: Container, clip_id: str) -> np.ndarray:
    with container.uow(read_only=True) as u:
        clip = u.clips.get(clip_id)
    assert clip is not None
    storage = container.storage
    assert isinstance(storage, LocalStorage)
    audio, rate = sf.read(str(storage.path_for(clip.files["song.wav"])), always_2d=True)
    assert rate == RATE
    return np.asarray(audio)


def seeded_song() -> np.ndarray:
    return np.asarray(sum(part(*spec) for spec in PARTS.values()))


def test_stems_answers_vocals_and_instrumental_that_sum_to_the_song(
    client: TestClient, make_key: Any, container: Container, tmp_path: Path
) -> None:
    key_id, headers = bearer(make_key)
    clip = seed_clip(container, key_id, tmp_path)
    answer = client.post(
        "/suno/audios", json={"action": "stems", "audio_id": clip.id}, headers=headers
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["success"] is True
    data = body["data"]
    assert [c["title"] for c in data] == ["Tide - Vocals", "Tide - Instrumental"]
    image_url = container.storage.url(clip.files["cover.png"])
    for item in data:
        assert item["state"] == "succeeded" and item["model"] == ""
        assert item["duration"] == pytest.approx(SECONDS, abs=1e-3)
        assert item["audio_url"].endswith(".mp3") and item["image_url"] == image_url
    assert data[0]["lyric"] == clip.lyrics and data[1]["lyric"] == ""
    vocals, instrumental = (read_wav(container, c["id"]) for c in data)
    assert np.max(np.abs(vocals - part(*PARTS["Vocals"]))) <= QUANTUM
    assert np.max(np.abs(vocals + instrumental - seeded_song())) <= 2 * QUANTUM
    assert balance(container, key_id) == Decimal(100) - price(container, Action.STEMS)


def test_all_stems_answers_two_ordered_sets_of_twelve(
    client: TestClient, make_key: Any, container: Container, tmp_path: Path
) -> None:
    key_id, headers = bearer(make_key)
    clip = seed_clip(container, key_id, tmp_path)
    answer = client.post(
        "/suno/audios", json={"action": "all_stems", "audio_id": clip.id}, headers=headers
    )
    assert answer.status_code == 200, answer.text
    data = answer.json()["data"]
    assert len(data) == 24
    assert [c["title"] for c in data] == [f"Tide ({stem})" for stem in STEM_ORDER] * 2
    assert {c["model"] for c in data} == {"chirp-ahi-stem-12-t1"}
    assert all(c["state"] == "succeeded" and c["audio_url"] for c in data)
    assert all(c["duration"] == pytest.approx(SECONDS, abs=1e-3) for c in data)
    with container.uow(read_only=True) as u:
        clips = [u.clips.get(c["id"]) for c in data]
    metas = [c.metadata for c in clips if c is not None]
    assert [m["stem_set"] for m in metas] == [1] * 12 + [2] * 12
    assert [m["stem"] for m in metas] == list(STEM_ORDER) * 2
    assert all(m["stem_from_id"] == clip.id for m in metas)

    mix = [read_wav(container, c["id"]) for c in data[:12]]
    solo = [read_wav(container, c["id"]) for c in data[12:]]
    for stem, first, second, meta in zip(STEM_ORDER, mix, solo, metas[12:], strict=True):
        assert first.shape == second.shape == (round(SECONDS * RATE), 2)
        if stem in PARTS:
            assert meta["silent"] is False
            assert np.max(np.abs(first - part(*PARTS[stem]))) <= QUANTUM
            # The solo candidate is the same part at another level, not a copy.
            gain = 10 ** (meta["gain_db"] / 20)
            assert abs(meta["gain_db"]) > 0.5
            assert np.max(np.abs(second - first * gain)) <= 2 * QUANTUM * max(1.0, gain)
        else:
            assert meta["silent"] is True
            assert not first.any() and not second.any()
    assert np.max(np.abs(sum(mix) - seeded_song())) <= 3 * QUANTUM
    assert balance(container, key_id) == Decimal(100) - price(container, Action.ALL_STEMS)


def test_pending_stem_clips_have_their_titles_at_once(
    client: TestClient, make_key: Any, container: Container, tmp_path: Path, queue: Any
) -> None:
    key_id, headers = bearer(make_key)
    clip = seed_clip(container, key_id, tmp_path, title="Rain")
    queue.auto = False
    body = {"action": "all_stems", "audio_id": clip.id, "async": True}
    accepted = client.post("/suno/audios", json=body, headers=headers).json()
    record = client.post("/suno/tasks", json={"id": accepted["task_id"]}, headers=headers).json()
    assert record["state"] == "pending" and "response" not in record
    view = container.views.tasks([accepted["task_id"]], key_id)[0]
    assert [c.title for c in view.clips] == [f"Rain ({stem})" for stem in STEM_ORDER] * 2
    queue.drain()
    done = client.post("/suno/tasks", json={"id": accepted["task_id"]}, headers=headers).json()
    assert len(done["response"]["data"]) == 24


def test_an_upload_cannot_be_split_and_nothing_is_charged(
    client: TestClient, make_key: Any, container: Container, tmp_path: Path
) -> None:
    key_id, headers = bearer(make_key)
    upload = seed_clip(container, key_id, tmp_path, stems=False)
    for action in ("stems", "all_stems"):
        answer = client.post(
            "/suno/audios", json={"action": action, "audio_id": upload.id}, headers=headers
        )
        assert answer.status_code == 400, answer.text
        error = answer.json()["error"]
        assert error == {"code": "bad_request", "message": "The song id does not support stems."}
    assert balance(container, key_id) == Decimal(100)
    with container.uow(read_only=True) as u:
        found = u.tasks.list_for_key(key_id, limit=10, offset=0)
    assert [task.id for task in found] == [upload.task_id]  # the seeded one only


def test_another_keys_clip_is_a_missing_song(
    client: TestClient, make_key: Any, container: Container, tmp_path: Path
) -> None:
    owner, _ = bearer(make_key)
    clip = seed_clip(container, owner, tmp_path)
    key_id, headers = bearer(make_key)
    for audio_id in (clip.id, "no-such-clip"):
        answer = client.post(
            "/suno/audios", json={"action": "all_stems", "audio_id": audio_id}, headers=headers
        )
        assert answer.status_code == 400
        assert answer.json()["error"]["message"] == (
            "The song id does not exist or has been taken offline."
        )
    assert balance(container, key_id) == Decimal(100)


def test_a_split_that_fails_is_refunded(
    client: TestClient, make_key: Any, container: Container, tmp_path: Path
) -> None:
    key_id, headers = bearer(make_key)
    clip = seed_clip(container, key_id, tmp_path)
    storage = container.storage
    assert isinstance(storage, LocalStorage)
    storage.path_for(clip.files["stems/Drums.wav"]).write_bytes(b"not a wav")
    answer = client.post(
        "/suno/audios", json={"action": "stems", "audio_id": clip.id}, headers=headers
    )
    assert answer.status_code == 500
    assert answer.json()["success"] is False
    assert balance(container, key_id) == Decimal(100)


def test_the_installation_runs_splits_on_the_stems_engine(container: Container) -> None:
    registry = build_engines(container.settings, container.storage)
    assert isinstance(registry("STEMS"), StemsEngine)
    assert isinstance(registry("ALL_STEMS"), StemsEngine)
