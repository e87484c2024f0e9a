"""Description mode reads the style from the description's words, as tags are read."""

from __future__ import annotations

import pytest

from cadenza.compose.composer import compose
from cadenza.compose.style import description_tags
from cadenza.domain.music import MusicRequest


@pytest.mark.parametrize(
    ("text", "tags"),
    [
        ("a smooth jazz song about rain", "smooth jazz"),
        ("an upbeat country song with banjo, 120 bpm", "upbeat, country, banjo, 120 bpm"),
        ("a gentle waltz about snow sung by a woman", "gentle, waltz, female vocals"),
        ("a heavy metal anthem with a man's voice", "heavy metal, male vocals"),
        ("hip hop track about the city", "hip hop"),
        ("a slow 3/4 folk tune", "slow, 3/4, folk"),
    ],
)
def test_a_description_names_its_style(text: str, tags: str) -> None:
    assert description_tags(text) == tags


@pytest.mark.parametrize(
    "text",
    [
        "a song about my house in the country",
        "the keys to my heart",
        "a song about the rock we sat on in winter",
        "a song about love",
    ],
)
def test_everyday_words_in_a_story_name_no_style(text: str) -> None:
    assert description_tags(text) == ""


@pytest.mark.parametrize(
    ("description", "genre"),
    [
        ("a smooth jazz song about rain", "jazz"),
        ("a reggae song about the sea", "reggae"),
        ("a sad country ballad about a long road", "country"),
        ("a song about love", "pop"),
    ],
)
def test_description_mode_composes_the_named_genre(description: str, genre: str) -> None:
    score = compose(MusicRequest(description=description, max_duration_s=30), 3)
    assert score.genre == genre


def test_description_names_tempo_meter_and_voice() -> None:
    score = compose(
        MusicRequest(description="a 90 bpm waltz sung by a woman about snow", max_duration_s=30),
        5,
    )
    assert score.tempo_bpm == 90
    assert score.beats_per_bar == 3
    assert score.vocals[0].voice.gender == "female"


def test_tags_lead_and_lyrics_mode_ignores_the_description() -> None:
    tagged = compose(
        MusicRequest(tags="metal", description="a smooth jazz song", max_duration_s=30), 2
    )
    assert tagged.genre == "metal"
    with_lyrics = compose(
        MusicRequest(
            lyrics="hello there\nsing along", description="a jazz song", max_duration_s=30
        ),
        2,
    )
    assert with_lyrics.genre == "pop"


def test_a_12_8_shuffle_swings_in_triplets() -> None:
    score = compose(MusicRequest(description="a 12/8 shuffle about the road"), 1)
    straight = compose(MusicRequest(description="a rock song about the road"), 1)
    offbeats = {round(n.start % 1.0, 3) for t in score.tracks for n in t.notes}
    assert 0.667 in offbeats
    assert 0.667 not in {round(n.start % 1.0, 3) for t in straight.tracks for n in t.notes}


def test_6_8_is_felt_in_dotted_quarters_of_triplet_eighths() -> None:
    """Two bars of 6/8 are one of 12/8: the same triplet pulse, the tempo in dotted
    quarters."""
    score = compose(MusicRequest(description="a folk ballad in 6/8 about the sea"), 3)
    straight = compose(MusicRequest(description="a folk ballad about the sea"), 3)
    swung = {round(n.start % 1.0, 3) for t in score.tracks for n in t.notes}
    assert 0.667 in swung
    assert 0.667 not in {round(n.start % 1.0, 3) for t in straight.tracks for n in t.notes}
    assert score.beats_per_bar == 4
