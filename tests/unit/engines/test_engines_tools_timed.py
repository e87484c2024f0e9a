"""The tools engine edits every file of a clip alike: stems, lyrics.json and song.mid."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import mido
import numpy as np
import pytest
import soundfile as sf

from cadenza.engines.tools import AudioToolsEngine
from cadenza.storage.local import LocalStorage

RATE = 44100
BPM = 120  # one beat = 0.5 s, so the note times below are easy to read


def _tone(seconds: float, freq: float, level: float) -> np.ndarray:
    t = np.arange(round(seconds * RATE)) / RATE
    mono = (level * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return np.stack([mono, 0.8 * mono], axis=1)


def _midi(onsets: list[float], pitch: int = 60) -> bytes:
    """A Vocals track with a 0.4 s note and a syllable at each onset (seconds)."""
    mid = mido.MidiFile(ticks_per_beat=480)
    mid.tracks.append(mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(BPM))]))
    track = mido.MidiTrack([mido.MetaMessage("track_name", name="Vocals")])
    track.append(mido.Message("program_change", program=53, time=0))
    now = 0
    for index, at in enumerate(onsets):
        on, off = round(at * 960), round((at + 0.4) * 960)
        track.append(mido.MetaMessage("lyrics", text=f"w{index}", time=on - now))
        track.append(mido.Message("note_on", note=pitch + index, velocity=90, time=0))
        track.append(mido.Message("note_off", note=pitch + index, velocity=0, time=off - on))
        now = off
    mid.tracks.append(track)
    buffer = io.BytesIO()
    mid.save(file=buffer)
    return buffer.getvalue()


def _lyrics(onsets: list[float], prefix: str) -> bytes:
    words = [
        {"word": f"{prefix}{i}", "start_s": at, "end_s": at + 0.4, "line": i // 2, "section": "V"}
        for i, at in enumerate(onsets)
    ]
    doc = {"title": "T", "language": "en", "lyrics": "written", "words": words}
    return json.dumps(doc).encode()


def _clip(
    storage: LocalStorage,
    tmp: Path,
    name: str,
    stems: dict[str, np.ndarray],
    onsets: list[float] | None = None,
    extra: dict[str, bytes] | None = None,
) -> dict[str, str]:
    """A clip whose stems (float WAV) sum to its song (16-bit WAV), as the engine makes."""
    files: dict[str, str] = {}
    song = sum(stems.values())
    folder = tmp / "in" / name
    folder.mkdir(parents=True, exist_ok=True)
    sf.write(str(folder / "song.wav"), song, RATE, subtype="PCM_16")
    files["song.wav"] = f"clips/{name}/song.wav"
    storage.put_file(files["song.wav"], folder / "song.wav", "audio/wav")
    for stem, audio in stems.items():
        sf.write(str(folder / f"{stem}.wav"), audio, RATE, subtype="FLOAT")
        files[f"stems/{stem}.wav"] = f"clips/{name}/stems/{stem}.wav"
        storage.put_file(files[f"stems/{stem}.wav"], folder / f"{stem}.wav", "audio/wav")
    blobs = dict(extra or {})
    if onsets is not None:
        blobs.setdefault("lyrics.json", _lyrics(onsets, name))
        blobs.setdefault("song.mid", _midi(onsets))
    for file, data in blobs.items():
        files[file] = f"clips/{name}/{file}"
        storage.put_bytes(files[file], data, "application/octet-stream")
    return files


def _run(storage: LocalStorage, tmp: Path, action: str, params: dict[str, Any]) -> dict[str, str]:
    engine = AudioToolsEngine(storage)
    work = tmp / "work" / action
    results = engine.run(action, {"clip_ids": ["c"], **params}, work, lambda f, m="": None)
    return {k: str(v) for k, v in results[0]["files"].items()}


def _words(files: dict[str, str]) -> list[tuple[str, float, float]]:
    doc = json.loads(Path(files["lyrics.json"]).read_text("utf-8"))
    return [(w["word"], w["start_s"], w["end_s"]) for w in doc["words"]]


def _vocals(files: dict[str, str]) -> list[tuple[float, int, str]]:
    """(onset seconds, pitch, syllable) of the Vocals track."""
    mid = mido.MidiFile(files["song.mid"])
    tempo, seconds, out, syllable = 500000, 0.0, [], ""
    track = next(t for t in mid.tracks if t.name == "Vocals")
    tempo = next(m.tempo for m in mid.tracks[0] if m.type == "set_tempo")
    for msg in track:
        seconds += mido.tick2second(msg.time, mid.ticks_per_beat, tempo)
        if msg.type == "lyrics":
            syllable = msg.text
        if msg.type == "note_on" and msg.velocity > 0:
            out.append((round(seconds, 3), msg.note, syllable))
    return out


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "media", "http://testserver")


def test_concat_joins_stems_like_the_song(storage: LocalStorage, tmp_path: Path) -> None:
    first = _clip(
        storage,
        tmp_path,
        "a",
        {"Vocals": _tone(4.0, 220, 0.3), "Drums": _tone(4.0, 330, 0.2)},
        onsets=[0.5, 1.5, 2.6],
    )
    second = _clip(storage, tmp_path, "b", {"Vocals": _tone(3.0, 440, 0.3)}, onsets=[0.2, 1.0])
    parts = [
        {"song_key": first["song.wav"], "cut_s": 2.5, "files": first},
        {"song_key": second["song.wav"], "cut_s": None, "files": second},
    ]
    out = _run(storage, tmp_path, "CONCAT", {"parts": parts})
    song, _ = sf.read(out["song.wav"], dtype="float32")
    vocals, _ = sf.read(out["stems/Vocals.wav"], dtype="float32")
    drums, _ = sf.read(out["stems/Drums.wav"], dtype="float32")
    assert len(song) == len(vocals) == len(drums) == round(5.5 * RATE)
    residual = song - (vocals + drums)
    assert 10 * np.log10(np.sum(residual**2) / np.sum(song**2)) <= -50
    # The second part has no drums: silence from the end of the crossfade on.
    cut = round(2.5 * RATE)
    assert np.abs(drums[: cut - 100]).max() > 0.1
    assert not drums[cut + round(0.03 * RATE) :].any()

    assert _words(out) == [("a0", 0.5, 0.9), ("a1", 1.5, 1.9), ("b0", 2.7, 3.1), ("b1", 3.5, 3.9)]
    assert _vocals(out) == [(0.5, 60, "w0"), (1.5, 61, "w1"), (2.7, 60, "w0"), (3.5, 61, "w1")]


def test_concat_of_a_part_without_stems_lyrics_or_midi(
    storage: LocalStorage, tmp_path: Path
) -> None:
    """Like an upload (no lyrics file) extended with a sung part: the stems and the MIDI
    need every part, the words come from the parts that have them."""
    first = _clip(storage, tmp_path, "a", {"Vocals": _tone(2.0, 220, 0.3)})
    second = _clip(storage, tmp_path, "b", {"Vocals": _tone(2.0, 330, 0.3)}, onsets=[0.5])
    for name in ("stems/Vocals.wav", "lyrics.json", "song.mid"):
        first.pop(name, None)
    parts = [
        {"song_key": first["song.wav"], "cut_s": 1.0, "files": first},
        {"song_key": second["song.wav"], "cut_s": None, "files": second},
    ]
    out = _run(storage, tmp_path, "CONCAT", {"parts": parts})
    assert set(out) == {"song.wav", "song.mp3", "lyrics.json"}
    assert _words(out) == [("b0", 1.5, 1.9)]
    second.pop("lyrics.json")
    out = _run(storage, tmp_path, "CONCAT", {"parts": parts})
    assert set(out) == {"song.wav", "song.mp3"}


def test_crop_keep_carries_shifted_lyrics_and_midi_but_no_score(
    storage: LocalStorage, tmp_path: Path
) -> None:
    files = _clip(
        storage,
        tmp_path,
        "a",
        {"Vocals": _tone(4.0, 220, 0.3), "Bass": _tone(4.0, 110, 0.2)},
        onsets=[0.5, 1.25, 2.0, 3.0],
        extra={"score.json": b"{}"},
    )
    params = {"files": files, "crop_start_s": 1.0, "crop_end_s": 2.5, "is_crop_remove": False}
    out = _run(storage, tmp_path, "CROP", params)
    assert set(out) == {
        "song.wav",
        "song.mp3",
        "stems/Vocals.wav",
        "stems/Bass.wav",
        "lyrics.json",
        "song.mid",
    }
    # A word is kept when it starts in the window; the one cut at the end is clipped.
    assert _words(out) == [("a1", 0.25, 0.65), ("a2", 1.0, 1.4)]
    assert _vocals(out) == [(0.25, 61, "w1"), (1.0, 62, "w2")]


def test_crop_remove_pulls_later_words_back(storage: LocalStorage, tmp_path: Path) -> None:
    files = _clip(storage, tmp_path, "a", {"Vocals": _tone(4.0, 220, 0.3)}, onsets=[0.5, 1.5, 3])
    params = {"files": files, "crop_start_s": 1.0, "crop_end_s": 2.0, "is_crop_remove": True}
    out = _run(storage, tmp_path, "CROP", params)
    assert _words(out) == [("a0", 0.5, 0.9), ("a2", 2.0, 2.4)]
    assert _vocals(out) == [(0.5, 60, "w0"), (2.0, 62, "w2")]


def test_speed_like_tape_moves_times_and_pitch(storage: LocalStorage, tmp_path: Path) -> None:
    files = _clip(storage, tmp_path, "a", {"Vocals": _tone(3.0, 220, 0.3)}, onsets=[0.5, 2.0])
    params = {"files": files, "speed_multiplier": 2.0, "keep_pitch": False}
    out = _run(storage, tmp_path, "SPEED_ADJUST", params)
    assert _words(out) == [("a0", 0.25, 0.45), ("a1", 1.0, 1.2)]
    # Twice as fast on tape is an octave up; the tempo doubles so the beats stay.
    assert _vocals(out) == [(0.25, 72, "w0"), (1.0, 73, "w1")]
    mid = mido.MidiFile(out["song.mid"])
    assert [m.tempo for m in mid.tracks[0] if m.type == "set_tempo"] == [250000]


def test_unreadable_midi_is_left_out_and_the_edit_still_done(
    storage: LocalStorage, tmp_path: Path
) -> None:
    files = _clip(
        storage,
        tmp_path,
        "a",
        {"Vocals": _tone(2.0, 220, 0.3)},
        onsets=[0.5],
        extra={"song.mid": b"MThd garbage"},
    )
    params = {"files": files, "speed_multiplier": 1.25, "keep_pitch": True}
    out = _run(storage, tmp_path, "SPEED_ADJUST", params)
    assert "song.mid" not in out and "lyrics.json" in out
    assert sf.info(out["song.wav"]).frames == round(2.0 * RATE / 1.25)
