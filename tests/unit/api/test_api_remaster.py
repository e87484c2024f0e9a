"""``POST /suno/submit/upsample``: a remaster re-renders the clip's score (real engine), an
upload's is an audio mastering chain, and extend/cover tasks carry the source score."""

from __future__ import annotations

import dataclasses
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import soundfile as sf
from api_media_support import balance, local_path, result_clip, seed_clip, with_tools
from fastapi.testclient import TestClient

from cadenza.bootstrap import Container, build_runner
from cadenza.compose.composer import compose
from cadenza.compose.master import integrated_loudness, true_peak_dbtp
from cadenza.compose.pipeline import ComposeEngine
from cadenza.domain.music import MusicRequest
from cadenza.domain.tasks import Clip, ClipStatus
from cadenza.engines.registry import EngineRegistry


@pytest.fixture
def container(container: Container, queue: Any, engine: Any) -> Container:
    """Tools as in production, and the real compose engine behind UPSAMPLE."""
    built = with_tools(container, queue, engine)
    engines = EngineRegistry(
        {
            **{a: built.engines(a) for a in ("MUSIC", "CROP", "SPEED_ADJUST", "CONCAT")},
            "UPSAMPLE": ComposeEngine(storage=built.storage),
        }
    )
    runner = build_runner(built.settings, built.uow, built.storage, engines)
    queue.runner = runner
    return dataclasses.replace(built, engines=engines, runner=runner)


def _generated(container: Container, key_id: str, tmp: Path, title: str = "Harbour") -> Clip:
    """A finished clip that has a score (a short instrumental), as the engine leaves one."""
    score = compose(MusicRequest(tags="lofi, piano", instrumental=True, max_duration_s=6), 21)
    clip = seed_clip(container, key_id, tmp, seconds=score.duration_s, title=title)
    path = tmp / f"{clip.id}-score.json"
    path.write_text(json.dumps(score.to_dict()), "utf-8")
    score_key = f"clips/{clip.id}-seed/score.json"
    container.storage.put_file(score_key, path, "application/json")
    with container.uow() as u:
        stored = u.clips.get(clip.id)
        assert stored is not None
        stored.files = {**stored.files, "score.json": score_key}
        u.clips.update(stored)
        u.commit()
    return stored


