"""The creative score edits: a window on bar lines, new lines sung in it (replace_section)
or over an instrumental (Add Vocals), everything else kept; and the seam weights that
join the new audio to the source's."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from cadenza.compose.composer import compose
from cadenza.compose.creative import (
    SAMPLE_MAX_S,
    Reference,
    accompaniment_score,
    bar_window,
    fit_to_chords,
    harmonise,
    inspired_score,
    mashup_score,
    overpaint_score,
    replace_section_score,
    sample_bars,
    sample_song,
    sung_lines,
)
from cadenza.compose.engine_creative import SEAM_S, seam_weights
from cadenza.compose.harmony import scale_pcs
from cadenza.compose.midi import build_midi
from cadenza.compose.score import Note, Score, Track
from cadenza.compose.synth import SAMPLE_RATE
from cadenza.domain.errors import EngineError
from cadenza.domain.music import MusicRequest

LYRIC = (
    "[Verse]\nHello river\nCarry me home\nDown to the sea\n\n"
    "[Chorus]\nOh the river\nRunning so free"
)
NEW = "Golden morning light\nSinging on the water"


@pytest.fixture(scope="module")
def song() -> Score:
    return compose(MusicRequest(lyrics=LYRIC, tags="folk pop", max_duration_s=40, seed=3), 3)


@pytest.fixture(scope="module")
def band() -> Score:
    return compose(
        MusicRequest(tags="acoustic pop", instrumental=True, max_duration_s=20, seed=4), 4
    )


def _sung(score: Score) -> list[tuple[float, int, str]]:
    return sorted((n.start, n.pitch, n.syllable) for p in score.vocals for n in p.notes)


def test_the_window_snaps_to_bar_lines_and_stays_inside(song: Score) -> None:
    bar_s = song.seconds(song.beats_per_bar)
    window = bar_window(song, 8.0, 19.0)
    assert window.start_beat % song.beats_per_bar == 0 and window.end_beat % song.beats_per_bar == 0
    assert abs(window.start_s - 8.0) <= bar_s / 2 and abs(window.end_s - 19.0) <= bar_s / 2
    assert window.bars == round((window.end_beat - window.start_beat) / song.beats_per_bar)
    tiny = bar_window(song, 8.0, 8.1)  # shorter than a bar: one bar
    assert tiny.bars == 1
    whole = bar_window(song, 0.0, None)
    assert whole.start_beat == 0 and whole.end_s <= song.duration_s + 1e-4


def test_replace_section_sings_the_new_lines_only_inside(song: Score) -> None:
    window = bar_window(song, 8.0, 19.0)
    edited = replace_section_score(song, window, lyrics=None, infill_lyrics=NEW, seed=5)
    a, b = window.start_beat, window.end_beat
    inside = [w.text for w in edited.words if a <= w.start < b]
    assert inside == [w.text for ln in sung_lines(NEW) for w in ln.words]
    assert all(w.end <= b + 1e-6 for w in edited.words if a <= w.start < b)
    # Outside the window: the very same sung notes and words (a note held into it ends there).
    before = [x for x in _sung(song) if not a <= x[0] < b]
    after = [x for x in _sung(edited) if not a <= x[0] < b]
    assert after == before
    assert [w.text for w in edited.words if not a <= w.start < b] == [
        w.text for w in song.words if not a <= w.start < b
    ]
    # The band is untouched, and the length too.
    assert [t.notes for t in edited.tracks] == [t.notes for t in song.tracks]
    assert edited.total_beats == song.total_beats and edited.tempo_bpm == song.tempo_bpm
    # Every note points at its own word; lines are numbered in sung order.
    for part in edited.vocals:
        for note in part.notes:
            word = edited.words[note.word_index]
            assert word.start <= note.start + 1e-9 and note.start < word.end + 1e-9
    lines = [w.line_index for w in edited.words]
    assert lines == sorted(lines)
    # In the song's scale (the melody's own: chord tones on strong beats, steps between).
    scale = set(scale_pcs(song.key_root, song.mode))
    new_notes = [n for p in edited.vocals for n in p.notes if a <= n.start < b]
    assert new_notes and all(n.pitch % 12 in scale for n in new_notes)


def test_replace_section_is_deterministic_and_needs_lines(song: Score) -> None:
    window = bar_window(song, 8.0, 19.0)
    one = replace_section_score(song, window, lyrics=None, infill_lyrics=NEW, seed=5)
    two = replace_section_score(song, window, lyrics=None, infill_lyrics=NEW, seed=5)
    assert one.to_dict() == two.to_dict()
    with pytest.raises(EngineError):
        replace_section_score(song, window, lyrics=None, infill_lyrics="[Verse]", seed=5)
    # A line too long for one bar is refused, not sung past the window.
    with pytest.raises(EngineError, match="syllables"):
        replace_section_score(
            song, bar_window(song, 8.0, 8.1), lyrics=None, infill_lyrics="la " * 40, seed=5
        )


def test_overpainting_sings_on_the_grid_within_the_window(band: Score) -> None:
    window = bar_window(band, 2.0, 14.0)
    edited = overpaint_score(band, window, lyrics="Lantern in the window\nCalling me home", seed=9)
    notes = [n for p in edited.vocals for n in p.notes]
    assert notes and [t.notes for t in edited.tracks] == [t.notes for t in band.tracks]
    for note in notes:
        assert window.start_beat <= note.start < window.end_beat
        assert note.start + note.duration <= window.end_beat + 1e-6
        assert abs(note.start * 2 - round(note.start * 2)) < 1e-6  # on the eighth grid
    assert [w.text for w in edited.words] == [
        *("Lantern", "in", "the", "window"),
        *("Calling", "me", "home"),
    ]
    scale = set(scale_pcs(band.key_root, band.mode))
    assert all(n.pitch % 12 in scale for n in notes)


def test_seam_weights_cross_at_each_seam() -> None:
    frames = 3 * SAMPLE_RATE
    w = seam_weights(frames, 1.0, 2.0)[:, 0]
    t = (np.arange(frames) + 0.5) / SAMPLE_RATE
    assert np.all(w[t < 1.0 - SEAM_S / 2] == 0) and np.all(w[t > 2.0 + SEAM_S / 2] == 0)
    assert np.all(w[(t > 1.0 + SEAM_S / 2) & (t < 2.0 - SEAM_S / 2)] == 1)
    assert w[int(1.0 * SAMPLE_RATE)] == pytest.approx(0.5, abs=0.01)
    assert np.all(np.diff(w[: int(1.5 * SAMPLE_RATE)]) >= 0)


def test_a_sample_is_a_few_bars_and_the_new_song_keeps_its_key_and_tempo(song: Score) -> None:
    window = bar_window(song, 4.0, 30.0)
    bars = sample_bars(song, window)
    assert bars in (1, 2, 4) and song.seconds(bars * song.beats_per_bar) <= SAMPLE_MAX_S
    assert sample_bars(song, bar_window(song, 4.0, 4.1)) == 1
    request = MusicRequest(lyrics="[Verse]\nNeon on the river", tags="hip hop 90 bpm", seed=2)
    made = sample_song(song, request, 2)
    assert (made.tempo_bpm, made.key_root, made.mode) == (song.tempo_bpm, song.key_root, song.mode)
    assert made.beats_per_bar == song.beats_per_bar
    assert [w.text for w in made.words] == ["Neon", "on", "the", "river"]


def test_harmonise_picks_the_triad_that_holds_the_bar() -> None:
    # C major: a bar of C-E-G, one of F-A-C, one of G-B-D, one silent, one of E-G-C.
    notes = [
        Note(p, bar * 4 + k, 1.0)
        for bar, pitches in enumerate(([60, 64, 67], [65, 69, 72], [67, 71, 74], [], [64, 67, 72]))
        for k, p in enumerate(pitches)
    ]
    assert harmonise(notes, 0, "major", 0.0, 5, 4) == [1, 4, 5, 5, 1]


def test_accompaniment_plays_under_the_vocal_in_its_tempo_and_key(song: Score) -> None:
    lead = [n for p in song.vocals if p.stem == "Vocals" for n in p.notes]
    vocal = Score.from_dict(song.to_dict())
    vocal.vocals, vocal.words, vocal.chords = [], [], []
    vocal.tracks = [
        Track("Melody", "Vocals", 53, [Note(n.pitch, n.start, n.duration) for n in lead])
    ]
    window = bar_window(vocal, 4.0, 26.0)
    band = accompaniment_score(vocal, window, MusicRequest(tags="piano pop"), 3)
    assert (band.tempo_bpm, band.key_root, band.mode) == (song.tempo_bpm, song.key_root, song.mode)
    played = [n for t in band.tracks if t.stem != "Vocals" for n in t.notes]
    assert played and min(n.start for n in played) >= window.start_beat - 1e-6
    # Only the final chord rings past the window (from its last bar on).
    assert all(n.start < window.end_beat for n in played)
    assert next(t.notes for t in band.tracks if t.name == "Melody") == vocal.tracks[0].notes
    fit = fit_to_chords(
        [n for n in vocal.tracks[0].notes if window.start_beat <= n.start < window.end_beat],
        band.chords,
        band.key_root,
        band.mode,
    )
    assert fit["scale_tone_share"] == 1.0 and fit["chord_tone_share"] >= 0.5, fit


def test_a_grid_that_starts_before_the_audio_plays_nothing_before_it(song: Score) -> None:
    # An analysed upload whose first downbeat lies a hair before its first sample.
    lead = [n for p in song.vocals if p.stem == "Vocals" for n in p.notes]
    vocal = Score.from_dict(song.to_dict())
    vocal.vocals, vocal.words, vocal.chords = [], [], []
    vocal.extra["analysis"] = {"offset_beats": -0.12}
    vocal.tracks = [
        Track("Melody", "Vocals", 53, [Note(n.pitch, n.start - 0.12, n.duration) for n in lead])
    ]
    window = bar_window(vocal, 0.0, None)
    assert window.start_beat < 0
    band = accompaniment_score(vocal, window, MusicRequest(tags="piano pop"), 3)
    notes = [n for t in band.tracks for n in t.notes]
    assert notes and min(n.start for n in notes) == 0.0
    assert all(n.duration > 0 for n in notes) and min(c.start for c in band.chords) >= 0.0
    assert build_midi(band).length > 0  # a MIDI file refuses events before its start


def test_a_mashup_takes_both_lyrics_one_key_and_the_tempo_between(song: Score) -> None:
    other = compose(
        MusicRequest(
            lyrics="[Verse]\nLantern in the window\n\n[Chorus]\nStay with me tonight",
            tags="soul",
            max_duration_s=30,
            seed=8,
        ),
        8,
    )
    made = mashup_score(song, other, MusicRequest(), 5)
    assert made.tempo_bpm == pytest.approx((song.tempo_bpm + other.tempo_bpm) / 2, abs=0.01)
    assert (made.key_root, made.mode) == (song.key_root, song.mode)
    words = {w.text for w in made.words}
    assert {"river", "sea"} & words and {"Lantern", "window"} & words, words
    own = mashup_score(song, other, MusicRequest(lyrics="[Verse]\nTwo rivers meet"), 5)
    assert [w.text for w in own.words] == ["Two", "rivers", "meet"]


def test_inspo_follows_the_references_as_closely_as_weighted() -> None:
    refs = [Reference(92.0, 9, "minor", "female"), Reference(186.0, 2, "minor", None)]
    request = MusicRequest(lyrics="[Verse]\nNeon on the river", tags="pop")
    close = inspired_score(refs, request, 4, 1.0)
    # 186 bpm is the same pulse at double time: it folds onto 93.
    assert close.tempo_bpm == pytest.approx((92.0 * 93.0) ** 0.5, abs=0.01)
    assert (close.key_root, close.mode) == (9, "minor")
    assert close.vocals[0].voice.gender == "female"
    loose = inspired_score(refs, request, 4, 0.0)
    own = compose(replace(request, seed=4), 4)
    assert loose.tempo_bpm == pytest.approx(own.tempo_bpm, abs=0.01)
    assert close.extra["inspo"]["references"][0] == {
        "tempo": 92.0,
        "key": "A minor",
        "voice": "female",
    }
