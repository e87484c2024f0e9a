"""Edits of a finished song's score: extend, cover and remaster.

A generated clip keeps its score, so these edits are exact: an extension continues in the
original's key, tempo, meter, band and voice; a cover keeps the sung melody (in beats) and
the words while the band, groove, tempo and key change; a remaster re-performs the same
notes. All three are pure and deterministic in their arguments.
"""

from __future__ import annotations

import copy
import math
import random
from dataclasses import replace

from cadenza.compose import composer
from cadenza.compose.composer import VOICE_RANGES, compose
from cadenza.compose.harmony import NOTE_NAMES, chord_quality, degree_root
from cadenza.compose.lyrics import ParsedLine
from cadenza.compose.score import Chord, Gender, Score, Section, VocalPart, VoiceSettings
from cadenza.compose.style import _CATALOGUE, Instrument, Style, _instrument, resolve_style
from cadenza.domain.music import MusicRequest

#: How far a remaster moves the performance, by ``variation_category``.
VARIATIONS: dict[str, float] = {"subtle": 0.25, "normal": 0.5, "high": 1.0}

_BY_NAME: dict[str, str] = {entry[0]: key for key, entry in _CATALOGUE.items()}


def _copy(score: Score) -> Score:
    return Score.from_dict(copy.deepcopy(score.to_dict()))


def _lead(score: Score) -> VocalPart | None:
    return next((p for p in score.vocals if p.stem == "Vocals" and p.notes), None)


def _gender(value: object, default: Gender = "male") -> Gender:
    if value == "female":
        return "female"
    if value == "male":
        return "male"
    return default


def snap_to_bar(source: Score, continue_at: float | None) -> tuple[int, float]:
    """The bar line nearest ``continue_at`` (default: the end) and its time in seconds."""
    bpb = source.beats_per_bar
    last_bar = max(1, math.floor(source.total_beats / bpb + 1e-9))
    bar = last_bar if continue_at is None else round(continue_at / source.seconds(bpb))
    bar = max(1, min(last_bar, bar))
    return bar, round(source.seconds(float(bar * bpb)), 3)


def _instruments_of(source: Score) -> list[Instrument]:
    """The band that played the source, rebuilt from its tracks' names."""
    band: list[Instrument] = []
    for track in source.tracks:
        key = _BY_NAME.get(track.name)
        if track.is_drum or key is None or not track.notes:
            continue
        band.append(replace(_instrument(key), volume=track.volume, pan=track.pan))
    return band


def source_style(source: Score) -> Style:
    """The style the source was written in: its genre's grooves, its exact key, tempo,
    meter, band and singer."""
    style = resolve_style(source.tags or source.genre, "", 0.5, 0.5, source.seed)
    if style.genre != source.genre:
        style = resolve_style(source.genre, "", 0.5, 0.5, source.seed)
    band = _instruments_of(source) or style.instruments
    has_drums = any(t.is_drum and t.notes for t in source.tracks)
    vocal = style.vocal
    lead = _lead(source)
    if lead is not None:
        vocal = replace(
            vocal,
            gender=lead.voice.gender,
            vibrato_rate_hz=lead.voice.vibrato_rate_hz,
            vibrato_depth_cents=lead.voice.vibrato_depth_cents,
            breathiness=lead.voice.breathiness,
        )
    return replace(
        style,
        genre=source.genre,
        tempo_bpm=source.tempo_bpm,
        beats_per_bar=source.beats_per_bar,
        mode=source.mode,
        key_root=source.key_root,
        instruments=band,
        drums=style.drums if has_drums else None,
        vocal=vocal,
    )


def _cut_front(score: Score, bars: int) -> None:
    """Remove the first ``bars`` bars and move everything after them to the start."""
    if bars <= 0:
        return
    cut = float(bars * score.beats_per_bar)
    for track in score.tracks:
        track.notes = [n for n in track.notes if n.start >= cut - 1e-6]
        for note in track.notes:
            note.start = round(note.start - cut, 6)
    for part in score.vocals:
        part.notes = [n for n in part.notes if n.start >= cut - 1e-6]
        for vnote in part.notes:
            vnote.start = round(vnote.start - cut, 6)
    score.words = [w for w in score.words if w.start >= cut - 1e-6]
    for word in score.words:
        word.start, word.end = round(word.start - cut, 6), round(word.end - cut, 6)
    chords: list[Chord] = []
    for chord in score.chords:
        end = chord.start + chord.duration
        if end <= cut + 1e-6:
            continue
        start = max(chord.start, cut)
        chords.append(Chord(chord.root, chord.quality, start - cut, end - start))
    score.chords = chords
    kept: list[Section] = []
    dropped = 0
    for section in score.sections:
        if section.start_bar + section.bars <= bars:
            dropped += 1
            continue
        shift = max(0, bars - section.start_bar)
        kept.append(
            replace(section, start_bar=section.start_bar + shift - bars, bars=section.bars - shift)
        )
    score.sections = kept
    for part in score.vocals:
        for vnote in part.notes:
            vnote.section_index = max(0, vnote.section_index - dropped)
    for word in score.words:
        word.section_index = max(0, word.section_index - dropped)
    score.total_beats = max(float(score.beats_per_bar), score.total_beats - cut)


