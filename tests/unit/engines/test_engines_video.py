"""The MP4 engine: refuses bad parameters as engine errors and keeps only usable words."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cadenza.domain.errors import EngineError
from cadenza.engines.video import VideoEngine, caption_words, usable_cover
from cadenza.storage.local import LocalStorage


def _progress(fraction: float, message: str = "") -> None:
    return None


def test_bad_parameters_fail_the_task(tmp_path: Path) -> None:
    engine = VideoEngine(LocalStorage(tmp_path / "media", "http://x"))
    with pytest.raises(EngineError):
        engine.run("MP4", {"clip_ids": ["c1"], "cover_key": "k"}, tmp_path / "w", _progress)
    with pytest.raises(EngineError):
        engine.run("CROP", {"clip_ids": ["c1"]}, tmp_path / "w", _progress)
    params = {"clip_ids": ["c1"], "audio_key": "a", "audio_name": "../x", "cover_key": "c"}
    with pytest.raises(EngineError):
        engine.run("MP4", {**params, "duration": 1.0}, tmp_path / "w", _progress)


def test_caption_words_keep_only_timed_words(tmp_path: Path) -> None:
    path = tmp_path / "lyrics.json"
    words = [
        {"word": "ok", "start_s": 0.1, "end_s": 0.4},
        {"word": "  ", "start_s": 0.5, "end_s": 0.6},
        {"word": "untimed"},
        {"word": "bad", "start_s": "x", "end_s": 1},
        "not a word",
    ]
    path.write_text(json.dumps({"words": words}), "utf-8")
    assert [w["word"] for w in caption_words(path)] == ["ok"]
    path.write_text("{broken", "utf-8")
    assert caption_words(path) == []


def test_an_unreadable_cover_is_redrawn(tmp_path: Path) -> None:
    broken = tmp_path / "cover.png"
    broken.write_bytes(b"not an image")
    drawn = usable_cover(broken, "Title", "pop")
    assert drawn != broken and drawn.read_bytes().startswith(b"\x89PNG")
