"""A standard MIDI file from notes per instrument (AceData's ``/suno/midi`` answers notes,
not a file)."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

#: Ticks per beat; at the file's 120 beats per minute a second is twice as many ticks.
TICKS_PER_BEAT = 480
TICKS_PER_SECOND = TICKS_PER_BEAT * 2
DRUMS = 9


def notes_to_midi(instruments: Sequence[Mapping[str, Any]]) -> bytes:
    """One track per instrument (drums on channel 10 when named so); times in seconds."""
    import mido

    song = mido.MidiFile(type=1, ticks_per_beat=TICKS_PER_BEAT)
    channel = 0
    for instrument in instruments:
        name = str(instrument.get("name") or "instrument")
        drums = "drum" in name.lower() or "percussion" in name.lower()
        use = DRUMS if drums else channel % 16
        if not drums:
            channel += 1 if channel + 1 != DRUMS else 2
        events: list[tuple[int, int, mido.Message]] = []
        for note in instrument.get("notes") or []:
            pitch = max(0, min(127, int(note.get("pitch", 60))))
            velocity = max(1, min(127, int(note.get("velocity", 100))))
            start = max(0, round(float(note.get("start", 0)) * TICKS_PER_SECOND))
            end = max(start + 1, round(float(note.get("end", 0)) * TICKS_PER_SECOND))
            events.append(
                (start, 1, mido.Message("note_on", note=pitch, velocity=velocity, channel=use))
            )
            events.append((end, 0, mido.Message("note_off", note=pitch, velocity=0, channel=use)))
        track = mido.MidiTrack([mido.MetaMessage("track_name", name=name)])
        now = 0
        for tick, _, message in sorted(events, key=lambda e: (e[0], e[1])):
            track.append(message.copy(time=tick - now))
            now = tick
        song.tracks.append(track)
    out = io.BytesIO()
    song.save(file=out)
    return out.getvalue()