def test_upsample_renders_a_remastered_clip(
    client: TestClient, container: Container, make_key: Any, tmp_path: Path
) -> None:
    key_id, headers = make_key()
    source = _generated(container, key_id, tmp_path)
    response = client.post(
        "/suno/submit/upsample",
        json={
            "task_id": source.task_id,
            "clip_id": source.id,
            "model_name": "chirp-carp",
            "variation_category": "high",
        },
        headers=headers,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["code"] == "success" and isinstance(body["data"], str)
    task = client.get(f"/suno/fetch/{body['data']}", headers=headers).json()["data"]
    assert task["action"] == "UPSAMPLE"
    clip = result_clip(container, client, headers, body["data"])
    assert clip.title == "Harbour (Remastered)"
    assert clip.metadata["variation_category"] == "high"
    assert clip.metadata["source_clip_id"] == source.id
    assert clip.model_name == "chirp-carp"
    assert {"song.wav", "song.mp3", "score.json", "song.mid"} <= set(clip.files)
    info = sf.info(str(local_path(container, clip.files["song.wav"])))
    assert clip.duration == pytest.approx(info.frames / info.samplerate, abs=0.01)
    assert clip.duration >= (source.duration or 0) - 0.01
    score = json.loads(local_path(container, clip.files["score.json"]).read_text("utf-8"))
    assert score["extra"]["remaster"]["variation"] == "high"
    assert balance(container, key_id) == Decimal("95")


@pytest.mark.parametrize("variation", ["wild", "HIGHEST", "0"])
def test_an_unknown_variation_is_400_without_charge(
    client: TestClient, container: Container, make_key: Any, tmp_path: Path, variation: str
) -> None:
    key_id, headers = make_key()
    source = _generated(container, key_id, tmp_path)
    response = client.post(
        "/suno/submit/upsample",
        json={"clip_id": source.id, "variation_category": variation},
        headers=headers,
    )
    assert response.status_code == 400, response.text
    assert "variation_category" in response.json()["message"]
    assert balance(container, key_id) == Decimal("100")


def _remastered_upload(
    client: TestClient, container: Container, headers: dict[str, str], clip: Clip, variation: str
) -> Clip:
    response = client.post(
        "/suno/submit/upsample",
        json={"clip_id": clip.id, "variation_category": variation},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    return result_clip(container, client, headers, response.json()["data"])


@pytest.mark.parametrize("variation", ["subtle", "high"])
def test_an_uploaded_clip_is_remastered_from_its_audio(
    client: TestClient, container: Container, make_key: Any, tmp_path: Path, variation: str
) -> None:
    key_id, headers = make_key()
    uploaded = seed_clip(
        container, key_id, tmp_path, seconds=3.0, title="Demo", metadata={"type": "upload"}
    )
    clip = _remastered_upload(client, container, headers, uploaded, variation)
    assert clip.title == "Demo (Remastered)"
    assert clip.metadata["remaster"] == "audio"
    assert clip.metadata["variation_category"] == variation
    assert clip.metadata["source_clip_id"] == uploaded.id
    assert "score.json" not in clip.files and {"song.mp3", "cover.png"} <= set(clip.files)
    audio, rate = sf.read(str(local_path(container, clip.files["song.wav"])), dtype="float32")
    assert audio.shape[1] == 2 and len(audio) / rate == pytest.approx(3.0, abs=0.01)
    assert integrated_loudness(audio, rate) == pytest.approx(-14.0, abs=0.3)
    assert true_peak_dbtp(audio, rate) <= -1.0 + 0.05
    assert balance(container, key_id) == Decimal("95")


def test_an_analysed_score_is_not_performed_again(
    client: TestClient, container: Container, make_key: Any, tmp_path: Path
) -> None:
    key_id, headers = make_key()
    uploaded = seed_clip(container, key_id, tmp_path, seconds=2.0, metadata={"type": "upload"})
    path = tmp_path / "analysis.json"
    score = compose(MusicRequest(tags="lofi", instrumental=True, max_duration_s=4), 3)
    data = score.to_dict()
    data["extra"] = {**data.get("extra", {}), "analysed": True}
    path.write_text(json.dumps(data), "utf-8")
    score_key = f"clips/{uploaded.id}-seed/score.json"
    container.storage.put_file(score_key, path, "application/json")
    with container.uow() as u:
        stored = u.clips.get(uploaded.id)
        assert stored is not None
        stored.files = {**stored.files, "score.json": score_key}
        u.clips.update(stored)
        u.commit()
    clip = _remastered_upload(client, container, headers, stored, "normal")
    assert clip.metadata["remaster"] == "audio"
    assert clip.duration == pytest.approx(2.0, abs=0.01)


def test_a_failed_audio_remaster_is_refunded(
    client: TestClient, container: Container, make_key: Any, tmp_path: Path
) -> None:
    key_id, headers = make_key()
    uploaded = seed_clip(container, key_id, tmp_path, seconds=2.0, metadata={"type": "upload"})
    local_path(container, uploaded.files["song.wav"]).write_bytes(b"not audio")
    response = client.post("/suno/submit/upsample", json={"clip_id": uploaded.id}, headers=headers)
    task = client.get(f"/suno/fetch/{response.json()['data']}", headers=headers).json()["data"]
    assert task["status"] == "FAILURE" and "audio" in task["fail_reason"]
    assert balance(container, key_id) == Decimal("100")


def test_another_keys_clip_is_404(
    client: TestClient, container: Container, make_key: Any, tmp_path: Path
) -> None:
    alice_id, _ = make_key()
    bob_id, bob = make_key()
    source = _generated(container, alice_id, tmp_path)
    response = client.post("/suno/submit/upsample", json={"clip_id": source.id}, headers=bob)
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert balance(container, bob_id) == Decimal("100")


def test_an_unfinished_clip_is_400(
    client: TestClient, container: Container, make_key: Any, tmp_path: Path
) -> None:
    key_id, headers = make_key()
    source = _generated(container, key_id, tmp_path)
    with container.uow() as u:
        clip = u.clips.get(source.id)
        assert clip is not None
        clip.status = ClipStatus.STREAMING
        u.clips.update(clip)
        u.commit()
    response = client.post("/suno/submit/upsample", json={"clip_id": source.id}, headers=headers)
    assert response.status_code == 400
    assert balance(container, key_id) == Decimal("100")


def test_a_failed_remaster_is_refunded(
    client: TestClient, container: Container, make_key: Any, tmp_path: Path
) -> None:
    key_id, headers = make_key()
    source = _generated(container, key_id, tmp_path)
    local_path(container, source.files["score.json"]).write_text("{not json", "utf-8")
    response = client.post("/suno/submit/upsample", json={"clip_id": source.id}, headers=headers)
    task = client.get(f"/suno/fetch/{response.json()['data']}", headers=headers).json()["data"]
    assert task["status"] == "FAILURE" and "score" in task["fail_reason"]
    assert balance(container, key_id) == Decimal("100")


@pytest.mark.parametrize("task_kind", ["extend", "cover"])
def test_extend_and_cover_tasks_carry_the_source_score(
    client: TestClient,
    container: Container,
    make_key: Any,
    tmp_path: Path,
    engine: Any,
    task_kind: str,
) -> None:
    key_id, headers = make_key()
    source = _generated(container, key_id, tmp_path)
    body: dict[str, Any] = {"task": task_kind, "tags": "jazz", "mv": "chirp-v4-5"}
    if task_kind == "extend":
        body.update(continue_clip_id=source.id, continue_at=2.0)
    else:
        body["cover_clip_id"] = source.id
    response = client.post("/suno/submit/music", json=body, headers=headers)
    assert response.status_code == 200, response.text
    assert engine.calls[-1]["source_score_key"] == source.files["score.json"]
    assert engine.calls[-1]["request"]["task"] == task_kind
