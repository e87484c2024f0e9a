import pytest

from cadenza.compose.style import (
    BASS_TAKES,
    COMP_TAKES,
    GENRES,
    expand_tags,
    genre_scores,
    resolve_style,
)

GENRE_TAGS = {
    "pop": "pop",
    "rock": "rock",
    "synthwave": "synthwave",
    "lofi": "lo-fi",
    "hiphop": "hip hop",
    "trap": "trap",
    "edm": "house",
    "jazz": "jazz",
    "blues": "blues",
    "country": "country",
    "folk": "acoustic folk",
    "rnb": "r&b soul",
    "metal": "heavy metal",
    "punk": "punk",
    "reggae": "reggae",
    "latin": "latin",
    "orchestral": "classical orchestral",
    "ambient": "ambient",
    "holiday": "christmas",
    "funk": "funk",
    "kpop": "k-pop",
    "chinese": "中国风",
}


@pytest.mark.parametrize(("genre", "tags"), sorted(GENRE_TAGS.items()))
def test_each_genre_resolves(genre: str, tags: str) -> None:
    style = resolve_style(tags, seed=1)
    assert style.genre == genre
    lo, hi = GENRES[genre].tempo
    assert 56 <= style.tempo_bpm <= 200
    assert lo * 0.7 <= style.tempo_bpm <= hi * 1.3
    assert style.instruments
    for ins in style.instruments:
        assert 0 <= ins.program <= 127


def test_genres_sound_distinct() -> None:
    assert len(GENRE_TAGS) >= 21
    fingerprints = set()
    for tags in GENRE_TAGS.values():
        s = resolve_style(tags, seed=3)
        fingerprints.add(
            (
                s.drums.name if s.drums else None,
                s.bass_pattern,
                s.comp_pattern,
                tuple(sorted(i.program for i in s.instruments)),
            )
        )
    assert len(fingerprints) == len(GENRE_TAGS)


def test_unknown_and_misspelled_tags_land_near() -> None:
    assert resolve_style("synthwav").genre == "synthwave"
    assert resolve_style("raggae vibes").genre == "reggae"
    assert resolve_style("dubstep").genre == "edm"
    assert resolve_style("bossa nova").genre == "latin"
    assert resolve_style("808, dark").genre == "trap"
    assert resolve_style("saxophone").genre == "jazz"
    assert resolve_style("zzqx").genre == "pop"
    assert genre_scores("") == {}


def test_moods_shift_tempo_and_mode() -> None:
    happy = resolve_style("pop, happy, energetic", seed=4)
    sad = resolve_style("pop, sad, slow", seed=4)
    assert happy.tempo_bpm > sad.tempo_bpm
    assert sad.mode == "minor"
    assert happy.energy > sad.energy
    assert resolve_style("pop 128 bpm").tempo_bpm == 128


def test_named_instruments_are_added_and_negatives_removed() -> None:
    style = resolve_style("rock with saxophone and strings", seed=2)
    programs = {i.program for i in style.instruments}
    assert 65 in programs and 48 in programs
    removed = resolve_style("pop", negative_tags="piano, guitar", seed=2)
    names = [i.key for i in removed.instruments]
    assert not any("piano" in n or "guitar" in n for n in names)
    assert resolve_style("rock", negative_tags="drums").drums is None
    assert not resolve_style("pop", negative_tags="vocals").vocal.enabled
    assert resolve_style("808 trap").instruments[0].key == "808"


def test_vocal_tags() -> None:
    assert resolve_style("pop, female vocals").vocal.gender == "female"
    assert resolve_style("metal, male vocal").vocal.gender == "male"
    assert resolve_style("pop duet").vocal.duet
    assert resolve_style("gospel choir").vocal.choir


def test_resolve_is_deterministic() -> None:
    assert resolve_style("jazz", seed=9) == resolve_style("jazz", seed=9)


def test_expand_tags_is_richer_and_deterministic() -> None:
    text = expand_tags("synthwave, female vocals")
    assert text == expand_tags("synthwave, female vocals")
    assert "synthwave" in text and "bpm" in text and "female vocals" in text
    assert len(text) > len("synthwave, female vocals") * 2


def test_seeds_play_other_takes_of_a_genre_groove() -> None:
    styles = [resolve_style("pop", seed=seed) for seed in range(200)]
    grooves = {(s.comp_pattern, s.bass_pattern, s.hat_take) for s in styles}
    assert len(grooves) >= 6  # the two clips of a song are two takes, not one groove twice
    comps = [s.comp_pattern for s in styles]
    assert set(comps) == set(COMP_TAKES["strum"])
    assert comps.count("strum") > max(comps.count(c) for c in set(comps) - {"strum"})
    assert {s.bass_pattern for s in styles} == set(BASS_TAKES["pop"])
    same = resolve_style("pop", seed=7)
    assert (same.comp_pattern, same.bass_pattern, same.hat_take) == (
        styles[7].comp_pattern,
        styles[7].bass_pattern,
        styles[7].hat_take,
    )


def test_grooves_that_define_a_genre_have_one_take() -> None:
    for tags, comp, bass in (("reggae", "skank", "reggae"), ("house", None, "house")):
        for seed in range(20):
            style = resolve_style(tags, seed=seed)
            assert style.bass_pattern == bass
            if comp:
                assert style.comp_pattern == comp
