"""The compose engine behind the API: two clips per MUSIC task, progress, clear failures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import soundfile as sf
from typer.testing import CliRunner

from cadenza.compose.cli import build_request, render_app
from cadenza.compose.pipeline import ComposeEngine, clip_seed
from cadenza.domain.errors import EngineError, InvalidInput
from cadenza.domain.music import MusicRequest

LYRICS = "[Verse]\nthe river runs\nto the sea\n[Chorus]\nwe sing tonight\n"


def _noop(fraction: float, stage: str) -> None:
    del fraction, stage


def test_clip_seeds_are_stable_and_distinct() -> None:
    assert clip_seed(42, 0) == clip_seed(42, 0)
    assert len({clip_seed(42, 0), clip_seed(42, 1), clip_seed(43, 0)}) == 3
    assert all(0 <= clip_seed(s, i) < 2**31 for s in (0, 1, 2**62) for i in (0, 1))


def test_unknown_action_is_an_engine_error(tmp_path: Path) -> None:
    with pytest.raises(EngineError):
        ComposeEngine().run("UPSAMPLE", {}, tmp_path, _noop)


@pytest.mark.parametrize(
    "params",
    [
        {"clip_ids": ["a"]},
        {"request": MusicRequest().to_dict(), "clip_ids": []},
        {"request": MusicRequest().to_dict(), "clip_ids": ["../escape", "b"]},
    ],
)
def test_bad_parameters_are_engine_errors(tmp_path: Path, params: dict[str, object]) -> None:
    with pytest.raises(EngineError):
        ComposeEngine().run("MUSIC", params, tmp_path, _noop)


@pytest.mark.slow
def test_music_task_makes_two_clips_in_parallel(tmp_path: Path) -> None:
    request = MusicRequest(
        tags="pop", lyrics=LYRICS, max_duration_s=30, seed=11, model="chirp-v4-5"
    )
    seen: list[tuple[float, str]] = []
    clips = ComposeEngine(workers=2).run(
        "MUSIC",
        {"request": request.to_dict(), "clip_ids": ["clip-a", "clip-b"]},
        tmp_path,
        lambda f, stage: seen.append((f, stage)),
    )
    assert [c["id"] for c in clips] == ["clip-a", "clip-b"]
    for clip in clips:
        files = clip["files"]
        for name in ("song.mp3", "song.wav", "cover.png", "cover_large.png", "song.mid",
                     "lyrics.json", "score.json", "meta.json", "stems/Vocals.wav"):  # fmt: skip
            assert Path(files[name]).is_file(), name
            assert Path(files[name]).parent in (
                tmp_path / clip["id"],
                tmp_path / clip["id"] / "stems",
            )
        meta = clip["meta"]
        assert meta["title"] and meta["tags"] == "pop" and meta["lyrics"].startswith("[Verse]")
        assert 0 < meta["duration"] <= 35
        assert meta["duration"] == pytest.approx(sf.info(files["song.wav"]).duration, abs=0.01)
    seeds = [json.loads(Path(c["files"]["meta.json"]).read_text())["seed"] for c in clips]
    assert seeds == [clip_seed(11, 0), clip_seed(11, 1)]
    songs = [Path(c["files"]["song.wav"]).read_bytes() for c in clips]
    assert songs[0] != songs[1]
    values = [f for f, _ in seen]
    assert values == sorted(values) and values[-1] == pytest.approx(1.0)
    assert {"instruments", "vocals", "master", "encode"} <= {s for _, s in seen}


def test_cli_request_takes_a_lyrics_file_as_lyrics() -> None:
    request = build_request(
        lyrics="one single line",
        prompt=None,
        title="T",
        tags="rock",
        negative_tags="",
        instrumental=False,
        vocal_gender="f",
        model="chirp-v4",
        seed=5,
    )
    assert request.lyrics == "one single line" and request.description is None
    assert (request.vocal_gender, request.model, request.seed) == ("female", "chirp-v4", 5)
    with pytest.raises(InvalidInput):
        build_request(
            lyrics=None, prompt="x", title="", tags="", negative_tags="", instrumental=False,
            vocal_gender="x", model="", seed=None,
        )  # fmt: skip


def test_cli_needs_exactly_one_source(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(render_app, ["--out", str(tmp_path)])
    assert result.exit_code == 2
    result = runner.invoke(render_app, ["--help"])
    assert result.exit_code == 0 and "--lyrics" in result.output
    result = runner.invoke(
        render_app, ["--out", str(tmp_path), "--prompt", "a song", "--vocal-gender", "x"]
    )
    assert result.exit_code == 2
    assert not any(tmp_path.iterdir())


@pytest.mark.slow
def test_workers_are_kept_between_tasks_and_give_the_same_bytes(tmp_path: Path) -> None:
    request = MusicRequest(tags="pop", max_duration_s=12, seed=5, instrumental=True)
    params = {"request": request.to_dict(), "clip_ids": ["a", "b"]}
    engine = ComposeEngine(workers=2)
    try:
        engine.warm()
        pool = engine._pool
        assert pool is not None
        first = engine.run("MUSIC", params, tmp_path / "first", _noop)
        second = engine.run("MUSIC", params, tmp_path / "second", _noop)
        assert engine._pool is pool  # start-up paid once, not per task
    finally:
        engine.close()
    assert engine._pool is None
    for one, two in zip(first, second, strict=True):
        wav = [Path(c["files"]["song.wav"]).read_bytes() for c in (one, two)]
        assert wav[0] == wav[1]
