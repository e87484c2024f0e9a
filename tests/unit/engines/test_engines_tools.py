"""The audio tools engine on real audio: lengths to the sample, pitch, stems, uploads."""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path
from typing import Any

import librosa
import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from cadenza.audio.probe import sniff
from cadenza.domain.errors import EngineError
from cadenza.engines.tools import AudioToolsEngine
from cadenza.storage.local import LocalStorage

RATE = 44100


def _tone(seconds: float, freq: float) -> np.ndarray:
    t = np.arange(round(seconds * RATE)) / RATE
    wave = sum(np.sin(2 * np.pi * freq * k * t) / k for k in (1, 2, 3))
    mono = (0.25 * wave).astype(np.float32)
    return np.stack([mono, mono], axis=1)


def _no_progress(fraction: float, message: str = "") -> None:
    assert 0.0 <= fraction <= 1.0


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "media", "http://testserver")


def _put(storage: LocalStorage, tmp: Path, name: str, audio: np.ndarray) -> str:
    path = tmp / "in" / name.replace("/", "_")
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), audio, RATE, subtype="PCM_16")
    key = f"clips/src-1/{name}"
    storage.put_file(key, path, "audio/wav")
    return key


def _source(
    storage: LocalStorage, tmp: Path, seconds: float, freq: float = 220.0
) -> dict[str, str]:
    audio = _tone(seconds, freq)
    files = {
        "song.wav": _put(storage, tmp, "song.wav", audio),
        "stems/Vocals.wav": _put(storage, tmp, "stems/Vocals.wav", audio * 0.5),
    }
    cover = tmp / "in" / "cover.png"
    Image.new("RGB", (32, 32), (200, 10, 10)).save(cover)
    storage.put_file("clips/src-1/cover.png", cover, "image/png")
    files["cover.png"] = "clips/src-1/cover.png"
    return files


def _run(storage: LocalStorage, tmp: Path, action: str, params: dict[str, Any]) -> dict[str, Any]:
    engine = AudioToolsEngine(storage)
    results = engine.run(action, {"clip_ids": ["new-clip"], **params}, tmp / "work", _no_progress)
    assert len(results) == 1 and results[0]["id"] == "new-clip"
    return results[0]


def _frames(path: str) -> int:
    return int(sf.info(path).frames)


def _median_f0(path: str) -> float:
    audio, rate = librosa.load(path, sr=22050, mono=True, duration=3.0)
    f0, voiced, _ = librosa.pyin(audio, fmin=80, fmax=800, sr=rate, frame_length=2048)
    return float(np.nanmedian(f0[voiced]))


def test_crop_keep_is_the_window_and_edits_stems(storage: LocalStorage, tmp_path: Path) -> None:
    files = _source(storage, tmp_path, 6.0)
    result = _run(
        storage,
        tmp_path,
        "CROP",
        {"files": files, "crop_start_s": 1.25, "crop_end_s": 4.5, "is_crop_remove": False},
    )
    out = result["files"]
    assert abs(_frames(out["song.wav"]) / RATE - 3.25) <= 0.02
    assert _frames(out["stems/Vocals.wav"]) == _frames(out["song.wav"])
    assert sniff(Path(out["song.mp3"]).read_bytes()[:64]) == "mp3"
    assert Path(out["cover.png"]).read_bytes() == storage.get_bytes(files["cover.png"])
    assert result["meta"]["type"] == "edit_crop"
    assert result["meta"]["duration"] == pytest.approx(3.25, abs=0.02)


def test_crop_remove_leaves_length_minus_window(storage: LocalStorage, tmp_path: Path) -> None:
    files = _source(storage, tmp_path, 6.0)
    result = _run(
        storage,
        tmp_path,
        "CROP",
        {"files": files, "crop_start_s": 2.0, "crop_end_s": 3.5, "is_crop_remove": True},
    )
    assert abs(_frames(result["files"]["song.wav"]) / RATE - 4.5) <= 0.02


@pytest.mark.parametrize("remove", [False, True])
def test_crop_to_the_clips_rounded_duration_reaches_the_end(
    storage: LocalStorage, tmp_path: Path, remove: bool
) -> None:
    """A clip's duration is rounded to the millisecond, so it may lie a few samples past
    the WAV's end: a crop up to that duration is a crop to the end, not a failure."""
    frames = RATE + 30  # 1.00068 s, stated as 1.001 s
    files = _source(storage, tmp_path, frames / RATE)
    assert _frames(str(Path(storage.root) / files["song.wav"])) == frames
    stated = round(frames / RATE, 3)
    result = _run(
        storage,
        tmp_path,
        "CROP",
        {"files": files, "crop_start_s": 0.5, "crop_end_s": stated, "is_crop_remove": remove},
    )
    left = round(0.5 * RATE) if remove else frames - round(0.5 * RATE)
    assert _frames(result["files"]["song.wav"]) == left
    assert _frames(result["files"]["stems/Vocals.wav"]) == left


