"""Sample-exact properties of the audio edits."""

from __future__ import annotations

import numpy as np
import pytest

from cadenza.audio import edit
from cadenza.audio.stretch import time_stretch

SR = 44100


def tone(seconds: float, freq: float = 440.0, channels: int = 2) -> np.ndarray:
    t = np.arange(round(seconds * SR)) / SR
    mono = (0.4 * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return np.repeat(mono[:, None], channels, axis=1)


def peak_hz(signal: np.ndarray) -> float:
    mono = signal.mean(axis=1) if signal.ndim == 2 else signal
    spectrum = np.abs(np.fft.rfft(mono * np.hanning(len(mono))))
    return float(np.argmax(spectrum) * SR / len(mono))


def test_crop_keep_is_the_window_to_the_sample() -> None:
    out = edit.crop_keep(tone(40), SR, 12.5, 28.0)
    assert len(out) == round(15.5 * SR)


def test_crop_remove_is_length_minus_window() -> None:
    audio = tone(40)
    out = edit.crop_remove(audio, SR, 12.5, 28.0)
    assert len(out) == len(audio) - round(15.5 * SR)


def test_crop_remove_seam_has_no_click() -> None:
    audio = tone(10)
    out = edit.crop_remove(audio, SR, 3.0, 5.0)
    assert np.max(np.abs(np.diff(out[:, 0]))) < 0.1


@pytest.mark.parametrize(("start", "end"), [(-1.0, 2.0), (5.0, 5.0), (3.0, 99.0)])
def test_crop_rejects_bad_windows(start: float, end: float) -> None:
    with pytest.raises(ValueError):
        edit.crop_keep(tone(10), SR, start, end)


def test_concat_of_an_extend_chain_is_continue_at_plus_extension() -> None:
    original, extension = tone(30), tone(20, 330.0)
    out = edit.concat([(original, round(12.0 * SR)), (extension, None)], SR)
    assert len(out) == round(12.0 * SR) + len(extension)


def test_concat_three_parts_uses_each_cut() -> None:
    a, b, c = tone(30), tone(30, 330.0), tone(10, 550.0)
    out = edit.concat([(a, 10 * SR), (b, 5 * SR), (c, None)], SR)
    assert len(out) == 15 * SR + len(c)


@pytest.mark.parametrize("speed", [0.5, 1.25, 2.0])
def test_speed_changes_length(speed: float) -> None:
    audio = tone(8)
    for keep in (True, False):
        out = edit.change_speed(audio, SR, speed, keep_pitch=keep)
        assert len(out) == round(len(audio) / speed)


def test_speed_with_keep_pitch_keeps_pitch_and_without_follows_speed() -> None:
    audio = tone(6, 440.0)
    kept = edit.change_speed(audio, SR, 1.25, keep_pitch=True)
    tape = edit.change_speed(audio, SR, 1.25, keep_pitch=False)
    cents_kept = 1200 * np.log2(peak_hz(kept[SR : 4 * SR]) / 440.0)
    cents_tape = 1200 * np.log2(peak_hz(tape[SR : 4 * SR]) / 550.0)
    assert abs(cents_kept) < 20
    assert abs(cents_tape) < 20


def test_speed_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError):
        edit.change_speed(tone(1), SR, 5.0, keep_pitch=True)


def test_stretch_keeps_level() -> None:
    audio = tone(5)
    out = time_stretch(audio, 0.8)
    rms_in = np.sqrt(np.mean(audio[SR:-SR] ** 2))
    rms_out = np.sqrt(np.mean(out[SR:-SR] ** 2))
    assert abs(20 * np.log10(rms_out / rms_in)) < 1.0
