"""The vocoder's fast paths agree with the plain definitions they replace."""

from __future__ import annotations

import numpy as np

from cadenza.audio.stretch import _regions, fast_atan2, time_stretch

SR = 44100


def test_fast_atan2_matches_numpy_everywhere() -> None:
    axis = np.concatenate([np.linspace(-3, 3, 601), [0.0, -0.0, 1e-30, -1e-30, 1e6, -1e6]])
    y, x = (a.astype(np.float32) for a in np.meshgrid(axis, axis))
    error = np.abs(fast_atan2(y, x) - np.arctan2(y.astype(np.float64), x.astype(np.float64)))
    assert error.max() < 2e-5


def test_every_bin_follows_its_nearest_peak() -> None:
    rng = np.random.default_rng(3)
    power = rng.random((6, 40)).astype(np.float32) ** 4
    peaks, region = _regions(power)
    nearest = peaks[region].reshape(power.shape) % power.shape[1]
    for row, values in enumerate(power):
        found = [0] + [k for k in range(1, 39) if values[k - 1] < values[k] >= values[k + 1]]
        for k in range(40):
            # Nearest peak, ties to the lower one.
            want = min(found, key=lambda p, k=k: (abs(p - k), p))
            assert nearest[row, k] == want, (row, k)


def test_channels_are_vocoded_independently() -> None:
    rng = np.random.default_rng(5)
    stereo = (0.2 * rng.standard_normal((SR, 2))).astype(np.float32)
    both = time_stretch(stereo, 1.25)
    right = time_stretch(stereo[:, 1], 1.25)
    np.testing.assert_allclose(both[:, 1], right[:, 0], atol=1e-6)


def test_a_long_stretch_stays_as_pure_at_the_end_as_at_the_start() -> None:
    """Synthesis phases kept modulo 2*pi: float32 would smear high tones after a minute."""
    t = np.arange(60 * SR) / SR
    tone = (0.3 * np.sin(2 * np.pi * 12345.0 * t)).astype(np.float32)
    out = time_stretch(tone, 0.5)[:, 0]

    def purity(segment: np.ndarray) -> float:
        power = np.abs(np.fft.rfft(segment * np.hanning(len(segment)))) ** 2
        k = int(np.argmax(power))
        return float(power[k - 3 : k + 4].sum() / power.sum())

    assert purity(out[SR : 2 * SR]) > 0.999
    assert purity(out[-2 * SR : -SR]) > 0.999
