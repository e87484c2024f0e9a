"""Lyrics and MIDI edited like the audio: a composed song, cropped, sped up and joined."""

from __future__ import annotations

import io
import itertools
import math
from typing import Any

import mido
import pretty_midi
import pytest

from cadenza.audio import score_edit as se
from cadenza.compose.composer import compose
from cadenza.compose.midi import build_midi
from cadenza.compose.score import Score
from cadenza.compose.timings import word_timings
from cadenza.domain.music import MusicRequest

LYRICS = "[Verse]\nLight on the water\nRun to the river\n[Chorus]\nHold on hold on"
TOL = 0.003  # seconds: a MIDI tick is ~1 ms at these tempos


def _song(seed: int = 3) -> tuple[Score, mido.MidiFile, dict[str, Any]]:
    score = compose(MusicRequest(tags="pop", lyrics=LYRICS, max_duration_s=30), seed)
    buffer = io.BytesIO()
    build_midi(score).save(file=buffer)
    doc = {"title": score.title, "language": "en", "lyrics": LYRICS, "words": word_timings(score)}
    return score, mido.MidiFile(file=io.BytesIO(buffer.getvalue())), doc


def _parsed(mid: mido.MidiFile) -> pretty_midi.PrettyMIDI:
    """Parsed by an independent reader, after a round trip through bytes."""
    buffer = io.BytesIO()
    mid.save(file=buffer)
    return pretty_midi.PrettyMIDI(io.BytesIO(buffer.getvalue()))


def _notes(pm: pretty_midi.PrettyMIDI, name: str) -> list[tuple[float, float, int]]:
    inst = next((i for i in pm.instruments if i.name == name), None)
    if inst is None:
        return []
    return sorted((n.start, n.end, n.pitch) for n in inst.notes)


def _close(got: list[tuple[float, float, int]], want: list[tuple[float, float, int]]) -> None:
    assert len(got) == len(want), (got, want)
    for (s1, e1, p1), (s2, e2, p2) in zip(got, want, strict=True):
        assert p1 == p2 and abs(s1 - s2) <= TOL and abs(e1 - e2) <= TOL, ((s1, e1), (s2, e2))


def _monotonic(words: list[dict[str, Any]]) -> None:
    for a, b in itertools.pairwise(words):
        assert a["start_s"] <= b["start_s"] and a["line"] <= b["line"]
    assert all(w["end_s"] >= w["start_s"] >= 0 for w in words)


def test_crop_keep_shifts_words_and_notes_inside_the_window() -> None:
    _, mid, doc = _song()
    start, end = 9.0, 16.0
    out = se.edit_lyrics([(doc, se.crop_keep_map(start, end))])
    want = [w for w in doc["words"] if start <= w["start_s"] < end]
    assert 3 <= len(want) < len(doc["words"])
    assert [w["word"] for w in out["words"]] == [w["word"] for w in want]
    for got, orig in zip(out["words"], want, strict=True):
        assert got["start_s"] == pytest.approx(orig["start_s"] - start, abs=1e-3)
        assert got["end_s"] == pytest.approx(min(orig["end_s"], end) - start, abs=1e-3)
    _monotonic(out["words"])
    assert out["words"][0]["line"] == 0
    assert out["lyrics"].splitlines()[0].startswith(out["words"][0]["word"])

    pm = _parsed(se.edit_midi([(mid, se.crop_keep_map(start, end))], end - start))
    source = _parsed(mid)
    for name in ("Vocals", "Piano", "Drums"):
        kept = [(s - start, min(e, end) - start, p) for s, e, p in _notes(source, name)]
        _close(_notes(pm, name), [n for n in kept if 0 <= n[0] < end - start])
    assert pm.get_end_time() == pytest.approx(end - start, abs=TOL)
    assert pm.get_tempo_changes()[1][0] == pytest.approx(source.get_tempo_changes()[1][0], 1e-3)
    # The instrument of every track is set again at the cut.
    programs = {i.name: i.program for i in source.instruments}
    assert all(i.program == programs[i.name] for i in pm.instruments)


def test_crop_remove_drops_the_window_and_pulls_the_rest_back() -> None:
    _, mid, doc = _song()
    start, end, length = 9.5, 12.0, 26.0
    pieces = se.crop_remove_map(start, end, length)
    words = se.edit_lyrics([(doc, pieces)])["words"]
    before = [w for w in doc["words"] if w["start_s"] < start]
    after = [w for w in doc["words"] if w["start_s"] >= end]
    assert len(words) == len(before) + len(after) < len(doc["words"])
    for got, orig in zip(words[len(before) :], after, strict=True):
        assert got["start_s"] == pytest.approx(orig["start_s"] - (end - start), abs=1e-3)
    _monotonic(words)

    pm = _parsed(se.edit_midi([(mid, pieces)], length - (end - start)))
    want = []
    for s, e, p in _notes(_parsed(mid), "Vocals"):
        if s < start:
            want.append((s, min(e, start), p))
        elif s >= end:
            want.append((s - (end - start), e - (end - start), p))
    _close(_notes(pm, "Vocals"), want)


