from __future__ import annotations

import pytest

from cadenza.domain.errors import InvalidInput
from cadenza.domain.music import build_music_request


@pytest.mark.parametrize(
    ("asked", "model", "version", "limit"),
    [
        ("chirp-crow", "chirp-crow", "v5", 480),
        ("CHIRP-AUK", "chirp-auk", "v4.5", 240),
        ("chirp-v4", "chirp-v4", "v4", 150),
        ("v5", "chirp-v5", "v5", 480),
        (None, "chirp-v4-5", "v4.5", 240),
    ],
)
def test_clips_carry_the_model_name_the_client_used(
    asked: str | None, model: str, version: str, limit: int
) -> None:
    request = build_music_request({"gpt_description_prompt": "a song", "mv": asked})
    assert (request.model, request.major_model_version) == (model, version)
    assert request.max_duration_s == limit


def test_unknown_model_is_refused() -> None:
    with pytest.raises(InvalidInput, match="unknown model"):
        build_music_request({"gpt_description_prompt": "a song", "mv": "chirp-nope"})
