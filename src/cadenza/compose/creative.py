"""Score edits for the creative actions that sing new words over a finished song's own
bars: replace_section (the window's vocals are written and sung again with new lines)
and overpainting (Add Vocals: a melody over an instrumental's chords within a window).

Both keep every note outside the window and the band inside it, so the audio outside the
window can stay the source's own; only the lead's notes and words inside the window are
new. The melody is the composer's (``composer._line_melody``): stressed syllables on the
beat, chord tones on strong beats, steps in the song's scale between them. All of it is
pure and deterministic in its arguments.
"""

from __future__ import annotations

import copy
import math
import random
from dataclasses import dataclass, replace

from cadenza.compose import composer
from cadenza.compose.analysis import is_analysed, melody_key, offset_beats
from cadenza.compose.composer import VOICE_RANGES
from cadenza.compose.harmony import NOTE_NAMES, chord_pcs, chord_quality, degree_root, scale_pcs
from cadenza.compose.lyrics import ParsedLine, ParsedSection, detect_language, is_han, parse_lyrics
from cadenza.compose.score import (
    Chord,
    Gender,
    LyricWord,
    Note,
    Score,
    Track,
    VocalNote,
    VocalPart,
)
from cadenza.domain.errors import EngineError
from cadenza.domain.music import MusicRequest


@dataclass(frozen=True)
class Window:
    """A span of a song on its bar lines: beats and seconds (an analysed source's bars
    start at its first downbeat)."""

    start_beat: float
    end_beat: float
    start_s: float
    end_s: float
    bars: int


def bar_window(score: Score, start_s: float, end_s: float | None) -> Window:
    """``[start_s, end_s)`` moved to the nearest bar lines, at least one bar long and
    within the song's last whole bar (``end_s`` None: to that bar)."""
    bpb = score.beats_per_bar
    offset = offset_beats(score)
    bar_s = score.seconds(bpb)
    first = score.seconds(offset)
    last_bar = max(1, math.floor((score.total_beats - offset) / bpb + 1e-9))
    a = max(0, min(last_bar - 1, round((start_s - first) / bar_s)))
    b = last_bar if end_s is None else round((end_s - first) / bar_s)
    b = max(a + 1, min(last_bar, b))
    start_beat = offset + a * bpb
    end_beat = offset + b * bpb
    return Window(
        start_beat,
        end_beat,
        round(score.seconds(start_beat), 4),
        round(min(score.seconds(end_beat), score.duration_s), 4),
        b - a,
    )


def sung_lines(text: str) -> list[ParsedLine]:
    """The lines of ``text`` to sing, section headers dropped."""
    lines = [ln for sec in parse_lyrics(text) for ln in sec.lines if ln.words]
    return lines


