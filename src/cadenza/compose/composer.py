"""MusicRequest + seed -> Score: form, harmony, sung melody, arrangement and drums.

Everything is drawn from ``random.Random`` instances seeded from the clip seed (plus stable
strings for per-line choices), so one request and seed always gives the same score, and a
repeated lyric line in a repeated section gets the same melody.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field, replace

from cadenza.compose.harmony import (
    NOTE_NAMES,
    chord_pcs,
    chord_quality,
    degree_root,
    fold,
    melody_chord_pcs,
    nearest,
    pitches_in,
    scale_pcs,
    voice_chord,
)
from cadenza.compose.lyrics import (
    ParsedLine,
    ParsedSection,
    Word,
    detect_language,
    is_han,
    parse_lyrics,
)
from cadenza.compose.score import (
    Chord,
    Gender,
    LyricWord,
    Note,
    Score,
    Section,
    Track,
    VocalNote,
    VocalPart,
    VoiceSettings,
)
from cadenza.compose.style import (
    DRUM_KEYS,
    EIGHTH_HATS,
    DrumPattern,
    Instrument,
    Style,
    description_tags,
    genre_scores,
    resolve_style,
)
from cadenza.compose.writer import write_lyrics
from cadenza.domain.music import MusicRequest

#: Recorded in every score and clip: one request and seed make the same song within one
#: version. 3: the produced mix (per-genre balance, ride, glue, lifted sections) and the
#: Flite singers changed what a seed sounds like. 4: a "6/8" in the tags swings in
#: triplets (it was played straight). 5: the Flite singers sing above 8 kHz (their
#: speech stops there; the band is filled in from its edge). 6: clearer words: the voice is
#: synthesised with 512-point FFTs, melodies sit lower, slow songs pack their syllables,
#: slt sings the female parts that no tag gives to kal-f, the lead's reverb ducks.
ENGINE_VERSION = "6"

#: Where each gender's melodies are written (MIDI): a baritone's G2-D4 and an alto's
#: E3-A4. The speech voices keep their words best near where they speak; every semitone
#: higher costs words (dry lead WER, female 5 semitones lower: 0.56 -> 0.45 on pop).
VOICE_RANGES: dict[str, tuple[int, int]] = {"male": (43, 62), "female": (52, 69)}

_KIND_ENERGY = {
    "intro": 0.35,
    "verse": 0.5,
    "prechorus": 0.65,
    "chorus": 0.82,
    "postchorus": 0.75,
    "bridge": 0.55,
    "instrumental": 0.7,
    "outro": 0.4,
}
#: The longest mean syllable spacing within a sung line, in seconds. pocketsphinx loses
#: words once vowels are held past ~2x their spoken length (WER 0.22 at 1.5x, 0.33 at
#: 2x, 0.64 at 3x): a slow song packs its words and holds the line's last note instead.
MOST_SYLLABLE_S = 0.45
#: The last note of a tightened line is held this long (slots) before its start moves.
_HELD_SLOTS = 4
# where in the singer's range a section sits (0 = bottom, 1 = top)
_KIND_TESSITURA = {
    "intro": 0.4,
    "verse": 0.36,
    "prechorus": 0.48,
    "chorus": 0.64,
    "postchorus": 0.6,
    "bridge": 0.52,
    "instrumental": 0.5,
    "outro": 0.42,
}
_PROGRESSION_FOR = {
    "intro": "intro",
    "verse": "verse",
    "prechorus": "bridge",
    "chorus": "chorus",
    "postchorus": "chorus",
    "bridge": "bridge",
    "instrumental": "chorus",
    "outro": "intro",
}

# bass patterns: (beat offset, duration, interval) with "R" root, "5" fifth, "3" third,
# "8" octave, "b7" flat seventh, "A" approach to the next root
#: A bass note held through the bar: the bottom of an intro's opening bars.
_HELD_ROOT: tuple[tuple[float, float, str], ...] = ((0, 4, "R"),)
#: Sections a pad fills even when they are quiet: an intro or an outro without one is
#: a thin sketch next to the verses, and the mix would have to lift it a long way.
_PADDED_KINDS = frozenset({"intro", "outro", "instrumental"})
_PAD_ALWAYS = frozenset({"ambient", "orchestral", "synthwave"})
_BASS: dict[str, tuple[tuple[float, float, str], ...]] = {
    "pop": ((0, 1.5, "R"), (1.5, 0.5, "R"), (2, 1, "R"), (3, 1, "5")),
    "eighths": tuple((i * 0.5, 0.5, "R") for i in range(8)),
    "pulse": tuple((i * 0.5, 0.5, "R" if i % 2 == 0 else "8") for i in range(8)),
    "lazy": ((0, 2, "R"), (2.5, 1.5, "5")),
    "hiphop": ((0, 1.5, "R"), (1.75, 0.5, "R"), (2.5, 1.5, "R")),
    "808": ((0, 1.75, "R"), (1.75, 0.75, "R"), (2.5, 1.5, "R")),
    "house": ((0.5, 0.5, "R"), (1.5, 0.5, "R"), (2.5, 0.5, "R"), (3.5, 0.5, "8")),
    "walking": ((0, 1, "R"), (1, 1, "3"), (2, 1, "5"), (3, 1, "A")),
    "country": ((0, 1, "R"), (2, 1, "5")),
    "roots": ((0, 2, "R"), (2, 2, "5")),
    "rnb": ((0, 1.5, "R"), (1.5, 0.5, "8"), (2, 1.5, "R"), (3.5, 0.5, "5")),
    "reggae": ((0, 1.5, "R"), (2, 0.5, "5"), (2.5, 0.5, "8"), (3, 1, "5")),
    "tumbao": ((0, 1.5, "R"), (1.5, 1.5, "5"), (3, 1, "R")),
    "sustained": ((0, 4, "R"),),
    "waltz": ((0, 1, "R"), (2, 1, "5")),
    "funk": (
        (0, 0.5, "R"),
        (0.75, 0.25, "8"),
        (1.5, 0.25, "R"),
        (2, 0.5, "R"),
        (2.75, 0.25, "b7"),
        (3.5, 0.5, "8"),
    ),
    # other takes of the patterns above (``style.BASS_TAKES``)
    "pop_push": ((0, 1.5, "R"), (1.5, 1, "R"), (2.5, 1, "5"), (3.5, 0.5, "A")),
    "eighths_332": ((0, 1.5, "R"), (1.5, 1.5, "R"), (3, 1, "8")),
    "roots_push": ((0, 1.5, "R"), (1.5, 2.5, "5")),
}

# comp rhythms: (beat offset, duration)
_COMP: dict[str, tuple[tuple[float, float], ...]] = {
    "block": ((0, 4),),
    "waltz": ((1, 0.9), (2, 0.9)),
    "pad": ((0, 4),),
    "strum": ((0, 1), (1, 0.5), (1.5, 1), (2.5, 0.5), (3, 0.5), (3.5, 0.5)),
    "power": tuple((i * 0.5, 0.45) for i in range(8)),
    "chug": tuple((i * 0.25, 0.22) for i in range(16)),
    "stabs": ((0, 0.25), (0.75, 0.25), (1.5, 0.25), (2.5, 0.25), (3.25, 0.5)),
    "comp": ((0, 0.75), (1.5, 0.5), (3, 0.5)),
    "shuffle": ((0, 1), (1, 1), (2, 1), (3, 1)),
    "skank": ((1, 0.3), (3, 0.3)),
    "montuno": ((0, 0.5), (1, 0.5), (1.5, 0.5), (2.5, 0.5), (3, 0.5), (3.5, 0.5)),
    # other takes of the patterns above (``style.COMP_TAKES``)
    "strum_eighths": tuple((i * 0.5, 0.5) for i in range(8)),
    "strum_332": ((0, 1.5), (1.5, 1), (2.5, 0.5), (3, 1)),
    "power_332": ((0, 1.45), (1.5, 1.45), (3, 0.95)),
    "block_push": ((0, 1.5), (1.5, 2.5)),
    "comp_charleston": ((0, 0.75), (1.5, 1)),
    "stabs_offbeat": ((0.5, 0.25), (1.5, 0.25), (2.5, 0.25), (3.5, 0.25)),
}
_SOFT_COMPS = (
    "power",
    "power_332",
    "chug",
    "stabs",
    "stabs_offbeat",
    "strum",
    "strum_eighths",
    "strum_332",
    "skank",
    "montuno",
    "shuffle",
    "comp",
    "comp_charleston",
)


@dataclass
class _Block:
    """One section instance of the form as it will be played."""

    kind: str
    label: str
    lines: list[ParsedLine]
    bars: int
    bars_per_line: int
    singer: str | None = None
    energy: float = 0.5
    start_bar: int = 0
    occurrence: int = 0
    chord_degrees: list[int] = field(default_factory=list)


@dataclass
class _Line:
    """A melody line: onsets and lengths in beats from the line start, with pitches."""

    onsets: list[float]
    durations: list[float]
    pitches: list[int]


_STRONG_BEATS: dict[int, tuple[int, ...]] = {4: (0, 2), 3: (0,), 2: (0,), 6: (0, 3)}


def _sub_rng(seed: int, *parts: object) -> random.Random:
    """A seeded generator for one decision (string seeds are hashed stably by ``random``)."""
    return random.Random(":".join([str(seed), *(str(p) for p in parts)]))


def compose(request: MusicRequest, seed: int, *, style: Style | None = None) -> Score:
    """Write the full score of one clip; pure and deterministic in (request, seed).

    ``style`` replaces the one the tags resolve to (an extension keeps its original's).
    """
    rng = random.Random(seed)
    persona = _persona_singer(request.persona)
    if style is None:
        tags = request.tags
        if request.description and not (request.lyrics and request.lyrics.strip()):
            named = description_tags(request.description, genres=not genre_scores(tags))
            tags = _merge_tags(tags, named)
        style = resolve_style(
            _merge_tags(tags, persona.tags) if persona else tags,
            request.negative_tags,
            request.weirdness,
            request.style_influence,
            seed,
        )
    instrumental = request.instrumental or not style.vocal.enabled
    title = request.title.strip()
    description_mode = False
    if instrumental:
        lyrics_text = ""
        if not title and request.description:
            title = write_lyrics(request.description, seed, instrumental=True)[0]
    elif request.lyrics and request.lyrics.strip():
        lyrics_text = request.lyrics
    else:
        description_mode = True
        source = request.description or request.tags or "a song"
        written_title, lyrics_text = write_lyrics(source, seed)
        title = title or written_title
    parsed = parse_lyrics(lyrics_text) if lyrics_text else []
    if not any(s.lines for s in parsed):
        instrumental = True
    language = detect_language(parsed) if not instrumental else "en"
    if not title:
        title = _title_from(parsed, language) or style.label

    bpb = style.beats_per_bar
    bar_s = 60.0 / style.tempo_bpm * bpb
    blocks = (
        _instrumental_form(style, bar_s, rng) if instrumental else _lyric_form(parsed, style, bar_s)
    )
    if description_mode:
        blocks = _fit_window(blocks, bar_s, 120.0, 180.0)
    blocks = _fit_duration(blocks, bar_s, float(request.max_duration_s))
    _assign_energy(blocks, style)
    _assign_chords(blocks, style, hook_intro=not instrumental)

    gender = (
        request.vocal_gender or style.vocal.gender or ("female" if rng.random() < 0.5 else "male")
    )
    if persona is not None and persona.voice is not None:
        gender = persona.voice.gender  # the persona is the singer
    if gender not in VOICE_RANGES:
        gender = "male"
    other = "female" if gender == "male" else "male"

    chords = _chord_list(blocks, style)
    vocals: list[VocalPart] = []
    words: list[LyricWord] = []
    chorus_melody: list[tuple[float, float, int]] = []
    if not instrumental:
        vocals, words, chorus_melody = _sing(
            blocks,
            style,
            chords,
            seed,
            gender,
            other,
            lead_voice=persona.voice if persona else None,
            lead_range=persona.range if persona else None,
        )

    tracks = _arrange(blocks, style, chords, seed, instrumental, chorus_melody)
    total_beats = float((sum(b.bars for b in blocks) + 1) * bpb)
    _apply_swing(style.swing, tracks, vocals, words)
    limit = float(request.max_duration_s) * style.tempo_bpm / 60.0
    if total_beats > limit:  # only when the limit is shorter than a bar or two
        total_beats = _clip(limit, tracks, vocals, words)

    sections = [
        Section(
            kind=b.kind,
            label=b.label,
            start_bar=b.start_bar,
            bars=b.bars,
            energy=round(b.energy, 3),
            lines=[ln.text for ln in b.lines],
        )
        for b in blocks
    ]
    mode_name = style.mode
    return Score(
        title=title,
        tags=request.tags,
        seed=seed,
        genre=style.genre,
        tempo_bpm=style.tempo_bpm,
        key_root=style.key_root,
        mode=mode_name,
        beats_per_bar=bpb,
        sections=sections,
        chords=chords,
        tracks=tracks,
        vocals=vocals,
        words=words,
        total_beats=total_beats,
        language=language,
        instrumental=instrumental,
        engine_version=ENGINE_VERSION,
        extra={
            "lyrics": lyrics_text,
            "key": f"{NOTE_NAMES[style.key_root]} {mode_name}",
            "style": style.label,
            "moods": list(style.moods),
            "voice": gender if not instrumental else None,
            "description_mode": description_mode,
            **({"persona_id": persona.id} if persona else {}),
        },
    )


@dataclass
class _PersonaSinger:
    """The parts of a persona the composer uses: the lead voice, its range, its tags."""

    id: str
    voice: VoiceSettings | None
    range: tuple[int, int] | None
    tags: str


_VOICE_FIELDS = frozenset(f for f in VoiceSettings.__dataclass_fields__ if f != "gender")


def _persona_singer(payload: dict[str, object] | None) -> _PersonaSinger | None:
    """Read a persona payload defensively: it travels through JSON and old task rows."""
    if not payload:
        return None
    voice_data = payload.get("voice")
    style_data = payload.get("style")
    voice: VoiceSettings | None = None
    span: tuple[int, int] | None = None
    if isinstance(voice_data, dict) and voice_data.get("gender") in VOICE_RANGES:
        gender: Gender = "female" if voice_data["gender"] == "female" else "male"
        fields = {k: v for k, v in voice_data.items() if k in _VOICE_FIELDS}
        try:
            voice = VoiceSettings(gender=gender, **fields)
        except TypeError:
            voice = VoiceSettings(gender=gender)
        low, high = voice_data.get("range_low"), voice_data.get("range_high")
        if isinstance(low, int | float) and isinstance(high, int | float) and low <= high:
            span = _singable_range(int(low), int(high), gender)
    tags = ""
    if isinstance(style_data, dict) and isinstance(style_data.get("tags"), str):
        tags = str(style_data["tags"])
    return _PersonaSinger(str(payload.get("id") or ""), voice, span, tags)


def _singable_range(low: int, high: int, gender: str) -> tuple[int, int]:
    """The persona's sung range, widened to at least an octave and a half, within reason."""
    base_low, base_high = VOICE_RANGES[gender]
    floor, ceiling = base_low - 5, base_high + 5
    low = max(floor, min(low, base_high))
    high = min(ceiling, max(high, base_low))
    while high - low < 18:
        # Widen on both sides, but never past what the gender's singer can sing.
        low, high = max(floor, low - 1), min(ceiling, high + 1)
    return low, high


def _merge_tags(tags: str, extra: str) -> str:
    """The request's tags first, then the persona's that it does not already name."""
    seen = [t.strip() for t in tags.split(",") if t.strip()]
    lowered = {t.lower() for t in seen}
    for tag in extra.split(","):
        tag = tag.strip()
        if tag and tag.lower() not in lowered:
            seen.append(tag)
            lowered.add(tag.lower())
    return ", ".join(seen)


#: Words a title neither ends on when cut short nor capitalises inside (English).
# fmt: off
_TITLE_SMALL = frozenset({
    "a", "an", "the", "and", "or", "nor", "but", "so", "of", "in", "on", "at", "to", "for",
    "by", "with", "from", "into", "onto", "as",
})
_TITLE_DANGLING = _TITLE_SMALL | {
    "my", "your", "our", "their", "his", "her", "its", "is", "are", "was", "when", "while",
    "where", "if", "that", "who", "which",
}
# fmt: on
_TITLE_WORDS = 7


def _title_from(parsed: list[ParsedSection], language: str = "en") -> str:
    """The hook as a title: the chorus line sung most often (else the first line of the
    first section there is), cut at a word that can end a phrase; English is title-cased,
    other languages capitalise the first word only."""
    for kind in ("chorus", "hook", "verse", "intro", "bridge", "outro", "prechorus"):
        lines = [line.text for s in parsed if s.kind == kind for line in s.lines]
        if lines:
            counts = {text: lines.count(text) for text in lines}
            hook = max(lines, key=lambda text: counts[text])  # the first of the most sung
            return _as_title(hook, language)
    return ""


def _as_title(line: str, language: str = "en") -> str:
    text = line.strip(" ,.!?;:-\"'")
    if any(is_han(ch) for ch in text):
        return text[:16]
    words = text.split()
    if len(words) > _TITLE_WORDS:
        cut = words[:_TITLE_WORDS]
        while len(cut) > 2 and cut[-1].lower().strip(",;:") in _TITLE_DANGLING:
            cut.pop()
        words = cut
    if not words:
        return ""
    words[-1] = words[-1].rstrip(",;:")
    english = language == "en"
    titled = [
        w
        if any(c.isupper() for c in w)
        or (i > 0 and not english)
        or (0 < i < len(words) - 1 and w.lower() in _TITLE_SMALL)
        else w[:1].upper() + w[1:]
        for i, w in enumerate(words)
    ]
    return " ".join(titled)[:80]


# ---------------------------------------------------------------- form


def _bars_per_line(n_syllables: int, bpb: int, bar_s: float) -> int:
    """The fewest bars that hold the line on an eighth-note grid and last >= ~3 s."""
    minimum = max(1, math.ceil(3.0 / bar_s - 0.05))
    bars = minimum
    while 2 * bars * bpb - 2 < n_syllables:
        bars += 1
    if bars > 2 and bars % 2:
        bars += 1
    return bars


def _split_long(line: ParsedLine, capacity: int) -> list[ParsedLine]:
    """Lines longer than ``capacity`` syllables are sung as several phrases."""
    if line.syllable_count <= capacity:
        return [line]
    chunks: list[ParsedLine] = []
    current: list[Word] = []
    count = 0
    for w in line.words:
        if current and count + len(w.syllables) > capacity:
            chunks.append(ParsedLine(" ".join(x.text for x in current), current))
            current, count = [], 0
        if len(w.syllables) > capacity:  # a monstrous token: cut its syllables
            w.syllables, w.stresses = w.syllables[:capacity], w.stresses[:capacity]
        current.append(w)
        count += len(w.syllables)
    if current:
        chunks.append(ParsedLine(" ".join(x.text for x in current), current))
    return chunks


def _lyric_form(parsed: list[ParsedSection], style: Style, bar_s: float) -> list[_Block]:
    bpb = style.beats_per_bar
    max_bars_line = max(2, math.ceil(8.0 / bar_s))
    capacity = 2 * max_bars_line * bpb - 2
    blocks: list[_Block] = []
    for sec in parsed:
        for _ in range(sec.repeat):
            lines: list[ParsedLine] = []
            for ln in sec.lines:
                lines.extend(_split_long(ln, capacity))
            if lines:
                bpl = max(_bars_per_line(ln.syllable_count, bpb, bar_s) for ln in lines)
                blocks.append(_Block(sec.kind, sec.label, lines, bpl * len(lines), bpl, sec.singer))
            else:
                bars = 4 if sec.kind in ("intro", "outro") else 8
                kind = sec.kind if sec.kind in ("intro", "outro") else "instrumental"
                blocks.append(_Block(kind, sec.label, [], bars, 2))
    intro_bars = 4 if bar_s < 3.0 else 2
    if not blocks or blocks[0].kind != "intro":
        blocks.insert(0, _Block("intro", "Intro", [], intro_bars, 2))
    if blocks[-1].kind != "outro":
        blocks.append(_Block("outro", "Outro", [], intro_bars, 2))
    elif blocks[-1].lines:
        blocks.append(_Block("outro", blocks[-1].label, [], 2, 2))
    return blocks


def _instrumental_form(style: Style, bar_s: float, rng: random.Random) -> list[_Block]:
    target = rng.uniform(130.0, 170.0)
    unit = 8 if bar_s * 8 >= 13.0 else 16
    intro = 4 if bar_s < 3.0 else 2
    plan = ["verse", "chorus", "verse", "chorus", "bridge", "chorus", "instrumental", "chorus"]
    blocks = [_Block("intro", "Intro", [], intro, 2)]
    total = intro * bar_s
    for kind in plan:
        if total + unit * bar_s + intro * bar_s > target and len(blocks) >= 4:
            break
        blocks.append(_Block(kind, kind.capitalize(), [], unit, 2))
        total += unit * bar_s
    while total + intro * bar_s < 125.0 and len(blocks) < 12:
        kind = "chorus" if blocks[-1].kind != "chorus" else "instrumental"
        blocks.append(_Block(kind, kind.capitalize(), [], unit, 2))
        total += unit * bar_s
    blocks.append(_Block("outro", "Outro", [], intro, 2))
    return blocks


def _duration(blocks: list[_Block], bar_s: float) -> float:
    return (sum(b.bars for b in blocks) + 1) * bar_s


def _fit_window(blocks: list[_Block], bar_s: float, low: float, high: float) -> list[_Block]:
    """Description mode lands in 2-3 minutes: drop repeats when long, add a break when short."""
    blocks = list(blocks)
    for kind in ("prechorus", "bridge", "prechorus", "verse"):
        if _duration(blocks, bar_s) <= high:
            break
        idxs = [i for i, b in enumerate(blocks) if b.kind == kind]
        if len(idxs) >= 1 and (kind != "verse" or len(idxs) > 1):
            del blocks[idxs[-1]]
    for attempt in range(4):
        choruses = [i for i, b in enumerate(blocks) if b.kind == "chorus"]
        if _duration(blocks, bar_s) >= low or not choruses:
            break
        at = choruses[-1]
        last = blocks[at]
        if attempt == 0:
            extra = _Block("instrumental", "Instrumental", [], 8, 2)
            insert_at = at
        else:
            extra = _Block(
                last.kind, last.label, list(last.lines), last.bars, last.bars_per_line, last.singer
            )
            insert_at = at + 1
        if _duration(blocks, bar_s) + extra.bars * bar_s > high:
            break
        blocks.insert(insert_at, extra)
    return blocks


def _fit_duration(blocks: list[_Block], bar_s: float, max_s: float) -> list[_Block]:
    """Cut the form (whole sections, then lines) so the song with its tail fits ``max_s``."""
    budget = int(max_s // bar_s) - 1  # bars, minus the ringing tail
    if sum(b.bars for b in blocks) <= budget:
        return blocks
    ending = 2 if budget >= 6 else 1
    room = budget - ending
    kept: list[_Block] = []
    used = 0
    for b in blocks[:-1] if blocks[-1].kind == "outro" and not blocks[-1].lines else blocks:
        if used + b.bars <= room:
            kept.append(b)
            used += b.bars
            continue
        space = room - used
        if b.lines and space >= b.bars_per_line:
            n = space // b.bars_per_line
            kept.append(
                _Block(b.kind, b.label, b.lines[:n], n * b.bars_per_line, b.bars_per_line, b.singer)
            )
            used += n * b.bars_per_line
        elif not b.lines and space >= 1:
            kept.append(_Block(b.kind, b.label, [], space, b.bars_per_line))
            used += space
        break
    if not kept:
        kept.append(_Block("intro", "Intro", [], max(1, room), 2))
    kept.append(_Block("outro", "Outro", [], max(1, min(ending, budget - used)), 2))
    while sum(b.bars for b in kept) > max(1, budget) and len(kept) > 1:
        kept.pop(-2)
    return kept


def _assign_energy(blocks: list[_Block], style: Style) -> None:
    bar = 0
    counts: dict[str, int] = {}
    choruses = [i for i, b in enumerate(blocks) if b.kind == "chorus"]
    scale = 0.7 + 0.5 * style.energy
    for i, b in enumerate(blocks):
        b.start_bar = bar
        bar += b.bars
        b.occurrence = counts.get(b.kind, 0)
        counts[b.kind] = b.occurrence + 1
        energy = _KIND_ENERGY.get(b.kind, 0.5) + 0.05 * min(b.occurrence, 2)
        if choruses and i == choruses[-1] and len(choruses) > 1:
            energy += 0.12
        b.energy = min(1.0, max(0.15, energy * scale))


def _assign_chords(blocks: list[_Block], style: Style, hook_intro: bool) -> None:
    """Chords per bar; an intro that quotes the chorus hook borrows the chorus changes."""
    bpc = style.bars_per_chord
    for n, b in enumerate(blocks):
        part = _PROGRESSION_FOR.get(b.kind, "verse")
        if hook_intro and b.kind == "intro":
            part = "chorus"
        prog = style.progressions.get(part, (1, 4, 5, 1))
        degrees = [prog[(bar // bpc) % len(prog)] for bar in range(b.bars)]
        if b.kind == "prechorus" and b.bars >= 2:
            degrees[-1] = 5
        if n == len(blocks) - 1:
            degrees[-1] = 1
            if b.bars >= 3:
                degrees[-2] = 5 if style.chord_color != "power" else 4
        elif n == len(blocks) - 2 and not blocks[-1].lines and b.bars >= 2:
            degrees[-1] = 5 if degrees[-1] == 1 else degrees[-1]
        b.chord_degrees = degrees


def _chord_list(blocks: list[_Block], style: Style) -> list[Chord]:
    bpb = style.beats_per_bar
    chords: list[Chord] = []
    for b in blocks:
        for k, degree in enumerate(b.chord_degrees):
            root = degree_root(style.key_root, style.mode, degree)
            quality = chord_quality(style.mode, degree, style.chord_color)
            start = float((b.start_bar + k) * bpb)
            if (
                chords
                and chords[-1].root == root
                and chords[-1].quality == quality
                and (chords[-1].start + chords[-1].duration == start)
            ):
                chords[-1].duration += bpb
            else:
                chords.append(Chord(root, quality, start, float(bpb)))
    return chords


def _chord_at(chords: list[Chord], beat: float) -> Chord:
    lo, hi = 0, len(chords) - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if chords[mid].start <= beat + 1e-9:
            lo = mid
        else:
            hi = mid - 1
    return chords[lo]


# ---------------------------------------------------------------- melody


def _line_rhythm(
    stresses: list[int], slots_total: int, rng: random.Random, most_step: float | None = None
) -> tuple[list[int], list[int]]:
    """Onset slots and lengths (eighth notes) with stressed syllables on the beat.

    ``most_step`` caps the mean spacing of the syllables (in slots): the slack it frees
    lengthens the last note, then moves the line's start later.
    """
    n = len(stresses)
    usable = slots_total - 2  # at least one beat of breath at the end
    if n >= usable:
        grid = list(range(n))
        return grid, [1] * n
    slack = usable - n
    final_len = max(1, min(4, slack // 3 + 1))
    space = usable - final_len
    if space % 2 and space > n - 1:
        space -= 1
        final_len += 1
    start = 0
    if n > 1 and stresses[0] == 0 and len(stresses) > 1 and stresses[1] == 1 and slack >= 3:
        start = 1
    elif slack >= 8 and rng.random() < 0.35:
        start = 2
    if n == 1:
        return [start], [min(final_len + space - start, 8)]
    span = max(n - 1, space - start)
    if most_step is not None and span > most_step * (n - 1):
        tight = max(n - 1, math.ceil(most_step * (n - 1)))
        longer = max(0, _HELD_SLOTS - final_len)
        start += max(0, span - tight - longer) // 2 * 2
        span = tight
    ideal = [start + i * span / (n - 1) for i in range(n)]
    onsets = [round(t) for t in ideal]
    for i, s in enumerate(stresses):
        if s and onsets[i] % 2:
            onsets[i] += -1 if rng.random() < 0.5 else 1
    onsets[0] = max(0, onsets[0])
    for i in range(1, n):
        onsets[i] = max(onsets[i], onsets[i - 1] + 1)
    onsets[-1] = min(onsets[-1], usable - 1)
    for i in range(n - 2, -1, -1):
        onsets[i] = min(onsets[i], onsets[i + 1] - 1)
    lengths = [min(4, onsets[i + 1] - onsets[i]) for i in range(n - 1)]
    lengths.append(max(1, min(6, usable - onsets[-1])))
    return onsets, lengths


def _line_melody(
    stresses: list[int],
    line_start: float,
    bars: int,
    bpb: int,
    chords: list[Chord],
    scale: list[int],
    key_root: int,
    low: int,
    high: int,
    centre: float,
    rhythm_rng: random.Random,
    pitch_rng: random.Random,
    contour_rng: random.Random,
    weirdness: float,
    last_in_section: bool,
    most_step: float | None = None,
) -> _Line:
    onset_slots, lengths = _line_rhythm(stresses, 2 * bars * bpb, rhythm_rng, most_step)
    n = len(onset_slots)
    scale_pitches = pitches_in(scale, low, high)
    peak_at = contour_rng.uniform(0.35, 0.75)
    rise = contour_rng.choice((3.0, 4.0, 5.0, 7.0))
    begin = contour_rng.choice((-3.0, -2.0, -1.0, 0.0, 2.0))
    pitches: list[int] = []
    for i in range(n):
        beat = line_start + onset_slots[i] * 0.5
        chord = _chord_at(chords, beat)
        tones = pitches_in(melody_chord_pcs(chord.root, chord.quality), low, high)
        x = i / max(1, n - 1)
        shape = begin + rise * (x / peak_at if x <= peak_at else (1 - x) / (1 - peak_at))
        target = centre + shape
        beat_in_bar = (onset_slots[i] // 2) % bpb if onset_slots[i] % 2 == 0 else -1
        on_beat = beat_in_bar in _STRONG_BEATS.get(bpb, (0,))
        weak_beat = beat_in_bar >= 0 and not on_beat
        if i == 0:
            p = nearest(tones or scale_pitches, target)
        elif i == n - 1:
            chord_tones = melody_chord_pcs(chord.root, chord.quality)
            stable_pcs = [chord.root % 12]
            if not last_in_section:
                stable_pcs.extend(chord_tones[1:2])
            elif key_root % 12 in chord_tones:
                stable_pcs = [key_root % 12]
            stable = pitches_in(stable_pcs, low, high) or tones or scale_pitches
            pool = [q for q in stable if abs(q - pitches[-1]) <= 7] or stable
            p = min(pool, key=lambda q: (abs(q - pitches[-1]) + 0.4 * abs(q - target), q))
        elif on_beat and tones:
            prev = pitches[-1]
            near = [q for q in tones if abs(q - prev) <= 5] or tones
            jitter = 0.5 + 1.5 * weirdness
            stuck = len(pitches) >= 2 and pitches[-2] == prev
            p = min(
                near,
                key=lambda q: (
                    0.7 * abs(q - prev)
                    + 0.8 * abs(q - target)
                    + (2.0 if stuck and q == prev else 0.6 if q == prev else 0.0)
                    + pitch_rng.uniform(0, jitter),
                    q,
                ),
            )
        elif weak_beat:
            # beats two and four: a step or a chord tone, whichever moves toward the line
            prev = pitches[-1]
            pool = [q for q in scale_pitches if 0 < abs(q - prev) <= 4] + [prev]
            chord_set = {q % 12 for q in tones}
            p = min(
                pool,
                key=lambda q: (
                    0.5 * abs(q - prev)
                    + 0.8 * abs(q - target)
                    - (0.6 if q % 12 in chord_set else 0.0)
                    + (0.9 if q == prev else 0.0)
                    + pitch_rng.uniform(0, 0.5 + 1.5 * weirdness),
                    q,
                ),
            )
        else:
            prev = pitches[-1]
            idx = min(range(len(scale_pitches)), key=lambda k: abs(scale_pitches[k] - prev))
            direction = (
                1
                if target > prev + 0.5
                else -1
                if target < prev - 0.5
                else (pitch_rng.choice((-1, 1)))
            )
            step = 2 if pitch_rng.random() < 0.08 + 0.2 * weirdness else 1
            if pitch_rng.random() < 0.12:
                step = 0
            k = min(len(scale_pitches) - 1, max(0, idx + direction * step))
            p = scale_pitches[k]
        pitches.append(p)
    return _Line(
        onsets=[s * 0.5 for s in onset_slots],
        durations=[ln * 0.5 for ln in lengths],
        pitches=pitches,
    )


def _voice(gender: str, style: Style, name: str) -> VoiceSettings:
    return VoiceSettings(
        gender="female" if gender == "female" else "male",
        name=name,
        formant_scale=1.17 if gender == "female" else 1.0,
        vibrato_rate_hz=style.vocal.vibrato_rate_hz,
        vibrato_depth_cents=style.vocal.vibrato_depth_cents,
        breathiness=style.vocal.breathiness,
        transpose=0,
        singer=style.vocal.singer_for(gender),
    )


def _harmony_pitch(
    lead: int, chord: Chord, scale: list[int], low: int, high: int, on_beat: bool, below: bool
) -> int:
    tones = pitches_in(melody_chord_pcs(chord.root, chord.quality), low - 5, high + 3)
    scale_p = pitches_in(scale, low - 5, high + 3)
    pool = tones if on_beat and tones else scale_p
    if below:
        cands = [q for q in pool if 3 <= lead - q <= 7]
    else:
        cands = [q for q in pool if 3 <= q - lead <= 5]
        if not cands or max(cands) > high + 3:
            cands = [q for q in pool if 3 <= lead - q <= 7]
    if not cands:
        return lead - 12 if lead - 12 >= low - 12 else lead
    return min(cands, key=lambda q: abs(abs(q - lead) - 4))


def _sing(
    blocks: list[_Block],
    style: Style,
    chords: list[Chord],
    seed: int,
    gender: str,
    other: str,
    *,
    lead_voice: VoiceSettings | None = None,
    lead_range: tuple[int, int] | None = None,
) -> tuple[list[VocalPart], list[LyricWord], list[tuple[float, float, int]]]:
    bpb = style.beats_per_bar
    scale = scale_pcs(style.key_root, style.mode, style.melody_scale)
    duet = style.vocal.duet
    if lead_voice is not None and not lead_voice.singer:  # a persona sings as its gender's
        lead_voice = replace(lead_voice, singer=style.vocal.singer_for(lead_voice.gender))
    lead = VocalPart("Lead Vocal", "Vocals", lead_voice or _voice(gender, style, f"lead-{gender}"))
    duet_part = VocalPart("Duet Vocal", "Vocals", _voice(other, style, f"duet-{other}"))
    harmony = VocalPart(
        "Harmony",
        "Backing Vocals",
        _voice(gender, style, "harmony"),
        volume=0.55,
        pan=0.3,
    )
    choir = VocalPart(
        "Choir", "Backing Vocals", _voice(other, style, "choir"), volume=0.45, pan=-0.3
    )
    words: list[LyricWord] = []
    chorus_melody: list[tuple[float, float, int]] = []
    line_index = 0
    verse_turn = 0
    for sec_index, b in enumerate(blocks):
        if not b.lines:
            continue
        singer = gender
        if duet:
            if b.singer in ("male", "female"):
                singer = b.singer
            elif b.kind in ("verse", "prechorus"):
                singer = gender if verse_turn % 2 == 0 else other
                verse_turn += 1 if b.kind == "verse" else 0
            elif b.kind == "bridge":
                singer = other
        elif b.singer in ("male", "female"):
            singer = b.singer
        part = lead if singer == gender else duet_part
        low, high = lead_range if lead_range and singer == gender else VOICE_RANGES[singer]
        centre = low + _KIND_TESSITURA.get(b.kind, 0.45) * (high - low)
        sec_low = max(low, int(centre - 7))
        sec_high = min(high, int(centre + 7))
        with_harmony = b.kind in ("chorus", "postchorus") or (duet and b.singer == "both")
        for j, line in enumerate(b.lines):
            stresses = [s for w in line.words for s in w.stresses]
            syllables = [(w, k) for w in line.words for k in range(len(w.syllables))]
            signature = "".join(str(s) for s in stresses)
            line_start = float((b.start_bar + j * b.bars_per_line) * bpb)
            melody = _line_melody(
                stresses,
                line_start,
                b.bars_per_line,
                bpb,
                chords,
                scale,
                style.key_root,
                sec_low,
                sec_high,
                centre,
                _sub_rng(seed, "rhythm", b.kind, j % 4, signature),
                _sub_rng(seed, "pitch", b.kind, j % 4, signature),
                _sub_rng(seed, "contour", b.kind, j % 4),
                style.weirdness,
                j == len(b.lines) - 1,
                MOST_SYLLABLE_S * style.tempo_bpm / 30.0,
            )
            current_word = -1
            for i, (word, k) in enumerate(syllables):
                if k == 0:
                    words.append(LyricWord(word.text, line_index, sec_index, 0.0, 0.0))
                    current_word = len(words) - 1
                start = line_start + melody.onsets[i]
                dur = melody.durations[i]
                velocity = max(1, min(127, int(78 + 14 * word.stresses[k] + 20 * b.energy)))
                note = VocalNote(
                    pitch=melody.pitches[i],
                    start=start,
                    duration=dur,
                    syllable=word.syllables[k],
                    word_index=current_word,
                    line_index=line_index,
                    section_index=sec_index,
                    language=word.language,
                    velocity=velocity,
                )
                part.notes.append(note)
                if k == 0:
                    words[current_word].start = start
                words[current_word].end = start + dur
                on_beat = abs(melody.onsets[i] * 2 - round(melody.onsets[i] * 2)) < 1e-9 and (
                    round(melody.onsets[i] * 2) % 2 == 0
                )
                chord = _chord_at(chords, start)
                if with_harmony:
                    hp = _harmony_pitch(note.pitch, chord, scale, low, high, on_beat, False)
                    hp = fold(hp, *VOICE_RANGES[harmony.voice.gender])
                    harmony.notes.append(
                        VocalNote(
                            hp,
                            start,
                            dur,
                            note.syllable,
                            note.word_index,
                            line_index,
                            sec_index,
                            note.language,
                            max(1, velocity - 12),
                        )
                    )
                    if style.vocal.choir:
                        cp = _harmony_pitch(note.pitch, chord, scale, low, high, on_beat, True)
                        cp = fold(cp, *VOICE_RANGES[choir.voice.gender])
                        choir.notes.append(
                            VocalNote(
                                cp,
                                start,
                                dur,
                                note.syllable,
                                note.word_index,
                                line_index,
                                sec_index,
                                note.language,
                                max(1, velocity - 18),
                            )
                        )
                if b.kind == "chorus" and b.occurrence == 0:
                    chorus_melody.append((start - b.start_bar * bpb, dur, note.pitch))
            line_index += 1
    parts = [lead]
    if duet_part.notes:
        parts.append(duet_part)
    if harmony.notes:
        parts.append(harmony)
    if choir.notes:
        parts.append(choir)
    if not lead.notes and duet_part.notes:
        parts.remove(lead)
    return parts, words, chorus_melody


# ---------------------------------------------------------------- arrangement


def _bass_pitch(pc: int, ins: Instrument) -> int:
    low = max(ins.low, 28)
    return fold(pc + 36, low, min(ins.high, low + 17))


def _interval_pitch(code: str, chord: Chord, next_root: int, root_pitch: int) -> int:
    pcs = chord_pcs(chord.root, chord.quality)
    if code == "R":
        return root_pitch
    if code == "8":
        return root_pitch + 12
    if code == "5":
        fifth = next((iv for iv in (7, 6, 8) if (chord.root + iv) % 12 in pcs), 7)
        return root_pitch + fifth
    if code == "3":
        third = next((iv for iv in (4, 3, 2, 5) if (chord.root + iv) % 12 in pcs), 4)
        return root_pitch + third
    if code == "b7":
        return root_pitch + 10
    # approach: a semitone below or above the next root
    target = root_pitch + ((next_root - chord.root) % 12)
    if target - root_pitch > 6:
        target -= 12
    return target - 1 if target > root_pitch else target + 1


def _add(track: Track, pitch: int, start: float, dur: float, vel: float, ins: Instrument) -> None:
    if dur <= 0:
        return
    p = fold(pitch, ins.low, ins.high) if not track.is_drum else pitch
    track.notes.append(Note(int(p), float(start), float(dur), max(1, min(127, int(vel)))))


def _arrange(
    blocks: list[_Block],
    style: Style,
    chords: list[Chord],
    seed: int,
    instrumental: bool,
    chorus_melody: list[tuple[float, float, int]],
) -> list[Track]:
    rng = _sub_rng(seed, "arrange")
    bpb = style.beats_per_bar
    tracks: list[Track] = []
    channels = [c for c in range(16) if c != 9]
    roster = list(style.instruments)
    has_lead = any(i.role == "lead" for i in roster)
    melody_ins: Instrument | None = next((i for i in roster if i.role == "lead"), None)
    if not has_lead and roster:
        base = next((i for i in roster if i.role in ("chords", "arp")), roster[0])
        melody_ins = Instrument(
            "melody",
            f"{base.name} Melody",
            base.program,
            base.stem,
            "lead",
            max(base.low, 55),
            min(base.high, 91),
            0.7,
            0.1,
        )
        roster.append(melody_ins)
    has_chords = any(i.role == "chords" for i in roster)
    first_chords = next((i for i in roster if i.role in ("chords", "arp")), None)
    last_bar = blocks[-1].start_bar + blocks[-1].bars - 1
    final_beat = float(last_bar * bpb)
    for n, ins in enumerate(roster[:14]):
        track = Track(
            ins.name, ins.stem, ins.program, volume=ins.volume, pan=ins.pan, channel=channels[n]
        )
        previous: list[int] | None = None
        for b in blocks:
            for k in range(b.bars):
                bar_start = float((b.start_bar + k) * bpb)
                if bar_start >= final_beat:
                    continue
                chord = _chord_at(chords, bar_start)
                nxt = _chord_at(chords, bar_start + bpb)
                e = b.energy
                vel = 55 + 50 * e + rng.uniform(-4, 4)
                if ins.role == "bass":
                    if e < 0.2:
                        continue
                    root_pitch = _bass_pitch(chord.root, ins)
                    pattern = _BASS.get(style.bass_pattern, _BASS["pop"])
                    if e < 0.45:
                        pattern = _BASS["roots"]
                    if e < 0.3 or (b.kind == "intro" and k < b.bars // 2):
                        # the opening bars: a held root under the chords, not silence
                        pattern, vel = _HELD_ROOT, vel - 10
                    for off, dur, code in pattern:
                        if off >= bpb:
                            continue
                        p = _interval_pitch(code, chord, nxt.root, root_pitch)
                        _add(track, p, bar_start + off, min(dur, bpb - off) * 0.95, vel, ins)
                elif ins.role == "chords" or (ins.role == "arp" and not has_chords):
                    pcs = chord_pcs(chord.root, chord.quality)
                    low = max(ins.low, 48)
                    high = min(ins.high, 76)
                    voicing = voice_chord(pcs, low, high, previous)
                    previous = voicing
                    comp = style.comp_pattern
                    if ins is not first_chords and not comp.startswith("comp"):
                        comp = "block" if ins.role == "chords" else comp
                    if ins.role == "arp" or comp in ("arpeggio", "fingerpick"):
                        _arpeggio(track, ins, voicing, bar_start, bpb, e, vel, slow=e < 0.6)
                        continue
                    if e < 0.4 and comp in _SOFT_COMPS:
                        comp = "block"
                    for i, (off, dur) in enumerate(_COMP.get(comp, _COMP["block"])):
                        if off >= bpb:
                            continue
                        notes = voicing
                        if comp == "shuffle":
                            root = voicing[0]
                            notes = [root, root + 7 if i % 2 == 0 else root + 9]
                        accent = 8 if off == int(off) else 0
                        for m, p in enumerate(notes):
                            strum = 0.015 * m if comp.startswith("strum") else 0.0
                            _add(
                                track,
                                p,
                                bar_start + off + strum,
                                min(dur, bpb - off) * 0.95 - strum,
                                vel - 8 + accent,
                                ins,
                            )
                elif ins.role == "pad":
                    quiet_ok = b.kind in _PADDED_KINDS or style.genre in _PAD_ALWAYS
                    if e < 0.45 and not quiet_ok:
                        continue
                    pcs = chord_pcs(chord.root, chord.quality)
                    voicing = voice_chord(pcs, max(ins.low, 52), min(ins.high, 79), previous, 3)
                    previous = voicing
                    for p in voicing:
                        _add(track, p, bar_start, bpb * 0.98, vel - 15, ins)
                elif ins.role == "arp":
                    if e < 0.55 and style.genre not in ("ambient", "synthwave", "chinese"):
                        continue
                    pcs = chord_pcs(chord.root, chord.quality)
                    voicing = voice_chord(pcs, max(ins.low, 60), min(ins.high, 84), previous)
                    previous = voicing
                    _arpeggio(track, ins, voicing, bar_start, bpb, e, vel - 10, slow=e < 0.7)
                elif ins.role == "lead" and ins is not melody_ins:
                    # a second lead plays a slow counter-line of chord tones in big sections
                    if e < 0.6 or b.kind == "intro":
                        continue
                    pcs = chord_pcs(chord.root, chord.quality)
                    top = voice_chord(pcs, max(ins.low, 60), min(ins.high, 84), previous, 3)
                    previous = top
                    half = bpb / 2
                    _add(track, top[-1], bar_start, half * 0.95, vel - 12, ins)
                    _add(
                        track,
                        top[-2] if len(top) > 1 else top[-1],
                        bar_start + half,
                        half * 0.95,
                        vel - 16,
                        ins,
                    )
                elif (
                    ins.role == "timpani"
                    and k == 0
                    and b.kind in ("chorus", "intro", "instrumental", "bridge")
                ):
                    _add(track, _bass_pitch(chord.root, ins), bar_start, 1.5, vel, ins)
        if ins.role == "lead" and ins is melody_ins:
            _lead_melody(track, ins, blocks, style, chords, seed, instrumental, chorus_melody)
        # the final hit: the tonic chord rings through the last bar and the tail
        final = _chord_at(chords, final_beat)
        ring = 2.0 * bpb
        if ins.role == "bass" or ins.role == "timpani":
            _add(track, _bass_pitch(final.root, ins), final_beat, ring, 100, ins)
        elif ins.role in ("chords", "pad", "arp"):
            pcs = chord_pcs(final.root, final.quality)
            for p in voice_chord(pcs, max(ins.low, 48), min(ins.high, 79), previous):
                _add(track, p, final_beat, ring, 92, ins)
        elif ins.role == "lead":
            tonic = fold(style.key_root + 72, ins.low, ins.high)
            _add(track, tonic, final_beat, ring, 90, ins)
        if track.notes:
            track.notes.sort(key=lambda x: (x.start, x.pitch))
            tracks.append(track)
    if style.drums is not None:
        tracks.append(_drums(blocks, style, seed, final_beat))
    return tracks


def _arpeggio(
    track: Track,
    ins: Instrument,
    voicing: list[int],
    start: float,
    bpb: int,
    energy: float,
    vel: float,
    slow: bool,
) -> None:
    tones = [*sorted(voicing), voicing[0] + 12]
    order = tones + tones[-2:0:-1]
    step = 0.5 if slow else 0.25
    count = int(bpb / step)
    for i in range(count):
        p = order[i % len(order)]
        _add(
            track,
            p,
            start + i * step,
            step * 1.6 if slow else step * 0.9,
            vel - (0 if i % 2 == 0 else 8),
            ins,
        )


def _lead_melody(
    track: Track,
    ins: Instrument,
    blocks: list[_Block],
    style: Style,
    chords: list[Chord],
    seed: int,
    instrumental: bool,
    chorus_melody: list[tuple[float, float, int]],
) -> None:
    """The lead instrument carries the tune where nobody sings (intro, breaks, outro)."""
    bpb = style.beats_per_bar
    scale = scale_pcs(style.key_root, style.mode, style.melody_scale)
    low, high = max(ins.low, 55), min(ins.high, 88)
    shift = 0
    if chorus_melody:
        mean = sum(p for _, _, p in chorus_melody) / len(chorus_melody)
        shift = 12 * round(((low + high) / 2 - mean) / 12)
    for b in blocks[:-1]:
        if b.lines and not instrumental:
            continue
        length = b.bars * bpb
        offset = float(b.start_bar * bpb)
        if chorus_melody and b.kind != "verse":
            for start, dur, pitch in chorus_melody:
                if start + dur > length:
                    break
                _add(track, pitch + shift, offset + start, dur, 70 + 30 * b.energy, ins)
            continue
        centre = low + _KIND_TESSITURA.get(b.kind, 0.5) * (high - low)
        for j in range(b.bars // 2):
            stresses = [1, 0, 1, 0, 1, 1, 0, 1] if j % 2 == 0 else [1, 0, 0, 1, 0, 1]
            line_start = offset + j * 2 * bpb
            mel = _line_melody(
                stresses,
                line_start,
                2,
                bpb,
                chords,
                scale,
                style.key_root,
                max(low, int(centre - 7)),
                min(high, int(centre + 7)),
                centre,
                _sub_rng(seed, "lead-rhythm", b.kind, j % 4),
                _sub_rng(seed, "lead-pitch", b.kind, j % 4),
                _sub_rng(seed, "lead-contour", b.kind, j % 4),
                style.weirdness,
                j == b.bars // 2 - 1,
            )
            for on, dur, p in zip(mel.onsets, mel.durations, mel.pitches, strict=True):
                _add(track, p, line_start + on, dur, 70 + 30 * b.energy, ins)


def _drums(blocks: list[_Block], style: Style, seed: int, final_beat: float) -> Track:
    assert style.drums is not None
    pattern = style.drums
    rng = _sub_rng(seed, "drums")
    bpb = style.beats_per_bar
    steps = pattern.steps * bpb // 4
    step_beats = bpb / steps
    track = Track("Drums", "Drums", 0, is_drum=True, volume=0.85, channel=9)
    kit = Instrument("drums", "Drums", 0, "Drums", "drums", 0, 127)
    for n, b in enumerate(blocks):
        last_block = n == len(blocks) - 1
        for k in range(b.bars):
            bar_start = float((b.start_bar + k) * bpb)
            if bar_start >= final_beat:
                continue
            e = b.energy
            if b.kind == "intro" and k < b.bars // 2 and len(blocks) > 2:
                if k == 0 and n == 0:
                    continue
                for s in range(0, steps, 4):
                    _add(track, DRUM_KEYS["hat"], bar_start + s * step_beats, 0.2, 45 + 20 * e, kit)
                continue
            fill = k == b.bars - 1 and not last_block
            for sound, hits in _take_hits(pattern, style.hat_take, b.kind, steps).items():
                if sound == "crash":
                    continue
                if sound == "open" and e < 0.6:
                    continue
                for s in hits:
                    if s >= steps or (fill and s >= steps // 2):
                        continue
                    if e < 0.35 and sound in ("snare", "clap") and s not in (4, 12):
                        continue
                    accent = 12 if s % 4 == 0 else 0
                    v = 55 + 45 * e + accent + rng.uniform(-6, 6)
                    if sound in ("hat", "shaker", "tamb", "ride", "pedal"):
                        v -= 18
                    _add(track, DRUM_KEYS[sound], bar_start + s * step_beats, 0.2, v, kit)
            if "crash" in pattern.hits:
                for s in pattern.hits["crash"]:
                    if s < steps and e >= 0.6 and not fill:
                        _add(
                            track,
                            DRUM_KEYS["ride"],
                            bar_start + s * step_beats,
                            0.3,
                            60 + 30 * e,
                            kit,
                        )
            if pattern.rolls and k % 2 == 1 and not fill:
                roll_start = bar_start + (bpb - 1)
                for r in range(6):
                    _add(track, DRUM_KEYS["hat"], roll_start + r / 6, 0.1, 60 + 5 * r, kit)
            if k == 0 and (e >= 0.6 or b.kind == "chorus") and n > 0:
                _add(track, DRUM_KEYS["crash"], bar_start, 1.0, 95 + 20 * e, kit)
            if fill:
                _fill(track, kit, bar_start, bpb, steps, step_beats, e, blocks[n + 1], rng)
    # the final hit
    _add(track, DRUM_KEYS["crash"], final_beat, 2.0 * bpb, 120, kit)
    _add(track, DRUM_KEYS["kick"], final_beat, 0.5, 120, kit)
    if "snare" in pattern.hits or "clap" in pattern.hits:
        _add(track, DRUM_KEYS["snare"], final_beat, 0.5, 105, kit)
    track.notes.sort(key=lambda x: (x.start, x.pitch))
    return track


def _take_hits(
    pattern: DrumPattern, take: str, kind: str, steps: int
) -> dict[str, tuple[int, ...]]:
    """The pattern's hits in this clip's take: a chorus may drive its straight-eighth hats
    as sixteenths or move them to the ride; other sections and grooves play as written."""
    hits = pattern.hits
    if kind != "chorus" or steps != 16 or hits.get("hat") != EIGHTH_HATS or take == "plain":
        return hits
    varied = dict(hits)
    if take == "chorus_sixteenths":
        varied["hat"] = tuple(range(16))
    elif take == "chorus_ride":
        del varied["hat"]
        varied["ride"] = EIGHTH_HATS
    return varied


def _fill(
    track: Track,
    kit: Instrument,
    bar_start: float,
    bpb: int,
    steps: int,
    step_beats: float,
    energy: float,
    following: _Block,
    rng: random.Random,
) -> None:
    half = steps // 2
    _add(track, DRUM_KEYS["kick"], bar_start, 0.2, 80 + 30 * energy, kit)
    if energy < 0.45 and following.energy < 0.6:
        for s in (steps - 4, steps - 2, steps - 1):
            _add(track, DRUM_KEYS["snare"], bar_start + s * step_beats, 0.2, 60 + 20 * energy, kit)
        return
    toms = (
        "tom_hi",
        "tom_hi",
        "tom_mid",
        "tom_mid",
        "tom_low",
        "tom_low",
        "tom_floor",
        "tom_floor",
    )
    use_toms = rng.random() < 0.6
    for i, s in enumerate(range(half, steps)):
        sound = (
            toms[min(len(toms) - 1, i * len(toms) // max(1, steps - half))]
            if use_toms
            else ("snare")
        )
        v = 70 + 40 * energy * (i + 1) / (steps - half)
        _add(track, DRUM_KEYS[sound], bar_start + s * step_beats, 0.2, v, kit)


def _clip(
    limit: float, tracks: list[Track], vocals: list[VocalPart], words: list[LyricWord]
) -> float:
    """Cut everything at ``limit`` beats (a last resort for absurdly short limits)."""
    end = math.floor(limit * 1000) / 1000
    for track in tracks:
        track.notes = [n for n in track.notes if n.start < end]
        for n in track.notes:
            n.duration = min(n.duration, end - n.start)
    for part in vocals:
        part.notes = [n for n in part.notes if n.start < end]
        for vn in part.notes:
            vn.duration = min(vn.duration, end - vn.start)
    sung = {n.word_index for part in vocals for n in part.notes}
    for word in words:
        word.end = min(word.end, end)
    if sung and len(sung) < len(words):
        del words[max(sung) + 1 :]
    elif not sung:
        words.clear()
    return end


def _apply_swing(
    swing: float, tracks: list[Track], vocals: list[VocalPart], words: list[LyricWord]
) -> None:
    """Delay off-beat eighths (a monotone time map, so nothing that did not overlap does)."""
    if swing <= 0.5:
        return

    def warp(t: float) -> float:
        beat = math.floor(t + 1e-9)
        frac = t - beat
        if frac <= 0.5:
            return beat + frac * (swing / 0.5)
        return beat + swing + (frac - 0.5) * ((1 - swing) / 0.5)

    for track in tracks:
        for note in track.notes:
            end = warp(note.start + note.duration)
            note.start = round(warp(note.start), 6)
            note.duration = round(max(0.01, end - note.start), 6)
    for part in vocals:
        for vnote in part.notes:
            end = warp(vnote.start + vnote.duration)
            vnote.start = round(warp(vnote.start), 6)
            vnote.duration = round(max(0.01, end - vnote.start), 6)
    for word in words:
        word.start = round(warp(word.start), 6)
        word.end = round(warp(word.end), 6)
