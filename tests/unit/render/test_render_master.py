"""Mastering: loudness, true-peak ceiling, and stems that still sum to the master."""

from __future__ import annotations

import math

import numpy as np
import pyloudnorm
import pytest
from scipy.signal import resample_poly

from cadenza.compose.master import (
    block_peaks,
    integrated_loudness,
    master_stems,
    true_peak_dbtp,
)

SR = 44100


def _reference_true_peak(audio: np.ndarray) -> float:
    peak = max(
        float(np.abs(resample_poly(audio[:, ch].astype(np.float64), 4, 1)).max())
        for ch in range(audio.shape[1])
    )
    return 20 * math.log10(peak)


def _stems(seconds: float = 8.0, loud_hits: bool = True) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    t = np.arange(int(seconds * SR)) / SR
    bass = 0.05 * np.sin(2 * np.pi * 55 * t) * (1 + 0.5 * np.sin(2 * np.pi * 0.5 * t))
    tone = 0.03 * np.sin(2 * np.pi * 440 * t + 0.5 * np.sin(2 * np.pi * 3 * t))
    hits = np.zeros_like(t)
    if loud_hits:  # sparse loud transients make the limiter work
        for start in range(0, len(t) - 2000, SR // 2):
            hits[start : start + 2000] = rng.standard_normal(2000) * np.exp(-np.arange(2000) / 300)
    return {
        "Bass": np.stack([bass, bass], axis=1).astype(np.float32),
        "Keyboard": np.stack([tone * 0.7, tone], axis=1).astype(np.float32),
        "Drums": np.stack([hits * 0.25, hits * 0.22], axis=1).astype(np.float32),
    }


def test_loudness_matches_pyloudnorm() -> None:
    audio = _stems()["Bass"] + _stems()["Keyboard"]
    expected = pyloudnorm.Meter(SR).integrated_loudness(audio.astype(np.float64))
    assert integrated_loudness(audio, SR) == pytest.approx(expected, abs=0.1)


def test_silence_has_no_loudness() -> None:
    assert integrated_loudness(np.zeros((SR, 2), np.float32), SR) == -math.inf


def test_true_peak_sees_intersample_peaks() -> None:
    # A sine at fs/4 with a 45 degree phase: samples peak at 0.707, the wave at 1.0.
    n = np.arange(SR)
    wave = np.sin(2 * np.pi * n / 4 + np.pi / 4).astype(np.float32)
    audio = np.stack([wave * 0.5, wave * 0.5], axis=1)
    assert float(np.abs(audio).max()) == pytest.approx(0.5 * math.sqrt(0.5), rel=1e-3)
    assert true_peak_dbtp(audio, SR) == pytest.approx(20 * math.log10(0.5), abs=0.2)
    assert true_peak_dbtp(audio, SR) == pytest.approx(_reference_true_peak(audio), abs=0.1)


def test_block_peaks_cover_every_sample() -> None:
    audio = np.zeros((1000, 2), np.float32)
    audio[999, 1] = -0.8
    peaks = block_peaks(audio, SR, block=64)
    assert peaks.shape == (16,)
    assert peaks[-1] == pytest.approx(0.8, rel=0.05)


@pytest.mark.parametrize("loud_hits", [True, False])
def test_master_hits_target_and_ceiling(loud_hits: bool) -> None:
    stems = _stems(loud_hits=loud_hits)
    originals = {k: v.copy() for k, v in stems.items()}
    mix, report = master_stems(stems, SR)
    measured = pyloudnorm.Meter(SR).integrated_loudness(mix.astype(np.float64))
    assert measured == pytest.approx(-14.0, abs=0.5)
    assert _reference_true_peak(mix) <= -1.0
    assert report.true_peak_dbtp <= -1.0
    if loud_hits:
        assert report.max_reduction_db > 1.0
    # the same gain envelope on every stem: per-sample ratios agree
    ratios = [
        stems[k][:, 0] / np.where(originals[k][:, 0] == 0, np.nan, originals[k][:, 0])
        for k in stems
    ]
    valid = ~np.isnan(ratios[0]) & ~np.isnan(ratios[1])
    assert np.allclose(ratios[0][valid], ratios[1][valid], rtol=1e-4)


def test_mastered_stems_sum_to_the_mix() -> None:
    stems = _stems()
    mix, _ = master_stems(stems, SR)
    total = sum(stems.values())
    residual = 10 * np.log10(np.mean((total - mix) ** 2) / np.mean(mix**2))
    assert residual < -50


def test_master_leaves_silence_alone() -> None:
    stems = {"Drums": np.zeros((SR, 2), np.float32)}
    mix, report = master_stems(stems, SR)
    assert not np.any(mix)
    assert report.gain_db == 0.0


def test_master_rejects_nothing() -> None:
    with pytest.raises(ValueError):
        master_stems({}, SR)
