"""Audio with no score -> the predominant pitch track and the voice it suggests.

Uploaded audio has no score, so its persona voice and the analysis's singing check come
from the WORLD pitch tracker (DIO refined by StoneMask, 10 ms frames) on a 16 kHz mono
signal, quiet frames gated out. Notes, chords and tempo come from ``compose.analysis``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyworld
import soxr

ANALYSIS_RATE = 16_000
FRAME_S = 0.01
#: Frames quieter than this below the loudest frame count as silence.
GATE_DB = 35.0
#: DIO decimation: 2 halves its cost with the same semitone accuracy (StoneMask refines).
DIO_SPEED = 2
#: Median pitch above which a voice is taken to be female (between typical speaking F0s).
FEMALE_MEDIAN_HZ = 165.0
#: Fewest pitched frames a voice estimate is made from.
MIN_VOICED_FRAMES = 30

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class PitchTrack:
    """Per frame: F0 in Hz (0 where unvoiced or silent) and level in dB below the peak."""

    f0: FloatArray
    level_db: FloatArray
    frame_s: float = FRAME_S

    @property
    def voiced(self) -> npt.NDArray[np.bool_]:
        mask: npt.NDArray[np.bool_] = self.f0 > 0
        return mask


def _mono(audio: npt.NDArray[np.floating], sample_rate: int) -> FloatArray:
    data = np.asarray(audio, dtype=np.float64)
    if data.ndim == 2:
        data = data.mean(axis=1)
    if sample_rate != ANALYSIS_RATE:
        data = np.asarray(soxr.resample(data, sample_rate, ANALYSIS_RATE), dtype=np.float64)
    return np.ascontiguousarray(data)


def pitch_track(audio: npt.NDArray[np.floating], sample_rate: int) -> PitchTrack:
    """The predominant pitch of ``audio`` (mono or ``(frames, channels)``)."""
    x = _mono(audio, sample_rate)
    if x.size < ANALYSIS_RATE // 10:
        return PitchTrack(np.zeros(0), np.zeros(0))
    period_ms = FRAME_S * 1000.0
    f0, times = pyworld.dio(
        x, ANALYSIS_RATE, f0_floor=60.0, f0_ceil=1100.0, frame_period=period_ms, speed=DIO_SPEED
    )
    f0 = pyworld.stonemask(x, f0, times, ANALYSIS_RATE)
    hop = int(ANALYSIS_RATE * FRAME_S)
    centres = np.minimum((times * ANALYSIS_RATE).astype(np.int64), x.size - 1)
    # Mean power over a two-hop window per frame, from one running sum.
    power = np.concatenate(([0.0], np.cumsum(np.pad(x, hop) ** 2)))
    energy = (power[centres + 2 * hop] - power[centres]) / (2 * hop)
    level = 10.0 * np.log10(np.maximum(energy, 1e-12))
    level_db = level - float(level.max()) if level.size else level
    f0 = np.where(level_db > -GATE_DB, f0, 0.0)
    return PitchTrack(np.asarray(f0, dtype=np.float64), np.asarray(level_db, dtype=np.float64))


def voice_from_track(track: PitchTrack) -> dict[str, object] | None:
    """Gender and range of the predominant voice; None when nothing is voiced enough."""
    voiced = track.f0[track.voiced]
    if voiced.size < MIN_VOICED_FRAMES:
        return None
    midi = 69.0 + 12.0 * np.log2(voiced / 440.0)
    median_hz = float(np.median(voiced))
    gender = "female" if median_hz >= FEMALE_MEDIAN_HZ else "male"
    return {
        "gender": gender,
        "name": f"persona-{gender}",
        "formant_scale": 1.17 if gender == "female" else 1.0,
        "vibrato_rate_hz": 5.5,
        "vibrato_depth_cents": 35.0,
        "breathiness": 0.1,
        "transpose": 0,
        "range_low": int(np.floor(np.percentile(midi, 10))),
        "range_high": int(np.ceil(np.percentile(midi, 90))),
        "median_hz": round(median_hz, 2),
    }
