"""Pitch arithmetic: scales, diatonic chords, voicings and nearest-pitch searches."""

from __future__ import annotations

from functools import lru_cache

from cadenza.compose.style import MODES

CHORD_INTERVALS: dict[str, tuple[int, ...]] = {
    "maj": (0, 4, 7),
    "min": (0, 3, 7),
    "dim": (0, 3, 6),
    "aug": (0, 4, 8),
    "maj7": (0, 4, 7, 11),
    "min7": (0, 3, 7, 10),
    "7": (0, 4, 7, 10),
    "m7b5": (0, 3, 6, 10),
    "5": (0, 7),
    "sus2": (0, 2, 7),
    "sus4": (0, 5, 7),
}

NOTE_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")

# how far the mode's tonic sits above its parent major scale
_MODE_OFFSET = {"major": 0, "dorian": 2, "phrygian": 4, "mixolydian": 7, "minor": 9}


def triad_quality(mode: str, degree: int) -> str:
    """The diatonic triad on a 1-based scale degree of the mode."""
    scale = MODES[mode]
    i = (degree - 1) % 7
    root = scale[i]
    third = (scale[(i + 2) % 7] - root) % 12
    fifth = (scale[(i + 4) % 7] - root) % 12
    if third == 4:
        return "aug" if fifth == 8 else "maj"
    return "dim" if fifth == 6 else "min"


def chord_quality(mode: str, degree: int, color: str) -> str:
    """Quality for a degree under a genre's chord colour (triad, seventh, dominant, ...)."""
    triad = triad_quality(mode, degree)
    if color == "power":
        return "5"
    if color == "dominant":
        return "7" if triad in ("maj", "aug") else ("min7" if triad == "min" else "m7b5")
    if color == "seventh":
        scale = MODES[mode]
        i = (degree - 1) % 7
        seventh = (scale[(i + 6) % 7] - scale[i]) % 12
        if triad == "maj":
            return "maj7" if seventh == 11 else "7"
        if triad == "min":
            return "min7"
        return "m7b5" if triad == "dim" else triad
    if color == "sus" and degree in (1, 4, 5) and triad == "maj":
        return "sus2"
    return triad


def degree_root(key_root: int, mode: str, degree: int) -> int:
    return (key_root + MODES[mode][(degree - 1) % 7]) % 12


def chord_pcs(root: int, quality: str) -> list[int]:
    return [(root + iv) % 12 for iv in CHORD_INTERVALS[quality]]


def melody_chord_pcs(root: int, quality: str) -> list[int]:
    """Chord tones a melody may land on: power and sus chords count as their triads' tones."""
    if quality == "5":
        return [root % 12, (root + 7) % 12]
    if quality.startswith("sus"):
        return [(root + iv) % 12 for iv in (0, 2, 7)]
    return chord_pcs(root, quality)[:3]


def scale_pcs(key_root: int, mode: str, melody_scale: str = "diatonic") -> list[int]:
    steps: tuple[int, ...]
    if melody_scale == "pentatonic":
        steps = (0, 2, 4, 7, 9) if mode in ("major", "mixolydian") else (0, 3, 5, 7, 10)
    elif melody_scale == "blues":
        steps = (0, 3, 5, 7, 10) if mode != "major" else (0, 2, 4, 7, 9)
    else:
        steps = MODES[mode]
    return sorted((key_root + s) % 12 for s in steps)


def pitches_in(pcs: list[int], low: int, high: int) -> list[int]:
    pcset = set(pcs)
    return [p for p in range(low, high + 1) if p % 12 in pcset]


def nearest(candidates: list[int], target: float) -> int:
    return min(candidates, key=lambda p: (abs(p - target), p))


def fold(pitch: int, low: int, high: int) -> int:
    """Move a pitch by octaves into [low, high] (clamping if the range is under an octave)."""
    while pitch < low:
        pitch += 12
    while pitch > high:
        pitch -= 12
    return max(low, min(high, pitch))


def voice_chord(
    pcs: list[int], low: int, high: int, previous: list[int] | None, size: int = 4
) -> list[int]:
    """A close voicing of the chord tones near the previous voicing (smooth voice leading)."""
    return list(_voice_chord(tuple(pcs), low, high, tuple(previous) if previous else None, size))


@lru_cache(maxsize=4096)
def _voice_chord(
    pcs: tuple[int, ...], low: int, high: int, previous: tuple[int, ...] | None, size: int
) -> tuple[int, ...]:
    centre = sum(previous) / len(previous) if previous else (low + high) / 2
    best: list[int] = []
    best_cost = float("inf")
    for bottom in range(low, min(high, low + 24)):
        if bottom % 12 not in pcs:
            continue
        voicing = [bottom]
        idx = pcs.index(bottom % 12)
        p = bottom
        while len(voicing) < min(size, len(pcs) + 1):
            idx = (idx + 1) % len(pcs)
            nxt = p + 1
            while nxt % 12 != pcs[idx]:
                nxt += 1
            if nxt > high:
                break
            voicing.append(nxt)
            p = nxt
        if len(voicing) < min(3, len(pcs)):
            continue
        mean = sum(voicing) / len(voicing)
        cost = abs(mean - centre)
        if previous:
            cost += 0.3 * sum(min(abs(v - q) for q in previous) for v in voicing)
        if cost < best_cost:
            best, best_cost = voicing, cost
    if not best:
        best = [fold(pcs[0] + 48, low, high)]
    return tuple(best)


def key_signature_name(key_root: int, mode: str) -> str:
    """A key name MIDI tools accept: minor modes as their minor, others as the parent major."""
    if mode == "minor":
        names = ("Cm", "C#m", "Dm", "Ebm", "Em", "Fm", "F#m", "Gm", "G#m", "Am", "Bbm", "Bm")
        return names[key_root % 12]
    parent = (key_root - _MODE_OFFSET.get(mode, 0)) % 12
    names_major = ("C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
    return names_major[parent]
