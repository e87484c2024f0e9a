"""Score -> standard MIDI file (type 1): one track per part, the sung melody with lyrics.

The lead melody goes in a track named ``Vocals`` with one lyric meta event per syllable
(a syllable that does not end its word carries a trailing "-", the karaoke convention);
backing vocals go in ``Backing Vocals``. Drums are on channel 10 (index 9).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mido

from cadenza.compose.harmony import key_signature_name
from cadenza.compose.score import Score, VocalNote

TICKS_PER_BEAT = 480
_VOICE_PROGRAM = 53  # GM "Voice Oohs": a sensible preview sound for the melody


def _ticks(beats: float) -> int:
    return round(beats * TICKS_PER_BEAT)


@dataclass(frozen=True)
class _Event:
    """A message to place at ``tick``; ``order`` sorts events of the same tick."""

    tick: int
    order: int
    type: str
    fields: dict[str, Any]
    meta: bool = False


def _events_to_track(name: str, events: list[_Event]) -> mido.MidiTrack:
    track = mido.MidiTrack()
    track.append(mido.MetaMessage("track_name", name=name, time=0))
    now = 0
    for event in sorted(events, key=lambda e: (e.tick, e.order)):
        delta = event.tick - now
        if event.meta:
            track.append(mido.MetaMessage(event.type, time=delta, **event.fields))
        else:
            # Notes are built from clamped values (their channel is checked by the
            # track's setup messages) and sorted ticks: mido's per-field checks, a third
            # of the file's cost, have nothing to catch there.
            notes = event.type in ("note_on", "note_off")
            track.append(mido.Message(event.type, skip_checks=notes, time=delta, **event.fields))
        now = event.tick
    track.append(mido.MetaMessage("end_of_track", time=0))
    return track


def _note_events(channel: int, notes: list[tuple[int, float, float, int]]) -> list[_Event]:
    events: list[_Event] = []
    for pitch, start, duration, velocity in notes:
        on = _ticks(start)
        off = max(on + 1, _ticks(start + duration))
        p = max(0, min(127, pitch))
        v = max(1, min(127, velocity))
        events.append(_Event(on, 2, "note_on", {"channel": channel, "note": p, "velocity": v}))
        events.append(_Event(off, 0, "note_off", {"channel": channel, "note": p, "velocity": 0}))
    return events


def _lyric_text(note: VocalNote, next_note: VocalNote | None) -> str:
    continues = next_note is not None and next_note.word_index == note.word_index
    return note.syllable + ("-" if continues else "")


def _vocal_track(
    name: str, channel: int, notes: list[VocalNote], volume: float, pan: float
) -> mido.MidiTrack:
    notes = sorted(notes, key=lambda n: (n.start, n.pitch))
    events = _note_events(channel, [(n.pitch, n.start, n.duration, n.velocity) for n in notes])
    for i, n in enumerate(notes):
        nxt = notes[i + 1] if i + 1 < len(notes) else None
        text = _lyric_text(n, nxt)
        events.append(_Event(_ticks(n.start), 1, "lyrics", {"text": text}, meta=True))
    events += _setup(channel, _VOICE_PROGRAM, volume, pan)
    return _events_to_track(name, events)


def _setup(channel: int, program: int, volume: float, pan: float) -> list[_Event]:
    level = max(0, min(127, round(volume * 127)))
    position = max(0, min(127, round(64 + pan * 63)))
    return [
        _Event(0, -3, "program_change", {"channel": channel, "program": program}),
        _Event(0, -2, "control_change", {"channel": channel, "control": 7, "value": level}),
        _Event(0, -1, "control_change", {"channel": channel, "control": 10, "value": position}),
    ]


def build_midi(score: Score) -> mido.MidiFile:
    """The MIDI file object for a score (``write_midi`` saves it)."""
    mid = mido.MidiFile(type=1, ticks_per_beat=TICKS_PER_BEAT, charset="utf-8")
    conductor = mido.MidiTrack()
    conductor.append(mido.MetaMessage("track_name", name=score.title or "Cadenza", time=0))
    conductor.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(score.tempo_bpm)))
    conductor.append(
        mido.MetaMessage("time_signature", numerator=score.beats_per_bar, denominator=4)
    )
    conductor.append(
        mido.MetaMessage("key_signature", key=key_signature_name(score.key_root, score.mode))
    )
    conductor.append(mido.MetaMessage("end_of_track", time=_ticks(score.total_beats)))
    mid.tracks.append(conductor)

    used = {t.channel for t in score.tracks} | {9}
    free = [c for c in range(16) if c not in used]
    lead_notes = [n for part in score.vocals if part.stem == "Vocals" for n in part.notes]
    backing = [part for part in score.vocals if part.stem != "Vocals"]
    if lead_notes:
        channel = free.pop(0) if free else 15
        lead = next(p for p in score.vocals if p.stem == "Vocals")
        mid.tracks.append(_vocal_track("Vocals", channel, lead_notes, lead.volume, lead.pan))
    if backing:
        channel = free.pop(0) if free else 14
        notes = [n for part in backing for n in part.notes]
        mid.tracks.append(
            _vocal_track("Backing Vocals", channel, notes, backing[0].volume, backing[0].pan)
        )
    for track in score.tracks:
        channel = 9 if track.is_drum else track.channel
        events = _note_events(
            channel, [(n.pitch, n.start, n.duration, n.velocity) for n in track.notes]
        )
        events += _setup(channel, 0 if track.is_drum else track.program, track.volume, track.pan)
        mid.tracks.append(_events_to_track(track.name, events))
    return mid


def write_midi(score: Score, path: Path) -> None:
    """Write ``song.mid`` for a score."""
    path.parent.mkdir(parents=True, exist_ok=True)
    build_midi(score).save(str(path))