def _merge(lines: list[ParsedLine], groups: int) -> list[ParsedLine]:
    """``lines`` joined into ``groups`` phrases (more lines than bars: two share one)."""
    if len(lines) <= groups:
        return lines
    out: list[ParsedLine] = []
    for g in range(groups):
        part = lines[g * len(lines) // groups : (g + 1) * len(lines) // groups]
        out.append(
            ParsedLine(" ".join(ln.text for ln in part), [w for ln in part for w in ln.words])
        )
    return out


def _stretched(chords: list[Chord], origin: float, factor: float) -> list[Chord]:
    """The chords seen on a time axis ``factor`` times as long from ``origin``."""
    return [
        Chord(c.root, c.quality, origin + (c.start - origin) * factor, c.duration * factor)
        for c in chords
    ]


def _section_at(score: Score, beat: float) -> int:
    bar = (beat - offset_beats(score)) / score.beats_per_bar
    index = 0
    for i, section in enumerate(score.sections):
        if section.start_bar <= bar + 1e-6:
            index = i
    return index


def singer_gender(score: Score, asked: str | None = None) -> Gender:
    """Who sings: the asked gender, else the source's lead, else the voice an analysis
    heard, else the genre's singer."""
    if asked in ("male", "female"):
        return "female" if asked == "female" else "male"
    lead = next((p for p in score.vocals if p.stem == "Vocals" and p.notes), None)
    if lead is not None:
        return lead.voice.gender
    voice = score.extra.get("voice")
    if voice in ("male", "female"):
        return "female" if voice == "female" else "male"
    from cadenza.compose.edits import source_style

    return "female" if source_style(score).vocal.gender == "female" else "male"


def sing_window(
    score: Score,
    lines: list[ParsedLine],
    window: Window,
    seed: int,
    *,
    gender: Gender,
) -> list[LyricWord]:
    """Write ``lines`` as the lead's melody over ``window`` of ``score`` (in place): one
    phrase per line, the window's bars shared between them, every onset on the song's
    eighth-note grid (sixteenths for a line too long for its bars). Returns the new words,
    already in ``score.words``; raises ``EngineError`` if the words cannot fit."""
    if not lines:
        raise EngineError("there are no lines to sing in the window")
    from cadenza.compose.edits import source_style

    style = source_style(score)
    bpb = score.beats_per_bar
    lines = _merge(lines, window.bars)
    share = [window.bars // len(lines)] * len(lines)
    for i in range(window.bars - sum(share)):
        share[i] += 1
    lead = next((p for p in score.vocals if p.stem == "Vocals"), None)
    if lead is None or lead.voice.gender != gender:
        voice = composer._voice(gender, style, f"lead-{gender}")
        if lead is not None:
            voice = copy.deepcopy(lead.voice)
            voice.gender = gender
            voice.formant_scale = 1.17 if gender == "female" else 1.0
            voice.name = f"lead-{gender}"
        lead = VocalPart("Lead Vocal", "Vocals", voice)
        score.vocals.insert(0, lead)
    low, high = VOICE_RANGES[gender]
    centre = low + 0.5 * (high - low)
    scale = scale_pcs(score.key_root, score.mode, style.melody_scale)
    section_index = _section_at(score, window.start_beat)
    language = detect_language([_as_section(lines)])
    score.language = language if not score.words else score.language
    new_words: list[LyricWord] = []
    at = window.start_beat
    first_line = max((w.line_index for w in score.words), default=-1) + 1
    for j, (line, bars) in enumerate(zip(lines, share, strict=True)):
        stresses = [s for w in line.words for s in w.stresses]
        syllables = [(w, k) for w in line.words for k in range(len(w.syllables))]
        # An eighth per syllable with a beat's breath, else sixteenths (the line is sung
        # on a grid twice as fine: written over twice the bars, then halved).
        factor = 1.0
        if len(syllables) > 2 * bars * bpb - 2:
            factor = 0.5
        if len(syllables) > 4 * bars * bpb - 2:
            raise EngineError(
                f"the line '{line.text[:60]}' has {len(syllables)} syllables: more than"
                f" {bars} bar(s) of the window can hold"
            )
        span_bars = bars if factor == 1.0 else 2 * bars
        chords = score.chords if factor == 1.0 else _stretched(score.chords, at, 2.0)
        # The first line starts an eighth in where it has room: a word's onset consonant
        # is sung just before its note, and it belongs inside the window too.
        lead_in = 0.5 if j == 0 and factor == 1.0 and len(syllables) <= 2 * bars * bpb - 3 else 0.0
        signature = "".join(str(s) for s in stresses)
        melody = composer._line_melody(
            stresses,
            at + lead_in,
            span_bars,
            bpb,
            chords or [Chord(score.key_root, "maj", 0.0, score.total_beats)],
            scale,
            score.key_root,
            max(low, int(centre - 7)),
            min(high, int(centre + 7)),
            centre,
            random.Random(f"{seed}:rhythm:{j}:{signature}"),
            random.Random(f"{seed}:pitch:{j}:{signature}"),
            random.Random(f"{seed}:contour:{j}"),
            style.weirdness,
            j == len(lines) - 1,
        )
        line_index = first_line + j
        current: LyricWord | None = None
        for i, (word, k) in enumerate(syllables):
            start = round(at + lead_in + melody.onsets[i] * factor, 6)
            duration = round(melody.durations[i] * factor, 6)
            if k == 0:
                current = LyricWord(word.text, line_index, section_index, start, start)
                new_words.append(current)
                score.words.append(current)
            assert current is not None
            current.end = round(start + duration, 6)
            lead.notes.append(
                VocalNote(
                    pitch=melody.pitches[i],
                    start=start,
                    duration=duration,
                    syllable=word.syllables[k],
                    word_index=-1,  # set by ``renumber``
                    line_index=line_index,
                    section_index=section_index,
                    language=word.language or language,
                    velocity=max(1, min(127, int(84 + 14 * word.stresses[k]))),
                )
            )
            # ``word_index`` points at the LyricWord object until ``renumber``.
            lead.notes[-1].word_index = id(current)
        at += bars * bpb
    return new_words


def _as_section(lines: list[ParsedLine]) -> ParsedSection:
    return ParsedSection("verse", "Verse", None, list(lines))


def clear_window(score: Score, window: Window) -> None:
    """Drop every sung note and word that starts inside ``window`` (notes held into it
    end at its start), and the melody an analysis transcribed there."""
    a, b = window.start_beat, window.end_beat
    for part in score.vocals:
        kept = []
        for note in part.notes:
            if a - 1e-6 <= note.start < b - 1e-6:
                continue
            if note.start < a and note.start + note.duration > a:
                note.duration = round(a - note.start, 6)
            kept.append(note)
        part.notes = kept
    for track in score.tracks:
        if track.stem == "Vocals":
            track.notes = [n for n in track.notes if not a - 1e-6 <= n.start < b - 1e-6]
    for note_part in score.vocals:
        for note in note_part.notes:
            word = score.words[note.word_index] if 0 <= note.word_index < len(score.words) else None
            note.word_index = id(word) if word is not None else -1
    score.words = [w for w in score.words if not a - 1e-6 <= w.start < b - 1e-6]


def renumber(score: Score) -> None:
    """Words in sung order, lines numbered in order, each note pointing at its word again
    (``clear_window`` and ``sing_window`` leave notes pointing at word objects)."""
    score.words.sort(key=lambda w: (w.start, w.line_index))
    index_of = {id(w): i for i, w in enumerate(score.words)}
    lines: dict[int, int] = {}
    for word in score.words:
        lines.setdefault(word.line_index, len(lines))
    for word in score.words:
        word.line_index = lines[word.line_index]
    for part in score.vocals:
        part.notes.sort(key=lambda n: n.start)
        for note in part.notes:
            note.word_index = index_of.get(note.word_index, -1)
            note.line_index = lines.get(note.line_index, note.line_index)
        part.notes = [n for n in part.notes if n.word_index >= 0]
    score.vocals = [p for p in score.vocals if p.notes]


def lyrics_of(score: Score) -> str:
    """The sung words as lyrics: one line per sung line, a header per section."""
    out: list[str] = []
    section = -1
    line = -1
    for word in score.words:
        if word.section_index != section:
            section = word.section_index
            label = score.sections[section].label if section < len(score.sections) else "Verse"
            out.append(f"[{label or 'Verse'}]")
            line = -1
        if word.line_index != line:
            out.append(word.text)
            line = word.line_index
        else:
            joined = is_han(word.text[:1]) and is_han(out[-1][-1:])
            out[-1] += ("" if joined else " ") + word.text
    return "\n".join(out)


def _copy(score: Score) -> Score:
    return Score.from_dict(copy.deepcopy(score.to_dict()))


def _lines_to_sing(infill: str | None, lyrics: str | None) -> list[ParsedLine]:
    lines = sung_lines(infill) if infill and infill.strip() else []
    if not lines and lyrics and lyrics.strip():
        lines = sung_lines(lyrics)
    return lines


def replace_section_score(
    source: Score,
    window: Window,
    *,
    lyrics: str | None,
    infill_lyrics: str | None,
    seed: int,
    tags: str = "",
    vocal_gender: str | None = None,
) -> Score:
    """The source with ``window`` sung again: the lines of ``infill_lyrics`` (else of
    ``lyrics``) as a new melody over the window's own chords, in the song's key, tempo and
    voice; every note outside the window and the band inside it are the source's."""
    lines = _lines_to_sing(infill_lyrics, lyrics)
    if not lines:
        raise EngineError("replace_section needs the lines to sing (prompt or lyric)")
    gender = singer_gender(source, vocal_gender)
    score = _copy(source)
    clear_window(score, window)
    sing_window(score, lines, window, seed, gender=gender)
    renumber(score)
    score.instrumental = False
    score.seed = seed
    if tags.strip():
        score.tags = tags.strip()
    score.extra["lyrics"] = lyrics.strip() if lyrics and lyrics.strip() else lyrics_of(score)
    score.extra["voice"] = gender
    score.extra["replaced"] = {
        "start_s": window.start_s,
        "end_s": window.end_s,
        "bars": window.bars,
        **({"analysed": True} if is_analysed(source) else {}),
    }
    return score


def overpaint_score(
    source: Score,
    window: Window,
    *,
    lyrics: str,
    seed: int,
    vocal_gender: str | None = None,
) -> Score:
    """Add Vocals: the source's score (its band untouched) with a lead singing ``lyrics``
    over its chords and beat grid within ``window``; the source's own sung notes there
    are replaced."""
    lines = sung_lines(lyrics)
    if not lines:
        raise EngineError("overpainting needs lyrics to sing")
    gender = singer_gender(source, vocal_gender)
    score = _copy(source)
    # The instrumental stays as it is: only the new voice is added.
    score.vocals = []
    score.words = []
    sing_window(score, lines, window, seed, gender=gender)
    renumber(score)
    score.instrumental = False
    score.seed = seed
    score.extra["lyrics"] = lyrics.strip()
    score.extra["voice"] = gender
    score.extra["overpainted"] = {"start_s": window.start_s, "end_s": window.end_s}
    return score


#: Longest loop a sample is chopped to (seconds), and the lengths it may take (bars).
SAMPLE_MAX_S = 8.5
SAMPLE_BARS = (4, 2, 1)


def sample_bars(source: Score, window: Window) -> int:
    """How many bars of the window's start become the loop: the longest of 4, 2 or 1
    bars that the window holds and that lasts at most ``SAMPLE_MAX_S``."""
    bar_s = source.seconds(source.beats_per_bar)
    for bars in SAMPLE_BARS:
        if bars <= window.bars and bars * bar_s <= SAMPLE_MAX_S:
            return bars
    return 1


def sample_song(source: Score, request: MusicRequest, seed: int) -> Score:
    """A new song in the request's style (band, groove, production; its own lyrics or
    ones written for it) in the sample's key, mode, tempo and meter, so the loop fits its
    bars with no stretching or re-pitching."""
    from cadenza.compose.composer import compose
    from cadenza.compose.edits import restyled, source_style

    style = restyled(source, request, seed) if request.tags.strip() else source_style(source)
    style = replace(
        style,
        tempo_bpm=source.tempo_bpm,
        beats_per_bar=source.beats_per_bar,
        key_root=source.key_root,
        mode=source.mode,
    )
    score = compose(replace(request, persona=None), seed, style=style)
    score.extra["key"] = source.extra.get("key", score.extra.get("key"))
    return score


# ------------------------------------------------------------------ underpainting
# The arranging half of Add Instrumental: chords harmonised from a vocal's melody and a
# band under it on the vocal's grid. Not offered yet: the grid of a lone voice (its
# tempo) is not tracked reliably enough (the analysis reads a 92 bpm a cappella as
# 123 bpm), and a band out of time with the voice is worse than none.


def melody_notes(source: Score) -> list[Note]:
    """The sung melody an analysis transcribed (its ``Melody`` track)."""
    track = next((t for t in source.tracks if t.name == "Melody" and t.notes), None)
    return list(track.notes) if track is not None else []


def harmonise(
    notes: list[Note], key_root: int, mode: str, start_beat: float, bars: int, bpb: int
) -> list[int]:
    """A scale degree per bar whose triad holds the most of the melody sounding in it
    (each note weighted by its length, double on a strong beat); a bar with no melody
    keeps the previous chord, and the last bar goes home."""
    strong = (0, 2) if bpb == 4 else (0,)
    triads = {
        d: set(chord_pcs(degree_root(key_root, mode, d), chord_quality(mode, d, "triad")))
        for d in range(1, 8)
    }
    # Ties go to the primary chords, then the relative minor.
    preference = {1: 0.3, 4: 0.2, 5: 0.2, 6: 0.1, 2: 0.05, 3: 0.0, 7: -0.2}
    degrees: list[int] = []
    for bar in range(bars):
        a = start_beat + bar * bpb
        b = a + bpb
        weight = {d: 0.0 for d in triads}
        heard = 0.0
        for note in notes:
            overlap = min(b, note.start + note.duration) - max(a, note.start)
            if overlap <= 0:
                continue
            on_strong = (note.start - a) % bpb in strong if note.start >= a else True
            w = overlap * (2.0 if on_strong else 1.0)
            heard += w
            for d, pcs in triads.items():
                if note.pitch % 12 in pcs:
                    weight[d] += w
        if heard <= 0:
            degrees.append(degrees[-1] if degrees else 1)
            continue
        degrees.append(max(triads, key=lambda d: (weight[d] + preference[d] * heard / 4, -d)))
    if degrees and degrees[-1] != 1:
        end = start_beat + bars * bpb
        last = [n for n in notes if end - bpb <= n.start < end]
        if all(n.pitch % 12 in triads[1] for n in last):
            degrees[-1] = 1
    return degrees


def _inside(notes: list[Note], total_beats: float) -> list[Note]:
    """``notes`` cut to the song: an analysed grid's first beat may lie a hair before the
    audio, and what sounds before it starts at 0 (nothing in a score starts earlier)."""
    kept = []
    for note in notes:
        if note.start >= total_beats or note.start + note.duration <= 0:
            continue
        if note.start < 0:
            note.duration = round(note.duration + note.start, 6)
            note.start = 0.0
        kept.append(note)
    return kept


def accompaniment_score(source: Score, window: Window, request: MusicRequest, seed: int) -> Score:
    """A band in the request's style under the analysed vocal of ``source``, within
    ``window``: the vocal's own tempo, meter and key, chords harmonised from its melody
    bar by bar, the arrangement the composer writes for them (no lead melody: the voice
    has the tune). Times are the source's, so the band plays in time with the voice. The
    key is the melody's own where it has notes enough (see ``melody_key``). The score's
    tracks are the band's; the melody it was harmonised from is kept as a track of the
    ``Vocals`` stem (for MIDI), never rendered."""
    from cadenza.compose.edits import restyled, source_style

    bpb = source.beats_per_bar
    melody = melody_notes(source)
    key_root, mode = melody_key(melody) or (source.key_root, source.mode)
    style = restyled(source, request, seed) if request.tags.strip() else source_style(source)
    style = replace(
        style,
        tempo_bpm=source.tempo_bpm,
        beats_per_bar=bpb,
        key_root=key_root,
        mode=mode,
    )
    degrees = harmonise(melody, key_root, mode, window.start_beat, window.bars, bpb)
    # The vocal sings over every block: a line each keeps the lead instrument quiet.
    sung = [ParsedLine("", [])]
    blocks: list[composer._Block] = []
    at = 0
    while at < window.bars:
        bars = min(8, window.bars - at)
        energy = 0.45 if not blocks else 0.6
        block = composer._Block("verse" if len(blocks) % 2 == 0 else "chorus", "", sung, bars, 2)
        block.start_bar, block.energy, block.occurrence = at, energy, len(blocks) // 2
        block.chord_degrees = degrees[at : at + bars]
        blocks.append(block)
        at += bars
    chords = composer._chord_list(blocks, style)
    tracks = composer._arrange(blocks, style, chords, seed, False, [])
    shift = window.start_beat
    for track in tracks:
        for note in track.notes:
            note.start = round(note.start + shift, 6)
    for chord in chords:
        chord.start = max(0.0, round(chord.start + shift, 6))
    band = _copy(source)
    band.tracks = [t for t in tracks if t.notes]
    for track in band.tracks:
        track.notes = _inside(track.notes, source.total_beats)
    if melody:
        band.tracks.append(
            Track(
                "Melody",
                "Vocals",
                53,
                notes=_inside([copy.deepcopy(n) for n in melody], source.total_beats),
                channel=15,
            )
        )
    band.chords = chords
    band.key_root, band.mode = key_root, mode
    band.extra["key"] = f"{NOTE_NAMES[key_root]} {mode}"
    band.tags = request.tags.strip() or source.tags
    band.genre = style.genre
    band.seed = seed
    band.instrumental = True
    band.extra["underpainted"] = {
        "start_s": window.start_s,
        "end_s": window.end_s,
        "degrees": degrees,
        "style": style.label,
    }
    return band


def fit_to_chords(
    melody: list[Note], chords: list[Chord], key_root: int, mode: str
) -> dict[str, float]:
    """Shares of the melody's notes (by count) that are tones of the chord under their
    onset, and of the key's scale."""
    if not melody or not chords:
        return {"chord_tone_share": 0.0, "scale_tone_share": 0.0, "notes": float(len(melody))}
    scale = set(scale_pcs(key_root, mode))
    in_chord = in_scale = 0
    for note in melody:
        chord = composer._chord_at(chords, note.start)
        in_chord += note.pitch % 12 in chord_pcs(chord.root, chord.quality)
        in_scale += note.pitch % 12 in scale
    return {
        "chord_tone_share": round(in_chord / len(melody), 3),
        "scale_tone_share": round(in_scale / len(melody), 3),
        "notes": float(len(melody)),
    }


# ------------------------------------------------------------------ mashup


def sung_text(score: Score) -> str:
    """A score's lyrics as written (empty for an instrumental)."""
    if score.instrumental or not score.words:
        return ""
    written = score.extra.get("lyrics")
    return written.strip() if isinstance(written, str) else lyrics_of(score)


def mashup_score(first: Score, second: Score, request: MusicRequest, seed: int) -> Score:
    """One song from two: the first's key and mode, the tempo halfway between theirs,
    both songs' styles (unless the request names one), and both songs' lyrics merged
    (``lyrics_mashup``: verses taking turns, a duet of both choruses) unless the request
    brings its own."""
    from cadenza.compose.composer import compose
    from cadenza.compose.lyrics_mashup import mashup_lyrics
    from cadenza.compose.style import resolve_style

    lyrics = (request.lyrics or "").strip()
    title = request.title
    if not lyrics and not request.instrumental:
        texts = [t for t in (sung_text(first), sung_text(second)) if t]
        if len(texts) == 2:
            merged = mashup_lyrics(texts[0], texts[1])
            lyrics, title = merged.text, title or merged.title
        elif texts:
            lyrics = texts[0]
    tags = request.tags.strip() or ", ".join(t for t in (first.tags, second.tags) if t.strip())
    style = resolve_style(
        tags or first.genre, request.negative_tags, request.weirdness, request.style_influence, seed
    )
    tempo = round((first.tempo_bpm + second.tempo_bpm) / 2, 2)
    style = replace(style, tempo_bpm=tempo, key_root=first.key_root, mode=first.mode)
    instrumental = request.instrumental or not lyrics
    sub = replace(
        request,
        title=title,
        tags=tags,
        lyrics=lyrics or None,
        description=None if lyrics else request.description,
        instrumental=instrumental,
        persona=None,
    )
    score = compose(sub, seed, style=style)
    score.extra["key"] = f"{NOTE_NAMES[first.key_root]} {first.mode}"
    score.extra["mashup"] = {"tempi": [first.tempo_bpm, second.tempo_bpm], "tempo": tempo}
    return score


# ------------------------------------------------------------------ inspo


@dataclass(frozen=True)
class Reference:
    """What an inspo reference sounds like: its tempo, key and mode, and who sings."""

    tempo_bpm: float
    key_root: int
    mode: str
    voice: str | None = None


def _mean_tempo(tempi: list[float]) -> float:
    """Tempi averaged on a log scale, each folded first into an octave of the first
    (a reference heard at double time still counts for the same pulse)."""
    base = tempi[0]
    folded = []
    for tempo in tempi:
        while tempo > base * 1.5:
            tempo /= 2
        while tempo < base / 1.5:
            tempo *= 2
        folded.append(tempo)
    return float(math.exp(sum(math.log(t) for t in folded) / len(folded)))


def inspired_score(
    references: list[Reference], request: MusicRequest, seed: int, weight: float
) -> Score:
    """A new song in the style the references share: their tempo, the first's key, the
    mode most of them are in, their singer's gender. ``weight`` (0..1, AceData's
    ``audio_weight``) sets how far the tempo moves from the asked style's own toward
    theirs (geometrically); from 0.3 on, the key and mode are theirs too."""
    from cadenza.compose.composer import compose
    from cadenza.compose.style import resolve_style

    if not references:
        raise EngineError("inspo needs at least one reference")
    style = resolve_style(
        request.tags, request.negative_tags, request.weirdness, request.style_influence, seed
    )
    tempo = _mean_tempo([r.tempo_bpm for r in references])
    blended = math.exp(weight * math.log(tempo) + (1 - weight) * math.log(style.tempo_bpm))
    modes = [r.mode for r in references]
    mode = max(sorted(set(modes)), key=modes.count)
    style = replace(style, tempo_bpm=round(blended, 2))
    if weight >= 0.3:
        style = replace(style, key_root=references[0].key_root, mode=mode)
    voices = [r.voice for r in references if r.voice in ("male", "female")]
    gender = request.vocal_gender or (
        max(sorted(set(voices)), key=voices.count) if voices else None
    )
    score = compose(replace(request, vocal_gender=gender, persona=None), seed, style=style)
    score.extra["inspo"] = {
        "references": [
            {
                "tempo": round(r.tempo_bpm, 2),
                "key": f"{NOTE_NAMES[r.key_root]} {r.mode}",
                "voice": r.voice,
            }
            for r in references
        ],
        "weight": weight,
    }
    return score
