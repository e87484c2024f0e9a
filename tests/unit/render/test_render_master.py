"""Mastering: loudness, true-peak ceiling, and stems that still sum to the master."""

from __future__ import annotations

import math

import numpy as np
import pyloudnorm
import pytest
from scipy.signal import resample_poly

from cadenza.compose.master import (
    PART_CEILING_DBFS,
    FrameGain,
    _TruePeaks,
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


def _cancelling() -> dict[str, np.ndarray]:
    """A voice whose loud notes the band's waveform cancels in the mix: the voice alone
    peaks far above the mastered mix."""
    t = np.arange(4 * SR) / SR
    tone = np.sin(2 * np.pi * 220 * t)
    swell = np.where((t % 1.0) < 0.25, 1.0, 0.15)  # a loud note each second
    voice = 0.3 * tone * swell
    band = -0.26 * tone * swell + 0.02 * np.sin(2 * np.pi * 55 * t)
    return {
        "Vocals": np.stack([voice, voice], axis=1).astype(np.float32),
        "Bass": np.stack([band, band], axis=1).astype(np.float32),
    }


@pytest.mark.parametrize("guarded", [False, True])
def test_parts_stay_under_full_scale_when_asked(guarded: bool) -> None:
    stems = _cancelling()
    parts = [("Vocals",), ("Bass",)] if guarded else ()
    mix, report = master_stems(stems, SR, parts=parts)
    peak = max(float(np.abs(audio).max()) for audio in stems.values())
    if guarded:
        assert peak <= 10 ** (PART_CEILING_DBFS / 20) * (1 + 1e-6)  # float32 rounding
        assert report.max_reduction_db > 1.0
    else:  # the mix alone does not hold the voice back: the check above can fail
        assert peak > 1.0
    assert np.max(np.abs(sum(stems.values()) - mix)) < 1e-5
    assert report.true_peak_dbtp <= -1.0


def test_master_leaves_silence_alone() -> None:
    stems = {"Drums": np.zeros((SR, 2), np.float32)}
    mix, report = master_stems(stems, SR)
    assert not np.any(mix)
    assert report.gain_db == 0.0


def test_master_rejects_nothing() -> None:
    with pytest.raises(ValueError):
        master_stems({}, SR)


def _reference_block_peaks(audio: np.ndarray, block: int = 64) -> np.ndarray:
    level = np.max(
        [np.abs(resample_poly(audio[:, c].astype(np.float64), 4, 1)) for c in range(2)], axis=0
    )
    blocks = -(-audio.shape[0] // block)
    level = np.concatenate((level, np.zeros(blocks * block * 4 - level.size)))
    return level.reshape(blocks, block * 4).max(axis=1)


def _test_signals() -> list[np.ndarray]:
    rng = np.random.default_rng(11)
    noise = (rng.standard_normal((3001, 2)) * 0.4).astype(np.float32)
    clipped = np.clip(noise * 5, -1, 1)
    square = np.sign(noise).astype(np.float32) * 0.9  # the largest overshoots
    n = np.arange(4000)
    nyquist = np.stack([np.sin(np.pi * 0.97 * n + 0.3)] * 2, axis=1).astype(np.float32) * 0.5
    edges = np.zeros((500, 2), np.float32)
    edges[0, 0], edges[-1, 1] = 0.9, -0.7  # the filter reaches past both ends
    # Nearly constant: no curvature, the interpolator's own gain decides the peak.
    slow = np.stack([0.6 + 0.01 * np.sin(n / 900.0)] * 2, axis=1).astype(np.float32)
    return [noise, clipped, square, nyquist, edges, slow]


@pytest.mark.parametrize("index", range(6))
def test_fast_true_peak_equals_full_oversampling(index: int) -> None:
    audio = _test_signals()[index]
    reference = _reference_block_peaks(audio)
    assert np.allclose(block_peaks(audio, SR), reference, rtol=1e-9, atol=1e-12)
    expected = 20 * math.log10(reference.max())
    assert true_peak_dbtp(audio, SR) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("index", range(6))
def test_peak_bound_holds_for_every_block(index: int) -> None:
    audio = _test_signals()[index]
    assert np.all(_TruePeaks(audio).bound >= _reference_block_peaks(audio))


def test_smooth_music_needs_few_oversampled_blocks() -> None:
    mix = sum(_stems().values())
    peaks = _TruePeaks(mix)
    peaks.peak()
    assert peaks.exact.mean() < 0.05  # the bound rules out the rest


def test_limiter_matches_one_with_every_peak_exact(monkeypatch: pytest.MonkeyPatch) -> None:
    fast, _ = master_stems(_stems(), SR)
    everything = _TruePeaks.above
    monkeypatch.setattr(_TruePeaks, "above", lambda self, floor: everything(self, -1.0))
    full, _ = master_stems(_stems(), SR)
    assert np.array_equal(fast, full)


def test_frame_gain_equals_a_broadcast_product() -> None:
    rng = np.random.default_rng(5)
    gain = rng.uniform(0.2, 1.0, 1000).astype(np.float32)
    audio = rng.standard_normal((1000, 2)).astype(np.float32)
    strided = np.asfortranarray(audio)  # not C-contiguous: the broadcast path
    expected = audio * gain[:, None]
    scale = FrameGain(gain)
    for target in (audio, strided):
        scale(target)
        assert np.array_equal(target, expected)
