"""The auxiliary AceData endpoints (contract §4) through the app: answer shapes field by
field, the media they point to, charges, refusals in the envelope with no charge, and
another key's clips and personas as missing ones."""

from __future__ import annotations

import dataclasses
import functools
import io
import json
import threading
from collections.abc import Iterator
from decimal import Decimal
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import mido
import pytest
from api_media_support import seed_clip, tone, with_tools, write_wav
from fastapi.testclient import TestClient
from library_helpers import generated_clip

from cadenza.api.app import create_app
from cadenza.bootstrap import Container, build_runner
from cadenza.compose.style import expand_tags
from cadenza.domain.actions import DEFAULT_PRICES, Action
from cadenza.engines.lyrics import LyricsEngine
from cadenza.engines.registry import EngineRegistry
from cadenza.engines.video import VideoEngine

NOT_FOUND = "The song id does not exist or has been taken offline."
WORDS = {
    "words": [
        {"word": "hello", "start_s": 0.5, "end_s": 1.0, "line": 0, "section": 0},
        {"word": "world", "start_s": 1.0, "end_s": 1.6, "line": 0, "section": 0},
        {"word": "again", "start_s": 2.2, "end_s": 2.9, "line": 1, "section": 0},
    ]
}
PRICE = {p.action: p.price for p in DEFAULT_PRICES}