def test_speed_keep_pitch_shortens_and_keeps_pitch(storage: LocalStorage, tmp_path: Path) -> None:
    files = _source(storage, tmp_path, 5.0, freq=220.0)
    result = _run(
        storage,
        tmp_path,
        "SPEED_ADJUST",
        {"files": files, "speed_multiplier": 1.25, "keep_pitch": True},
    )
    song = result["files"]["song.wav"]
    assert abs(_frames(song) / RATE - 5.0 / 1.25) <= 0.02
    original = _median_f0(str(Path(storage.root) / files["song.wav"]))
    cents = 1200 * abs(np.log2(_median_f0(song) / original))
    assert cents < 20
    assert _frames(result["files"]["stems/Vocals.wav"]) == _frames(song)


def test_speed_without_keep_pitch_moves_pitch_like_tape(
    storage: LocalStorage, tmp_path: Path
) -> None:
    files = _source(storage, tmp_path, 4.0, freq=220.0)
    result = _run(
        storage,
        tmp_path,
        "SPEED_ADJUST",
        {"files": files, "speed_multiplier": 2.0, "keep_pitch": False},
    )
    audio, rate = sf.read(result["files"]["song.wav"], always_2d=True)
    assert abs(len(audio) / rate - 2.0) <= 0.02
    spectrum = np.abs(np.fft.rfft(audio[:, 0]))
    peak = np.argmax(spectrum) * rate / len(audio)
    assert peak == pytest.approx(440.0, abs=3.0)


def test_concat_joins_parts_up_to_each_cut(storage: LocalStorage, tmp_path: Path) -> None:
    first = _put(storage, tmp_path, "a.wav", _tone(6.0, 220.0))
    second = _put(storage, tmp_path, "b.wav", _tone(5.0, 330.0))
    third = _put(storage, tmp_path, "c.wav", _tone(3.0, 440.0))
    history = [{"id": "a", "continue_at": 4.0}, {"id": "b", "continue_at": 2.5}, {"id": "c"}]
    result = _run(
        storage,
        tmp_path,
        "CONCAT",
        {
            "parts": [
                {"clip_id": "a", "song_key": first, "cut_s": 4.0},
                {"clip_id": "b", "song_key": second, "cut_s": 2.5},
                {"clip_id": "c", "song_key": third, "cut_s": None},
            ],
            "concat_history": history,
        },
    )
    assert abs(_frames(result["files"]["song.wav"]) / RATE - (4.0 + 2.5 + 3.0)) <= 0.02
    assert result["meta"]["concat_history"] == history
    assert result["meta"]["type"] == "concat"


def test_concat_needs_a_chain(storage: LocalStorage, tmp_path: Path) -> None:
    only = _put(storage, tmp_path, "a.wav", _tone(1.0, 220.0))
    with pytest.raises(EngineError):
        _run(storage, tmp_path, "CONCAT", {"parts": [{"song_key": only, "cut_s": None}]})


def _upload_params(key: str) -> dict[str, Any]:
    return {
        "upload_id": "up-1",
        "storage_key": key,
        "title": "My Demo",
        "max_bytes": 10 * 1024 * 1024,
        "max_duration_s": 60.0,
    }


@pytest.mark.parametrize("fmt", ["wav", "mp3"])
def test_upload_decodes_into_a_clip(storage: LocalStorage, tmp_path: Path, fmt: str) -> None:
    wav = tmp_path / "up.wav"
    sf.write(str(wav), _tone(3.0, 330.0), RATE, subtype="PCM_16")
    source = wav
    if fmt == "mp3":
        source = tmp_path / "up.mp3"
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(wav), str(source)], check=True)
    storage.put_file(f"uploads/u1/source.{fmt}", source, "application/octet-stream")
    result = _run(storage, tmp_path, "UPLOAD", _upload_params(f"uploads/u1/source.{fmt}"))
    files = result["files"]
    assert set(files) == {
        "song.wav",
        "song.mp3",
        "cover.png",
        "cover_large.png",
        "score.json",
        "song.mid",
    }
    assert abs(_frames(files["song.wav"]) / RATE - 3.0) <= 0.06
    assert result["meta"]["type"] == "upload" and result["meta"]["title"] == "My Demo"
    assert Image.open(files["cover_large.png"]).size[0] > Image.open(files["cover.png"]).size[0]


def test_upload_rejects_a_wav_header_bomb(storage: LocalStorage, tmp_path: Path) -> None:
    fmt = struct.pack("<HHIIHH", 1, 2, RATE, RATE * 4, 4, 16)
    bomb = (
        b"RIFF" + struct.pack("<I", 0xFFFFFFF0) + b"WAVE"
        + b"fmt " + struct.pack("<I", 16) + fmt
        + b"data" + struct.pack("<I", 0xFFFFFF00) + bytes(4096)
    )  # fmt: skip
    storage.put_bytes("uploads/u2/source.wav", bomb, "audio/wav")
    with pytest.raises(EngineError):
        _run(storage, tmp_path, "UPLOAD", _upload_params("uploads/u2/source.wav"))


def test_unknown_action_is_an_engine_error(storage: LocalStorage, tmp_path: Path) -> None:
    with pytest.raises(EngineError):
        _run(storage, tmp_path, "MUSIC", {})
