import itertools
from dataclasses import replace
from pathlib import Path

import pretty_midi
import pytest

from cadenza.compose.composer import VOICE_RANGES, compose
from cadenza.compose.harmony import melody_chord_pcs
from cadenza.compose.midi import write_midi
from cadenza.compose.score import STEM_NAMES, Chord, Score
from cadenza.compose.style import resolve_style
from cadenza.compose.timings import word_timings
from cadenza.domain.music import MusicRequest

LYRICS = """[Verse]
I walked along the empty street tonight
The city lights were shining in my eyes
[Chorus]
Oh we are young and we are free
Singing our song for you and me
[Verse 2]
The morning came and took away the night
We kept on dancing till the sun would rise
[Chorus]
Oh we are young and we are free
Singing our song for you and me
"""


def _request(**kw: object) -> MusicRequest:
    base: dict[str, object] = {"tags": "pop", "lyrics": LYRICS, "max_duration_s": 240}
    base.update(kw)
    return MusicRequest(**base)  # type: ignore[arg-type]


def _chord_at(chords: list[Chord], beat: float) -> Chord:
    return [c for c in chords if c.start <= beat + 1e-6][-1]


def _lead(score: Score) -> list:  # type: ignore[type-arg]
    notes = [n for p in score.vocals if p.stem == "Vocals" for n in p.notes]
    return sorted(notes, key=lambda n: n.start)


def test_same_seed_same_score_different_seed_differs() -> None:
    a = compose(_request(), 11).to_dict()
    assert a == compose(_request(), 11).to_dict()
    assert a != compose(_request(), 12).to_dict()
    assert Score.from_dict(a).to_dict() == a


def test_score_conventions() -> None:
    score = compose(_request(tags="rock, female vocals"), 3)
    channels = [t.channel for t in score.tracks if not t.is_drum]
    assert len(channels) == len(set(channels)) and 9 not in channels
    for t in score.tracks:
        assert t.stem in STEM_NAMES
        assert 0 <= t.program <= 127
        if t.is_drum:
            assert t.program == 0 and t.channel == 9
        for n in t.notes:
            assert 1 <= n.velocity <= 127 and 0 <= n.pitch <= 127 and n.duration > 0
            assert n.start + n.duration <= score.total_beats + 1e-6
    lead = [p for p in score.vocals if p.stem == "Vocals"]
    assert lead and lead[0].voice.gender == "female"
    assert any(p.stem == "Backing Vocals" for p in score.vocals)
    low, high = VOICE_RANGES["female"]
    for n in _lead(score):
        assert low <= n.pitch <= high
        assert n.language == "en"
        assert score.seconds(n.duration) >= 0.12  # about an eighth note or longer


def test_lines_do_not_overlap_and_breathe() -> None:
    score = compose(_request(), 5)
    notes = _lead(score)
    breaths = 0
    for a, b in itertools.pairwise(notes):
        assert a.start + a.duration <= b.start + 1e-6
        if a.line_index != b.line_index:
            assert b.start - (a.start + a.duration) > 0.2  # a breath between lines
            breaths += 1
    assert breaths >= 3  # the song has several sung lines, so the checks above ran


def test_repeated_chorus_reuses_its_melody() -> None:
    score = compose(_request(), 8)
    choruses = [i for i, s in enumerate(score.sections) if s.kind == "chorus"]
    assert len(choruses) == 2
    melodies = []
    for idx in choruses:
        start = score.sections[idx].start_bar * score.beats_per_bar
        melodies.append(
            [
                (round(n.start - start, 4), n.pitch, n.syllable)
                for n in _lead(score)
                if n.section_index == idx
            ]
        )
    assert melodies[0] == melodies[1] and melodies[0]


