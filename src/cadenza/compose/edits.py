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
from cadenza.compose.analysis import is_analysed, offset_beats
from cadenza.compose.composer import VOICE_RANGES, compose
from cadenza.compose.harmony import NOTE_NAMES, chord_quality, degree_root
from cadenza.compose.lyrics import ParsedLine, detect_language, parse_lyrics
from cadenza.compose.score import (
    Chord,
    Gender,
    LyricWord,
    Score,
    Section,
    Track,
    VocalPart,
    VoiceSettings,
)
from cadenza.compose.style import (
    _BPM,
    _CATALOGUE,
    GENRES,
    Instrument,
    Style,
    _instrument,
    resolve_style,
)
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
    """The bar line nearest ``continue_at`` (default: the end) and its time in seconds.

    An analysed source's bars start at its first downbeat, not at 0."""
    bpb = source.beats_per_bar
    offset = offset_beats(source)
    bar_s = source.seconds(bpb)
    last_bar = max(1, math.floor((source.total_beats - offset) / bpb + 1e-9))
    start = source.seconds(offset)
    bar = last_bar if continue_at is None else round((continue_at - start) / bar_s)
    bar = max(1, min(last_bar, bar))
    # Audio shorter than a bar has none inside it: the extension then starts at its end.
    return bar, round(min(source.seconds(offset + bar * bpb), source.duration_s), 3)


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
    # An analysis transcribes no drums: the genre's groove plays on.
    has_drums = is_analysed(source) or any(t.is_drum and t.notes for t in source.tracks)
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
    # the source's own singers sing on (a score from before singers had names keeps "")
    sung = {p.voice.gender: p.voice.singer for p in reversed(source.vocals) if p.notes}
    if sung:
        male, female = vocal.singers
        vocal = replace(vocal, singers=(sung.get("male", male), sung.get("female", female)))
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


def _names_bpm(tags: str) -> bool:
    return _BPM.search(tags.lower()) is not None


def _names_gender(tags: str) -> bool:
    style = resolve_style(tags)
    return style.vocal.gender != GENRES[style.genre].vocal.gender


def _names_meter(tags: str) -> bool:
    style = resolve_style(tags)
    return style.beats_per_bar != GENRES[style.genre].beats_per_bar


def restyled(source: Score, request: MusicRequest, seed: int) -> Style:
    """The request's style (band, groove, production) in the source's key, mode and tempo;
    the tags may still name a bpm, a meter or a singer of their own."""
    style = resolve_style(
        request.tags, request.negative_tags, request.weirdness, request.style_influence, seed
    )
    lead = _lead(source)
    vocal = style.vocal
    if lead is not None and not _names_gender(request.tags):
        vocal = replace(vocal, gender=lead.voice.gender)
    return replace(
        style,
        tempo_bpm=style.tempo_bpm if _names_bpm(request.tags) else source.tempo_bpm,
        beats_per_bar=(style.beats_per_bar if _names_meter(request.tags) else source.beats_per_bar),
        mode=source.mode,
        key_root=source.key_root,
        vocal=vocal,
    )


def _analysed_gender(source: Score) -> Gender | None:
    voice = source.extra.get("voice")
    return _gender(voice) if voice in ("male", "female") else None


