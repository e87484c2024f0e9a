"""Edits with a new style, and edits of analysed audio: pure score edits, no rendering."""

from __future__ import annotations

import pytest
from test_compose_analysis import C_MAJOR, RATE, _cadence

from cadenza.compose.analysis import analyse, analysis_score
from cadenza.compose.composer import compose
from cadenza.compose.edits import cover_score, extend_score, snap_to_bar
from cadenza.compose.score import Score
from cadenza.domain.music import MusicRequest

LYRICS = "[Verse]\nThe night is young and so are we\n[Chorus]\nSing it loud and sing it free"
MORE = "[Verse]\nWe keep on running through the rain\n[Chorus]\nNever ever the same again"


@pytest.fixture(scope="module")
def original() -> Score:
    request = MusicRequest(tags="rock, male vocals", lyrics=LYRICS, max_duration_s=40, seed=1)
    return compose(request, 5)


@pytest.fixture(scope="module")
def analysed() -> Score:
    audio = _cadence(C_MAJOR, 100.0, 16)[int(0.9 * RATE) :]  # starts just before beat 2
    return analysis_score(analyse(audio, RATE, detect_voice=False), title="Demo", seed=9)


def _instruments(score: Score) -> set[str]:
    return {t.name for t in score.tracks if not t.is_drum}


def test_an_extension_with_new_tags_changes_style_and_keeps_key_and_tempo(
    original: Score,
) -> None:
    request = MusicRequest(task="extend", lyrics=MORE, tags="jazz, saxophone", seed=2)
    ext = extend_score(original, request, 11, 6.0)
    assert ext.genre == "jazz" and ext.tags == "jazz, saxophone"
    assert (ext.key_root, ext.mode, ext.tempo_bpm) == (
        original.key_root,
        original.mode,
        original.tempo_bpm,
    )
    assert "Saxophone" in _instruments(ext)
    assert _instruments(ext) != _instruments(original)
    lead = next(p for p in ext.vocals if p.stem == "Vocals")
    assert lead.voice.gender == "male"  # the same singer


def test_an_extension_keeps_the_source_style_without_tags_or_with_the_same_ones(
    original: Score,
) -> None:
    for tags in ("", original.tags):
        ext = extend_score(original, MusicRequest(lyrics=MORE, tags=tags, seed=2), 11, 6.0)
        assert ext.genre == original.genre and ext.tags == original.tags
        assert ext.tempo_bpm == original.tempo_bpm


def test_new_tags_naming_a_bpm_set_the_tempo(original: Score) -> None:
    request = MusicRequest(lyrics=MORE, tags="edm, 150 bpm", seed=2)
    ext = extend_score(original, request, 11, 6.0)
    assert ext.tempo_bpm == 150.0 and ext.genre == "edm"
    assert (ext.key_root, ext.mode) == (original.key_root, original.mode)


def test_continue_at_snaps_to_the_analysed_bar_grid(analysed: Score) -> None:
    offset = analysed.extra["analysis"]["offset_beats"]
    assert 0.5 < offset < 4.0  # the first downbeat is not at 0
    bar_s = analysed.seconds(4)
    start = analysed.seconds(offset)
    bar, at = snap_to_bar(analysed, start + 2.6 * bar_s)
    assert bar == 3 and at == pytest.approx(start + 3 * bar_s, abs=1e-3)
    _, end = snap_to_bar(analysed, None)
    assert end <= analysed.duration_s + 1e-6 and analysed.duration_s - end < bar_s


def test_an_extension_of_analysed_audio_plays_on_in_its_key_and_tempo(analysed: Score) -> None:
    ext = extend_score(analysed, MusicRequest(task="extend", seed=3), 4, 4.8)
    assert (ext.key_root, ext.mode, ext.tempo_bpm) == (0, "major", analysed.tempo_bpm)
    assert ext.instrumental and ext.sections[-1].kind == "outro"
    assert any(t.is_drum and t.notes for t in ext.tracks)
    sung = extend_score(analysed, MusicRequest(lyrics=MORE, seed=3), 4, 4.8)
    assert not sung.instrumental and [w.text for w in sung.words][:3] == ["We", "keep", "on"]


def test_a_cover_of_analysed_audio_keeps_tempo_key_and_tune(analysed: Score) -> None:
    request = MusicRequest(task="cover", tags="jazz, piano", seed=4)
    cov = cover_score(analysed, request, 8)
    assert cov.genre == "jazz" and cov.genre != analysed.genre
    assert (cov.key_root, cov.mode, cov.tempo_bpm) == (0, "major", analysed.tempo_bpm)
    assert cov.instrumental and not cov.words
    # the analysed chords, re-voiced in the new style, now on the bar lines
    assert [c.root for c in cov.chords][:8] == [c.root for c in analysed.chords][:8]
    assert cov.chords[0].start == 4.0  # the pickup got a bar of its own
    tune = [n.pitch % 12 for t in analysed.tracks if t.name == "Melody" for n in t.notes]
    assert tune
    played = [[n.pitch % 12 for n in t.notes if n.start < cov.total_beats - 8] for t in cov.tracks]
    # the lead instrument plays the analysed tune, note for note, up to the final bars
    assert any(len(p) >= len(tune) // 2 and p == tune[: len(p)] for p in played)
    assert all(abs(c.start / 4 - round(c.start / 4)) < 1e-6 for c in cov.chords)
    sung = cover_score(analysed, MusicRequest(task="cover", tags="pop", lyrics=LYRICS), 8)
    assert not sung.instrumental and [w.text for w in sung.words][:3] == ["The", "night", "is"]
    assert sung.tempo_bpm == analysed.tempo_bpm and sung.key_root == analysed.key_root


@pytest.mark.parametrize("seconds", [0.5, 1.0])
def test_continue_at_of_audio_shorter_than_a_bar_stays_inside_it(seconds: float) -> None:
    """The extension's ``continue_at`` must lie inside its source, or the chain could
    never be joined (concat refuses a cut past the parent's end)."""
    import numpy as np

    t = np.arange(int(seconds * RATE)) / RATE
    audio = (0.3 * np.sin(2 * np.pi * 220.0 * t)).astype(np.float32)
    short = analysis_score(analyse(audio, RATE, detect_voice=False), title="Short", seed=3)
    for asked in (None, seconds, 0.2):
        _, at = snap_to_bar(short, asked)
        assert 0 < at <= seconds + 1e-3
