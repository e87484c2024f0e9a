"""Waveform summaries for players: a peak envelope and min/max aggregates per mip level.

Clients draw these instead of decoding the audio (AceData's ``waveform_data`` and the
``waveform_aggregates`` of ``/suno/vox``), so they must follow the audio, not decorate it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

#: Envelope points per second of audio (``waveform_data``).
POINTS_PER_S = 10
#: Samples per min/max pair at mip level 0; each further level is ``MIP_FACTOR`` coarser.
LEVEL0_SAMPLES = 256
MIP_FACTOR = 4
MIP_LEVELS = 3


def _mono(audio: npt.NDArray[np.floating[Any]]) -> npt.NDArray[np.float32]:
    data = np.asarray(audio, dtype=np.float32)
    if data.ndim == 2:
        data = data.mean(axis=1)
    return np.nan_to_num(data)


def peak_envelope(
    audio: npt.NDArray[np.floating[Any]], sample_rate: int, points_per_s: int = POINTS_PER_S
) -> list[float]:
    """The absolute peak of each ``1 / points_per_s`` s, scaled so the loudest is 1.0."""
    mono = np.abs(_mono(audio))
    if mono.size == 0:
        return []
    step = max(1, sample_rate // points_per_s)
    count = -(-mono.size // step)
    padded = np.zeros(count * step, dtype=np.float32)
    padded[: mono.size] = mono
    peaks = padded.reshape(count, step).max(axis=1)
    top = float(peaks.max())
    if top > 0:
        peaks = peaks / top
    return [round(float(p), 4) for p in peaks]


def min_max_aggregates(
    audio: npt.NDArray[np.floating[Any]],
    *,
    level0_samples: int = LEVEL0_SAMPLES,
    levels: int = MIP_LEVELS,
) -> list[dict[str, Any]]:
    """``[{data: [[min, max], ...], mip_map_level}]``: per level, the lowest and highest
    sample of each window as 8-bit integers (-128..127), the way waveform viewers store
    them; level ``n`` windows are ``level0_samples * MIP_FACTOR**n`` samples long."""
    mono = np.clip(_mono(audio), -1.0, 1.0)
    out: list[dict[str, Any]] = []
    for level in range(levels):
        window = level0_samples * MIP_FACTOR**level
        count = -(-mono.size // window) if mono.size else 0
        padded = np.zeros(count * window, dtype=np.float32)
        padded[: mono.size] = mono
        frames = padded.reshape(count, window) if count else padded.reshape(0, window)
        lows = np.round(frames.min(axis=1) * 127).astype(int) if count else np.zeros(0, int)
        highs = np.round(frames.max(axis=1) * 127).astype(int) if count else np.zeros(0, int)
        pairs = [[int(lo), int(hi)] for lo, hi in zip(lows, highs, strict=True)]
        out.append({"data": pairs, "mip_map_level": level})
    return out
