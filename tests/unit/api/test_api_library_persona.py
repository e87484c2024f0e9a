"""Personas: made from a clip's score (or its audio), then sung with by a music request."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi.testclient import TestClient
from library_helpers import LYRICS, generated_clip, uploaded_clip

from cadenza.bootstrap import Container
from cadenza.compose.composer import compose
from cadenza.domain.music import MusicRequest

VOICE_FIELDS = (
    "gender",
    "formant_scale",
    "vibrato_rate_hz",
    "vibrato_depth_cents",
    "breathiness",
    "transpose",
)


def _balance(client: TestClient, headers: dict[str, str]) -> Any:
    body = client.get("/suno/billing/me", headers=headers).json()
    return body["data"]["api_key"]["credits_balance"]


def test_persona_carries_the_lead_voice_and_a_music_request_sings_with_it(
    client: TestClient, container: Container, make_key: Any, engine: Any
) -> None:
    key_id, headers = make_key("100")
    made = generated_clip(container, key_id, tags="jazz, smooth, female vocals")
    assert made.score is not None
    lead = next(p for p in made.score.vocals if p.stem == "Vocals")
    response = client.post(
        "/suno/persona/create",
        json={
            "root_clip_id": made.clip.id,
            "clips": [made.clip.id],
            "name": "Demo Persona",
            "description": "Warm jazz vocal",
            "is_public": True,
        },
        headers=headers,
    )
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["name"] == "Demo Persona" and data["persona_type"] == "singer"
    assert data["is_public"] is True and data["root_clip_id"] == made.clip.id
    voice = data["voice"]
    for name in VOICE_FIELDS:
        assert voice[name] == asdict(lead.voice)[name]
    pitches = [n.pitch for n in lead.notes]
    assert (voice["range_low"], voice["range_high"]) == (min(pitches), max(pitches))
    assert "jazz" in data["style"]["tags"] and data["style"]["genre"] == made.score.genre
    assert _balance(client, headers) == 98  # PERSONA costs 2

    submitted = client.post(
        "/suno/submit/music",
        json={
            "title": "New Song",
            "tags": "",
            "prompt": LYRICS,
            "metadata": {"persona_id": data["persona_id"], "vocal_gender": "m", "seed": 5},
        },
        headers=headers,
    )
    assert submitted.status_code == 200, submitted.text
    request = MusicRequest.from_dict(engine.calls[-1]["request"])
    assert request.persona is not None and request.persona["id"] == data["persona_id"]
    score = compose(request, request.seed)
    sung = next(p for p in score.vocals if p.stem == "Vocals")
    for name in VOICE_FIELDS:
        assert asdict(sung.voice)[name] == voice[name]  # the persona wins over vocal_gender
    assert score.genre == made.score.genre  # the persona's tags steer the style
    assert score.extra["persona_id"] == data["persona_id"]


def test_music_with_another_keys_persona_is_404_without_charge(
    client: TestClient, container: Container, make_key: Any
) -> None:
    owner_id, owner = make_key("100")
    _, other = make_key("100")
    made = generated_clip(container, owner_id)
    persona = client.post(
        "/suno/persona/create", json={"root_clip_id": made.clip.id}, headers=owner
    ).json()["data"]
    response = client.post(
        "/suno/submit/music",
        json={"prompt": LYRICS, "metadata": {"persona_id": persona["persona_id"]}},
        headers=other,
    )
    assert response.status_code == 404
    assert _balance(client, other) == 100


def test_vox_persona_keeps_the_vocal_stem_as_reference(
    client: TestClient, container: Container, make_key: Any
) -> None:
    key_id, headers = make_key("10")
    made = generated_clip(container, key_id)
    assert made.score is not None
    response = client.post(
        "/suno/persona/create-with-vox-stem",
        json={"task_id": made.clip.task_id, "song_id": made.clip.id, "duration": 12},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["persona_type"] == "vox"
    lead = next(p for p in made.score.vocals if p.stem == "Vocals")
    assert data["voice"]["gender"] == lead.voice.gender
    assert data["vox_audio_url"].endswith("/stems/Vocals.wav")
    assert data["vox_duration_s"] == 12
    first = made.score.seconds(min(n.start for n in lead.notes))
    assert abs(data["vox_start_s"] - min(first, made.score.duration_s - 12)) < 1e-3
    assert _balance(client, headers) == 7  # VOX_PERSONA costs 3

    bad = client.post(
        "/suno/persona/create-with-vox-stem",
        json={"song_id": made.clip.id, "duration": 0},
        headers=headers,
    )
    assert bad.status_code == 400
    assert _balance(client, headers) == 7

    typed = client.post(
        "/suno/persona/create",
        json={"root_clip_id": made.clip.id, "persona_type": "vox"},
        headers=headers,
    )
    assert typed.status_code == 200, typed.text
    assert typed.json()["data"]["persona_type"] == "vox"
    assert typed.json()["data"]["vox_duration_s"] == min(30.0, made.clip.duration or 0)
    assert _balance(client, headers) == 4


def test_persona_from_uploaded_audio_is_analysed(
    client: TestClient, container: Container, make_key: Any
) -> None:
    key_id, headers = make_key("10")
    made = uploaded_clip(container, key_id)
    response = client.post("/suno/persona/create", json={"clips": [made.clip.id]}, headers=headers)
    assert response.status_code == 200, response.text
    voice = response.json()["data"]["voice"]
    # The tones span C4..G4 at 262-392 Hz: a voice in the female register.
    assert voice["gender"] == "female"
    assert 59 <= voice["range_low"] <= 61 and 66 <= voice["range_high"] <= 68


def test_persona_needs_a_sung_clip(client: TestClient, container: Container, make_key: Any) -> None:
    key_id, headers = make_key("10")
    made = generated_clip(container, key_id, instrumental=True)
    response = client.post(
        "/suno/persona/create", json={"root_clip_id": made.clip.id}, headers=headers
    )
    assert response.status_code == 400
    missing = client.post("/suno/persona/create", json={"name": "x"}, headers=headers)
    assert missing.status_code == 400
    assert _balance(client, headers) == 10
