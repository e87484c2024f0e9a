"""A short song rendered end to end: layout, stems, loudness, tempo, pitch, determinism."""

from __future__ import annotations

import json
import math
import multiprocessing
import resource
from collections.abc import Callable
from pathlib import Path
from typing import Any

import librosa
import numpy as np
import pyloudnorm
import pytest
import soundfile as sf
from scipy.signal import resample_poly

from cadenza.compose.pipeline import ClipResult, render_clip
from cadenza.compose.score import STEM_NAMES, Score

pytestmark = pytest.mark.slow

SR = 44100
#: Away from 120 BPM, the beat tracker's prior: a track it cannot follow would still pass
#: at 120 (white noise does, most of the time).
TEMPO = 100.0


@pytest.fixture(scope="module")
def rendered(
    tmp_path_factory: pytest.TempPathFactory, make_score: Callable[..., Score]
) -> tuple[Score, ClipResult, list[Any]]:
    score = make_score(bars=8, tempo=TEMPO)
    events: list[Any] = []
    result = render_clip(
        score,
        tmp_path_factory.mktemp("clip") / "clip-1",
        lambda f, stage: events.append((f, stage)),
        model="chirp-v4-5",
        on_preview=lambda path, seconds: events.append(("preview", path, seconds)),
    )
    return score, result, events


def _read(path: Path) -> np.ndarray:
    audio, rate = sf.read(str(path), dtype="float64", always_2d=True)
    assert rate == SR
    return audio


def test_layout(rendered: tuple[Score, ClipResult, list[Any]]) -> None:
    score, result, _ = rendered
    root = result.clip_dir
    for name in (
        "song.wav", "song.mp3", "preview.mp3", "song.mid", "lyrics.json", "score.json",
        "cover.png", "cover_large.png", "meta.json",
    ):  # fmt: skip
        assert (root / name).is_file(), name
        assert result.files[name] == root / name
    stems = sorted(p.stem for p in (root / "stems").glob("*.wav"))
    assert stems == sorted(["Vocals", "Backing Vocals", "Drums", "Bass", "Keyboard"])
    assert set(stems) <= set(STEM_NAMES)
    info = sf.info(str(root / "song.wav"))
    assert (info.samplerate, info.channels, info.subtype) == (SR, 2, "PCM_16")
    assert sf.info(str(root / "stems" / "Vocals.wav")).subtype == "FLOAT"
    mp3 = (root / "song.mp3").read_bytes()
    assert mp3[2] >> 4 >= 0b1011  # MPEG-1 Layer III bitrate index 11+ = 192 kbps or more
    meta = json.loads((root / "meta.json").read_text())
    for key in ("title", "tags", "duration", "tempo", "key", "model", "seed", "engine_version"):
        assert key in meta
    assert meta["model"] == "chirp-v4-5" and meta["seed"] == score.seed
    assert meta["duration"] == pytest.approx(score.duration_s + 1.5, abs=0.01)
    assert set(meta["seconds"]) >= {"instruments", "vocals", "mix", "master", "encode"}
    assert set(result.cpu_seconds) == set(meta["seconds"]) - {"compose"}
    assert all(v >= 0 for v in result.cpu_seconds.values())
    assert Score.from_dict(json.loads((root / "score.json").read_text())) == score
    words = json.loads((root / "lyrics.json").read_text())["words"]
    assert [w["word"] for w in words] == [w.text for w in score.words]


def test_progress_and_preview(rendered: tuple[Score, ClipResult, list[Any]]) -> None:
    _, result, events = rendered
    values = [e[0] for e in events if e[0] != "preview"]
    assert values == sorted(values) and values[-1] == 1.0
    stages = [e[1] for e in events if e[0] != "preview"]
    # Asked for, the preview comes first: before any of the whole song is rendered.
    at = next(i for i, e in enumerate(events) if e[0] == "preview")
    assert stages[0] == "preview" and "instruments" not in [e[1] for e in events[:at]]
    preview = [e[1:] for e in events if e[0] == "preview"]
    assert len(preview) == 1 and preview[0][0] == result.clip_dir / "preview.mp3"
    head = _read(preview[0][0])
    assert len(head) / SR == pytest.approx(preview[0][1], abs=0.1)
    song = _read(result.clip_dir / "song.wav")
    assert len(head) < len(song)
    # Mastered on its own to the song's target: about as loud as the song.
    meter = pyloudnorm.Meter(SR)
    assert abs(meter.integrated_loudness(head) - meter.integrated_loudness(song)) < 2.0


