"""Hand-written scores for the engine's render tests (short: 12-16 s)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from cadenza.compose.score import (
    Chord,
    LyricWord,
    Note,
    Score,
    Section,
    Track,
    VocalNote,
    VocalPart,
    VoiceSettings,
)

# A I-V-vi-IV progression in C; one chord per bar.
_ROOTS = (0, 7, 9, 5)
_QUALITIES = ("maj", "maj", "min", "maj")
_LINE = ("sing", "a", "song", "of", "sun", "and", "sky", "to", "night")
_MELODY = (64, 65, 67, 67, 69, 67, 65, 64, 62)


def _chord_pitches(root: int, quality: str) -> list[int]:
    third = 3 if quality == "min" else 4
    return [48 + root, 48 + root + third, 48 + root + 7]


def build_score(
    bars: int = 6,
    tempo: float = 120.0,
    *,
    vocals: bool = True,
    backing: bool = True,
    gender: str = "male",
    seed: int = 7,
) -> Score:
    beats = 4
    total = bars * beats
    drums = Track("Drums", "Drums", 0, is_drum=True, volume=0.9)
    bass = Track("Bass", "Bass", 33, volume=0.85, channel=1)
    keys = Track("Piano", "Keyboard", 0, volume=0.7, pan=-0.2, channel=2)
    chords: list[Chord] = []
    for bar in range(bars):
        start = float(bar * beats)
        root, quality = _ROOTS[bar % 4], _QUALITIES[bar % 4]
        chords.append(Chord(root, quality, start, float(beats)))
        for beat in range(beats):
            at = start + beat
            drums.notes.append(Note(36 if beat % 2 == 0 else 38, at, 0.25, 100))
            drums.notes.append(Note(42, at, 0.25, 70))
            drums.notes.append(Note(42, at + 0.5, 0.25, 60))
            bass.notes.append(Note(36 + root, at, 0.9, 95))
        for pitch in _chord_pitches(root, quality):
            keys.notes.append(Note(pitch, start, 3.9, 75))
    parts: list[VocalPart] = []
    words: list[LyricWord] = []
    if vocals:
        voice = VoiceSettings(gender=gender)  # type: ignore[arg-type]
        lead = VocalPart("Lead", "Vocals", voice)
        harmony = VocalPart("Harmony", "Backing Vocals", voice, volume=0.6, pan=0.3)
        for line in range(max(1, (bars - 2) // 2)):
            line_start = 8.0 + line * 8.0
            for i, (word, pitch) in enumerate(zip(_LINE, _MELODY, strict=True)):
                at = line_start + i * 0.75
                if at + 0.7 > total:
                    break
                lead.notes.append(
                    VocalNote(pitch - 12 if gender == "male" else pitch, at, 0.7, word, i, line, 1)
                )
                harmony.notes.append(
                    VocalNote(
                        pitch - 8 if gender == "male" else pitch + 4, at, 0.7, word, i, line, 0
                    )
                )
                words.append(LyricWord(word, line, 1, at, at + 0.7))
        parts.append(lead)
        if backing:
            parts.append(harmony)
    return Score(
        title="Sun and Sky",
        tags="pop, upbeat",
        seed=seed,
        genre="pop",
        tempo_bpm=tempo,
        key_root=0,
        mode="major",
        beats_per_bar=beats,
        sections=[
            Section("intro", "Intro", 0, 2, 0.4),
            Section("verse", "Verse", 2, bars - 2, 0.6, [" ".join(_LINE)]),
        ],
        chords=chords,
        tracks=[drums, bass, keys],
        vocals=parts,
        words=words,
        total_beats=float(total),
        instrumental=not vocals,
    )


@pytest.fixture(scope="session")
def make_score() -> Callable[..., Score]:
    return build_score
