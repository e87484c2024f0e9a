"""Extend, cover and remaster as edits of a score: pure, deterministic, no audio."""

from __future__ import annotations

import pytest

from cadenza.compose.composer import compose
from cadenza.compose.edits import (
    cover_score,
    extend_score,
    remaster_score,
    snap_to_bar,
    source_style,
)
from cadenza.compose.score import Score
from cadenza.domain.music import MusicRequest

LYRICS = "[Verse]\nThe night is young and so are we\n[Chorus]\nSing it loud and sing it free"
MORE = "[Verse]\nWe keep on running through the rain\n[Chorus]\nNever ever the same again"


@pytest.fixture(scope="module")
def original() -> Score:
    request = MusicRequest(tags="rock, male vocals", lyrics=LYRICS, max_duration_s=40, seed=1)
    return compose(request, 5)


def _words(score: Score) -> list[str]:
    return [w.text for w in score.words]


def test_continue_at_snaps_to_the_nearest_bar_line(original: Score) -> None:
    bar_s = original.seconds(original.beats_per_bar)
    bar, at = snap_to_bar(original, 2.6 * bar_s)
    assert bar == 3 and at == pytest.approx(3 * bar_s, abs=1e-3)
    last = int(original.total_beats // original.beats_per_bar)
    assert snap_to_bar(original, None)[0] == last
    assert snap_to_bar(original, 1e6)[0] == last
    assert snap_to_bar(original, 0.0)[0] == 1


def test_the_source_style_is_the_original_one(original: Score) -> None:
    style = source_style(original)
    assert (style.genre, style.tempo_bpm, style.key_root, style.mode) == (
        original.genre,
        original.tempo_bpm,
        original.key_root,
        original.mode,
    )
    melodic = {t.name for t in original.tracks if not t.is_drum and "Melody" not in t.name}
    assert {i.name for i in style.instruments} == melodic


def test_an_extension_continues_in_the_original_style(original: Score) -> None:
    _, at = snap_to_bar(original, 6.0)
    request = MusicRequest(lyrics=MORE, task="extend", max_duration_s=40, continue_at=6.0)
    ext = extend_score(original, request, 77, at)
    assert (ext.tempo_bpm, ext.key_root, ext.mode, ext.beats_per_bar, ext.genre) == (
        original.tempo_bpm,
        original.key_root,
        original.mode,
        original.beats_per_bar,
        original.genre,
    )
    assert ext.sections[0].kind != "intro" and ext.sections[0].start_bar == 0
    assert ext.sections[-1].kind == "outro"
    assert _words(ext)[:3] == ["We", "keep", "on"]
    assert ext.sections[ext.words[0].section_index].kind == "verse"
    assert ext.sections[ext.words[-1].section_index].kind == "chorus"
    assert ext.words[0].start < ext.beats_per_bar  # singing starts in the first bar
    lead = next(p for p in ext.vocals if p.stem == "Vocals")
    source_lead = next(p for p in original.vocals if p.stem == "Vocals")
    assert lead.voice == source_lead.voice
    programs = {(t.name, t.program) for t in original.tracks}
    assert {(t.name, t.program) for t in ext.tracks} == programs
    assert all(n.start >= 0 for t in ext.tracks for n in t.notes)
    assert ext.extra["extends"]["at"] == at
    assert extend_score(original, request, 77, at).to_dict() == ext.to_dict()


def test_an_extension_without_lyrics_writes_new_ones(original: Score) -> None:
    request = MusicRequest(task="extend", max_duration_s=40)
    ext = extend_score(original, request, 3, snap_to_bar(original, None)[1])
    assert ext.words and _words(ext) != _words(original)
    assert ext.key_root == original.key_root and not ext.instrumental


def test_a_cover_keeps_words_and_melody_and_changes_the_style(original: Score) -> None:
    request = MusicRequest(tags="jazz, piano, female vocals", task="cover", max_duration_s=40)
    cov = cover_score(original, request, 11)
    assert _words(cov) == _words(original)
    assert cov.genre != original.genre
    assert {t.name for t in cov.tracks} != {t.name for t in original.tracks}
    lead = next(p for p in cov.vocals if p.stem == "Vocals")
    old = next(p for p in original.vocals if p.stem == "Vocals")
    assert lead.voice.gender == "female"
    assert [n.syllable for n in lead.notes] == [n.syllable for n in old.notes]
    intervals = {b.pitch - a.pitch for a, b in zip(old.notes, lead.notes, strict=True)}
    assert len(intervals) == 1  # one transposition: the same tune
    assert (intervals.pop() - (cov.key_root - original.key_root)) % 12 == 0
    assert [(s.kind, s.start_bar, s.bars) for s in cov.sections] == [
        (s.kind, s.start_bar, s.bars) for s in original.sections
    ]
    assert cov.total_beats == original.total_beats
    assert cover_score(original, request, 11).to_dict() == cov.to_dict()


@pytest.mark.parametrize("variation", ["subtle", "normal", "high"])
def test_a_remaster_performs_the_same_song_again(original: Score, variation: str) -> None:
    again = remaster_score(original, variation, 9)
    assert again.title == f"{original.title} (Remastered)"
    assert _words(again) == _words(original)
    assert again.total_beats == original.total_beats
    assert [len(t.notes) for t in again.tracks] == [len(t.notes) for t in original.tracks]
    changed = sum(
        a.velocity != b.velocity
        for ta, tb in zip(again.tracks, original.tracks, strict=True)
        for a, b in zip(ta.notes, tb.notes, strict=True)
    )
    assert changed > 0
    assert remaster_score(original, variation, 9).to_dict() == again.to_dict()
    assert remaster_score(original, variation, 10).to_dict() != again.to_dict()


def test_more_variation_moves_the_performance_further(original: Score) -> None:
    def moved(variation: str) -> float:
        again = remaster_score(original, variation, 4)
        return sum(
            abs(a.velocity - b.velocity) + abs(a.start - b.start)
            for ta, tb in zip(again.tracks, original.tracks, strict=True)
            for a, b in zip(ta.notes, tb.notes, strict=True)
        )

    assert moved("subtle") < moved("normal") < moved("high")


def test_an_unknown_variation_is_refused(original: Score) -> None:
    with pytest.raises(ValueError):
        remaster_score(original, "wild", 1)


def test_an_instrumental_cover_gives_the_tune_to_the_band(original: Score) -> None:
    request = MusicRequest(tags="jazz, piano", instrumental=True, task="cover")
    cov = cover_score(original, request, 11)
    assert cov.instrumental and not cov.vocals and not cov.words
    assert sum(len(t.notes) for t in cov.tracks if not t.is_drum) > 0
