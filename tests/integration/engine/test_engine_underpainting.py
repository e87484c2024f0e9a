"""Add Instrumental (underpainting) on a rendered a cappella: a song's Vocals stem is
uploaded alone, analysed, and a band is arranged under it in its tempo and key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from cadenza.compose.analysis import analyse
from cadenza.compose.pipeline import ComposeEngine
from cadenza.compose.score import Score
from cadenza.domain.music import MusicRequest
from cadenza.engines.tools import AudioToolsEngine
from cadenza.storage.local import LocalStorage

pytestmark = pytest.mark.slow

LYRICS = (
    "[Verse]\nLight on the water, hold on to me\nCarry the morning over the sea\n"
    "[Chorus]\nHold on hold on, we are free\nSinging together, you and me"
)


def _read(path: str | Path) -> np.ndarray:
    audio, _ = sf.read(str(path), dtype="float64", always_2d=True)
    return np.asarray(audio)


def _null_db(reference: np.ndarray, other: np.ndarray) -> float:
    residual = float(np.sqrt(np.mean((other - reference) ** 2)))
    level = float(np.sqrt(np.mean(reference**2)))
    return -np.inf if residual == 0 else 20 * float(np.log10(residual / level))


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A sung song, its Vocals stem uploaded alone, and two Add Instrumental clips."""
    root = tmp_path_factory.mktemp("underpainting")
    storage = LocalStorage(root / "store", "http://testserver/media")
    engine = ComposeEngine(storage=storage)
    request = MusicRequest(tags="pop, female vocals", lyrics=LYRICS, max_duration_s=30, seed=5)
    song = engine.run(
        "MUSIC", {"request": request.to_dict(), "clip_ids": ["made"]}, root / "w0", print_nothing
    )[0]
    storage.put_file("uploads/v/source.wav", Path(song["files"]["stems/Vocals.wav"]), "audio/wav")
    upload = AudioToolsEngine(storage).run(
        "UPLOAD",
        {
            "clip_ids": ["up"],
            "upload_id": "v",
            "storage_key": "uploads/v/source.wav",
            "title": "A cappella",
            "max_bytes": 50 * 1024 * 1024,
            "max_duration_s": 600.0,
        },
        root / "w1",
        print_nothing,
    )[0]
    keys = {}
    for name, path in upload["files"].items():
        keys[name] = f"clips/up/{name}"
        storage.put_file(keys[name], Path(path), "application/octet-stream")
    params = {
        "clip_ids": ["band0", "band1"],
        "source_clip_id": "up",
        "source_score_key": keys["score.json"],
        "source_files": {"song.wav": keys["song.wav"]},
        "source_type": "upload",
        "start_s": 0.0,
        "end_s": None,
        "tags": "piano ballad",
        "title": "Under the Voice",
        "model_name": "chirp-v4-5",
        "seed": 11,
    }
    seen: list[float] = []
    out = engine.run("ADD_INSTRUMENTAL", params, root / "w2", lambda f, s="": seen.append(f))
    sung = Score.from_dict(json.loads(Path(song["files"]["score.json"]).read_text("utf-8")))
    return {"song": song, "upload": upload, "out": out, "seen": seen, "sung": sung}


def print_nothing(fraction: float, stage: str = "") -> None:
    del fraction, stage


def test_the_upload_is_the_vocals_stem_untouched_but_for_one_gain(made: dict[str, Any]) -> None:
    upload = _read(made["upload"]["files"]["song.wav"])
    assert len(made["out"]) == 2
    for entry in made["out"]:
        meta, files = entry["meta"], entry["files"]
        assert meta["type"] == "underpainting" and meta["title"] == "Under the Voice"
        vocals = _read(files["stems/Vocals.wav"])
        n = min(len(upload), len(vocals))
        level = _null_db(upload[:n] * meta["vocal_gain"], vocals[:n])
        assert level <= -50.0, level
        # The stems are the song: the voice and the band.
        stems = [_read(p) for k, p in files.items() if k.startswith("stems/")]
        assert len(stems) >= 3 and "Vocals" in meta["stems"]
        song = _read(files["song.wav"])
        assert np.max(np.abs(sum(stems) - song)) <= 2 / 32768


def test_the_band_plays_in_the_voices_tempo_and_key(made: dict[str, Any]) -> None:
    sung: Score = made["sung"]
    for entry in made["out"]:
        meta, files = entry["meta"], entry["files"]
        assert meta["tempo"] == pytest.approx(sung.tempo_bpm, rel=0.02)
        band = sum(
            _read(p) for k, p in files.items() if k.startswith("stems/") and "Vocals" not in k
        )
        heard = analyse(band.astype(np.float32), 44100, detect_voice=False)
        assert heard.tempo_bpm == pytest.approx(sung.tempo_bpm, rel=0.02)
        assert (heard.key_root, heard.mode) == (sung.key_root, sung.mode)
        assert meta["scale_tone_share"] >= 0.8 and meta["chord_tone_share"] > 0.4, meta
        # The two clips are two arrangements, not one twice.
    first, second = (_read(e["files"]["song.wav"]) for e in made["out"])
    assert not np.array_equal(first, second)
    assert made["seen"] == sorted(made["seen"]) and made["seen"][-1] == pytest.approx(1.0)