def test_melody_is_musical() -> None:
    stepwise = total = on_chord = strong = 0
    chorus_pitches: list[int] = []
    verse_pitches: list[int] = []
    for seed in range(6):
        score = compose(_request(tags="pop"), seed)
        notes = _lead(score)
        for a, b in itertools.pairwise(notes):
            if a.line_index == b.line_index:
                total += 1
                stepwise += abs(a.pitch - b.pitch) <= 2
        for n in notes:
            kind = score.sections[n.section_index].kind
            (chorus_pitches if kind == "chorus" else verse_pitches).append(n.pitch)
            # strong beats: one and three of a 4/4 bar
            if abs(n.start - round(n.start)) < 1e-6 and round(n.start) % 4 in (0, 2):
                strong += 1
                c = _chord_at(score.chords, n.start)
                on_chord += n.pitch % 12 in melody_chord_pcs(c.root, c.quality)
        # phrase endings on chord tones
        by_line: dict[int, list] = {}  # type: ignore[type-arg]
        for n in notes:
            by_line.setdefault(n.line_index, []).append(n)
        for line in by_line.values():
            last = line[-1]
            c = _chord_at(score.chords, last.start)
            assert last.pitch % 12 in melody_chord_pcs(c.root, c.quality)
    assert stepwise / total >= 0.55
    assert on_chord / strong >= 0.9
    assert sum(chorus_pitches) / len(chorus_pitches) > sum(verse_pitches) / len(verse_pitches)


def test_bass_follows_roots_and_song_ends_on_tonic() -> None:
    score = compose(_request(tags="pop"), 2)
    bass = next(t for t in score.tracks if t.stem == "Bass")
    bpb = score.beats_per_bar
    downbeats = [n for n in bass.notes if abs(n.start / bpb - round(n.start / bpb)) < 1e-6]
    assert downbeats
    hits = sum(n.pitch % 12 == _chord_at(score.chords, n.start).root for n in downbeats)
    assert hits / len(downbeats) >= 0.95
    assert score.chords[-1].root == score.key_root
    assert score.sections[-1].kind == "outro"
    assert score.sections[0].kind == "intro"


def test_drums_have_fills_and_final_hit() -> None:
    score = compose(_request(tags="rock"), 4)
    drums = next(t for t in score.tracks if t.is_drum)
    bpb = score.beats_per_bar
    toms_or_snare = {38, 41, 45, 47, 50}
    for sec in score.sections[:-1]:
        last_bar = (sec.start_bar + sec.bars - 1) * bpb
        second_half = [n for n in drums.notes if last_bar + bpb / 2 <= n.start < last_bar + bpb]
        assert len([n for n in second_half if n.pitch in toms_or_snare]) >= 3
    last = max(n.start for n in drums.notes)
    final = [n for n in drums.notes if n.start == last]
    assert {36, 49} <= {n.pitch for n in final}
    assert score.total_beats - last >= bpb  # the last hit rings


@pytest.mark.parametrize(("take", "key"), [("chorus_sixteenths", 42), ("chorus_ride", 51)])
def test_a_chorus_take_changes_the_hats_and_leaves_verses_alone(take: str, key: int) -> None:
    def score(hat_take: str) -> Score:
        style = replace(resolve_style("pop", seed=5), hat_take=hat_take)
        return compose(_request(tags="pop"), 5, style=style)

    def hats(s: Score, kind: str) -> list[tuple[int, float]]:
        drums = next(t for t in s.tracks if t.is_drum)
        section = next(x for x in s.sections if x.kind == kind)
        bar = (section.start_bar + 1) * s.beats_per_bar  # a bar inside, not the fill
        return sorted(
            (n.pitch, n.start - bar)
            for n in drums.notes
            if bar <= n.start < bar + 4 and n.pitch in (42, 51)
        )

    plain, varied = score("plain"), score(take)
    assert hats(varied, "verse") == hats(plain, "verse")
    assert [k for k, _ in hats(plain, "chorus")] == [42] * 8
    played = hats(varied, "chorus")
    assert {k for k, _ in played} == {key}
    assert len(played) == (16 if take == "chorus_sixteenths" else 8)


