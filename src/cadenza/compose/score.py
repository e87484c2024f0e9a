"""The score: everything a song is before it becomes sound.

The score is the single source of truth for a clip. Audio, stems, MIDI and lyric timings
are all derived from it, which is why they agree exactly. It serialises to plain JSON
(``score.json``) so a clip can be re-rendered, extended or covered later.

Times are in beats from the start of the song; one tempo per song keeps beat -> second
conversion exact (``Score.seconds``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

STEM_NAMES: tuple[str, ...] = (
    "Vocals",
    "Backing Vocals",
    "Drums",
    "Bass",
    "Guitar",
    "Keyboard",
    "Percussion",
    "Strings",
    "Synth",
    "FX",
    "Brass",
    "Woodwinds",
)

Gender = Literal["male", "female"]


@dataclass
class Note:
    """One instrument note. ``pitch`` is a MIDI number (GM drum key on drum tracks)."""

    pitch: int
    start: float
    duration: float
    velocity: int = 90


@dataclass
class Track:
    """One instrument part; ``stem`` is one of ``STEM_NAMES``."""

    name: str
    stem: str
    program: int
    notes: list[Note] = field(default_factory=list)
    is_drum: bool = False
    volume: float = 0.8
    pan: float = 0.0
    channel: int = 0


@dataclass
class VoiceSettings:
    """How a vocal part is sung: who sings and with what colour."""

    gender: Gender = "male"
    name: str = "default"
    formant_scale: float = 1.0
    vibrato_rate_hz: float = 5.5
    vibrato_depth_cents: float = 35.0
    breathiness: float = 0.0
    transpose: int = 0
    #: Who sings (``voice.sources.SINGERS``); "" is the eSpeak NG singer of older scores.
    singer: str = ""


@dataclass
class VocalNote:
    """One sung note carrying one syllable (``continues`` marks a melisma continuation)."""

    pitch: int
    start: float
    duration: float
    syllable: str
    word_index: int
    line_index: int
    section_index: int
    language: str = "en"
    velocity: int = 90
    continues: bool = False


@dataclass
class VocalPart:
    """A sung line: the lead (stem ``Vocals``) or harmonies/doubles (``Backing Vocals``)."""

    name: str
    stem: str
    voice: VoiceSettings
    notes: list[VocalNote] = field(default_factory=list)
    volume: float = 1.0
    pan: float = 0.0


@dataclass
class LyricWord:
    """A word of the lyrics as it is sung, with its exact place in the score."""

    text: str
    line_index: int
    section_index: int
    start: float
    end: float


@dataclass
class Chord:
    """A chord: root pitch class (0 = C), quality name, and its span in beats."""

    root: int
    quality: str
    start: float
    duration: float


@dataclass
class Section:
    """A part of the form (``kind`` = intro, verse, chorus, ...; ``label`` as written)."""

    kind: str
    label: str
    start_bar: int
    bars: int
    energy: float
    lines: list[str] = field(default_factory=list)


@dataclass
class Score:
    title: str
    tags: str
    seed: int
    genre: str
    tempo_bpm: float
    key_root: int
    mode: str
    beats_per_bar: int
    sections: list[Section]
    chords: list[Chord]
    tracks: list[Track]
    vocals: list[VocalPart]
    words: list[LyricWord]
    total_beats: float
    language: str = "en"
    instrumental: bool = False
    engine_version: str = "1"
    extra: dict[str, Any] = field(default_factory=dict)

    def seconds(self, beats: float) -> float:
        return beats * 60.0 / self.tempo_bpm

    @property
    def duration_s(self) -> float:
        return self.seconds(self.total_beats)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Score:
        d = dict(data)
        d["sections"] = [Section(**s) for s in d["sections"]]
        d["chords"] = [Chord(**c) for c in d["chords"]]
        d["tracks"] = [
            Track(**{**t, "notes": [Note(**n) for n in t["notes"]]}) for t in d["tracks"]
        ]
        d["vocals"] = [
            VocalPart(
                **{
                    **v,
                    "voice": VoiceSettings(**v["voice"]),
                    "notes": [VocalNote(**n) for n in v["notes"]],
                }
            )
            for v in d["vocals"]
        ]
        d["words"] = [LyricWord(**w) for w in d["words"]]
        return cls(**d)
