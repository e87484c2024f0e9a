"""From lyric syllables to eSpeak text, and from eSpeak phonemes to sung syllables.

A sung syllable is an onset (consonants sung just before the beat), a vowel nucleus (held
for the note) and a coda (sung at the end of the note). eSpeak's syllable count for a word
can differ from the score's, so nuclei are matched to notes by position, never by text.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from pypinyin import Style, lazy_pinyin

from cadenza.compose.voice.espeak import Phone, speak

_VOWEL_START = set("aeiouyæøœɐɑɒɔəɘɚɛɜɝɞɤɨɪɯɵɶʉʊʌʏɷᵻ")
_SYLLABIC = "\u0329"
_PINYIN_VOICE = "cmn-latn-pinyin"
_VOICES = {
    "en": "en-us",
    "zh": _PINYIN_VOICE,
    "cmn": _PINYIN_VOICE,
    "es": "es",
    "fr": "fr",
    "de": "de",
    "it": "it",
    "pt": "pt",
    "ja": "ja",
    "ko": "ko",
    "ru": "ru",
}
_HUM = {"en-us": "ah", _PINYIN_VOICE: "a1"}
_NON_LETTER = re.compile(r"[^\w']|[\d_]", re.UNICODE)
_PINYIN_ITEM = re.compile(r"^[a-zü]+[1-5]?$")


def is_han(char: str) -> bool:
    """True for CJK ideographs (the scripts that go through pinyin)."""
    code = ord(char)
    return (
        0x4E00 <= code <= 0x9FFF
        or 0x3400 <= code <= 0x4DBF
        or 0x20000 <= code <= 0x2A6DF
        or 0xF900 <= code <= 0xFAFF
    )


def is_vowel(ipa: str) -> bool:
    """Whether an eSpeak IPA phoneme can carry a sung note (vowels, syllabic consonants)."""
    if not ipa:
        return False
    return ipa[0] in _VOWEL_START or _SYLLABIC in ipa


def voice_for(language: str) -> str:
    """The eSpeak voice that reads ``language``; unknown languages are read as English."""
    return _VOICES.get(language.lower().split("-")[0], "en-us")


def hum_text(voice: str) -> str:
    """Text that makes ``voice`` sing a plain open vowel."""
    return _HUM.get(voice, "a")


def _pinyin(text: str) -> list[str]:
    items: list[str] = []
    for item in lazy_pinyin(text, style=Style.TONE3, neutral_tone_with_five=True):
        cleaned = "".join(c for c in item.lower() if c.isalnum())
        cleaned = cleaned.replace("v", "ü")
        if cleaned and _PINYIN_ITEM.match(cleaned):
            items.append(cleaned)
        elif cleaned:
            letters = "".join(c for c in cleaned if c.isalpha() and c.isascii())
            if letters:
                items.append(letters)
    return items


def _letters(text: str) -> str:
    text = unicodedata.normalize("NFC", text)
    return _NON_LETTER.sub("", text).strip("'").lower()


def word_text(syllables: list[str], language: str) -> tuple[str, str]:
    """eSpeak text and voice for one sung word made of ``syllables``.

    Han characters anywhere switch the word to the pinyin voice (one character, one
    syllable); otherwise letters are joined so eSpeak coarticulates the whole word.
    Digits and punctuation are dropped; an empty result hums the vowel "a".
    """
    joined = "".join(syllables)
    voice = voice_for(language)
    if voice == _PINYIN_VOICE or any(is_han(c) for c in joined):
        items = _pinyin(joined)
        text = " ".join(items)
        return (text if text else hum_text(_PINYIN_VOICE)), _PINYIN_VOICE
    text = _letters(joined)
    return (text if text else hum_text(voice)), voice


@dataclass(frozen=True)
class SyllableSpan:
    """Sample positions in an utterance: onset start, vowel start, vowel end, coda end."""

    onset: int
    vowel_start: int
    vowel_end: int
    coda_end: int


def syllabify(phones: tuple[Phone, ...]) -> list[SyllableSpan]:
    """Split phonemes into syllables around vowel nuclei.

    Consonants between two nuclei go to the next onset, except that a pause (eSpeak's word
    boundary between Mandarin characters) splits there, and in clusters of two or more the
    first half closes the previous syllable.
    """
    nuclei = [i for i, p in enumerate(phones) if is_vowel(p.ipa)]
    if not nuclei:
        return []
    spoken = [i for i, p in enumerate(phones) if not p.is_pause]
    first, last = spoken[0], spoken[-1]
    bounds: list[tuple[int, int]] = []  # (coda end sample of a, onset start sample of b)
    for a, b in itertools.pairwise(nuclei):
        cluster = list(range(a + 1, b))
        pauses = [i for i in cluster if phones[i].is_pause]
        if pauses:
            bounds.append((phones[pauses[0]].start, phones[pauses[-1]].end))
            continue
        split = a + 1 + len(cluster) // 2
        at = phones[split].start if cluster else phones[b].start
        bounds.append((at, at))
    spans: list[SyllableSpan] = []
    for k, n in enumerate(nuclei):
        onset = phones[first].start if k == 0 else bounds[k - 1][1]
        coda_end = phones[last].end if k == len(nuclei) - 1 else bounds[k][0]
        onset = min(onset, phones[n].start)
        coda_end = max(coda_end, phones[n].end)
        spans.append(SyllableSpan(onset, phones[n].start, phones[n].end, coda_end))
    return spans


def fit_syllables(spans: list[SyllableSpan], count: int) -> list[SyllableSpan | None]:
    """Match eSpeak's syllables to ``count`` notes.

    Extra syllables are folded into the coda of the note that owns them; missing ones make
    the note a continuation of the previous vowel (``None``).
    """
    have = len(spans)
    if count <= 0 or have == 0:
        return [None] * max(count, 0)
    if have == count:
        return list(spans)
    if have > count:
        out: list[SyllableSpan | None] = []
        for j in range(count):
            lo, hi = j * have // count, (j + 1) * have // count
            head, tail = spans[lo], spans[hi - 1]
            out.append(SyllableSpan(head.onset, head.vowel_start, head.vowel_end, tail.coda_end))
        return out
    fitted: list[SyllableSpan | None] = []
    previous = -1
    for j in range(count):
        k = j * have // count
        fitted.append(spans[k] if k != previous else None)
        previous = k
    return fitted


@lru_cache(maxsize=256)
def phonemes_for(text: str, language: str) -> list[str]:
    """The IPA phonemes eSpeak NG speaks for ``text`` in ``language`` (pauses left out)."""
    phones: list[str] = []
    for word in text.split():
        if not _letters(word):
            continue
        spoken, voice = word_text([word], language)
        phones.extend(p.ipa for p in speak(spoken, voice).phones if not p.is_pause)
    return phones
