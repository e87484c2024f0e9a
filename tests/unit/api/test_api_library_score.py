"""MIDI and aligned lyrics: exact from the score, analysed for uploaded audio."""

from __future__ import annotations

import io
import itertools
import re
from typing import Any

import mido
import pytest
from fastapi.testclient import TestClient
from library_helpers import TONES, generated_clip, uploaded_clip

from cadenza.bootstrap import Container


def _balance(client: TestClient, headers: dict[str, str]) -> Any:
    body = client.get("/suno/billing/me", headers=headers).json()
    return body["data"]["api_key"]["credits_balance"]


def _ledger(client: TestClient, headers: dict[str, str]) -> list[dict[str, Any]]:
    body = client.get("/suno/billing/transactions", headers=headers).json()
    return list(body["data"])


def _notes(track: mido.MidiTrack) -> list[tuple[int, int]]:
    """(start tick, pitch) of every note in a track."""
    now, out = 0, []
    for msg in track:
        now += msg.time
        if msg.type == "note_on" and msg.velocity > 0:
            out.append((now, msg.note))
    return out


def test_midi_of_a_generated_clip_is_its_score(
    client: TestClient, container: Container, make_key: Any
) -> None:
    key_id, headers = make_key("10")
    made = generated_clip(container, key_id)
    assert made.score is not None
    response = client.get(f"/suno/midi/{made.clip.task_id}/{made.clip.id}", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "audio/midi"
    assert response.headers["x-midi-source"] == "score"
    midi = mido.MidiFile(file=io.BytesIO(response.content))
    vocals = next(t for t in midi.tracks if t.name == "Vocals")
    lead = next(p for p in made.score.vocals if p.stem == "Vocals")
    expected = sorted((round(n.start * midi.ticks_per_beat), n.pitch) for n in lead.notes)
    assert sorted(_notes(vocals)) == expected
    assert len(expected) > 10
    assert _balance(client, headers) == 9
    entry = _ledger(client, headers)[0]
    assert entry["action"] == "MIDI" and entry["transaction_type"] == "CONSUME"
    task = client.get(f"/suno/fetch/{entry['task_id']}", headers=headers).json()["data"]
    assert task["status"] == "SUCCESS" and task["action"] == "MIDI"


def test_midi_of_an_old_uploaded_clip_is_its_analysis(
    client: TestClient, container: Container, make_key: Any
) -> None:
    key_id, headers = make_key("10")
    made = uploaded_clip(container, key_id)
    url = f"/suno/midi/{made.clip.task_id}/{made.clip.id}"
    response = client.get(url, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["x-midi-source"] == "analysis"
    midi = mido.MidiFile(file=io.BytesIO(response.content))
    melody = next(t for t in midi.tracks if t.name == "Melody")
    pitches = [pitch for _, pitch in _notes(melody)]
    assert [p for i, p in enumerate(pitches) if i == 0 or pitches[i - 1] != p] == [
        p for p, _ in TONES
    ]
    assert any(m.type == "set_tempo" for m in midi.tracks[0])
    # Kept with the clip: the second request serves the same file without analysing again.
    with container.uow() as u:
        stored = u.clips.get(made.clip.id)
    assert stored is not None and "song.mid" in stored.files
    again = client.get(url, headers=headers)
    assert again.status_code == 200 and again.content == response.content
    assert _balance(client, headers) == 8


def test_aligned_lyrics_are_exact_and_cover_every_word(
    client: TestClient, container: Container, make_key: Any
) -> None:
    key_id, headers = make_key("10")
    made = generated_clip(container, key_id)
    assert made.score is not None
    response = client.get(
        "/api/get_aligned_lyrics_v3", params={"song_id": made.clip.id}, headers=headers
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["code"] == "success" and body["message"] == ""
    assert body["data"]["song_id"] == made.clip.id
    words = body["data"]["aligned_words"]
    for word in words:
        assert set(word) == {"word", "start_s", "end_s", "success", "p_align", "line", "section"}
        assert word["success"] is True and word["p_align"] == 1.0
        assert word["end_s"] > word["start_s"]
    starts = [w["start_s"] for w in words]
    assert starts == sorted(starts)
    assert all(a["end_s"] <= b["start_s"] + 1e-6 for a, b in itertools.pairwise(words))
    # Every word of every sung lyric line, in order (choruses may repeat).
    sung = [w.text for w in made.score.words]
    assert [w["word"] for w in words] == sung
    lyric_words = {
        w.lower()
        for line in made.clip.lyrics.splitlines()
        if not line.startswith("[")
        for w in re.findall(r"[A-Za-z']+", line)
    }
    got = {re.sub(r"[^a-z']", "", w["word"].lower()) for w in words}
    assert lyric_words <= got
    assert {w["section"] for w in words} >= {"Verse", "Chorus"}
    assert _balance(client, headers) == 9


@pytest.mark.parametrize("kind", ["upload", "instrumental"])
def test_aligned_lyrics_of_unsung_audio_is_empty_without_charge(
    client: TestClient, container: Container, make_key: Any, kind: str
) -> None:
    key_id, headers = make_key("10")
    if kind == "upload":
        made = uploaded_clip(container, key_id)
    else:
        made = generated_clip(container, key_id, lyrics="", instrumental=True)
    response = client.get(
        "/api/get_aligned_lyrics_v3", params={"song_id": made.clip.id}, headers=headers
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["data"]["aligned_words"] == [] and body["data"]["song_id"] == made.clip.id
    assert "no sung lyrics" in body["data"]["message"] and body["message"]
    assert _balance(client, headers) == 10
    assert all(e["action"] != "ALIGNED_LYRICS" for e in _ledger(client, headers))
