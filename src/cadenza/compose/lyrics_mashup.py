"""Two songs' lyrics merged into one, section by section, the same way every time.

The verses take turns (A's first verse, B's first verse, ...), one chorus comes back
between the pairs, and the last chorus is sung as a duet of both songs' choruses, line by
line. Whichever song has an intro, a bridge or an outro lends it. Nothing is invented: every
sung line comes from one of the two lyrics.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import zip_longest

from cadenza.compose.lyrics import ParsedSection, parse_lyrics

_FRAMING = ("intro", "bridge", "outro")
_CHORUS = ("chorus", "postchorus")
MAX_TITLE = 80


@dataclass(frozen=True)
class Mashup:
    title: str
    text: str


def _lines(section: ParsedSection) -> list[str]:
    return [line.text for line in section.lines]


def _first(sections: list[ParsedSection], kind: str) -> list[str]:
    return next((_lines(s) for s in sections if s.kind == kind and s.lines), [])


def _verses(sections: list[ParsedSection]) -> list[list[str]]:
    """Every sung section that is neither a chorus nor framing (verses, pre-choruses)."""
    return [
        _lines(s) for s in sections if s.lines and s.kind not in _CHORUS and s.kind not in _FRAMING
    ]


def _duet(a: list[str], b: list[str]) -> list[str]:
    """Lines of the two choruses in turn, as long as the longer one."""
    merged: list[str] = []
    for left, right in zip_longest(a, b):
        merged.extend(line for line in (left, right) if line is not None)
    return merged


def _block(label: str, lines: list[str]) -> str:
    return "\n".join([f"[{label}]", *lines])


def _title(chorus: list[str], fallback: list[str]) -> str:
    line = (chorus or fallback or ["Mashup"])[0]
    words = line.strip(" ,.;:!?\"'").split()
    return " ".join(words)[:MAX_TITLE] or "Mashup"


def mashup_lyrics(lyrics_a: str, lyrics_b: str) -> Mashup:
    """One song's lyrics from two: A's chorus is the hook, the verses alternate."""
    a, b = parse_lyrics(lyrics_a), parse_lyrics(lyrics_b)
    chorus_a, chorus_b = _first(a, "chorus"), _first(b, "chorus")
    hook = chorus_a or chorus_b
    verses = [
        verse for pair in zip_longest(_verses(a), _verses(b)) for verse in pair if verse is not None
    ]
    blocks: list[str] = []
    intro = _first(a, "intro") or _first(b, "intro")
    if intro:
        blocks.append(_block("Intro", intro))
    for index, verse in enumerate(verses):
        blocks.append(_block(f"Verse {index + 1}", verse))
        # The hook after each pair of verses, unless the final chorus follows at once.
        if hook and index % 2 == 1 and index < len(verses) - 1:
            blocks.append(_block("Chorus", hook))
    bridge = _first(b, "bridge") or _first(a, "bridge")
    if bridge:
        blocks.append(_block("Bridge", bridge))
    final = _duet(chorus_a, chorus_b) if chorus_a and chorus_b else hook
    if final:
        blocks.append(_block("Final Chorus" if chorus_a and chorus_b else "Chorus", final))
    outro = _first(b, "outro") or _first(a, "outro")
    if outro:
        blocks.append(_block("Outro", outro))
    first_verse = verses[0] if verses else []
    return Mashup(title=_title(hook, first_verse), text="\n\n".join(blocks))