@pytest.mark.parametrize("tags", ["trap", "jazz", "latin", "metal", "reggae"])
def test_drum_patterns_differ_by_genre(tags: str) -> None:
    pop = compose(_request(tags="pop"), 1)
    other = compose(_request(tags=tags), 1)

    def bar_pattern(score: Score) -> set[tuple[int, float]]:
        drums = next(t for t in score.tracks if t.is_drum)
        bpb = score.beats_per_bar
        bar = score.sections[1].start_bar * bpb
        return {
            (n.pitch, round((n.start - bar) / score.tempo_bpm * 60, 3))
            for n in drums.notes
            if bar <= n.start < bar + bpb
        }

    assert bar_pattern(pop) != bar_pattern(other)


def test_duration_never_exceeds_the_model_limit() -> None:
    long_lyrics = LYRICS * 25
    score = compose(_request(lyrics=long_lyrics, max_duration_s=120, model="chirp-v3-5"), 1)
    assert score.duration_s <= 120
    assert score.sections[-1].kind == "outro"
    assert all(w.end <= score.total_beats for w in score.words)
    fast = compose(_request(tags="punk", lyrics=long_lyrics, max_duration_s=120), 2)
    assert fast.duration_s <= 120


def test_length_follows_lyrics() -> None:
    short = compose(_request(lyrics="[Verse]\nHello there my friend\nGoodbye"), 1)
    full = compose(_request(), 1)
    assert short.duration_s < full.duration_s


def test_description_mode_writes_lyrics_and_title() -> None:
    req = _request(lyrics=None, description="a song about rainy city nights", title="")
    score = compose(req, 21)
    assert score.title
    assert "[Chorus]" in score.extra["lyrics"]
    assert score.words
    assert 100 <= score.duration_s <= 200
    titled = compose(_request(lyrics=None, description="rain", title="My Title"), 21)
    assert titled.title == "My Title"


def test_untitled_lyrics_are_named_after_their_hook() -> None:
    lyrics = (
        "[Verse]\nI walked along the river when the morning light was new\n"
        "[Chorus]\nhold me now\nwe are the fire in the night and the spark of it all\n"
        "we are the fire in the night and the spark of it all\n"
    )
    # The chorus line sung most, cut where a phrase can end, in title case.
    assert compose(_request(lyrics=lyrics, title=""), 3).title == "We Are the Fire in the Night"
    verse_only = "[Verse]\nI walked along the river when the morning light was new"
    assert compose(_request(lyrics=verse_only, title=""), 3).title == "I Walked Along the River"
    spanish = "[Chorus]\nuna noche en la ciudad"
    assert compose(_request(lyrics=spanish, title=""), 3).title == "Una noche en la ciudad"
    assert compose(_request(lyrics=verse_only, title="  Own Title "), 3).title == "Own Title"


def test_instrumental_has_form_and_no_vocals() -> None:
    score = compose(_request(lyrics=None, instrumental=True, tags="lofi"), 3)
    assert score.instrumental and not score.vocals and not score.words
    assert 100 <= score.duration_s <= 190
    energies = [s.energy for s in score.sections]
    assert max(energies) > min(energies)
    assert any(t.notes and t.stem not in ("Drums", "Bass") for t in score.tracks)


def test_chinese_lyrics_one_character_per_note() -> None:
    score = compose(_request(lyrics="[主歌]\n我爱你中国\n[副歌]\n月亮代表我的心"), 1)
    lead = _lead(score)
    assert "".join(n.syllable for n in lead) == "我爱你中国月亮代表我的心"
    assert all(n.language == "zh" for n in lead)
    assert score.language == "zh"


def test_negative_tag_removes_instrument_from_score() -> None:
    with_piano = compose(_request(tags="pop piano"), 1)
    without = compose(_request(tags="pop piano", negative_tags="piano"), 1)
    assert any(t.program == 0 for t in with_piano.tracks if not t.is_drum)
    assert not any("Piano" in t.name for t in without.tracks)


