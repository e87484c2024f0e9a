"""The stems engine on a really rendered short song: titles, order, count, durations, and
that the split clips put the song back together."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from cadenza.compose.master import integrated_loudness, true_peak_dbtp
from cadenza.compose.pipeline import ClipResult, render_clip
from cadenza.compose.score import STEM_NAMES, Score
from cadenza.domain.stems import STEM_ORDER
from cadenza.engines.stems import StemsEngine
from cadenza.storage.local import LocalStorage

pytestmark = pytest.mark.slow

SR = 44100
#: One 16-bit rounding per WAV read back (the song's and each clip's).
QUANTUM = 1.0 / 32768
#: What the score plays: a lead and a harmony voice, drums, bass and piano.
PRESENT = {"Vocals", "Backing Vocals", "Drums", "Bass", "Keyboard"}


@pytest.fixture(scope="module")
def rendered(
    tmp_path_factory: pytest.TempPathFactory, make_score: Callable[..., Score]
) -> tuple[LocalStorage, ClipResult, dict[str, str]]:
    """A 4-bar song rendered and stored as the worker stores a clip."""
    root = tmp_path_factory.mktemp("stems")
    result = render_clip(make_score(bars=4), root / "clip")
    storage = LocalStorage(root / "media", "http://testserver/media")
    keys: dict[str, str] = {}
    for name, path in result.files.items():
        keys[name] = "clips/source/" + name.replace(" ", "_")  # as the worker names keys
        storage.put_file(keys[name], path, "application/octet-stream")
    return storage, result, keys


def _split(
    rendered: tuple[LocalStorage, ClipResult, dict[str, str]], action: str, tmp: Path
) -> list[dict[str, Any]]:
    storage, _, keys = rendered
    count = 24 if action == "ALL_STEMS" else 2
    params = {
        "source_clip_id": "source",
        "title": "Sun and Sky",
        "files": {n: k for n, k in keys.items() if n == "song.wav" or n.startswith("stems/")},
        "clip_ids": [f"c{i}" for i in range(count)],
    }
    seen: list[float] = []
    out = StemsEngine(storage).run(action, params, tmp, lambda f, _m="": seen.append(f))
    assert seen == sorted(seen) and seen[-1] > 0.9
    return out


def _read(path: str | Path) -> np.ndarray:
    audio, rate = sf.read(str(path), dtype="float64", always_2d=True)
    assert rate == SR
    return np.asarray(audio)


def test_the_twelve_stems_are_the_engines_own(make_score: Callable[..., Score]) -> None:
    assert STEM_ORDER == STEM_NAMES


def test_vocals_and_instrumental_reconstruct_the_song(
    rendered: tuple[LocalStorage, ClipResult, dict[str, str]], tmp_path: Path
) -> None:
    _, result, _ = rendered
    clips = _split(rendered, "STEMS", tmp_path)
    assert [c["id"] for c in clips] == ["c0", "c1"]
    assert [c["meta"]["title"] for c in clips] == [
        "Sun and Sky - Vocals",
        "Sun and Sky - Instrumental",
    ]
    vocals, instrumental = (_read(c["files"]["song.wav"]) for c in clips)
    song = _read(result.files["song.wav"])
    assert vocals.shape == instrumental.shape == song.shape
    for clip in clips:
        assert clip["meta"]["duration"] == pytest.approx(len(song) / SR, abs=1e-3)
        assert clip["meta"]["duration"] == pytest.approx(result.meta["duration"], abs=1e-3)
        assert Path(clip["files"]["song.mp3"]).stat().st_size > 1000
    assert clips[0]["meta"]["stems"] == ["Vocals", "Backing Vocals"]
    assert clips[1]["meta"]["stems"] == ["Drums", "Bass", "Keyboard"]
    # The master scales every stem by the song's one gain envelope: the split sums to the
    # mastered song, to within the three files' 16-bit rounding.
    assert np.max(np.abs(vocals + instrumental - song)) <= 3 * QUANTUM
    # And each half is really its half: the vocal stem alone, the rest alone.
    lead = _read(result.files["stems/Vocals.wav"]) + _read(result.files["stems/Backing Vocals.wav"])
    assert np.max(np.abs(vocals - lead)) <= QUANTUM
    assert np.abs(vocals).max() > 0.05 and np.abs(instrumental).max() > 0.05


def test_all_stems_are_two_ordered_candidate_sets(
    rendered: tuple[LocalStorage, ClipResult, dict[str, str]], tmp_path: Path
) -> None:
    _, result, _ = rendered
    clips = _split(rendered, "ALL_STEMS", tmp_path)
    assert len(clips) == 24 and [c["id"] for c in clips] == [f"c{i}" for i in range(24)]
    titles = [c["meta"]["title"] for c in clips]
    assert titles == [f"Sun and Sky ({stem})" for stem in STEM_ORDER] * 2
    song = _read(result.files["song.wav"])
    audio = [_read(c["files"]["song.wav"]) for c in clips]
    assert all(a.shape == song.shape for a in audio)
    assert all(c["meta"]["duration"] == pytest.approx(len(song) / SR, abs=1e-3) for c in clips)
    mix, solo = audio[:12], audio[12:]
    assert np.max(np.abs(sum(mix) - song)) <= 13 * QUANTUM
    target = integrated_loudness(song.astype(np.float32), SR)
    levels: dict[str, tuple[float, float]] = {}
    for index, stem in enumerate(STEM_ORDER):
        first, second = clips[index]["meta"], clips[12 + index]["meta"]
        assert (first["stem_set"], second["stem_set"]) == (1, 2)
        assert first["silent"] is second["silent"] is (stem not in PRESENT)
        if stem not in PRESENT:
            assert not mix[index].any() and not solo[index].any()
            continue
        stored = _read(result.files[f"stems/{stem}.wav"])
        assert np.max(np.abs(mix[index] - stored)) <= QUANTUM
        gain = 10 ** (second["gain_db"] / 20)
        assert np.max(np.abs(solo[index] - stored * gain)) <= QUANTUM * max(1.0, gain) * 2
        # Solo: at the song's loudness unless the true-peak ceiling stops it first.
        level = integrated_loudness(solo[index].astype(np.float32), SR)
        peak = true_peak_dbtp(solo[index].astype(np.float32), SR)
        assert peak <= -0.9
        assert level == pytest.approx(target, abs=0.2) or peak >= -1.1, (stem, level, peak)
        levels[stem] = (integrated_loudness(mix[index].astype(np.float32), SR), level)
    # The second set is another balance of the same parts: their loudness closes up.
    spread = [
        max(v[n] for v in levels.values()) - min(v[n] for v in levels.values()) for n in (0, 1)
    ]
    assert spread[1] < spread[0] - 6, levels