@pytest.mark.parametrize("keep_pitch", [True, False])
def test_speed_divides_times_and_scales_tempo(keep_pitch: bool) -> None:
    _, mid, doc = _song()
    speed = 1.25
    pieces = se.speed_map(speed, 26.44)
    out = se.edit_lyrics([(doc, pieces)])
    assert out["lyrics"] == LYRICS  # every word kept: the written lyrics stay
    for got, orig in zip(out["words"], doc["words"], strict=True):
        assert got["start_s"] == pytest.approx(orig["start_s"] / speed, abs=1e-3)
        assert got["end_s"] == pytest.approx(orig["end_s"] / speed, abs=1e-3)

    semitones = 0.0 if keep_pitch else 12 * math.log2(speed)
    pm = _parsed(se.edit_midi([(mid, pieces)], 26.44 / speed, semitones=semitones))
    source = _parsed(mid)
    assert pm.get_tempo_changes()[1][0] == pytest.approx(
        source.get_tempo_changes()[1][0] * speed, 1e-3
    )
    shift = 0 if keep_pitch else 4
    for name in ("Vocals", "Piano", "Drums"):
        moved = 0 if name == "Drums" else shift
        want = [(s / speed, e / speed, p + moved) for s, e, p in _notes(source, name)]
        _close(_notes(pm, name), want)
    vocals = next(i for i in pm.instruments if i.name == "Vocals")
    bends = [b.pitch for b in vocals.pitch_bends]
    # 12 * log2(1.25) = 3.86 semitones: 4 up, bent down by 0.14 of a semitone.
    assert bends == ([] if keep_pitch else [round((semitones - 4) / 2 * 8192)])


def test_concat_offsets_each_part_where_it_starts() -> None:
    _, first_mid, first_doc = _song(3)
    _, second_mid, second_doc = _song(5)
    cut = 10.0
    maps = se.concat_maps([cut, 26.44])
    out = se.edit_lyrics([(first_doc, maps[0]), (second_doc, maps[1])])
    head = [w for w in first_doc["words"] if w["start_s"] < cut]
    assert len(out["words"]) == len(head) + len(second_doc["words"])
    for got, orig in zip(out["words"][len(head) :], second_doc["words"], strict=True):
        assert got["start_s"] == pytest.approx(orig["start_s"] + cut, abs=1e-3)
        assert got["word"] == orig["word"]
    _monotonic(out["words"])
    # Lines of the second part do not reuse the first part's numbers.
    assert out["words"][len(head)]["line"] > out["words"][len(head) - 1]["line"]

    joined = se.edit_midi([(first_mid, maps[0]), (second_mid, maps[1])], cut + 26.44)
    assert [t.name for t in joined.tracks].count("Vocals") == 1
    pm = _parsed(joined)
    a, b = _parsed(first_mid), _parsed(second_mid)
    want = [(s, min(e, cut), p) for s, e, p in _notes(a, "Vocals") if s < cut]
    want += [(s + cut, e + cut, p) for s, e, p in _notes(b, "Vocals")]
    _close(_notes(pm, "Vocals"), sorted(want))
    times, tempos = pm.get_tempo_changes()
    assert times[0] == 0 and tempos[0] == pytest.approx(a.get_tempo_changes()[1][0], 1e-3)
    if b.get_tempo_changes()[1][0] != a.get_tempo_changes()[1][0]:
        assert times[1] == pytest.approx(cut, abs=TOL)


def test_concat_with_different_tempos_keeps_each_parts_seconds() -> None:
    def one_note(bpm: float, pitch: int) -> mido.MidiFile:
        mid = mido.MidiFile(ticks_per_beat=480)
        conductor = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm))])
        notes = mido.MidiTrack(
            [
                mido.MetaMessage("track_name", name="Lead"),
                mido.Message("note_on", note=pitch, velocity=90, time=480),
                mido.Message("note_off", note=pitch, velocity=0, time=480),
            ]
        )
        mid.tracks.extend([conductor, notes])
        return mid

    maps = se.concat_maps([3.0, 2.0])
    pm = _parsed(se.edit_midi([(one_note(120, 60), maps[0]), (one_note(60, 62), maps[1])], 5.0))
    _close(_notes(pm, "Lead"), [(0.5, 1.0, 60), (4.0, 5.0, 62)])
    assert list(pm.get_tempo_changes()[1]) == pytest.approx([120.0, 60.0], 1e-3)
