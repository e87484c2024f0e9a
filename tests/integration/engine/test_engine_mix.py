"""Composed songs as a listener hears them: the lead sits in the band, the harmonies under
the lead, and no section drops out of the song or jumps at the next one."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pyloudnorm
import pytest
import soundfile as sf

from cadenza.compose.composer import compose
from cadenza.compose.pipeline import ClipResult, render_clip
from cadenza.compose.score import Score
from cadenza.domain.music import MusicRequest

pytestmark = pytest.mark.slow

SR = 44100
LYRICS = """[Verse]
I walked along the river when the light was new
[Chorus]
we are the fire in the night
we are the spark that makes it right
[Instrumental]
[Chorus]
we are the fire in the night
"""


@pytest.fixture(
    scope="module",
    params=[("pop, upbeat", "female", 11), ("rock, energetic", "male", 12)],
    ids=["pop-female", "rock-male"],
)
def song(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Score, ClipResult]:
    tags, gender, seed = request.param
    score = compose(
        MusicRequest(tags=tags, lyrics=LYRICS, vocal_gender=gender, max_duration_s=50), seed
    )
    kinds = {s.kind for s in score.sections}
    assert kinds >= {"intro", "verse", "chorus", "instrumental", "outro"}
    return score, render_clip(score, tmp_path_factory.mktemp("mix") / "clip")


def _stems(result: ClipResult) -> dict[str, np.ndarray]:
    return {
        p.stem: sf.read(str(p), dtype="float64", always_2d=True)[0]
        for p in (result.clip_dir / "stems").glob("*.wav")
    }


def _sung_span(score: Score) -> tuple[int, int]:
    notes = [n for p in score.vocals if p.stem == "Vocals" for n in p.notes]
    first = min(n.start for n in notes)
    last = max(n.start + n.duration for n in notes)
    return round(score.seconds(first) * SR), round(score.seconds(last) * SR)


def test_the_lead_sits_in_the_band_and_the_harmonies_under_it(
    song: tuple[Score, ClipResult],
) -> None:
    score, result = song
    stems = _stems(result)
    a, b = _sung_span(score)
    meter = pyloudnorm.Meter(SR)
    band = sum(v for k, v in stems.items() if k not in ("Vocals", "Backing Vocals"))
    assert isinstance(band, np.ndarray)
    lead = meter.integrated_loudness(stems["Vocals"][a:b])
    over_band = lead - meter.integrated_loudness(band[a:b])
    assert -2.0 <= over_band <= 4.0
    assert meter.integrated_loudness(stems["Backing Vocals"][a:b]) < lead - 3.0


def test_sections_hold_their_level(song: tuple[Score, ClipResult]) -> None:
    score, result = song
    audio = sf.read(str(result.clip_dir / "song.wav"), dtype="float64", always_2d=True)[0]
    meter = pyloudnorm.Meter(SR)
    whole = meter.integrated_loudness(audio)
    assert whole == pytest.approx(-14.0, abs=0.5)
    end = audio.shape[0] - 6 * SR  # a designed ending may fade
    levels = []
    for section in score.sections:
        start = round(score.seconds(section.start_bar * score.beats_per_bar) * SR)
        stop = min(
            end, round(score.seconds((section.start_bar + section.bars) * score.beats_per_bar) * SR)
        )
        if stop - start >= SR:
            levels.append(meter.integrated_loudness(audio[start:stop]))
    assert len(levels) >= 5
    assert all(math.isfinite(x) for x in levels)
    assert min(levels) >= whole - 8.0
    assert max(abs(y - x) for x, y in itertools.pairwise(levels)) <= 8.0
    # Lighter, not levelled flat: the intro stays under the loudest chorus.
    assert levels[0] < max(levels) - 1.0


def test_stems_still_sum_to_the_song(song: tuple[Score, ClipResult]) -> None:
    _, result = song
    audio = sf.read(str(result.clip_dir / "song.wav"), dtype="float64", always_2d=True)[0]
    total = sum(_stems(result).values())
    residual = np.mean((total - audio) ** 2) / np.mean(audio**2)
    assert 10 * math.log10(residual) <= -50
    assert Path(result.clip_dir / "stems" / "Vocals.wav").is_file()