def test_duet_and_choir_voices() -> None:
    duet = compose(_request(tags="pop duet"), 1)
    genders = {p.voice.gender for p in duet.vocals if p.stem == "Vocals"}
    assert genders == {"male", "female"}
    choir = compose(_request(tags="gospel choir"), 1)
    assert any(p.name == "Choir" for p in choir.vocals)
    male = compose(_request(tags="pop", vocal_gender="male"), 1)
    assert male.vocals[0].voice.gender == "male"


def test_midi_round_trip(tmp_path: Path) -> None:
    score = compose(_request(lyrics=LYRICS + "\n[Bridge]\n我爱你"), 7)
    path = tmp_path / "song.mid"
    write_midi(score, path)
    pm = pretty_midi.PrettyMIDI(str(path))
    vocals = next(i for i in pm.instruments if i.name == "Vocals")
    lead = _lead(score)
    assert len(vocals.notes) == len(lead)
    got = sorted((float(n.start), n.pitch) for n in vocals.notes)
    want = sorted((score.seconds(n.start), n.pitch) for n in lead)
    for (g_start, g_pitch), (w_start, w_pitch) in zip(got, want, strict=True):
        assert g_pitch == w_pitch
        assert abs(g_start - w_start) < 0.002  # one MIDI tick
    assert len(pm.lyrics) >= len(lead)
    drums = [i for i in pm.instruments if i.is_drum]
    assert len(drums) == 1
    assert abs(pm.get_tempo_changes()[1][0] - score.tempo_bpm) < 0.01
    names = {i.name for i in pm.instruments}
    assert {t.name for t in score.tracks} <= names


def test_word_timings_are_monotonic_and_cover_every_word() -> None:
    score = compose(_request(), 9)
    timings = word_timings(score)
    sung = [w.text for w in score.words]
    assert [t["word"] for t in timings] == sung
    lyric_words = [
        w for line in LYRICS.splitlines() if not line.startswith("[") for w in line.split()
    ]
    assert sung == lyric_words
    for a, b in itertools.pairwise(timings):
        assert a["start_s"] < a["end_s"] <= b["start_s"] + 1e-4
    assert timings[-1]["end_s"] <= score.duration_s
    assert {t["section"] for t in timings} == {"Verse", "Chorus", "Verse 2"}


def test_every_genre_composes_a_sung_song() -> None:
    for tags in (
        "hip hop",
        "blues",
        "country",
        "folk",
        "r&b",
        "latin",
        "ambient",
        "christmas",
        "funk",
        "k-pop",
        "中国风",
        "edm",
        "synthwave",
        "orchestral",
    ):
        score = compose(_request(tags=tags), 1)
        assert score.tracks and score.vocals
        assert score.duration_s <= 240


def test_stressed_syllables_land_on_beats() -> None:
    from cadenza.compose.lyrics import syllabify_en

    on_beat = total = 0
    for seed in range(4):
        score = compose(_request(lyrics=None, description="a love song about the sea"), seed)
        by_word: dict[int, list] = {}  # type: ignore[type-arg]
        for n in _lead(score):
            by_word.setdefault(n.word_index, []).append(n)
        for index, notes in by_word.items():
            syllables, stresses = syllabify_en(score.words[index].text)
            if len(notes) < 2 or len(syllables) != len(notes):
                continue
            for n, stress in zip(notes, stresses, strict=True):
                if stress:
                    total += 1
                    on_beat += abs(n.start - round(n.start)) < 1e-6
    assert total > 50
    assert on_beat / total >= 0.65


def test_negative_vocals_and_empty_sections_make_instrumentals() -> None:
    no_vox = compose(_request(negative_tags="vocals"), 1)
    assert no_vox.instrumental and not no_vox.vocals
    marks_only = compose(_request(lyrics="[Intro]\n[Chorus]\n[Outro]"), 1)
    assert marks_only.instrumental and marks_only.duration_s >= 100