def test_stems_sum_to_the_song(rendered: tuple[Score, ClipResult, list[Any]]) -> None:
    _, result, _ = rendered
    song = _read(result.clip_dir / "song.wav")
    total = sum(_read(p) for p in (result.clip_dir / "stems").glob("*.wav"))
    residual_db = 10 * math.log10(np.mean((total - song) ** 2) / np.mean(song**2))
    assert residual_db <= -50


def test_loudness_and_true_peak(rendered: tuple[Score, ClipResult, list[Any]]) -> None:
    _, result, _ = rendered
    song = _read(result.clip_dir / "song.wav")
    lufs = pyloudnorm.Meter(SR).integrated_loudness(song)
    assert lufs == pytest.approx(-14.0, abs=1.0)
    peak = max(np.abs(resample_poly(song[:, c], 4, 1)).max() for c in range(2))
    assert 20 * math.log10(peak) <= -1.0


def test_tempo_found_by_a_beat_tracker(rendered: tuple[Score, ClipResult, list[Any]]) -> None:
    _, result, _ = rendered
    mono = _read(result.clip_dir / "song.wav").mean(axis=1).astype(np.float32)
    tempo, _ = librosa.beat.beat_track(y=mono, sr=SR)
    assert float(np.atleast_1d(tempo)[0]) == pytest.approx(TEMPO, rel=0.04)


def test_sung_pitch_follows_the_score(rendered: tuple[Score, ClipResult, list[Any]]) -> None:
    score, result, _ = rendered
    vocals = _read(result.clip_dir / "stems" / "Vocals.wav").mean(axis=1)
    y = librosa.resample(vocals, orig_sr=SR, target_sr=22050)
    hop = 256
    f0, voiced, _ = librosa.pyin(y, fmin=70, fmax=900, sr=22050, frame_length=1024, hop_length=hop)
    times = librosa.times_like(f0, sr=22050, hop_length=hop)
    errors: list[float] = []
    lead = next(p for p in score.vocals if p.stem == "Vocals")
    for note in lead.notes:  # the score's notes, not a file the engine wrote from them
        start, end = score.seconds(note.start), score.seconds(note.start + note.duration)
        inside = (times >= start + 0.08) & (times <= end - 0.05) & voiced & ~np.isnan(f0)
        cents = 1200 * np.log2(f0[inside] / librosa.midi_to_hz(note.pitch))
        errors.extend(np.abs(cents).tolist())
    assert len(errors) > 100
    errors_arr = np.array(errors)
    assert np.mean(errors_arr <= 50) >= 0.95
    assert np.median(errors_arr) <= 10


def test_same_instrumental_score_same_bytes(
    tmp_path: Path, make_score: Callable[..., Score]
) -> None:
    score = make_score(bars=4, vocals=False)
    first = render_clip(score, tmp_path / "one")
    second = render_clip(Score.from_dict(score.to_dict()), tmp_path / "two")
    for name in ("song.wav", "song.mp3", "cover.png", "song.mid", "stems/Drums.wav"):
        assert (first.clip_dir / name).read_bytes() == (second.clip_dir / name).read_bytes()


def test_same_score_same_bytes(
    rendered: tuple[Score, ClipResult, list[Any]], tmp_path: Path
) -> None:
    score, result, _ = rendered
    again = render_clip(Score.from_dict(score.to_dict()), tmp_path / "again")
    for name in ("song.wav", "stems/Vocals.wav", "stems/Backing Vocals.wav"):
        assert (again.clip_dir / name).read_bytes() == (result.clip_dir / name).read_bytes()


def _render_peak_kib(score_dict: dict[str, Any], out: str) -> int:
    """In a fresh process: render the score once, return that process's peak RSS.

    The kernel's high-water mark of this address space (``VmHWM``), not ``ru_maxrss``: that
    one survives the fork and exec that started this process, so it reports the test
    process's own size whenever that was larger."""
    render_clip(Score.from_dict(score_dict), Path(out))
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def test_peak_memory_of_a_render_stays_bounded(
    rendered: tuple[Score, ClipResult, list[Any]], tmp_path: Path
) -> None:
    # One render in a process of its own: the test process's own peak holds every render
    # and import of the session before it.
    score, _, _ = rendered
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        peak_kib = pool.apply(_render_peak_kib, (score.to_dict(), str(tmp_path / "alone")))
    # About 0.7 GB of it is imports (librosa among them) and the speech sources' state.
    assert 100 * 1024 < peak_kib < 1536 * 1024
