"""Lyrics text -> sections, lines, words and sung syllables (with stress).

Section marks are ``[Name]`` / ``【Name】`` / ``(Name)`` lines in any case, numbered or not
("[VERSE 2]", "[Chorus x2]", "[Verse 1: Female]"). Known names map to a kind (intro, verse,
prechorus, chorus, postchorus, bridge, instrumental, outro); anything else is sung as a
verse, or played as an instrumental break when it has no lines. Lines before any mark form
a verse.

Syllables: English uses vowel-group rules with silent-e/-ed/-es handling, consonant-cluster
splitting and an exception list, and a stress heuristic (function words weak, prefixes and
common suffixes unstressed). Mandarin (and other Han/kana/hangul text) is one syllable per
character. Spanish uses the strong/weak vowel rules and the written-accent / penultimate
stress rule. Each word is classified on its own, so mixed-script lines do not fail.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache

SECTION_KINDS = (
    "intro",
    "verse",
    "prechorus",
    "chorus",
    "postchorus",
    "bridge",
    "instrumental",
    "outro",
)

_MARK = re.compile(r"^\s*[\[【(（{]\s*([^\]】)）}]{1,60}?)\s*[\]】)）}]\s*$")

# (kind, keywords) checked in order; keywords matched as substrings of the lowered label.
_KIND_WORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "prechorus",
        (
            "pre-chorus",
            "pre chorus",
            "prechorus",
            "pre-hook",
            "pre hook",
            "build",
            "lift",
            "导歌",
            "预副歌",
        ),
    ),
    ("postchorus", ("post-chorus", "post chorus", "postchorus", "tag")),
    ("chorus", ("chorus", "hook", "refrain", "drop", "副歌", "高潮", "coro", "estribillo")),
    ("intro", ("intro", "opening", "prelude", "前奏", "引子", "introducción")),
    ("outro", ("outro", "ending", "end", "coda", "fade", "尾奏", "结尾", "尾声", "final")),
    ("bridge", ("bridge", "middle 8", "middle eight", "桥段", "过渡", "puente")),
    (
        "instrumental",
        ("instrumental", "solo", "break", "interlude", "间奏", "riff", "breakdown", "inst"),
    ),
    ("verse", ("verse", "主歌", "rap", "spoken", "verso", "estrofa", "couplet", "part")),
)

FUNCTION_WORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "of",
        "to",
        "in",
        "on",
        "at",
        "by",
        "for",
        "from",
        "with",
        "and",
        "or",
        "but",
        "nor",
        "so",
        "as",
        "if",
        "than",
        "that",
        "this",
        "these",
        "those",
        "is",
        "am",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "do",
        "does",
        "did",
        "have",
        "has",
        "had",
        "i",
        "me",
        "my",
        "you",
        "your",
        "he",
        "him",
        "his",
        "she",
        "her",
        "it",
        "its",
        "we",
        "us",
        "our",
        "they",
        "them",
        "their",
        "oh",
        "ooh",
        "ah",
        "yeah",
        "la",
        "na",
        "uh",
    ]
)

_EN_EXCEPTIONS: dict[str, list[str]] = {
    "beautiful": ["beau", "ti", "ful"],
    "every": ["ev", "ery"],
    "everything": ["ev", "ery", "thing"],
    "everyone": ["ev", "ery", "one"],
    "everybody": ["ev", "ery", "bod", "y"],
    "fire": ["fire"],
    "desire": ["de", "sire"],
    "hour": ["hour"],
    "hours": ["hours"],
    "our": ["our"],
    "heaven": ["hea", "ven"],
    "people": ["peo", "ple"],
    "forever": ["for", "ev", "er"],
    "tonight": ["to", "night"],
    "today": ["to", "day"],
    "tomorrow": ["to", "mor", "row"],
    "someone": ["some", "one"],
    "something": ["some", "thing"],
    "somewhere": ["some", "where"],
    "sometimes": ["some", "times"],
    "love": ["love"],
    "lovely": ["love", "ly"],
    "alive": ["a", "live"],
    "inside": ["in", "side"],
    "outside": ["out", "side"],
    "lonely": ["lone", "ly"],
    "only": ["on", "ly"],
    "music": ["mu", "sic"],
    "through": ["through"],
    "world": ["world"],
    "power": ["pow", "er"],
    "flower": ["flow", "er"],
    "flowers": ["flow", "ers"],
    "quiet": ["qui", "et"],
    "piano": ["pi", "a", "no"],
    "radio": ["ra", "di", "o"],
    "video": ["vi", "de", "o"],
    "lion": ["li", "on"],
    "being": ["be", "ing"],
    "seeing": ["see", "ing"],
    "going": ["go", "ing"],
    "doing": ["do", "ing"],
    "crying": ["cry", "ing"],
    "flying": ["fly", "ing"],
    "dying": ["dy", "ing"],
    "trying": ["try", "ing"],
    "lying": ["ly", "ing"],
    "create": ["cre", "ate"],
    "idea": ["i", "de", "a"],
    "real": ["real"],
    "really": ["real", "ly"],
    "area": ["ar", "e", "a"],
    "poem": ["po", "em"],
    "violin": ["vi", "o", "lin"],
    "ocean": ["o", "cean"],
    "special": ["spe", "cial"],
    "million": ["mil", "lion"],
    "business": ["bus", "ness"],
    "different": ["dif", "frent"],
    "family": ["fam", "ly"],
    "evening": ["eve", "ning"],
    "chocolate": ["choc", "late"],
    "dancing": ["dan", "cing"],
    "smile": ["smile"],
    "whisper": ["whis", "per"],
    "shadow": ["sha", "dow"],
    "shadows": ["sha", "dows"],
    "memory": ["mem", "o", "ry"],
    "memories": ["mem", "o", "ries"],
    "hundred": ["hun", "dred"],
    "sacred": ["sa", "cred"],
    "naked": ["na", "ked"],
    "wicked": ["wick", "ed"],
    "blessed": ["bless", "ed"],
    "beloved": ["be", "lov", "ed"],
}
_EN_STRESS: dict[str, int] = {
    "tonight": 1,
    "today": 1,
    "tomorrow": 1,
    "forever": 1,
    "alive": 1,
    "desire": 1,
    "inside": 1,
    "outside": 0,
    "create": 1,
    "idea": 1,
    "violin": 2,
    "away": 1,
    "again": 1,
    "alone": 1,
    "along": 1,
    "believe": 1,
    "become": 1,
    "before": 1,
    "behind": 1,
    "beyond": 1,
    "between": 1,
    "together": 1,
    "remember": 1,
    "forget": 1,
    "surrender": 1,
    "enough": 1,
    "awake": 1,
    "above": 1,
    "around": 1,
    "about": 1,
    "afraid": 1,
    "until": 1,
}
_EN_VOWELS = "aeiouy"
_ONSETS = frozenset(
    [
        "bl",
        "br",
        "ch",
        "cl",
        "cr",
        "dr",
        "dw",
        "fl",
        "fr",
        "gl",
        "gr",
        "gn",
        "kn",
        "ph",
        "pl",
        "pr",
        "qu",
        "sc",
        "sh",
        "sk",
        "sl",
        "sm",
        "sn",
        "sp",
        "st",
        "sw",
        "th",
        "tr",
        "tw",
        "wh",
        "wr",
        "scr",
        "shr",
        "spl",
        "spr",
        "squ",
        "str",
        "thr",
    ]
)
_UNSTRESSED_SUFFIXES = (
    "tion",
    "sion",
    "ness",
    "ment",
    "less",
    "ful",
    "ing",
    "ly",
    "er",
    "est",
    "ed",
    "es",
    "en",
    "y",
    "ty",
    "ous",
    "ish",
    "ter",
    "tle",
    "ble",
    "ple",
)
_UNSTRESSED_PREFIXES = ("be", "de", "re", "to", "for", "con", "com", "ex", "pre", "dis", "mis")

_ES_WORDS = frozenset(
    [
        "el",
        "la",
        "los",
        "las",
        "de",
        "del",
        "que",
        "y",
        "en",
        "un",
        "una",
        "por",
        "para",
        "con",
        "mi",
        "tu",
        "su",
        "yo",
        "te",
        "me",
        "se",
        "es",
        "no",
        "mas",
        "pero",
        "como",
        "cuando",
        "donde",
        "amor",
        "corazon",
        "vida",
        "noche",
        "quiero",
        "siempre",
        "nunca",
        "todo",
        "todos",
        "cielo",
        "eres",
        "estoy",
        "estas",
        "esta",
        "sin",
        "sol",
        "luna",
        "mar",
        "tus",
        "mis",
        "soy",
        "bailar",
        "baila",
        "contigo",
    ]
)
_ES_STRONG = "aeoáéíóú"
_ES_WEAK = "iuü"
_ES_ACCENTED = "áéíóú"
_ES_CLUSTERS = frozenset(
    ["bl", "br", "cl", "cr", "dr", "fl", "fr", "gl", "gr", "pl", "pr", "tr", "ch", "ll", "rr"]
)

_SMALL_NUMBERS = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
_TENS = ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]


@dataclass
class Word:
    """One sung word: its text as written, syllables and a 0/1 stress per syllable."""

    text: str
    syllables: list[str]
    stresses: list[int]
    language: str


@dataclass
class ParsedLine:
    text: str
    words: list[Word]

    @property
    def syllable_count(self) -> int:
        return sum(len(w.syllables) for w in self.words)


@dataclass
class ParsedSection:
    """A section as written: ``kind`` normalised, ``label`` as written, ``number`` if given."""

    kind: str
    label: str
    number: int | None
    lines: list[ParsedLine] = field(default_factory=list)
    singer: str | None = None
    repeat: int = 1


def is_han(ch: str) -> bool:
    """CJK ideographs, kana and hangul are sung one character per note."""
    code = ord(ch)
    return (
        0x4E00 <= code <= 0x9FFF
        or 0x3400 <= code <= 0x4DBF
        or 0xF900 <= code <= 0xFAFF
        or 0x20000 <= code <= 0x2A6DF
        or 0x3040 <= code <= 0x30FF
        or 0xAC00 <= code <= 0xD7AF
    )


def section_kind(label: str) -> str:
    low = label.lower()
    for kind, words in _KIND_WORDS:
        for word in words:
            if word == "end" and not re.search(r"\bend\b", low):
                continue
            if word == "tag" and not re.search(r"\btag\b", low):
                continue
            if word == "part" and not re.search(r"\bpart\b", low):
                continue
            if word in low:
                return kind
    return "verse"


def _parse_label(raw: str) -> tuple[str, str, int | None, str | None, int]:
    label = raw.strip()
    base, _, qualifier = label.partition(":")
    repeat = 1
    m_rep = re.search(r"(?:x|×)\s*(\d)\b", base.lower())
    if m_rep:
        repeat = max(1, min(4, int(m_rep.group(1))))
        base = base[: m_rep.start()].strip() or base
    m_num = re.search(r"(\d+)", base)
    number = int(m_num.group(1)) if m_num else None
    singer: str | None = None
    qual = qualifier.lower() + " " + base.lower()
    if "female" in qual or "woman" in qual or "女" in qual:
        singer = "female"
    elif re.search(r"\bmale\b|\bman\b", qual) or "男" in qual:
        singer = "male"
    elif "both" in qual or "duet" in qual or "合" in qual:
        singer = "both"
    return label, section_kind(base), number, singer, repeat


def _number_words(token: str) -> list[str]:
    try:
        n = int(token)
    except ValueError:
        return [token]
    if n < 20:
        return [_SMALL_NUMBERS[n]]
    if n < 100:
        tens, ones = divmod(n, 10)
        return [_TENS[tens - 2]] + ([_SMALL_NUMBERS[ones]] if ones else [])
    return [" ".join(_SMALL_NUMBERS[int(d)] for d in token)]


def _strip_accents(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")


def _is_spanish_line(tokens: list[str]) -> bool:
    if any(ch in "ñáéíóú¿¡" for t in tokens for ch in t.lower()):
        return True
    plain = [_strip_accents(t.lower()) for t in tokens]
    hits = sum(1 for t in plain if t in _ES_WORDS)
    return hits >= 2 and hits >= len(plain) * 0.3


def syllabify_en(word: str) -> tuple[list[str], list[int]]:
    """Split an English word into sung syllables with a stress mark per syllable."""
    parts, stresses = _syllabify_en(word)
    return list(parts), list(stresses)


@lru_cache(maxsize=8192)
def _syllabify_en(word: str) -> tuple[tuple[str, ...], tuple[int, ...]]:
    low = word.lower()
    letters = re.sub(r"[^a-z']", "", low)
    if not letters:
        return (word,), (0,)
    parts = list(_EN_EXCEPTIONS[letters]) if letters in _EN_EXCEPTIONS else _split_en(letters)
    parts = _restore_case(word, parts)
    stresses = _stress_en(letters, len(parts))
    return tuple(parts), tuple(stresses)


def _restore_case(original: str, parts: list[str]) -> list[str]:
    """Give syllables the letters of the word as written (keeping apostrophes)."""
    source = re.sub(r"[^A-Za-z']", "", original)
    if "".join(parts).lower() != source.lower():
        return parts
    out: list[str] = []
    pos = 0
    for p in parts:
        out.append(source[pos : pos + len(p)])
        pos += len(p)
    return out


def _vowel_groups(w: str) -> list[tuple[int, int]]:
    groups: list[tuple[int, int]] = []
    i = 0
    while i < len(w):
        ch = w[i]
        is_v = ch in "aeiou" or (ch == "y" and i > 0 and w[i - 1] not in "aeiou")
        if ch == "u" and i > 0 and w[i - 1] == "q":
            is_v = False
        if is_v:
            j = i + 1
            while j < len(w) and (w[j] in "aeiou" or (w[j] == "y" and j == len(w) - 1)):
                j += 1
            groups.append((i, j))
            i = j
        else:
            i += 1
    return groups


def _split_en(w: str) -> list[str]:
    groups = _vowel_groups(w)
    # split vowel pairs that are usually two syllables
    split_groups: list[tuple[int, int]] = []
    for s, e in groups:
        seg = w[s:e]
        cut = None
        for pair in ("ia", "io", "eo", "ua", "uo", "iu", "ea"):
            k = seg.find(pair)
            if k >= 0 and e - s == 2:
                prev = w[s - 1] if s > 0 else ""
                if pair in ("ia", "io", "iu") and prev in ("t", "c", "s", "x", "g"):
                    continue
                if pair == "ea" and not (e < len(w) and w[e:].startswith("ted")):
                    continue
                if pair == "ua" and prev == "g":
                    continue
                cut = s + k + 1
                break
        if cut is not None:
            split_groups += [(s, cut), (cut, e)]
        else:
            split_groups.append((s, e))
    groups = split_groups
    # silent endings
    if len(groups) > 1:
        last_s, last_e = groups[-1]
        tail = w[last_s:]
        if tail == "e" and not (len(w) >= 3 and w[-2] == "l" and w[-3] not in _EN_VOWELS):
            groups.pop()
        elif tail in ("es", "ed") and last_e == len(w) - 1:
            before = w[:last_s]
            if (tail == "ed" and not before.endswith(("t", "d"))) or (
                tail == "es" and not before.endswith(("s", "x", "z", "ch", "sh", "c", "g"))
            ):
                groups.pop()
        elif tail == "e's":
            groups.pop()
    if len(groups) <= 1:
        return [w]
    cuts: list[int] = []
    for (_s1, e1), (s2, _e2) in itertools.pairwise(groups):
        cons = w[e1:s2]
        if len(cons) == 0:
            cuts.append(e1)
        elif s2 == len(w) - 1 and w.endswith("le") and len(cons) >= 2:
            cuts.append(s2 - 2)
        elif len(cons) == 1:
            # "ck"/"x" stay with the first vowel; V-CV otherwise
            cuts.append(s2 if cons in ("x",) else e1)
        else:
            if cons[-2:] in _ONSETS and len(cons) >= 2:
                if len(cons) >= 3 and cons[-3:] in _ONSETS:
                    cuts.append(s2 - 3)
                else:
                    cuts.append(s2 - 2)
            elif cons[:2] in ("ck", "ch", "sh", "th", "gh", "ph") and len(cons) == 2:
                cuts.append(s2)
            else:
                cuts.append(s2 - 1)
    parts: list[str] = []
    pos = 0
    for c in cuts:
        c = max(pos + 1, min(c, len(w) - 1))
        parts.append(w[pos:c])
        pos = c
    parts.append(w[pos:])
    return [p for p in parts if p]


def _stress_en(w: str, n: int) -> list[int]:
    if w in FUNCTION_WORDS:
        return [0] * n
    if n == 1:
        return [1]
    idx = 0
    if w in _EN_STRESS:
        idx = min(_EN_STRESS[w], n - 1)
    elif n == 2 and any(w.startswith(p) and len(w) > len(p) + 3 for p in _UNSTRESSED_PREFIXES):
        if not w.endswith(_UNSTRESSED_SUFFIXES):
            idx = 1
    elif n >= 3 and w.endswith(("tion", "sion", "ic", "ical", "ity")):
        idx = n - 2 if w.endswith(("tion", "sion", "ic")) else n - 3
    stresses = [0] * n
    stresses[max(0, idx)] = 1
    return stresses


def syllabify_es(word: str) -> tuple[list[str], list[int]]:
    """Spanish syllables by strong/weak vowels and consonant clusters; written-accent stress."""
    w = word
    low = w.lower()
    if not re.search(r"[a-záéíóúüñ]", low):
        return [w], [0]
    nuclei: list[tuple[int, int]] = []
    i = 0
    while i < len(low):
        ch = low[i]
        if ch in _ES_STRONG + _ES_WEAK or (ch == "y" and i == len(low) - 1 and i > 0):
            if (
                ch == "u"
                and i > 0
                and low[i - 1] in "qg"
                and i + 1 < len(low)
                and low[i + 1] in "eéií"
            ):
                i += 1
                continue
            j = i + 1
            while j < len(low) and low[j] in _ES_STRONG + _ES_WEAK:
                a, b = low[j - 1], low[j]
                if a in _ES_STRONG and b in _ES_STRONG:
                    break
                if (a in "íú") or (b in "íú"):
                    break
                j += 1
            nuclei.append((i, j))
            i = j
        else:
            i += 1
    if len(nuclei) <= 1:
        parts = [w]
    else:
        cuts: list[int] = []
        for (_s1, e1), (s2, _e2) in itertools.pairwise(nuclei):
            cons = low[e1:s2]
            if len(cons) <= 1:
                cuts.append(e1)
            elif len(cons) == 2:
                cuts.append(e1 if cons in _ES_CLUSTERS else e1 + 1)
            else:
                cuts.append(s2 - 2 if cons[-2:] in _ES_CLUSTERS else s2 - 1)
        parts = []
        prev = 0
        for c in cuts:
            parts.append(w[prev:c])
            prev = c
        parts.append(w[prev:])
        parts = [p for p in parts if p]
    n = len(parts)
    stresses = [0] * n
    accented = [k for k, p in enumerate(parts) if any(ch in _ES_ACCENTED for ch in p.lower())]
    if accented:
        stresses[accented[0]] = 1
    elif n == 1:
        stresses[0] = 1 if low not in _ES_WORDS else 0
    else:
        last = _strip_accents(low)[-1]
        stresses[n - 2 if last in "aeiouns" else n - 1] = 1
    return parts, stresses


def words_of_line(text: str) -> list[Word]:
    """Split a line into sung words; Han characters become one word each."""
    cleaned = re.sub(r"[()（）\[\]{}\"“”«»*_~]", " ", text)
    tokens: list[str] = []
    buf = ""
    for ch in cleaned:
        if is_han(ch):
            if buf:
                tokens.append(buf)
                buf = ""
            tokens.append(ch)
        elif ch.isalnum() or ch in "'’-":
            buf += "'" if ch == "’" else ch
        else:
            if buf:
                tokens.append(buf)
            buf = ""
    if buf:
        tokens.append(buf)
    expanded: list[str] = []
    for t in tokens:
        for part in t.split("-"):
            part = part.strip("'")
            if not part:
                continue
            if part.isdigit():
                for num in _number_words(part):
                    expanded.extend(num.split())
            else:
                expanded.append(part)
    latin = [t for t in expanded if not is_han(t[0])]
    spanish = _is_spanish_line(latin) if latin else False
    words: list[Word] = []
    for t in expanded:
        if is_han(t[0]):
            words.append(Word(t, [t], [1], "zh"))
        elif not any(ch.isalpha() for ch in t):
            continue
        elif spanish:
            syl, st = syllabify_es(t)
            words.append(Word(t, syl, st, "es"))
        elif re.fullmatch(r"[A-Za-z']+", t):
            syl, st = syllabify_en(t)
            words.append(Word(t, syl, st, "en"))
        else:
            # other scripts: sing the de-accented letters if any, else one note per word
            plain = _strip_accents(t)
            if re.fullmatch(r"[A-Za-z']+", plain):
                syl, st = syllabify_en(plain)
                words.append(Word(t, syl, st, "en"))
            else:
                words.append(Word(t, [t], [1], "en"))
    return words


def parse_lyrics(text: str) -> list[ParsedSection]:
    """Parse lyrics into sections of sung lines (empty sections are kept as breaks)."""
    sections: list[ParsedSection] = []
    current: ParsedSection | None = None
    for raw in text.replace("\r\n", "\n").split("\n"):
        line = raw.strip()
        if not line:
            continue
        mark = _MARK.match(line)
        if mark:
            label, kind, number, singer, repeat = _parse_label(mark.group(1))
            current = ParsedSection(kind, label, number, singer=singer, repeat=repeat)
            sections.append(current)
            continue
        words = words_of_line(line)
        if not words:
            continue
        if current is None:
            current = ParsedSection("verse", "Verse", None)
            sections.append(current)
        current.lines.append(ParsedLine(line, words))
    return sections


def detect_language(sections: list[ParsedSection]) -> str:
    """The language most syllables are sung in ("en" when there are none)."""
    counts: dict[str, int] = {}
    for s in sections:
        for ln in s.lines:
            for w in ln.words:
                counts[w.language] = counts.get(w.language, 0) + len(w.syllables)
    if not counts:
        return "en"
    return max(sorted(counts), key=lambda k: counts[k])