def extend_score(source: Score, request: MusicRequest, seed: int, continue_at: float) -> Score:
    """The continuation from ``continue_at`` (seconds, on a bar line) of ``source``: the new
    lyrics (or new ones written in the same style), with no intro, ending with an outro."""
    style = source_style(source)
    lead = _lead(source)
    instrumental = request.instrumental or source.instrumental or lead is None
    lyrics = (request.lyrics or "").strip() or None
    description: str | None = None
    if not instrumental and lyrics is None:
        description = request.description or str(source.extra.get("style") or "") or source.tags
        description = description or source.genre
    sub = replace(
        request,
        title=request.title or source.title,
        tags=source.tags,
        lyrics=lyrics,
        description=description,
        instrumental=instrumental,
        vocal_gender=lead.voice.gender if lead is not None else request.vocal_gender,
        persona=None,
    )
    score = compose(sub, seed, style=style)
    if len(score.sections) > 1 and score.sections[0].kind == "intro":
        bars = score.sections[0].bars
        sung = [n.start for p in score.vocals for n in p.notes]
        if sung:  # a pickup into the first line stays
            bars = min(bars, math.floor(min(sung) / score.beats_per_bar + 1e-9))
        _cut_front(score, bars)
    if lead is not None:
        for part in score.vocals:
            if part.stem == "Vocals" and part.voice.gender == lead.voice.gender:
                part.voice = copy.deepcopy(lead.voice)
    score.tags = source.tags
    score.extra["key"] = source.extra.get("key", score.extra.get("key"))
    score.extra["extends"] = {"title": source.title, "seed": source.seed, "at": continue_at}
    return score


def _fold(interval: int) -> int:
    return (interval + 6) % 12 - 6


def _recolor(chord: Chord, key_root: int, mode: str, color: str) -> Chord:
    for degree in range(1, 8):
        if degree_root(key_root, mode, degree) == chord.root:
            return replace(chord, quality=chord_quality(mode, degree, color))
    return chord


