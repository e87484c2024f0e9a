"""Short phrases shared by the singing-voice tests."""

from __future__ import annotations

from cadenza.compose.score import VocalNote, VocalPart, VoiceSettings

TEMPO = 120.0
BEAT_S = 60.0 / TEMPO
RATE = 44100


def make_part(
    syllables: list[tuple[str, int]],
    pitches: list[int],
    beats: list[float],
    language: str = "en",
    voice: VoiceSettings | None = None,
    rests_after: dict[int, float] | None = None,
) -> VocalPart:
    """A part from (syllable, word_index) pairs, one note each, back to back."""
    notes: list[VocalNote] = []
    t = 1.0
    for i, ((text, word), pitch, length) in enumerate(zip(syllables, pitches, beats, strict=True)):
        notes.append(
            VocalNote(
                pitch=pitch,
                start=t,
                duration=length,
                syllable=text,
                word_index=word,
                line_index=0,
                section_index=0,
                language=language,
            )
        )
        t += length + (rests_after or {}).get(i, 0.0)
    return VocalPart("lead", "Vocals", voice or VoiceSettings(), notes)


def english_part(voice: VoiceSettings | None = None, base: int = 50) -> VocalPart:
    words = [("sun", 0), ("light", 1), ("on", 2), ("the", 3), ("wa", 4), ("ter", 4)]
    words += [("beau", 5), ("ti", 5), ("ful", 5), ("day", 6)]
    steps = [0, 2, 4, 5, 4, 2, 0, 2, 4, 0]
    beats = [1.0, 1.0, 0.5, 0.5, 1.0, 1.0, 0.5, 0.5, 1.0, 1.5]
    return make_part(words, [base + s for s in steps], beats, "en", voice, rests_after={5: 1.0})


def mandarin_part(voice: VoiceSettings | None = None, base: int = 62) -> VocalPart:
    text = "我们一起唱歌吧"
    words = [(c, i // 2) for i, c in enumerate(text)]
    steps = [0, 2, 4, 2, 0, -3, 0]
    beats = [1.0, 0.5, 0.5, 1.5, 1.0, 1.0, 1.5]
    female = voice or VoiceSettings(gender="female")
    return make_part(words, [base + s for s in steps], beats, "zh", female)


def part_seconds(part: VocalPart) -> float:
    end = max(n.start + n.duration for n in part.notes)
    return end * BEAT_S + 0.5
