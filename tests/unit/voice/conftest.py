"""Renders each test phrase once per session."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from voice_phrases import RATE, TEMPO, part_seconds

from cadenza.compose.score import VocalPart
from cadenza.compose.voice import sing


@pytest.fixture(scope="session")
def render() -> Callable[[VocalPart], np.ndarray]:
    cache: dict[int, np.ndarray] = {}
    parts: list[VocalPart] = []

    def _render(part: VocalPart) -> np.ndarray:
        for i, known in enumerate(parts):
            if known == part:
                return cache[i]
        audio = sing(part, TEMPO, part_seconds(part), RATE)
        parts.append(part)
        cache[len(parts) - 1] = audio
        return audio

    return _render
