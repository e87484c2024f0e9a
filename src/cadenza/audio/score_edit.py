"""Edit a clip's timed files (``lyrics.json`` words, ``song.mid``) the way its audio was.

Every tool is a time map: the result plays pieces of one or more sources, each piece
``[start_s, end_s)`` of its source starting at ``dest_s`` in the result and played
``speed`` times faster. Crop keep is one piece, crop remove two, speed one scaled piece,
concat one piece per part. Applying the same map to the words and the notes keeps them
where they are heard.

Rules at the edges of a piece (a cut):

* a lyric word or a MIDI note is kept when it *starts* inside a piece, and its end is
  clipped to the piece's end. One cut off at its start (its onset is not heard) is
  dropped: a note-on at the cut would be an attack the audio does not have, and the
  words stay those of the Vocals notes;
* other instantaneous events (lyric syllables, text, controller moves) are kept when
  inside a piece; the program, controllers, bend, key and time signature in effect where
  a piece starts are written again where it lands, so each piece sounds as it did;
* a speed change divides every time and scales the tempo, so notes keep their beats;
  played like a tape (pitch not kept), pitched notes move by the nearest semitone and a
  pitch bend carries the rest (drums do not move).

``score.json`` is not edited (a score is in beats and bars, which a cut at an arbitrary
second does not keep), so edited clips carry lyrics and MIDI but no score.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import mido

DEFAULT_TEMPO = 500_000  # microseconds per beat: MIDI's 120 bpm
DRUM_CHANNEL = 9
#: Semitones a full pitch-wheel swing bends: the General MIDI default.
BEND_RANGE = 2.0
_EPS = 1e-6
_STATE_TYPES = ("program_change", "control_change", "pitchwheel")
_CJK = ("zh", "ja", "cmn", "yue")


@dataclass(frozen=True)
class Piece:
    """Source time ``[start_s, end_s)`` plays at result time ``dest_s``, ``speed``x faster."""

    start_s: float
    end_s: float
    dest_s: float
    speed: float = 1.0

    def to_dest(self, t: float) -> float:
        return self.dest_s + (t - self.start_s) / self.speed

    def holds(self, t: float) -> bool:
        return self.start_s - _EPS <= t < self.end_s - _EPS


# -- time maps of the tools --------------------------------------------------------------


def crop_keep_map(start_s: float, end_s: float) -> list[Piece]:
    return [Piece(start_s, end_s, 0.0)]


def crop_remove_map(start_s: float, end_s: float, length_s: float) -> list[Piece]:
    return [Piece(0.0, start_s, 0.0), Piece(end_s, max(end_s, length_s), start_s)]


def speed_map(multiplier: float, length_s: float) -> list[Piece]:
    return [Piece(0.0, length_s, 0.0, multiplier)]


def concat_maps(used_s: Sequence[float]) -> list[list[Piece]]:
    """One map per part, each part used for ``used_s`` seconds and starting where the
    previous one stopped (the crossfade is inside the next part, so it moves nothing)."""
    maps: list[list[Piece]] = []
    at = 0.0
    for used in used_s:
        maps.append([Piece(0.0, used, at)])
        at += used
    return maps


# -- lyrics ------------------------------------------------------------------------------


def edit_words(words: Iterable[Mapping[str, Any]], pieces: Sequence[Piece]) -> list[dict[str, Any]]:
    """The words heard in the result, with their times mapped (see the module's rules)."""
    out: list[dict[str, Any]] = []
    for word in words:
        try:
            start = float(word["start_s"])
            end = float(word.get("end_s", start))
        except (KeyError, TypeError, ValueError):
            continue
        piece = next((p for p in pieces if p.holds(start)), None)
        if piece is None:
            continue
        edited = dict(word)
        edited["start_s"] = round(piece.to_dest(start), 4)
        edited["end_s"] = round(piece.to_dest(max(start, min(end, piece.end_s))), 4)
        out.append(edited)
    return out


def _renumber_lines(words: list[dict[str, Any]]) -> None:
    """Lines count from 0 in sung order, so cut or joined lyrics keep distinct lines."""
    numbers: dict[tuple[int, Any], int] = {}
    for word in words:
        key = (int(word.get("_part", 0)), word.get("line", 0))
        word["line"] = numbers.setdefault(key, len(numbers))
        word.pop("_part", None)


def _text_of(words: list[dict[str, Any]], language: str) -> str:
    joiner = "" if language.split("-")[0].lower() in _CJK else " "
    lines: dict[int, list[str]] = {}
    for word in words:
        lines.setdefault(int(word["line"]), []).append(str(word.get("word", "")))
    return "\n".join(joiner.join(line) for line in lines.values())


def edit_lyrics(
    sources: Sequence[tuple[Mapping[str, Any], Sequence[Piece]]],
) -> dict[str, Any]:
    """A ``lyrics.json`` document for the result of ``sources`` (document, time map).

    The written lyrics are kept when every word of every source survives (a speed change,
    a join); otherwise they are the heard words, one line per sung line.
    """
    first = sources[0][0]
    words: list[dict[str, Any]] = []
    whole = True
    texts: list[str] = []
    for index, (doc, pieces) in enumerate(sources):
        given = [w for w in doc.get("words") or [] if isinstance(w, Mapping)]
        kept = edit_words(given, pieces)
        whole = whole and len(kept) == len(given)
        for word in kept:
            word["_part"] = index
        words.extend(kept)
        text = doc.get("lyrics")
        if isinstance(text, str) and text.strip():
            texts.append(text.strip())
    words.sort(key=lambda w: (float(w["start_s"]), float(w["end_s"])))
    _renumber_lines(words)
    language = str(first.get("language") or "en")
    out = {k: v for k, v in first.items() if k not in ("words", "lyrics")}
    out["lyrics"] = "\n\n".join(texts) if whole else _text_of(words, language)
    out["words"] = words
    return out


# -- MIDI --------------------------------------------------------------------------------


@dataclass
class _Note:
    start: float
    end: float
    channel: int
    note: int
    velocity: int
    off_velocity: int


@dataclass
class _Track:
    name: str
    notes: list[_Note] = field(default_factory=list)
    # (seconds, message) for everything but notes, tempo and end of track.
    events: list[tuple[float, mido.Message | mido.MetaMessage]] = field(default_factory=list)


@dataclass
class _Song:
    ticks_per_beat: int
    tempos: list[tuple[float, int]]  # (seconds, microseconds per beat), sorted
    tracks: list[_Track]


class _Clock:
    """Ticks <-> seconds over a tempo map given in ticks or in seconds."""

    def __init__(self, ticks_per_beat: int, changes: list[tuple[float, float, int]]) -> None:
        # (tick, second, tempo) at every change, starting at 0.
        self.tpb = ticks_per_beat
        self.changes = changes

    @classmethod
    def from_ticks(cls, tpb: int, tempos: list[tuple[int, int]]) -> _Clock:
        changes: list[tuple[float, float, int]] = [(0.0, 0.0, DEFAULT_TEMPO)]
        for tick, tempo in sorted(tempos):
            last_tick, last_s, last_tempo = changes[-1]
            at = last_s + (tick - last_tick) * last_tempo / 1e6 / tpb
            if tick == last_tick:
                changes[-1] = (float(tick), at, tempo)
            else:
                changes.append((float(tick), at, tempo))
        return cls(tpb, changes)

    @classmethod
    def from_seconds(cls, tpb: int, tempos: list[tuple[float, int]]) -> _Clock:
        changes: list[tuple[float, float, int]] = [(0.0, 0.0, DEFAULT_TEMPO)]
        for second, tempo in sorted(tempos, key=lambda x: x[0]):
            last_tick, last_s, last_tempo = changes[-1]
            tick = last_tick + (second - last_s) * 1e6 / last_tempo * tpb
            if second - last_s < _EPS:
                changes[-1] = (last_tick, last_s, tempo)
            else:
                changes.append((tick, second, tempo))
        return cls(tpb, changes)

    def seconds(self, tick: int) -> float:
        tick0, s0, tempo = next(c for c in reversed(self.changes) if c[0] <= tick)
        return s0 + (tick - tick0) * tempo / 1e6 / self.tpb

    def ticks(self, seconds: float) -> int:
        tick0, s0, tempo = next(
            (c for c in reversed(self.changes) if c[1] <= seconds + _EPS), self.changes[0]
        )
        return max(0, round(tick0 + (seconds - s0) * 1e6 / tempo * self.tpb))

    def tempos(self) -> list[tuple[float, int]]:
        return [(s, tempo) for _, s, tempo in self.changes]


def _read(mid: mido.MidiFile) -> _Song:
    tempos: list[tuple[int, int]] = []
    for track in mid.tracks:
        tick = 0
        for msg in track:
            tick += msg.time
            if msg.type == "set_tempo":
                tempos.append((tick, int(msg.tempo)))
    clock = _Clock.from_ticks(mid.ticks_per_beat, tempos)
    tracks: list[_Track] = []
    for index, track in enumerate(mid.tracks):
        out = _Track(name=f"Track {index}")
        held: dict[tuple[int, int], list[tuple[float, int]]] = {}
        tick = 0
        for msg in track:
            tick += msg.time
            at = clock.seconds(tick)
            if msg.type == "track_name":
                out.name = str(msg.name)
            elif msg.type in ("set_tempo", "end_of_track"):
                continue
            elif msg.type == "note_on" and msg.velocity > 0:
                held.setdefault((msg.channel, msg.note), []).append((at, msg.velocity))
            elif msg.type in ("note_on", "note_off"):
                started = held.get((msg.channel, msg.note))
                if started:
                    begin, velocity = started.pop(0)
                    off = msg.velocity if msg.type == "note_off" else 0
                    out.notes.append(_Note(begin, at, msg.channel, msg.note, velocity, off))
            else:
                out.events.append((at, msg))
        end = clock.seconds(tick)
        for (channel, note), started in held.items():
            for begin, velocity in started:
                out.notes.append(_Note(begin, end, channel, note, velocity, 0))
        tracks.append(out)
    return _Song(mid.ticks_per_beat, clock.tempos(), tracks)


_INSTANT_META = ("lyrics", "text", "marker", "cue_marker")


def _state_key(msg: mido.Message | mido.MetaMessage) -> tuple[Any, ...] | None:
    """What a message sets that lasts (program, controller, key...), or None for events."""
    if msg.is_meta:
        return None if msg.type in _INSTANT_META else (msg.type,)
    if msg.type in _STATE_TYPES:
        return (msg.type, msg.channel, getattr(msg, "control", None))
    if msg.type == "sysex":
        return ("sysex", tuple(msg.data))
    return None


def _bend(msg: mido.Message | mido.MetaMessage, offset: int) -> mido.Message | mido.MetaMessage:
    if offset and msg.type == "pitchwheel" and msg.channel != DRUM_CHANNEL:
        return msg.copy(pitch=max(-8192, min(8191, msg.pitch + offset)))
    return msg


def _order(msg: mido.Message | mido.MetaMessage) -> int:
    """Order of events on one tick: setup, note-offs, syllables and text, note-ons."""
    if msg.type == "note_off":
        return 0
    if msg.type == "note_on":
        return 2
    return -5 if _state_key(msg) is not None else 1


def _piece_tempos(song: _Song, piece: Piece) -> list[tuple[float, int]]:
    current = DEFAULT_TEMPO
    inside: list[tuple[float, int]] = []
    for at, tempo in song.tempos:
        if at <= piece.start_s + _EPS:
            current = tempo
        elif at < piece.end_s - _EPS:
            inside.append((piece.to_dest(at), tempo))
    return [(at, max(1, round(t / piece.speed))) for at, t in [(piece.dest_s, current), *inside]]


def _tempo_map(tempos: list[tuple[float, int]]) -> list[tuple[float, int]]:
    """Sorted, one tempo per instant (the piece placed last wins), no repeats."""
    by_time: dict[float, int] = {}
    for at, tempo in tempos:
        by_time[round(at, 6)] = tempo
    out: list[tuple[float, int]] = []
    for at in sorted(by_time):
        if not out or out[-1][1] != by_time[at]:
            out.append((at, by_time[at]))
    return out


Placed = list[tuple[int, int, mido.Message | mido.MetaMessage]]


def _place_notes(
    notes: list[_Note], pieces: Sequence[Piece], clock: _Clock, steps: int, out: Placed
) -> set[int]:
    """Add the heard notes to ``out``; returns the pitched channels used."""
    channels: set[int] = set()
    for note in notes:
        piece = next((p for p in pieces if p.holds(note.start)), None)
        if piece is None:
            continue
        pitch = note.note
        if note.channel != DRUM_CHANNEL:
            pitch = max(0, min(127, pitch + steps))
            channels.add(note.channel)
        on = clock.ticks(piece.to_dest(note.start))
        off = max(on + 1, clock.ticks(piece.to_dest(min(note.end, piece.end_s))))
        channel, velocity = note.channel, note.velocity
        out.append((on, 2, mido.Message("note_on", channel=channel, note=pitch, velocity=velocity)))
        release = mido.Message("note_off", channel=channel, note=pitch, velocity=note.off_velocity)
        out.append((off, 0, release))
    return channels


def _place_events(
    events: list[tuple[float, mido.Message | mido.MetaMessage]],
    pieces: Sequence[Piece],
    clock: _Clock,
    bend: int,
    out: Placed,
) -> None:
    for piece in pieces:
        state: dict[tuple[Any, ...], mido.Message | mido.MetaMessage] = {}
        for at, msg in events:
            key = _state_key(msg)
            if key is not None and at < piece.start_s - _EPS:
                state[key] = msg
        start = clock.ticks(piece.dest_s)
        out.extend((start, -5, _bend(msg, bend)) for msg in state.values())
        for at, msg in events:
            if piece.holds(at):
                out.append((clock.ticks(piece.to_dest(at)), _order(msg), _bend(msg, bend)))


def _to_track(events: Placed, end_tick: int) -> mido.MidiTrack:
    """Sorted into delta times, settings that change nothing dropped, then end of track."""
    track = mido.MidiTrack()
    state: dict[tuple[Any, ...], mido.Message | mido.MetaMessage] = {}
    now = 0
    for tick, _, msg in sorted(events, key=lambda e: (e[0], e[1])):
        key = _state_key(msg)
        if key is not None and msg.type != "track_name":
            plain = msg.copy(time=0)
            if key in state and state[key] == plain:
                continue
            state[key] = plain
        track.append(msg.copy(time=tick - now))
        now = tick
    track.append(mido.MetaMessage("end_of_track", time=max(0, end_tick - now)))
    return track


def edit_midi(
    sources: Sequence[tuple[mido.MidiFile, Sequence[Piece]]],
    length_s: float,
    *,
    semitones: float = 0.0,
) -> mido.MidiFile:
    """The MIDI of the result of ``sources`` (file, time map), ``length_s`` long.

    Tracks are merged by name across sources (track 0, the conductor, with track 0).
    ``semitones`` transposes pitched notes (not drums): the nearest whole step moves the
    notes and the rest is a pitch bend on every pitched channel, exact for players that
    keep the General MIDI bend range of +-2 semitones.
    """
    songs = [(_read(mid), pieces) for mid, pieces in sources]
    tpb = songs[0][0].ticks_per_beat
    tempos = [t for song, pieces in songs for piece in pieces for t in _piece_tempos(song, piece)]
    tempo_map = _tempo_map(tempos)
    clock = _Clock.from_seconds(tpb, tempo_map)
    steps = round(semitones)
    bend = round((semitones - steps) / BEND_RANGE * 8192)

    merged: dict[str, Placed] = {}
    for song, pieces in songs:
        for index, track in enumerate(song.tracks):
            key = "" if index == 0 else track.name
            if key not in merged:
                merged[key] = [(0, -10, mido.MetaMessage("track_name", name=track.name))]
            events = merged[key]
            pitched = _place_notes(track.notes, pieces, clock, steps, events)
            if bend:
                wheels = (mido.Message("pitchwheel", channel=c, pitch=bend) for c in pitched)
                events.extend((0, -6, wheel) for wheel in wheels)
            _place_events(track.events, pieces, clock, bend, events)
    merged.setdefault("", [])
    merged[""].extend(
        (clock.ticks(at), -6, mido.MetaMessage("set_tempo", tempo=tempo)) for at, tempo in tempo_map
    )
    mid = mido.MidiFile(type=1, ticks_per_beat=tpb, charset="utf-8")
    end_tick = clock.ticks(length_s)
    for events in merged.values():
        mid.tracks.append(_to_track(events, end_tick))
    return mid
