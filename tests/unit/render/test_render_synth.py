"""Instrument rendering: one float stem per stem name, notes where the score puts them."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import soxr

import cadenza.compose.synth as synth
from cadenza.compose.score import Note, Score, Section, Track
from cadenza.compose.synth import (
    DEFAULT_SOUNDFONT,
    SAMPLE_RATE,
    SynthError,
    _lanes,
    instrument,
    preload,
    render_rate,
    render_tracks,
    song_samples,
    stems_of,
)

pytestmark = pytest.mark.skipif(
    not DEFAULT_SOUNDFONT.is_file(), reason=f"SoundFont {DEFAULT_SOUNDFONT} is not installed"
)


def _score(tracks: list[Track], beats: float = 4.0) -> Score:
    return Score(
        title="t", tags="", seed=1, genre="pop", tempo_bpm=120.0, key_root=0, mode="major",
        beats_per_bar=4, sections=[Section("verse", "Verse", 0, 1, 0.5)], chords=[],
        tracks=tracks, vocals=[], words=[], total_beats=beats, instrumental=True,
    )  # fmt: skip


def _piano(*notes: Note, stem: str = "Keyboard") -> Track:
    return Track("Piano", stem, 0, notes=list(notes))


def test_one_float_stem_per_stem_name() -> None:
    score = _score(
        [
            _piano(Note(60, 0, 1)),
            Track("Kit", "Drums", 0, notes=[Note(36, 0, 0.5)], is_drum=True),
            _piano(Note(64, 1, 1)),
            Track("Empty", "Strings", 48),
        ]
    )
    stems = render_tracks(score)
    assert list(stems) == ["Keyboard", "Drums"]
    for audio in stems.values():
        assert audio.shape == (song_samples(score), 2) and audio.dtype == np.float32
        assert np.abs(audio).max() > 1e-3
    assert list(stems_of(score.tracks)) == ["Keyboard", "Drums"]


def test_note_starts_on_its_sample() -> None:
    score = _score([_piano(Note(69, 1.0, 1.0, 110))])  # beat 1 at 120 bpm = 0.5 s
    audio = render_tracks(score)["Keyboard"]
    onset = int(np.argmax(np.abs(audio[:, 0]) > 1e-4))
    expected = SAMPLE_RATE // 2
    # FluidSynth applies events per 64 samples of its own rate; resampling rings far below.
    block = math.ceil(64 * SAMPLE_RATE / render_rate("Keyboard"))
    assert expected <= onset < expected + block + 32
    assert np.abs(audio[: expected - 1]).max() < 1e-6


def test_full_band_stems_render_at_the_song_rate() -> None:
    score = _score([Track("Kit", "Drums", 0, notes=[Note(38, 1.0, 0.5, 110)], is_drum=True)])
    audio = render_tracks(score)["Drums"]
    expected = SAMPLE_RATE // 2
    assert render_rate("Drums") == SAMPLE_RATE
    first = int(np.flatnonzero(audio[:, 0])[0])  # no resampling: silent to the last sample
    assert expected - 1 <= first < expected + 64 + 32


def test_reduced_rate_keeps_the_sound_below_16_khz() -> None:
    score = _score([_piano(Note(69, 0, 2.0, 100), Note(73, 0, 2.0, 90), Note(76, 0, 2.0, 90))])
    reduced = render_tracks(score)["Keyboard"]
    full = instrument().render(score.tracks, score.tempo_bpm, song_samples(score))
    assert render_rate("Keyboard", SAMPLE_RATE, score.tracks) < SAMPLE_RATE
    spectrum = [np.abs(np.fft.rfft(a[:, 0])) ** 2 for a in (reduced, full)]
    bands = np.fft.rfftfreq(reduced.shape[0], 1 / SAMPLE_RATE)
    low = bands < 4000  # same energy in the band that carries the note
    ratio = spectrum[0][low].sum() / spectrum[1][low].sum()
    assert 0.9 < ratio < 1.1


def test_sparse_stems_render_at_the_song_rate() -> None:
    # A bass line sounds one note at a time: resampling would cost more than it saves.
    line = [Note(36 + i, i * 0.5, 0.5, 100) for i in range(8)]
    bass = Track("Bass", "Bass", 33, notes=line)
    score = _score([bass])
    assert render_rate("Bass", SAMPLE_RATE, [bass]) == SAMPLE_RATE
    assert render_rate("Bass") < SAMPLE_RATE  # without the notes: the stem's default
    audio = render_tracks(score)["Bass"]
    direct = instrument().render([bass], score.tempo_bpm, song_samples(score))
    assert np.abs(audio).max() > 1e-3
    assert np.array_equal(audio, direct)


def test_lanes_balance_estimated_cost() -> None:
    busy = _piano(*[Note(60 + i % 12, i * 0.25, 0.25) for i in range(64)])
    light = [Track(name, name, 0, notes=[Note(60, 0, 1)]) for name in ("Strings", "Brass", "Synth")]
    grouped = stems_of([busy, *light])
    lanes = _lanes(grouped, 120.0)
    assert lanes == [["Keyboard"], ["Strings", "Brass", "Synth"]]


def test_same_score_same_samples() -> None:
    score = _score([_piano(Note(60, 0, 2), Note(67, 0.5, 1)), _piano(Note(48, 0, 3), stem="Bass")])
    first = render_tracks(score)
    second = render_tracks(score)
    assert list(first) == list(second) == ["Keyboard", "Bass"]
    for name in first:
        assert np.abs(first[name]).max() > 1e-3  # sound: two silent renders prove nothing
        assert np.array_equal(first[name], second[name]), name


def test_stems_rendered_apart_sum_to_one_pass() -> None:
    a = _piano(Note(60, 0, 2, 100), Note(64, 0, 2, 90), Note(67, 1, 2, 90))
    b = Track("Strings", "Strings", 48, notes=[Note(55, 0.5, 3, 80), Note(62, 0.5, 3, 80)])
    score = _score([a, b])
    apart = render_tracks(score)
    rate = render_rate("Keyboard", SAMPLE_RATE, [a])
    assert render_rate("Strings", SAMPLE_RATE, [b]) == rate < SAMPLE_RATE
    together = soxr.resample(
        instrument(sample_rate=rate).render([a, b], score.tempo_bpm, song_samples(score, rate)),
        rate,
        SAMPLE_RATE,
        quality="HQ",
    )[: song_samples(score)]
    total = apart["Keyboard"] + apart["Strings"]
    residual = 10 * np.log10(np.mean((total - together) ** 2) / np.mean(together**2))
    assert residual < -50


def test_out_of_range_notes_are_skipped() -> None:
    score = _score([_piano(Note(130, 0, 1), Note(60, 0, 0), Note(-1, 0, 1))])
    assert not np.any(render_tracks(score)["Keyboard"])


def test_missing_soundfont_is_a_synth_error(tmp_path: Path) -> None:
    with pytest.raises(SynthError):
        render_tracks(_score([_piano(Note(60, 0, 1))]), soundfont=tmp_path / "none.sf2")


def _guitar(*notes: Note) -> Track:
    return Track("Acoustic Guitar", "Guitar", 25, notes=list(notes))


def test_guitar_release_is_shortened(monkeypatch: pytest.MonkeyPatch) -> None:
    score = _score([_guitar(Note(52, 0, 1.0, 110))], beats=12.0)  # off at 0.5 s, 6 s long

    def tail_db() -> float:
        audio = render_tracks(score)["Guitar"].astype(np.float64)
        start = 3 * SAMPLE_RATE  # 2.5 s after the note-off
        return float(10 * np.log10(np.mean(audio[start:] ** 2) / np.mean(audio[:start] ** 2)))

    shortened = tail_db()
    monkeypatch.setattr(synth, "GUITAR_RELEASE_TC", 0.0)
    assert shortened < tail_db() - 6.0


def test_a_reused_synth_carries_nothing_over_from_the_previous_stem() -> None:
    pad = Track("Pad", "Synth", 89, notes=[Note(60, 0, 2.0), Note(64, 0, 2.0)])
    guitar = _guitar(Note(52, 0, 1.0), Note(59, 0.5, 1.0))
    rate = render_rate("Guitar")
    n = song_samples(_score([guitar]), rate)
    fresh_guitar = instrument(DEFAULT_SOUNDFONT, rate).render([guitar], 120.0, n)
    fresh_pad = instrument(DEFAULT_SOUNDFONT, rate).render([pad], 120.0, n)
    reused = instrument(DEFAULT_SOUNDFONT, rate)
    reused.render([pad], 120.0, 5000)  # cut off while the pad still sounds
    # Neither the pad's voices nor its settings (linear interpolation) reach the guitar.
    assert np.array_equal(reused.render([guitar], 120.0, n), fresh_guitar)
    reused.render([guitar], 120.0, 5000)
    # Voice-pool state differs far below anything audible (-160 dB), never a sound.
    assert np.abs(reused.render([pad], 120.0, n) - fresh_pad).max() < 1e-6


def test_synths_borrow_a_loaded_soundfont_and_sound_as_if_they_loaded_it() -> None:
    piano = _piano(Note(60, 0, 1.0), Note(64, 0.5, 1.0), Note(67, 1.0, 1.0))
    rate = render_rate("Keyboard")
    n = song_samples(_score([piano]), rate)
    first = instrument(DEFAULT_SOUNDFONT, rate)
    second = instrument(DEFAULT_SOUNDFONT, rate)
    assert first._font is not None and second._font is not None
    # Synths open at once never share a font; each font was loaded on its own, and
    # either gives the same samples.
    assert first._font is not second._font
    font = second._font
    expected = first.render([piano], 120.0, n)
    assert np.array_equal(second.render([piano], 120.0, n), expected)
    second.close()
    second.close()  # closing twice is harmless
    third = instrument(DEFAULT_SOUNDFONT, rate)
    assert third._font is font  # handed back, and borrowed again
    assert np.array_equal(third.render([piano], 120.0, n), expected)
    for open_synth in (first, third):
        open_synth.close()


def test_preload_keeps_fonts_ready_for_a_render() -> None:
    preload(DEFAULT_SOUNDFONT, 3)
    free = synth._FREE_FONTS[str(DEFAULT_SOUNDFONT.resolve())]
    assert len(free) >= 3
    before = len(free)
    opened = [instrument(DEFAULT_SOUNDFONT) for _ in range(3)]
    assert len(free) == before - 3  # borrowed, none loaded
    for open_synth in opened:
        open_synth.close()
    assert len(free) == before


def _guitar_stem(*notes: Note, seconds: float = 5.0) -> np.ndarray:
    """A guitar track rendered at the guitar's own rate (which sparse parts would change)."""
    rate = render_rate("Guitar")
    audio = instrument(DEFAULT_SOUNDFONT, rate).render(
        [_guitar(*notes)], 120.0, round(seconds * rate)
    )
    return audio.astype(np.float64)


