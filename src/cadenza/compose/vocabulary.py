"""The words the engine understands in style tags, for people choosing them (the web
console's suggestions): every genre's label, the moods and the instruments."""

from __future__ import annotations

from cadenza.compose.style import _INSTRUMENT_WORDS, GENRES, MOODS


def style_vocabulary() -> tuple[list[str], list[str], list[str]]:
    """(genres, moods, instruments), each sorted; genres as their tags would name them."""
    genres = sorted({g.label.lower() for g in GENRES.values()})
    return genres, sorted(MOODS), sorted(_INSTRUMENT_WORDS)
