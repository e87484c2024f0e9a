"""The audio remaster chain: -14 LUFS, true peak at or below -1 dBTP, strength by variation."""

from __future__ import annotations

import numpy as np
import pytest

from cadenza.compose.master import integrated_loudness, true_peak_dbtp
from cadenza.compose.remaster_audio import remaster_audio

RATE = 44100


def _music(seconds: float = 3.0, level: float = 0.3) -> np.ndarray:
    rng = np.random.default_rng(5)
    t = np.arange(round(seconds * RATE)) / RATE
    pulse = (np.sin(2 * np.pi * 2.0 * t) > 0.3).astype(np.float64)
    tones = sum(np.sin(2 * np.pi * f * t) / (i + 1) for i, f in enumerate((110, 440, 2500)))
    left = level * (tones * (0.3 + 0.7 * pulse)) / 2 + 0.01 * rng.standard_normal(len(t))
    right = np.roll(left, 200) * 0.9
    return np.stack([left, right], axis=1).astype(np.float32)


def _treble_share(audio: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(audio[:, 0].astype(np.float64)))
    freqs = np.fft.rfftfreq(len(audio), 1 / RATE)
    return float(spectrum[freqs > 6000].sum() / spectrum.sum())


def _side_share(audio: np.ndarray) -> float:
    side = audio[:, 0] - audio[:, 1]
    mid = audio[:, 0] + audio[:, 1]
    return float(np.sqrt(np.mean(side**2)) / np.sqrt(np.mean(mid**2)))


@pytest.mark.parametrize("variation", ["subtle", "normal", "high"])
@pytest.mark.parametrize("level", [0.05, 0.9])
def test_loudness_and_true_peak_meet_the_target(variation: str, level: float) -> None:
    out, report = remaster_audio(_music(level=level), RATE, variation)
    assert out.dtype == np.float32 and out.shape == (3 * RATE, 2)
    assert integrated_loudness(out, RATE) == pytest.approx(-14.0, abs=0.2)
    assert true_peak_dbtp(out, RATE) <= -1.0 + 0.05
    assert report.true_peak_dbtp <= -1.0 + 0.05


def test_a_stronger_variation_changes_more() -> None:
    source = _music()
    subtle, _ = remaster_audio(source, RATE, "subtle")
    high, _ = remaster_audio(source, RATE, "high")
    assert _treble_share(high) > _treble_share(subtle) > _treble_share(source)
    assert _side_share(high) > _side_share(subtle)


def test_mono_comes_out_as_two_equal_channels() -> None:
    mono = _music()[:, 0]
    out, _ = remaster_audio(mono, RATE, "normal")
    assert out.shape == (len(mono), 2)
    np.testing.assert_allclose(out[:, 0], out[:, 1], atol=1e-6)


def test_silence_stays_silent_and_unknown_variations_are_refused() -> None:
    out, _ = remaster_audio(np.zeros((RATE, 2), np.float32), RATE, "normal")
    assert np.all(np.isfinite(out)) and float(np.abs(out).max()) < 1e-6
    with pytest.raises(ValueError):
        remaster_audio(_music(), RATE, "extreme")
