"""Uploaded audio through analysis, rendered: a clip the engine made is uploaded, its
analysis gives back its tempo and key, and the upload is extended (concat = continue_at +
extension) and covered in another style."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import mido
import pytest
import soundfile as sf

from cadenza.audio.edit import concat
from cadenza.compose.analysis import analyse
from cadenza.compose.pipeline import ComposeEngine
from cadenza.compose.score import Score
from cadenza.domain.music import MusicRequest
from cadenza.engines.tools import AudioToolsEngine
from cadenza.storage.local import LocalStorage

pytestmark = pytest.mark.slow

LYRICS = "[Verse]\nLight on the water, hold on to me\n[Chorus]\nHold on hold on, we are free"
MORE = "[Verse]\nRun to the river\n[Outro]\nHome again"


def _score(path: str) -> Score:
    return Score.from_dict(json.loads(Path(path).read_text("utf-8")))


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[ComposeEngine, LocalStorage, Path]:
    root = tmp_path_factory.mktemp("uploads")
    storage = LocalStorage(root / "store", "http://testserver/media")
    return ComposeEngine(storage=storage), storage, root


@pytest.fixture(scope="module")
def rendered(setup: tuple[ComposeEngine, LocalStorage, Path]) -> dict[str, Any]:
    engine, _, root = setup
    request = MusicRequest(tags="pop, male vocals", lyrics=LYRICS, max_duration_s=20, seed=3)
    params = {"request": request.to_dict(), "clip_ids": ["made"]}
    return engine.run("MUSIC", params, root / "w0", lambda f, s: None)[0]


@pytest.fixture(scope="module")
def upload(
    setup: tuple[ComposeEngine, LocalStorage, Path], rendered: dict[str, Any]
) -> dict[str, Any]:
    _, storage, root = setup
    storage.put_file("uploads/u1/source.wav", Path(rendered["files"]["song.wav"]), "audio/wav")
    params = {
        "clip_ids": ["up"],
        "upload_id": "u1",
        "storage_key": "uploads/u1/source.wav",
        "title": "My Demo",
        "max_bytes": 50 * 1024 * 1024,
        "max_duration_s": 600.0,
    }
    entry = AudioToolsEngine(storage).run("UPLOAD", params, root / "w1", lambda f, s="": None)[0]
    keys = {}
    for name, path in entry["files"].items():
        keys[name] = f"clips/up/{name}"
        storage.put_file(keys[name], Path(path), "application/octet-stream")
    return {**entry, "keys": keys}


def test_a_rendered_clip_analysed_gives_back_its_tempo_and_key(rendered: dict[str, Any]) -> None:
    made = _score(rendered["files"]["score.json"])
    audio, rate = sf.read(rendered["files"]["song.wav"], dtype="float32", always_2d=True)
    found = analyse(audio, rate)
    assert made.mode in ("major", "minor")
    assert found.tempo_bpm == pytest.approx(made.tempo_bpm, rel=0.04)
    assert (found.key_root, found.mode) == (made.key_root, made.mode)
    assert found.beats_per_bar == made.beats_per_bar
    assert found.voice is not None  # it was sung


def test_an_upload_keeps_its_analysis_score_and_midi(
    upload: dict[str, Any], rendered: dict[str, Any]
) -> None:
    made = _score(rendered["files"]["score.json"])
    score = _score(upload["files"]["score.json"])
    assert score.extra["analysed"] is True and score.title == "My Demo"
    assert score.tempo_bpm == pytest.approx(made.tempo_bpm, rel=0.04)
    assert upload["meta"]["key"] == made.extra["key"]
    midi = mido.MidiFile(upload["files"]["song.mid"])
    tempo = next(m.tempo for m in midi.tracks[0] if m.type == "set_tempo")
    assert mido.tempo2bpm(tempo) == pytest.approx(score.tempo_bpm, rel=1e-3)
    assert {"Melody", "Bass", "Chords"} <= {t.name for t in midi.tracks}
    assert midi.length == pytest.approx(upload["meta"]["duration"], abs=2.0)


def test_an_upload_extends_and_concats_to_continue_at_plus_extension(
    setup: tuple[ComposeEngine, LocalStorage, Path], upload: dict[str, Any]
) -> None:
    engine, _, root = setup
    source = _score(upload["files"]["score.json"])
    request = MusicRequest(
        lyrics=MORE,
        task="extend",
        continue_clip_id="up",
        continue_at=7.3,
        seed=8,
        max_duration_s=15,
    )
    params = {
        "request": request.to_dict(),
        "clip_ids": ["ext"],
        "source_score_key": upload["keys"]["score.json"],
    }
    ext = engine.run("MUSIC", params, root / "w2", lambda f, s: None)[0]
    meta = ext["meta"]
    ext_score = _score(ext["files"]["score.json"])
    bar_s = source.seconds(source.beats_per_bar)
    start = source.seconds(source.extra["analysis"]["offset_beats"])
    at = meta["continue_at"]
    assert at == pytest.approx(start + round((7.3 - start) / bar_s) * bar_s, abs=1e-3)
    assert (ext_score.key_root, ext_score.mode) == (source.key_root, source.mode)
    assert ext_score.tempo_bpm == source.tempo_bpm
    first, rate = sf.read(upload["files"]["song.wav"], dtype="float32", always_2d=True)
    second, rate2 = sf.read(ext["files"]["song.wav"], dtype="float32", always_2d=True)
    assert rate == rate2
    whole = concat([(first, round(at * rate)), (second, None)], rate)
    assert abs(len(whole) / rate - (at + len(second) / rate)) <= 0.02


def test_an_upload_covered_keeps_tempo_and_key_and_changes_style(
    setup: tuple[ComposeEngine, LocalStorage, Path], upload: dict[str, Any]
) -> None:
    engine, _, root = setup
    source = _score(upload["files"]["score.json"])
    request = MusicRequest(tags="jazz, piano", task="cover", cover_clip_id="up", seed=4)
    params = {
        "request": request.to_dict(),
        "clip_ids": ["cov"],
        "source_score_key": upload["keys"]["score.json"],
    }
    cov = engine.run("MUSIC", params, root / "w3", lambda f, s: None)[0]
    cov_score = _score(cov["files"]["score.json"])
    assert cov["meta"]["cover_clip_id"] == "up"
    assert (cov_score.tempo_bpm, cov_score.key_root, cov_score.mode) == (
        source.tempo_bpm,
        source.key_root,
        source.mode,
    )
    assert cov_score.genre == "jazz" != source.genre
    assert any(k.startswith("stems/") for k in cov["files"])
