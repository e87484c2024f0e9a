"""Extend and cover through the compose engine, rendered: a short original, its
continuation (concat = continue_at + extension) and a cover in another style."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import soundfile as sf

from cadenza.audio.edit import concat
from cadenza.compose.pipeline import ComposeEngine
from cadenza.compose.score import Score
from cadenza.domain.music import MusicRequest
from cadenza.storage.local import LocalStorage

pytestmark = pytest.mark.slow

LYRICS = "[Verse]\nLight on the water\n[Chorus]\nHold on hold on"
MORE = "[Verse]\nRun to the river\n[Outro]\nHome again"


def _store(storage: LocalStorage, entry: dict[str, Any]) -> dict[str, str]:
    """Put a result's files in storage, as the worker does."""
    keys = {}
    for name, path in entry["files"].items():
        key = f"clips/{entry['id']}/{name.replace(' ', '_')}"
        storage.put_file(key, Path(path), "application/octet-stream")
        keys[name] = key
    return keys


def _run(engine: ComposeEngine, params: dict[str, Any], work: Path) -> dict[str, Any]:
    results = engine.run("MUSIC", params, work, lambda f, s: None)
    assert len(results) == 1
    return results[0]


def _score(entry: dict[str, Any]) -> Score:
    return Score.from_dict(json.loads(Path(entry["files"]["score.json"]).read_text("utf-8")))


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[ComposeEngine, LocalStorage, Path]:
    root = tmp_path_factory.mktemp("edits")
    storage = LocalStorage(root / "store", "http://testserver/media")
    return ComposeEngine(storage=storage), storage, root


@pytest.fixture(scope="module")
def original(setup: tuple[ComposeEngine, LocalStorage, Path]) -> tuple[dict[str, Any], str]:
    engine, storage, root = setup
    request = MusicRequest(tags="rock, male vocals", lyrics=LYRICS, max_duration_s=20, seed=3)
    entry = _run(engine, {"request": request.to_dict(), "clip_ids": ["orig"]}, root / "w1")
    assert entry["meta"]["duration"] <= 21
    return entry, _store(storage, entry)["score.json"]


def test_extend_continues_and_concats_to_continue_at_plus_extension(
    setup: tuple[ComposeEngine, LocalStorage, Path], original: tuple[dict[str, Any], str]
) -> None:
    engine, _, root = setup
    source, score_key = original
    request = MusicRequest(
        lyrics=MORE,
        task="extend",
        continue_clip_id="orig",
        continue_at=5.1,
        seed=8,
        max_duration_s=20,
    )
    params = {"request": request.to_dict(), "clip_ids": ["ext"], "source_score_key": score_key}
    ext = _run(engine, params, root / "w2")
    meta = ext["meta"]
    src_score, ext_score = _score(source), _score(ext)
    bar_s = src_score.seconds(src_score.beats_per_bar)
    assert meta["continue_clip_id"] == "orig"
    at = meta["continue_at"]
    assert at == pytest.approx(round(5.1 / bar_s) * bar_s, abs=1e-3)  # snapped to a bar line
    assert (meta["key"], meta["tempo"]) == (source["meta"]["key"], source["meta"]["tempo"])
    assert (ext_score.key_root, ext_score.tempo_bpm) == (src_score.key_root, src_score.tempo_bpm)
    assert [w.text for w in ext_score.words][:3] == ["Run", "to", "the"]

    first, rate = sf.read(source["files"]["song.wav"], dtype="float32", always_2d=True)
    second, rate2 = sf.read(ext["files"]["song.wav"], dtype="float32", always_2d=True)
    assert rate == rate2
    whole = concat([(first, round(at * rate)), (second, None)], rate)
    assert abs(len(whole) / rate - (at + len(second) / rate)) <= 0.02
    assert abs(len(second) / rate - meta["duration"]) <= 0.01


def test_cover_keeps_the_lyrics_and_changes_the_style(
    setup: tuple[ComposeEngine, LocalStorage, Path], original: tuple[dict[str, Any], str]
) -> None:
    engine, _, root = setup
    source, score_key = original
    request = MusicRequest(
        tags="jazz, piano, female vocals",
        task="cover",
        cover_clip_id="orig",
        seed=4,
        max_duration_s=20,
    )
    params = {"request": request.to_dict(), "clip_ids": ["cov"], "source_score_key": score_key}
    cov = _run(engine, params, root / "w3")
    src_score, cov_score = _score(source), _score(cov)
    assert cov["meta"]["cover_clip_id"] == "orig"
    assert [w.text for w in cov_score.words] == [w.text for w in src_score.words]
    words = json.loads(Path(cov["files"]["lyrics.json"]).read_text("utf-8"))["words"]
    assert [w["word"] for w in words] == [w.text for w in src_score.words]
    assert cov_score.genre != src_score.genre
    assert {t.name for t in cov_score.tracks} != {t.name for t in src_score.tracks}
    assert any(k.startswith("stems/") for k in cov["files"])
