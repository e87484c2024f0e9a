"""Moderation lists: upstream's messages, whole words, any script, operator overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from cadenza.domain.errors import Forbidden
from cadenza.domain.moderation import ContentRejected, Moderator, WordList, moderator_for
from cadenza.settings import Settings


@pytest.fixture(scope="module")
def shipped() -> Moderator:
    return moderator_for("")


def message(moderator: Moderator, **fields: str) -> str | None:
    verdict = moderator.review(**fields)
    return verdict.message if verdict else None


def test_seed_messages(shipped: Moderator) -> None:
    assert message(shipped, description="a rap song like Eminem") == (
        "Song Description contained artist name: eminem"
    )
    assert message(shipped, tags="pop, taylor swift") == "Tags contained artist name"
    assert message(shipped, description="metro boomin want some more, trap") == (
        "Song Description contained producer tag"
    )
    assert message(shipped, lyrics="[Intro]\nMustard on the beat, ho") == (
        "Song Description contained producer tag"
    )
    assert message(shipped, lyrics="child porn") == "Prompt contained inappropriate material"
    assert message(shipped, description="a song for Christmas", tags="holiday") is None


def test_whole_words_only(shipped: Moderator) -> None:
    assert message(shipped, description="Drake's style") is not None
    assert message(shipped, description="DRAKE") is not None
    assert message(shipped, description="ＤＲＡＫＥ") is not None  # full-width letters
    assert message(shipped, description="drakes flying over a mandrake field") is None
    assert message(shipped, description="adele's") is not None
    assert message(shipped, description="ladele") is None
    # Spacing inside a name does not matter.
    assert message(shipped, tags="taylor   swift") == "Tags contained artist name"


def test_cjk_names_match_inside_text(shipped: Moderator) -> None:
    assert message(shipped, description="一首像周杰伦的中国风歌曲") == (
        "Song Description contained artist name: 周杰伦"
    )
    assert message(shipped, tags="流行,周杰倫风格") == "Tags contained artist name"
    assert message(shipped, description="아이유같은 발라드") is not None


def test_longest_entry_is_reported() -> None:
    lists = WordList(["Swift", "Taylor Swift"])
    assert lists.find("like taylor swift") == "Taylor Swift"


def test_artist_names_in_lyrics_are_allowed(shipped: Moderator) -> None:
    assert message(shipped, lyrics="I listened to Eminem all night") is None


def test_check_raises_forbidden() -> None:
    moderator = Moderator(artists=["Eminem"])
    with pytest.raises(ContentRejected) as info:
        moderator.check(description="eminem")
    assert isinstance(info.value, Forbidden)
    assert info.value.message == "Song Description contained artist name: eminem"
    moderator.check(description="a ballad")


def test_copyrighted_lyrics() -> None:
    moderator = Moderator(copyrighted_lyrics=["Never gonna give you up"])
    assert message(moderator, lyrics="[Chorus]\nnever gonna give you up") == (
        "Lyrics contained copyrighted material"
    )


def test_operator_directory_replaces_lists(tmp_path: Path) -> None:
    (tmp_path / "artists.txt").write_text("# mine\nThe Nobodies\n", encoding="utf-8")
    (tmp_path / "inappropriate.txt").write_text("", encoding="utf-8")
    moderator = Moderator.load(tmp_path)
    assert moderator.artists.entries == ("The Nobodies",)
    assert len(moderator.inappropriate) == 0
    assert len(moderator.producer_tags) > 0  # not overridden: shipped list
    assert message(moderator, description="like eminem") is None
    assert message(moderator, description="like the nobodies") is not None


def test_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CADENZA_MODERATION_DIR", str(tmp_path))
    assert Settings().moderation_dir == str(tmp_path)
    assert moderator_for(str(tmp_path)) is moderator_for(str(tmp_path))


def test_shipped_lists_are_package_data() -> None:
    pyproject = Path(__file__).resolve().parents[4] / "pyproject.toml"
    assert "domain/moderation_lists/*.txt" in pyproject.read_text(encoding="utf-8")
