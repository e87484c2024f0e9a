"""Content rules a music request must pass before it is charged, with upstream's messages.

Four operator-editable lists (artist names, producer tags, inappropriate words, lines of
copyrighted lyrics) are checked against the description, the style tags, the title and the
lyrics; a hit refuses the request with the text Suno (and AceData after it) answers, e.g.
``Song Description contained artist name: eminem``.

Matching is whole-word and case-insensitive after NFKC normalisation, so "Drake's" and
"ＤＲＡＫＥ" hit "Drake" but "drakes" and "mandrake" do not. Scripts written without spaces
(Chinese, Japanese, Korean, Thai) have no word boundaries, so entries in them match anywhere.
Each list is one compiled pattern: a check is a handful of regex scans.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

from cadenza.domain.errors import Forbidden

#: The list files, in ``moderation_lists/`` of the package and in an operator's directory.
LIST_FILES = {
    "artists": "artists.txt",
    "producer_tags": "producer_tags.txt",
    "inappropriate": "inappropriate.txt",
    "copyrighted_lyrics": "copyrighted_lyrics.txt",
}

DESCRIPTION_ARTIST = "Song Description contained artist name: {name}"
TAGS_ARTIST = "Tags contained artist name"
DESCRIPTION_PRODUCER_TAG = "Song Description contained producer tag"
INAPPROPRIATE = "Prompt contained inappropriate material"
COPYRIGHTED_LYRICS = "Lyrics contained copyrighted material"


class ContentRejected(Forbidden):
    """A request moderation refused (403 ``forbidden`` in the AceData dialect)."""


# Scripts written without spaces between words: an entry in them matches anywhere.
_SPACELESS = (
    (0x0E00, 0x0EFF),  # Thai, Lao
    (0x1100, 0x11FF),  # Hangul Jamo
    (0x2E80, 0x9FFF),  # CJK radicals ... CJK unified ideographs (kana included)
    (0xAC00, 0xD7AF),  # Hangul syllables
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0xFF66, 0xFF9F),  # half-width katakana
    (0x20000, 0x3FFFF),  # CJK extensions
)


def _spaceless(ch: str) -> bool:
    point = ord(ch)
    return any(low <= point <= high for low, high in _SPACELESS)


def normalize(text: str) -> str:
    """NFKC (full-width letters, ligatures) and case-folded, as entries are compared."""
    return unicodedata.normalize("NFKC", text).casefold()


def _entry_pattern(entry: str) -> str:
    words = entry.split()
    body = r"\s+".join(re.escape(w) for w in words)
    head = "" if not entry[0].isalnum() or _spaceless(entry[0]) else r"(?<!\w)"
    tail = "" if not entry[-1].isalnum() or _spaceless(entry[-1]) else r"(?!\w)"
    return f"{head}{body}{tail}"


class WordList:
    """One list compiled into a single pattern; ``find`` answers the entry that matched."""

    def __init__(self, entries: Iterable[str]) -> None:
        by_form: dict[str, str] = {}
        for entry in entries:
            entry = " ".join(entry.split())
            if entry:
                by_form.setdefault(normalize(entry), entry)
        self.entries: tuple[str, ...] = tuple(by_form.values())
        self._by_form = by_form
        # Longest first, so "Taylor Swift" is reported rather than a shorter entry inside it.
        forms = sorted(by_form, key=len, reverse=True)
        self._pattern = (
            re.compile("|".join(f"({_entry_pattern(f)})" for f in forms)) if forms else None
        )
        self._forms = forms

    def __len__(self) -> int:
        return len(self.entries)

    def find(self, text: str | None) -> str | None:
        """The first entry found in ``text`` (as the list writes it), or None."""
        if not text or self._pattern is None:
            return None
        match = self._pattern.search(normalize(text))
        if match is None:
            return None
        index = match.lastindex
        assert index is not None
        return self._by_form[self._forms[index - 1]]


def read_list(text: str) -> list[str]:
    """One entry a line; blank lines and lines starting with ``#`` are skipped."""
    return [
        ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")
    ]


@dataclass(frozen=True)
class Verdict:
    """Why a request was refused: the message clients are shown."""

    message: str


class Moderator:
    """The four lists, compiled once; ``check`` raises, ``review`` answers a verdict."""

    def __init__(
        self,
        *,
        artists: Iterable[str] = (),
        producer_tags: Iterable[str] = (),
        inappropriate: Iterable[str] = (),
        copyrighted_lyrics: Iterable[str] = (),
    ) -> None:
        self.artists = WordList(artists)
        self.producer_tags = WordList(producer_tags)
        self.inappropriate = WordList(inappropriate)
        self.copyrighted_lyrics = WordList(copyrighted_lyrics)

    @classmethod
    def load(cls, directory: str | Path | None = None) -> Moderator:
        """The shipped lists, each replaced by the same-named file of ``directory`` where
        it has one (an empty file turns that list off)."""
        lists: dict[str, list[str]] = {}
        for name, filename in LIST_FILES.items():
            override = Path(directory) / filename if directory else None
            if override is not None and override.is_file():
                text = override.read_text(encoding="utf-8")
            else:
                text = default_list_text(filename)
            lists[name] = read_list(text)
        return cls(**lists)

    def review(
        self,
        *,
        description: str | None = None,
        tags: str | None = None,
        lyrics: str | None = None,
        title: str | None = None,
    ) -> Verdict | None:
        """The first rule broken, in the order upstream checks them, or None."""
        for text in (description, tags, title, lyrics):
            if self.inappropriate.find(text) is not None:
                return Verdict(INAPPROPRIATE)
        name = self.artists.find(description)
        if name is not None:
            return Verdict(DESCRIPTION_ARTIST.format(name=name.lower()))
        if self.artists.find(tags) is not None:
            return Verdict(TAGS_ARTIST)
        for text in (description, lyrics):
            if self.producer_tags.find(text) is not None:
                return Verdict(DESCRIPTION_PRODUCER_TAG)
        if self.copyrighted_lyrics.find(lyrics) is not None:
            return Verdict(COPYRIGHTED_LYRICS)
        return None

    def check(
        self,
        *,
        description: str | None = None,
        tags: str | None = None,
        lyrics: str | None = None,
        title: str | None = None,
    ) -> None:
        """Raises ``ContentRejected`` with upstream's message when a rule is broken."""
        verdict = self.review(description=description, tags=tags, lyrics=lyrics, title=title)
        if verdict is not None:
            raise ContentRejected(verdict.message)


def default_list_text(filename: str) -> str:
    """A list as shipped in the package (``moderation_lists/<filename>``)."""
    package = resources.files("cadenza.domain").joinpath("moderation_lists", filename)
    return package.read_text(encoding="utf-8")


@lru_cache(maxsize=8)
def moderator_for(directory: str = "") -> Moderator:
    """One compiled moderator per lists directory (``""``: the shipped lists)."""
    return Moderator.load(directory or None)