def test_a_string_struck_again_stops_its_previous_note(monkeypatch: pytest.MonkeyPatch) -> None:
    # One string: 52 is released at 0.25 s and rings; 59 on the same string at 1 s damps it.
    first, second = Note(52, 0, 0.5, 110), Note(59, 2.0, 6.0, 100)
    after = render_rate("Guitar") * 2  # 1 s after the second note starts

    def leftover_db() -> float:
        alone = _guitar_stem(second)[after:]
        left = _guitar_stem(first, second)[after:] - alone
        return float(10 * np.log10((np.mean(left**2) + 1e-30) / np.mean(alone**2)))

    damped = leftover_db()
    monkeypatch.setattr(synth, "_STRING_CLASS", 0.0)  # every string rings on
    assert damped < -90.0
    assert leftover_db() > -40.0


def test_guitar_notes_held_together_ring_together() -> None:
    notes = [Note(40, 0, 4.0, 100), Note(47, 0.5, 3.5, 100), Note(52, 1.0, 3.0, 100)]
    together = _guitar_stem(*notes)
    apart = sum(_guitar_stem(n) for n in notes)
    residual = 10 * np.log10(np.mean((together - apart) ** 2) / np.mean(apart**2))
    assert residual < -50


def test_strings_take_a_chord_struck_again_on_the_same_strings() -> None:
    chord = [synth._Span(0, 100, k, 90) for k in (52, 56, 59)]
    again = [synth._Span(100 + i, 200, k, 90) for i, k in enumerate((59, 52, 56))]
    lanes = synth._strings(chord + again, 3)
    assert lanes[:3] == [0, 1, 2]
    assert lanes[3:] == [2, 0, 1]
    # A held note keeps its string: the new note takes a free one, however near in pitch.
    held = [synth._Span(0, 500, 60, 90), synth._Span(0, 100, 64, 90), synth._Span(150, 300, 61, 90)]
    assert synth._strings(held, 2) == [0, 1, 1]


def test_guitars_fall_back_to_one_channel_each_when_channels_run_out() -> None:
    chords = [Note(k, b, 1.0) for b in range(4) for k in (40, 45, 50, 55, 59, 64)]
    guitars = [_guitar(*chords) for _ in range(3)]  # 18 strings, 15 melodic channels
    parts = synth._layout(guitars, 120.0, SAMPLE_RATE)
    assert [len(p.channels) for p in parts] == [1, 1, 1] and not any(p.damped for p in parts)
    silent = [_guitar() for _ in range(4)]  # a track with no notes still takes a channel
    assert len(synth._layout([*guitars[:2], *silent], 120.0, SAMPLE_RATE)) == 6
    parts = synth._layout(guitars[:2], 120.0, SAMPLE_RATE)
    assert [len(p.channels) for p in parts] == [6, 6] and all(p.damped for p in parts)
    assert len({c for p in parts for c in p.channels}) == 12 and 9 not in parts[0].channels