def extend_score(source: Score, request: MusicRequest, seed: int, continue_at: float) -> Score:
    """The continuation from ``continue_at`` (seconds, on a bar line) of ``source``: the new
    lyrics (or new ones written in the same style), with no intro, ending with an outro.

    With tags of its own the continuation changes style (band, groove, production) and keeps
    the key and tempo, unless the tags name a bpm; with none it plays on in the source's."""
    new_tags = request.tags.strip()
    restyle = bool(new_tags) and new_tags.lower() != source.tags.strip().lower()
    style = restyled(source, request, seed) if restyle else source_style(source)
    lead = _lead(source)
    lyrics = (request.lyrics or "").strip() or None
    sung_before = lead is not None or _analysed_gender(source) is not None
    if is_analysed(source):  # words can be sung over an upload, with or without a singer
        instrumental = request.instrumental or (lyrics is None and not sung_before)
    else:
        instrumental = request.instrumental or source.instrumental or lead is None
    description: str | None = None
    if not instrumental and lyrics is None:
        description = request.description or str(source.extra.get("style") or "") or source.tags
        description = description or source.genre
    if lead is not None:
        gender: Gender | None = lead.voice.gender
    else:
        gender = _analysed_gender(source)
    if restyle and _names_gender(request.tags):
        gender = _gender(style.vocal.gender)
    sub = replace(
        request,
        title=request.title or source.title,
        tags=request.tags if restyle else source.tags,
        lyrics=lyrics,
        description=description,
        instrumental=instrumental,
        vocal_gender=gender or request.vocal_gender,
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
    score.tags = request.tags if restyle else source.tags
    score.extra["key"] = source.extra.get("key", score.extra.get("key"))
    score.extra["extends"] = {
        "title": source.title,
        "seed": source.seed,
        "at": continue_at,
        **({"restyled": True} if restyle else {}),
        **({"analysed": True} if is_analysed(source) else {}),
    }
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


def _on_the_bar(source: Score) -> Score:
    """A copy of an analysed score moved so its first downbeat is beat 0: a pickup of a
    beat or more gets a bar of its own, a sliver before the downbeat is dropped."""
    score = _copy(source)
    bpb = score.beats_per_bar
    offset = offset_beats(score)
    pickup = offset >= 1.0
    shift = bpb - offset if pickup else -offset

    def grid(beats: float) -> float:  # analysed events sit on the eighth-note grid
        return round(beats * 2) / 2

    for track in score.tracks:
        for note in track.notes:
            end = grid(note.start + shift + note.duration)
            note.start = grid(note.start + shift)
            note.duration = max(0.5, end - note.start)
        track.notes = [n for n in track.notes if n.start >= 0]
    chords = []
    for chord in score.chords:
        start, end = grid(chord.start + shift), grid(chord.start + shift + chord.duration)
        if end > max(0.0, start):
            chords.append(replace(chord, start=max(0.0, start), duration=end - max(0.0, start)))
    score.chords = chords
    if pickup:
        for section in score.sections:
            section.start_bar += 1
        score.sections.insert(0, Section("intro", "Pickup", 0, 1, 0.3))
    score.total_beats = round(score.total_beats + shift, 6)
    score.extra = {
        **score.extra,
        "analysis": {**score.extra.get("analysis", {}), "offset_beats": 0},
    }
    return score


def _chords_for(blocks: list[composer._Block], chords: list[Chord], bpb: int) -> list[Chord]:
    """The analysed progression, bar by bar, repeated over a new form."""
    if not chords:
        return []
    span = max(float(bpb), chords[-1].start + chords[-1].duration)
    total = float(sum(b.bars for b in blocks) * bpb + bpb)
    out: list[Chord] = []
    lap = 0.0
    while lap < total:
        for chord in chords:
            if lap + chord.start >= total:
                break
            out.append(replace(chord, start=round(lap + chord.start, 6)))
        lap += math.ceil(span / bpb) * bpb
    return out


def _lead_track(style: Style, tracks: list[Track]) -> Track | None:
    """The track ``composer._arrange`` gave the tune to."""
    lead = next((i for i in style.instruments if i.role == "lead"), None)
    if lead is not None:
        name = lead.name
    else:
        base = next((i for i in style.instruments if i.role in ("chords", "arp")), None)
        base = base or (style.instruments[0] if style.instruments else None)
        if base is None:
            return None
        name = f"{base.name} Melody"
    return next((t for t in tracks if t.name == name), None)


def _cover_analysed(source: Score, request: MusicRequest, seed: int) -> Score:
    """A cover of analysed audio: its chords re-arranged in the request's style, in its key
    and tempo (unless the tags name a bpm); the request's lyrics sung over them, or else
    its melody played by the lead instrument."""
    src = _on_the_bar(source)
    style = restyled(src, replace(request, tags=request.tags or src.tags), seed)
    bpb = style.beats_per_bar
    bar_s = 60.0 / style.tempo_bpm * bpb
    lyrics = (request.lyrics or "").strip()
    parsed = parse_lyrics(lyrics) if lyrics and not request.instrumental else []
    instrumental = not any(sec.lines for sec in parsed)
    if instrumental:
        blocks = _blocks(src)
        chords = list(src.chords)
    else:
        blocks = composer._lyric_form(parsed, style, bar_s)
        blocks = composer._fit_duration(blocks, bar_s, float(request.max_duration_s))
        bar = 0
        for block in blocks:
            block.start_bar = bar
            bar += block.bars
        composer._assign_energy(blocks, style)
        chords = _chords_for(blocks, src.chords, src.beats_per_bar)
    key_root = style.key_root
    chords = [_recolor(c, key_root, style.mode, style.chord_color) for c in chords]
    gender = _gender(
        request.vocal_gender or style.vocal.gender or source.extra.get("voice"), "male"
    )
    other = "female" if gender == "male" else "male"
    vocals: list[VocalPart] = []
    words: list[LyricWord] = []
    chorus: list[tuple[float, float, int]] = []
    if not instrumental:
        vocals, words, chorus = composer._sing(blocks, style, chords, seed, gender, other)
    tracks = composer._arrange(blocks, style, chords, seed, instrumental, chorus)
    total_beats = float((sum(b.bars for b in blocks) + 1) * bpb)
    if instrumental:  # the analysed tune, on the lead instrument
        tune = next((t for t in src.tracks if t.name == "Melody"), None)
        lead = _lead_track(style, tracks)
        ins = next((i for i in style.instruments if lead is not None and i.name == lead.name), None)
        if tune is not None and tune.notes and lead is not None:
            low, high = (max(ins.low, 55), min(ins.high, 88)) if ins else (55, 88)
            mean = sum(n.pitch for n in tune.notes) / len(tune.notes)
            octave = 12 * round(((low + high) / 2 - mean) / 12)
            end = total_beats - 2 * bpb
            lead.notes = [n for n in lead.notes if n.start >= end - 1e-6] + [
                replace(n, pitch=min(127, max(0, n.pitch + octave)))
                for n in tune.notes
                if n.start < end
            ]
            lead.notes.sort(key=lambda n: (n.start, n.pitch))
    composer._apply_swing(style.swing, tracks, vocals, words)
    sections = [
        Section(
            b.kind, b.label, b.start_bar, b.bars, round(b.energy, 3), [ln.text for ln in b.lines]
        )
        for b in blocks
    ]
    return Score(
        title=request.title or source.title,
        tags=request.tags or source.tags,
        seed=seed,
        genre=style.genre,
        tempo_bpm=style.tempo_bpm,
        key_root=key_root,
        mode=style.mode,
        beats_per_bar=bpb,
        sections=sections,
        chords=chords,
        tracks=tracks,
        vocals=vocals,
        words=words,
        total_beats=total_beats,
        language=detect_language(parsed) if not instrumental else "en",
        instrumental=instrumental,
        engine_version=source.engine_version,
        extra={
            "lyrics": lyrics if not instrumental else "",
            "key": f"{NOTE_NAMES[key_root]} {style.mode}",
            "style": style.label,
            "moods": list(style.moods),
            "voice": gender if not instrumental else None,
            "covers": {
                "title": source.title,
                "seed": source.seed,
                "genre": source.genre,
                "analysed": True,
            },
        },
    )


def cover_score(source: Score, request: MusicRequest, seed: int) -> Score:
    """``source``'s melody and words, in the form and rhythm it had (in beats), played and
    sung in the request's style, key, tempo and voice."""
    if is_analysed(source):
        return _cover_analysed(source, request, seed)
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
