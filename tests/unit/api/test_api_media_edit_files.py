"""Edited generated clips keep exact lyrics and MIDI: crop, speed and concat through the
routes, then the aligned-lyrics and MIDI routes read the edited files."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pretty_midi
import pytest
from api_media_support import result_clip, seed_clip, with_tools
from fastapi.testclient import TestClient

from cadenza.bootstrap import Container
from cadenza.compose.composer import compose
from cadenza.compose.midi import build_midi
from cadenza.compose.timings import word_timings
from cadenza.domain.music import MusicRequest
from cadenza.domain.tasks import Clip

LYRICS = "[Verse]\nLight on the water\nRun to the river\n[Chorus]\nHold on hold on"
TOL = 0.003


@pytest.fixture
def container(container: Container, queue: Any, engine: Any) -> Container:
    return with_tools(container, queue, engine)


def _sung_clip(container: Container, key_id: str, tmp: Path, seed: int, **kw: Any) -> Clip:
    """A seeded clip (tones and stems) with the lyrics, MIDI and score of a composed song."""
    score = compose(MusicRequest(tags="pop", lyrics=LYRICS, max_duration_s=30), seed)
    clip = seed_clip(container, key_id, tmp, seconds=score.duration_s, **kw)
    midi = io.BytesIO()
    build_midi(score).save(file=midi)
    lyrics = {"title": score.title, "language": "en", "lyrics": LYRICS}
    blobs = {
        "lyrics.json": json.dumps({**lyrics, "words": word_timings(score)}).encode(),
        "song.mid": midi.getvalue(),
        "score.json": json.dumps(score.to_dict()).encode(),
    }
    for name, data in blobs.items():
        key = f"clips/{clip.id}-seed/{name}"
        container.storage.put_bytes(key, data, "application/octet-stream")
        clip.files[name] = key
    with container.uow() as u:
        u.clips.update(clip)
        u.commit()
    return clip


def _task(response: Any) -> str:
    assert response.status_code == 200, response.text
    return str(response.json()["data"])


def _aligned(client: TestClient, headers: dict[str, str], clip_id: str) -> list[dict[str, Any]]:
    response = client.get(
        "/api/get_aligned_lyrics_v3", params={"song_id": clip_id}, headers=headers
    )
    assert response.status_code == 200, response.text
    return list(response.json()["data"]["aligned_words"])


def _vocals(client: TestClient, headers: dict[str, str], clip: Clip) -> list[tuple[float, int]]:
    response = client.get(f"/suno/midi/{clip.task_id}/{clip.id}", headers=headers)
    assert response.status_code == 200, response.text
    pm = pretty_midi.PrettyMIDI(io.BytesIO(response.content))
    vocals = next(i for i in pm.instruments if i.name == "Vocals")
    return sorted((n.start, n.pitch) for n in vocals.notes)


def _same(got: list[tuple[float, int]], want: list[tuple[float, int]]) -> None:
    assert len(got) == len(want) > 0
    for (s1, p1), (s2, p2) in zip(got, want, strict=True):
        assert p1 == p2 and abs(s1 - s2) <= TOL


def test_cropped_clip_has_exact_lyrics_and_midi(
    client: TestClient, container: Container, make_key: Any, tmp_path: Path
) -> None:
    key_id, headers = make_key()
    source = _sung_clip(container, key_id, tmp_path, 3)
    body = {"song_id": source.id, "crop_start_s": 9.0, "crop_end_s": 16.0}
    cropped = result_clip(
        container, client, headers, _task(client.post("/api/crop", json=body, headers=headers))
    )
    assert {"lyrics.json", "song.mid"} <= set(cropped.files) and "score.json" not in cropped.files

    words = _aligned(client, headers, cropped.id)
    want = [w for w in _aligned(client, headers, source.id) if 9.0 <= w["start_s"] < 16.0]
    assert [w["word"] for w in words] == [w["word"] for w in want]
    for got, orig in zip(words, want, strict=True):
        assert got["start_s"] == pytest.approx(orig["start_s"] - 9.0, abs=1e-3)
    shifted = [(s - 9.0, p) for s, p in _vocals(client, headers, source) if 9.0 <= s < 16.0]
    _same(_vocals(client, headers, cropped), shifted)


def test_sped_up_clip_has_scaled_lyrics_and_transposed_midi(
    client: TestClient, container: Container, make_key: Any, tmp_path: Path
) -> None:
    key_id, headers = make_key()
    source = _sung_clip(container, key_id, tmp_path, 3)
    body = {"clip_id": source.id, "speed_multiplier": 2.0, "keep_pitch": False}
    task = _task(client.post("/suno/submit/speed-adjust", json=body, headers=headers))
    fast = result_clip(container, client, headers, task)
    words = _aligned(client, headers, fast.id)
    original = _aligned(client, headers, source.id)
    assert [w["start_s"] for w in words] == pytest.approx(
        [w["start_s"] / 2 for w in original], abs=1e-3
    )
    octave_up = [(s / 2, p + 12) for s, p in _vocals(client, headers, source)]
    _same(_vocals(client, headers, fast), octave_up)


def test_concat_of_sung_clips_offsets_the_extension(
    client: TestClient, container: Container, make_key: Any, tmp_path: Path
) -> None:
    key_id, headers = make_key()
    root = _sung_clip(container, key_id, tmp_path, 3)
    ext = _sung_clip(
        container,
        key_id,
        tmp_path,
        5,
        freq=330.0,
        metadata={"continue_clip_id": root.id, "continue_at": 10.0},
    )
    task = _task(client.post("/suno/submit/concat", json={"clip_id": ext.id}, headers=headers))
    whole = result_clip(container, client, headers, task)
    assert {"stems/Vocals.wav", "stems/Drums.wav", "lyrics.json", "song.mid"} <= set(whole.files)
    words = _aligned(client, headers, whole.id)
    head = [w for w in _aligned(client, headers, root.id) if w["start_s"] < 10.0]
    tail = _aligned(client, headers, ext.id)
    assert [w["word"] for w in words] == [w["word"] for w in head + tail]
    assert [w["start_s"] for w in words[len(head) :]] == pytest.approx(
        [w["start_s"] + 10.0 for w in tail], abs=1e-3
    )
    notes = [(s, p) for s, p in _vocals(client, headers, root) if s < 10.0]
    notes += [(s + 10.0, p) for s, p in _vocals(client, headers, ext)]
    _same(_vocals(client, headers, whole), sorted(notes))