@pytest.fixture
def container(container: Container, queue: Any, engine: Any) -> Container:
    """The tools and video engines as in production; client URLs may be local (the test
    serves its audio from 127.0.0.1)."""
    built = with_tools(container, queue, engine)
    engines = EngineRegistry(
        {
            **{a: built.engines(a) for a in ("MUSIC", "UPLOAD", "CONCAT", "CROP")},
            "LYRICS": LyricsEngine(),
            "MP4": VideoEngine(built.storage),
        }
    )
    runner = build_runner(built.settings, built.uow, built.storage, engines)
    queue.runner = runner
    settings = built.settings.model_copy(update={"allow_private_urls": True})
    return dataclasses.replace(built, settings=settings, engines=engines, runner=runner)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    """A local HTTP server over ``tmp_path/www``; yields its base URL."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def bearer(make_key: Any, credits: str = "100") -> tuple[str, dict[str, str]]:
    key_id, headers = make_key(credits)
    return key_id, {"Authorization": f"Bearer {headers['X-API-Key']}"}


def balance(container: Container, key_id: str) -> Decimal:
    with container.uow(read_only=True) as u:
        key = u.keys.get(key_id)
        assert key is not None
        return key.credits_balance


def media(client: TestClient, url: str) -> bytes:
    assert url.startswith("http://testserver/media/"), url
    got = client.get(url.removeprefix("http://testserver"))
    assert got.status_code == 200
    return got.content


def ok(answer: Any) -> Any:
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert list(body) == ["success", "task_id", "trace_id", "data"], body
    assert body["success"] is True and body["task_id"] and body["trace_id"]
    return body


def refused(answer: Any, message: str | None = None, code: str = "bad_request") -> None:
    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert body["success"] is False and body["trace_id"]
    assert body["error"]["code"] == code, body
    if message is not None:
        assert body["error"]["message"] == message


def record(client: TestClient, headers: dict[str, str], task_id: str) -> Any:
    return client.post("/suno/tasks", json={"id": task_id}, headers=headers).json()


def test_lyrics_answers_a_list_and_accepts_chirp_models(
    client: TestClient, make_key: Any, container: Container
) -> None:
    key_id, headers = bearer(make_key)
    for model in ("default", "remi-v1", "chirp-v3"):
        body = ok(
            client.post(
                "/suno/lyrics",
                json={"prompt": "a song about trains", "model": model},
                headers=headers,
            )
        )
        [item] = body["data"]
        assert set(item) == {"text", "title", "status", "tags"}
        assert item["status"] == "complete" and item["tags"] == []
        assert "[Verse" in item["text"] and item["title"]
    assert balance(container, key_id) == 100 - 3 * PRICE[Action.LYRICS]
    refused(client.post("/suno/lyrics", json={}, headers=headers), "prompt is required.")
    refused(client.post("/suno/lyrics", json={"prompt": "x", "model": "gpt"}, headers=headers))
    assert balance(container, key_id) == 100 - 3 * PRICE[Action.LYRICS]


def test_upload_fetches_the_url_and_answers_the_clip(
    client: TestClient, make_key: Any, container: Container, served: str, tmp_path: Path
) -> None:
    key_id, headers = bearer(make_key)
    write_wav(tmp_path / "www" / "hum.wav", tone(3.0, 330.0))
    body = ok(client.post("/suno/upload", json={"audio_url": f"{served}/hum.wav"}, headers=headers))
    data = body["data"]
    assert list(data) == [
        "audio_id",
        "title",
        "audio_url",
        "image_url",
        "image_large_url",
        "lyric",
        "style",
        "duration",
    ]
    assert data["title"].startswith("up-") and data["duration"] == pytest.approx(3.0, abs=0.05)
    assert media(client, data["image_url"])[:4] == b"\x89PNG"
    assert len(media(client, data["audio_url"])) > 1000
    with container.uow() as u:
        clip = u.clips.get(data["audio_id"])
    assert clip is not None and clip.key_id == key_id and clip.metadata["type"] == "upload"
    assert balance(container, key_id) == 100 - PRICE[Action.UPLOAD]

    # The id works as an audio_id of the upload_* actions.
    extend = {
        "action": "upload_extend",
        "audio_id": data["audio_id"],
        "continue_at": 2.0,
        "instrumental": True,
        "async": True,
    }
    assert client.post("/suno/audios", json=extend, headers=headers).status_code == 200

    start = balance(container, key_id)
    (tmp_path / "www" / "notes.txt").write_text("not audio " * 100)
    for body_, message in [
        ({}, "audio_url is required."),
        ({"audio_url": "ftp://x/y.mp3"}, "audio_url must be an http or https URL"),
        ({"audio_url": f"{served}/missing.wav"}, "audio_url answered HTTP 404"),
        ({"audio_url": f"{served}/notes.txt"}, None),
    ]:
        refused(client.post("/suno/upload", json=body_, headers=headers), message)
    assert balance(container, key_id) == start


def test_private_urls_are_refused_with_the_default_settings(
    container: Container, make_key: Any, served: str, tmp_path: Path
) -> None:
    settings = container.settings.model_copy(update={"allow_private_urls": False})
    strict = dataclasses.replace(container, settings=settings)
    write_wav(tmp_path / "www" / "hum.wav", tone(3.0))
    key_id, headers = bearer(make_key)
    with TestClient(create_app(strict, manage_queue=False)) as client:
        for path in ("/suno/upload", "/suno/voices"):
            answer = client.post(path, json={"audio_url": f"{served}/hum.wav"}, headers=headers)
            refused(answer)
            assert "audio_url" in answer.json()["error"]["message"]
    assert balance(container, key_id) == 100


def test_persona_create_list_and_delete(
    client: TestClient, make_key: Any, container: Container
) -> None:
    key_id, headers = bearer(make_key)
    other_id, other = bearer(make_key)
    made = generated_clip(container, key_id)
    body = ok(
        client.post(
            "/suno/persona",
            json={"name": "River", "audio_id": made.clip.id, "description": "warm"},
            headers=headers,
        )
    )
    persona_id = body["data"]["persona_id"]
    assert list(body["data"]) == ["persona_id"]
    assert balance(container, key_id) == 100 - PRICE[Action.PERSONA]

    listed = client.get("/suno/persona", params={"user_id": "u1"}, headers=headers).json()
    assert listed["count"] == 1
    [item] = listed["items"]
    assert item["persona_id"] == persona_id and item["name"] == "River"
    assert item["description"] == "warm" and item["user_id"] == "u1"
    assert item["source_type"] == "persona" and isinstance(item["created_at"], float)
    assert item["source_audio_id"] == made.clip.id and item["task_id"] == body["task_id"]
    assert client.get("/suno/persona", headers=other).json() == {"count": 0, "items": []}

    # A singer persona sings artist_consistency; the vox variant needs a vox persona.
    song = {"persona_id": persona_id, "prompt": "a song by the river", "model": "chirp-v4"}
    refused(
        client.post(
            "/suno/audios", json={**song, "action": "artist_consistency_vox"}, headers=headers
        ),
        "persona_id must be a vox persona (made with vox_audio_id) when"
        " artist_consistency_vox audio",
    )
    sung = client.post(
        "/suno/audios", json={**song, "action": "artist_consistency"}, headers=headers
    )
    assert sung.status_code == 200 and len(sung.json()["data"]) == 2, sung.text

    # Another key: its clip is missing, its persona too.
    refused(
        client.post("/suno/persona", json={"name": "x", "audio_id": made.clip.id}, headers=other),
        NOT_FOUND,
    )
    gone = client.delete("/suno/persona", params={"persona_id": persona_id}, headers=other)
    refused(gone, "The persona id does not exist or has been deleted.")
    assert balance(container, other_id) == 100

    deleted = client.delete("/suno/persona", params={"persona_id": persona_id}, headers=headers)
    assert deleted.status_code == 200 and deleted.json() == {"success": True}
    assert client.get("/suno/persona", headers=headers).json()["count"] == 0
    refused(client.delete("/suno/persona", params={"persona_id": persona_id}, headers=headers))
    refused(client.delete("/suno/persona", headers=headers), "persona_id is required.")
    refused(client.post("/suno/persona", json={"name": "x"}, headers=headers))


def test_vox_excerpt_then_a_vox_persona(
    client: TestClient, make_key: Any, container: Container, tmp_path: Path
) -> None:
    key_id, headers = bearer(make_key)
    clip = seed_clip(container, key_id, tmp_path, seconds=4.0)
    body = ok(
        client.post(
            "/suno/vox",
            json={"audio_id": clip.id, "vocal_start": 0.5, "vocal_end": 2.5},
            headers=headers,
        )
    )
    data = body["data"]
    assert list(data) == [
        "id",
        "source_clip_id",
        "status",
        "vocal_audio_url",
        "vocal_start_s",
        "vocal_end_s",
        "wave_response",
    ]
    assert data["source_clip_id"] == clip.id and data["status"] == "complete"
    assert (data["vocal_start_s"], data["vocal_end_s"]) == (0.5, 2.5)
    assert data["vocal_audio_url"].endswith("vocals.m4a")
    assert media(client, data["vocal_audio_url"])[4:8] == b"ftyp"
    levels = data["wave_response"]["waveform_aggregates"]
    assert [level["mip_map_level"] for level in levels] == [0, 1, 2]
    pairs = levels[0]["data"]
    assert len(pairs) == -(-2 * 44100 // 256)
    # The stem is a steady tone at half the song's level: every window swings about it.
    assert all(-128 <= lo < 0 < hi <= 127 for lo, hi in pairs[1:-1])
    assert balance(container, key_id) == 100 - PRICE[Action.VOX]

    persona = ok(
        client.post(
            "/suno/persona",
            json={
                "name": "Vox",
                "audio_id": clip.id,
                "vox_audio_id": data["id"],
                "vocal_start": 0.5,
                "vocal_end": 2.5,
            },
            headers=headers,
        )
    )
    with container.uow() as u:
        stored = u.personas.get(persona["data"]["persona_id"])
    assert stored is not None and stored.persona_type.value == "vox"
    assert stored.reference["vox_clip_id"] == data["id"]
    assert stored.reference["duration_s"] == pytest.approx(2.0)
    assert balance(container, key_id) == 100 - PRICE[Action.VOX] - PRICE[Action.VOX_PERSONA]

    # Polled like a song.
    queued = client.post("/suno/vox", json={"audio_id": clip.id, "async": True}, headers=headers)
    accepted = ok(queued)
    assert accepted["data"] == []
    polled = record(client, headers, accepted["task_id"])
    assert polled["state"] == "complete" and polled["request"]["async"] is True
    assert polled["response"]["data"]["source_clip_id"] == clip.id

    refused(client.post("/suno/vox", json={"audio_id": clip.id, "vocal_start": 9}, headers=headers))
    other_id, other = bearer(make_key)
    refused(client.post("/suno/vox", json={"audio_id": clip.id}, headers=other), NOT_FOUND)
    assert balance(container, other_id) == 100


def test_voices_make_a_persona_from_a_recording(
    client: TestClient, make_key: Any, container: Container, served: str, tmp_path: Path
) -> None:
    key_id, headers = bearer(make_key)
    write_wav(tmp_path / "www" / "voice.wav", tone(10.5, 220.0))
    write_wav(tmp_path / "www" / "short.wav", tone(2.0, 220.0))
    body = ok(
        client.post(
            "/suno/voices",
            json={"audio_url": f"{served}/voice.wav", "name": "Me", "description": "humming"},
            headers=headers,
        )
    )
    data = body["data"]
    assert list(data) == ["name", "is_public", "persona_id"]
    assert data["name"] == "Me" and data["is_public"] is False
    listed = client.get("/suno/persona", headers=headers).json()
    assert [(i["persona_id"], i["source_type"]) for i in listed["items"]] == [
        (data["persona_id"], "voice")
    ]
    assert media(client, listed["items"][0]["source_audio_url"])[:4] == b"RIFF"
    with container.uow() as u:
        persona = u.personas.get(data["persona_id"])
    assert persona is not None and persona.voice["range_low"] <= 57 <= persona.voice["range_high"]
    assert balance(container, key_id) == 100 - PRICE[Action.PERSONA]

    refused(client.post("/suno/voices", json={}, headers=headers), "audio_url is required.")
    short = client.post("/suno/voices", json={"audio_url": f"{served}/short.wav"}, headers=headers)
    refused(short)
    assert "10 s" in short.json()["error"]["message"]
    assert balance(container, key_id) == 100 - PRICE[Action.PERSONA]


def test_mp4_makes_the_video(
    client: TestClient, make_key: Any, container: Container, tmp_path: Path, queue: Any
) -> None:
    key_id, headers = bearer(make_key)
    clip = seed_clip(container, key_id, tmp_path, seconds=1.5, stems=False)
    body = ok(client.post("/suno/mp4", json={"audio_id": clip.id}, headers=headers))
    assert list(body["data"]) == ["video_url"]
    assert media(client, body["data"]["video_url"])[4:8] == b"ftyp"
    assert balance(container, key_id) == 100 - PRICE[Action.MP4]

    second = seed_clip(container, key_id, tmp_path, seconds=1.5, stems=False)
    queue.auto = False
    accepted = ok(
        client.post("/suno/mp4", json={"audio_id": second.id, "async": True}, headers=headers)
    )
    assert accepted["data"] == []
    assert record(client, headers, accepted["task_id"])["state"] == "pending"
    queue.drain()
    done = record(client, headers, accepted["task_id"])
    assert done["state"] == "complete"
    assert done["response"]["data"]["video_url"].endswith(".mp4")
    refused(client.post("/suno/mp4", json={"audio_id": "nope"}, headers=headers), NOT_FOUND)


def test_timing_answers_the_sung_words_and_the_waveform(
    client: TestClient, make_key: Any, container: Container, tmp_path: Path
) -> None:
    key_id, headers = bearer(make_key)
    clip = seed_clip(container, key_id, tmp_path, seconds=3.0, lyrics_json=json.dumps(WORDS))
    body = ok(client.post("/suno/timing", json={"audio_id": clip.id}, headers=headers))
    data = body["data"]
    assert list(data) == ["aligned_words", "waveform_data", "hoot_cer", "is_streamed"]
    assert data["aligned_words"] == [
        {"word": w["word"], "success": True, "start_s": w["start_s"], "end_s": w["end_s"],
         "p_align": 1.0}
        for w in WORDS["words"]
    ]  # fmt: skip
    assert len(data["waveform_data"]) == 30 and max(data["waveform_data"]) == 1.0
    assert all(isinstance(v, float) for v in data["waveform_data"])
    assert data["hoot_cer"] == 0.0 and data["is_streamed"] is False
    assert balance(container, key_id) == 100 - PRICE[Action.ALIGNED_LYRICS]

    silent = seed_clip(container, key_id, tmp_path, seconds=1.0)
    refused(client.post("/suno/timing", json={"audio_id": silent.id}, headers=headers))
    assert balance(container, key_id) == 100 - PRICE[Action.ALIGNED_LYRICS]


def test_wav_serves_the_clips_wav(
    client: TestClient, make_key: Any, container: Container, tmp_path: Path
) -> None:
    key_id, headers = bearer(make_key)
    clip = seed_clip(container, key_id, tmp_path, seconds=1.0, stems=False)
    body = ok(client.post("/suno/wav", json={"audio_id": clip.id}, headers=headers))
    [item] = body["data"]
    assert list(item) == ["file_url"]
    data = media(client, item["file_url"])
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    accepted = ok(
        client.post("/suno/wav", json={"audio_id": clip.id, "async": True}, headers=headers)
    )
    polled = record(client, headers, accepted["task_id"])
    assert polled["response"]["data"] == body["data"]
    assert balance(container, key_id) == 100 - 2 * PRICE[Action.WAV]
    _, other = bearer(make_key)
    refused(client.post("/suno/wav", json={"audio_id": clip.id}, headers=other), NOT_FOUND)
    refused(client.post("/suno/wav", json={}, headers=headers), "audio_id is required.")


def test_midi_answers_the_scores_notes(
    client: TestClient, make_key: Any, container: Container
) -> None:
    key_id, headers = bearer(make_key)
    made = generated_clip(container, key_id)
    body = ok(client.post("/suno/midi", json={"audio_id": made.clip.id}, headers=headers))
    [item] = body["data"]
    assert item["state"] == "complete" and item["instruments"]
    for instrument in item["instruments"]:
        assert instrument["name"] and instrument["notes"]
        for note in instrument["notes"]:
            assert list(note) == ["pitch", "start", "end", "velocity"]
            assert 0 <= note["pitch"] <= 127 and 0 < note["velocity"] <= 127
            assert 0 <= note["start"] < note["end"]
    # The same notes as the clip's MIDI file, read on its own.
    with container.uow() as u:
        clip = u.clips.get(made.clip.id)
    assert clip is not None
    song = mido.MidiFile(file=io.BytesIO(container.storage.get_bytes(clip.files["song.mid"])))
    pitches = sorted(
        msg.note
        for track in song.tracks
        for msg in track
        if msg.type == "note_on" and msg.velocity > 0
    )
    answered = sorted(n["pitch"] for i in item["instruments"] for n in i["notes"])
    assert answered == pitches
    assert balance(container, key_id) == 100 - PRICE[Action.MIDI]


def test_style_expands_the_tags(client: TestClient, make_key: Any, container: Container) -> None:
    key_id, headers = bearer(make_key)
    body = ok(client.post("/suno/style", json={"prompt": "jazz, smooth"}, headers=headers))
    assert body["data"] == {
        "upsampled_tags": expand_tags("jazz, smooth"),
        "text": expand_tags("jazz, smooth"),
    }
    assert balance(container, key_id) == 100 - PRICE[Action.UPSAMPLE_TAGS]
    refused(client.post("/suno/style", json={"prompt": "  "}, headers=headers))


def test_mashup_lyrics_alternates_the_verses_and_keeps_the_chorus(
    client: TestClient, make_key: Any, container: Container
) -> None:
    key_id, headers = bearer(make_key)
    a = "[Verse]\nA one\nA two\n\n[Chorus]\nHold the line\n\n[Verse]\nA three\nA four"
    b = "[Verse]\nB one\nB two\n\n[Chorus]\nRun away\n\n[Bridge]\nB bridge"
    request = {"lyrics_a": a, "lyrics_b": b}
    body = ok(client.post("/suno/mashup-lyrics", json=request, headers=headers))
    data = body["data"]
    assert list(data) == ["text", "title", "status", "tags"]
    assert data["status"] == "complete" and data["tags"] == [] and data["title"] == "Hold the line"
    assert data["text"] == (
        "[Verse 1]\nA one\nA two\n\n[Verse 2]\nB one\nB two\n\n[Chorus]\nHold the line\n\n"
        "[Verse 3]\nA three\nA four\n\n[Bridge]\nB bridge\n\n"
        "[Final Chorus]\nHold the line\nRun away"
    )
    again = ok(client.post("/suno/mashup-lyrics", json=request, headers=headers))
    assert again["data"] == data
    assert balance(container, key_id) == 100 - 2 * PRICE[Action.LYRICS]
    refused(
        client.post("/suno/mashup-lyrics", json={"lyrics_a": a}, headers=headers),
        "lyrics_b is required.",
    )
