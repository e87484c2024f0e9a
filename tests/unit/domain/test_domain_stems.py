"""Stem splits: what each split may hand out on its own."""

from __future__ import annotations

from cadenza.domain.stems import split_parts


def test_every_stem_alone_and_the_sung_and_played_ones_together() -> None:
    stems = ["Vocals", "Backing Vocals", "Drums", "Bass"]
    assert split_parts(stems) == [
        ("Vocals",),
        ("Backing Vocals",),
        ("Drums",),
        ("Bass",),
        ("Vocals", "Backing Vocals"),
        ("Drums", "Bass"),
    ]


def test_a_group_of_one_stem_is_not_listed_twice() -> None:
    assert split_parts(["Vocals", "Piano"]) == [("Vocals",), ("Piano",)]
    assert split_parts(["Drums", "Bass"]) == [("Drums",), ("Bass",), ("Drums", "Bass")]
