"""AceData's MIDI notes written as a standard MIDI file."""

from __future__ import annotations

import io

import mido

from cadenza.client import Midi
from cadenza.client.midi import TICKS_PER_SECOND, notes_to_midi


def test_notes_become_a_track_per_instrument_at_their_times() -> None:
    instruments = [
        {"name": "Piano", "notes": [{"pitch": 60, "start": 0.5, "end": 1.0, "velocity": 90}]},
        {"name": "Drums", "notes": [{"pitch": 36, "start": 0.0, "end": 0.25, "velocity": 110}]},
    ]
    song = mido.MidiFile(file=io.BytesIO(notes_to_midi(instruments)))
    assert [t.name for t in song.tracks] == ["Piano", "Drums"]
    piano = [m for m in song.tracks[0] if not m.is_meta]
    assert [(m.type, m.note, m.channel) for m in piano] == [
        ("note_on", 60, 0),
        ("note_off", 60, 0),
    ]
    assert piano[0].time == TICKS_PER_SECOND // 2 and piano[1].time == TICKS_PER_SECOND // 2
    drums = [m for m in song.tracks[1] if not m.is_meta]
    assert drums[0].channel == 9 and drums[0].velocity == 110
    assert round(song.length, 3) == 1.0


def test_a_file_sent_by_the_server_is_kept_as_sent() -> None:
    assert Midi(clip_id="c", data=b"MThd...").to_bytes() == b"MThd..."
    assert Midi(clip_id="c", instruments=[]).to_bytes().startswith(b"MThd")