def test_weirdness_and_influence_change_the_song() -> None:
    calm = compose(_request(weirdness=0.0, style_influence=1.0), 5).to_dict()
    wild = compose(_request(weirdness=1.0, style_influence=0.0), 5).to_dict()
    assert calm != wild


def test_midi_meta_events(tmp_path: Path) -> None:
    import mido

    score = compose(_request(tags="jazz"), 2)
    path = tmp_path / "meta.mid"
    write_midi(score, path)
    mid = mido.MidiFile(str(path), charset="utf-8")
    metas = {m.type for m in mid.tracks[0]}
    assert {"set_tempo", "time_signature", "key_signature"} <= metas
    vocal = next(t for t in mid.tracks if t.name == "Vocals")
    lyrics = [m.text for m in vocal if m.type == "lyrics"]
    assert len(lyrics) == len(_lead(score))
    joined = "".join(t.rstrip("-") if t.endswith("-") else t + " " for t in lyrics).split()
    assert joined == [w.text for w in score.words]
    drums = next(t for t in mid.tracks if t.name == "Drums")
    assert {m.channel for m in drums if m.type == "note_on"} == {9}


def test_waltz_is_in_three(tmp_path: Path) -> None:
    score = compose(_request(tags="folk waltz"), 1)
    assert score.beats_per_bar == 3
    drums = next(t for t in score.tracks if t.is_drum)
    bar = score.sections[1].start_bar * 3
    kicks = [n.start - bar for n in drums.notes if n.pitch == 36 and bar <= n.start < bar + 3]
    assert kicks == [0.0]
    path = tmp_path / "waltz.mid"
    write_midi(score, path)
    pm = pretty_midi.PrettyMIDI(str(path))
    assert pm.time_signature_changes[0].numerator == 3
    notes = _lead(score)
    for a, b in itertools.pairwise(notes):
        assert a.start + a.duration <= b.start + 1e-6


@pytest.mark.parametrize("gender", ["male", "female"])
@pytest.mark.parametrize(("low", "high"), [(20, 22), (30, 46), (40, 46), (70, 74), (90, 99)])
def test_a_persona_range_stays_within_the_singers_reach(gender: str, low: int, high: int) -> None:
    # A persona taken from a clip sung low was widened below the singer's reach (MIDI 34 for
    # a 40-46 male range), far under what the voice synthesis can sing.
    from cadenza.compose.composer import VOICE_RANGES, _singable_range

    base_low, base_high = VOICE_RANGES[gender]
    got_low, got_high = _singable_range(low, high, gender)
    assert base_low - 5 <= got_low and got_high <= base_high + 5
    assert got_high - got_low >= 18


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_slow_song_packs_its_words_and_holds_the_line_end(seed: int) -> None:
    # Spread evenly over two bars of a 70 bpm ballad, a 10-syllable line would give each
    # syllable 0.6 s: vowels held that long lose their words.
    from cadenza.compose.composer import MOST_SYLLABLE_S

    score = compose(_request(tags="ballad, 70 bpm"), seed)
    assert score.tempo_bpm == 70
    lines: dict[tuple[int, int], list[float]] = {}
    for n in _lead(score):
        if not n.continues:
            lines.setdefault((n.section_index, n.line_index), []).append(n.start)
    spacing = [
        score.seconds(onsets[-1] - onsets[0]) / (len(onsets) - 1)
        for onsets in lines.values()
        if len(onsets) >= 6
    ]
    assert len(spacing) >= 4
    # Stressed syllables still land on beats, so a line runs a little over the cap
    # (evenly spread, these lines averaged 0.57 s a syllable).
    assert max(spacing) <= MOST_SYLLABLE_S + 0.09
    assert sum(spacing) / len(spacing) <= MOST_SYLLABLE_S + 0.07