def _blocks(score: Score) -> list[composer._Block]:
    counts: dict[str, int] = {}
    blocks = []
    for section in score.sections:
        lines = [ParsedLine(text, []) for text in section.lines]
        block = composer._Block(
            section.kind,
            section.label,
            lines,
            section.bars,
            max(1, section.bars // max(1, len(lines))),
            energy=section.energy,
            start_bar=section.start_bar,
            occurrence=counts.get(section.kind, 0),
        )
        counts[section.kind] = block.occurrence + 1
        blocks.append(block)
    return blocks


def cover_score(source: Score, request: MusicRequest, seed: int) -> Score:
    """``source``'s melody and words, in the form and rhythm it had (in beats), played and
    sung in the request's style, key, tempo and voice."""
    style = resolve_style(
        request.tags, request.negative_tags, request.weirdness, request.style_influence, seed
    )
    style = replace(style, mode=source.mode, beats_per_bar=source.beats_per_bar)
    shift = _fold(style.key_root - source.key_root)
    lead = _lead(source)
    old_gender = lead.voice.gender if lead is not None else "male"
    gender = _gender(request.vocal_gender or style.vocal.gender, old_gender)
    low, high = VOICE_RANGES[gender]
    if lead is not None:
        mean = sum(n.pitch for n in lead.notes) / len(lead.notes) + shift
        shift += 12 * round(((low + high) / 2 - mean) / 12)

    score = _copy(source)
    vocals: list[VocalPart] = []
    for part in score.vocals:
        part_gender = (
            gender
            if part.voice.gender == old_gender
            else _gender("female" if gender == "male" else "male")
        )
        voice: VoiceSettings = composer._voice(part_gender, style, part.voice.name)
        for vnote in part.notes:
            vnote.pitch += shift
        vocals.append(replace(part, voice=voice))
    key_root = (source.key_root + _fold(style.key_root - source.key_root)) % 12
    chords = [
        _recolor(
            Chord((c.root + shift) % 12, c.quality, c.start, c.duration),
            key_root,
            source.mode,
            style.chord_color,
        )
        for c in score.chords
    ]
    blocks = _blocks(score)
    chorus: list[tuple[float, float, int]] = []
    lead_now = next((p for p in vocals if p.stem == "Vocals" and p.notes), None)
    first_chorus = next((s for s in score.sections if s.kind == "chorus"), None)
    if lead_now is not None and first_chorus is not None:
        begin = float(first_chorus.start_bar * score.beats_per_bar)
        end = begin + first_chorus.bars * score.beats_per_bar
        chorus = [
            (n.start - begin, n.duration, n.pitch)
            for n in lead_now.notes
            if begin <= n.start < end and not n.continues
        ]
    instrumental = score.instrumental or lead_now is None or request.instrumental
    if instrumental:  # an instrumental cover: the lead instrument plays the tune
        vocals = []
        for block in blocks:
            block.lines = []
    style = replace(style, key_root=key_root)
    tracks = composer._arrange(blocks, style, chords, seed, instrumental, chorus)
    composer._apply_swing(style.swing, tracks, vocals, score.words)
    score.title = request.title or source.title
    score.tags = request.tags
    score.seed = seed
    score.genre = style.genre
    score.tempo_bpm = style.tempo_bpm
    score.key_root = key_root
    score.chords = chords
    score.tracks = tracks
    score.vocals = vocals
    score.instrumental = instrumental
    if instrumental:
        score.words = []
    score.extra = {
        **score.extra,
        "key": f"{NOTE_NAMES[key_root]} {source.mode}",
        "style": style.label,
        "moods": list(style.moods),
        "voice": gender if not instrumental else None,
        "covers": {"title": source.title, "seed": source.seed, "genre": source.genre},
    }
    score.extra.pop("persona_id", None)
    return score


def remaster_score(source: Score, variation: str, seed: int) -> Score:
    """The same song re-performed: fresh dynamics, timing feel and vocal colour, more of it
    as ``variation`` grows; ``high`` also re-voices some accompaniment an octave away."""
    if variation not in VARIATIONS:
        raise ValueError(f"variation must be one of {', '.join(VARIATIONS)}")
    amount = VARIATIONS[variation]
    rng = random.Random(f"cadenza/remaster/{seed}/{variation}")
    score = _copy(source)
    bpb = score.beats_per_bar
    for track in score.tracks:
        track.volume = round(
            min(1.0, max(0.05, track.volume * (1 + rng.uniform(-0.1, 0.1) * amount))), 4
        )
        jitter = (0.006 if track.is_drum else 0.02) * amount
        for note in track.notes:
            note.velocity = int(min(127, max(1, note.velocity + round(rng.gauss(0, 8 * amount)))))
            moved = note.start + rng.uniform(-jitter, jitter)
            note.start = round(min(score.total_beats, max(0.0, moved)), 6)
    if amount >= 1.0:
        bass_like = ("Bass", "Drums", "Percussion")
        for track in score.tracks:
            if track.is_drum or track.stem in bass_like:
                continue
            for section in score.sections:
                if rng.random() >= 0.3:
                    continue
                begin, end = section.start_bar * bpb, (section.start_bar + section.bars) * bpb
                step = 12 if rng.random() < 0.5 else -12
                notes = [n for n in track.notes if begin <= n.start < end]
                if notes and all(24 <= n.pitch + step <= 100 for n in notes):
                    for note in notes:
                        note.pitch += step
    for part in score.vocals:
        voice = part.voice
        voice.vibrato_rate_hz = round(voice.vibrato_rate_hz + rng.uniform(-0.4, 0.4) * amount, 3)
        voice.vibrato_depth_cents = round(
            max(5.0, voice.vibrato_depth_cents * (1 + rng.uniform(-0.2, 0.2) * amount)), 2
        )
        voice.breathiness = round(
            min(0.6, max(0.0, voice.breathiness + rng.uniform(-0.05, 0.05) * amount)), 3
        )
        for vnote in part.notes:
            vnote.velocity = int(min(127, max(1, vnote.velocity + round(rng.gauss(0, 5 * amount)))))
    score.title = f"{source.title} (Remastered)"
    score.extra = {**score.extra, "remaster": {"variation": variation, "seed": seed}}
    return score
