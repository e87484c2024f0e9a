"""Repeated lines share one synthesis; the sparse analysis matches the dense one where it looks."""

from __future__ import annotations

import numpy as np
import pytest
from voice_phrases import BEAT_S, RATE, TEMPO

from cadenza.compose.score import VocalNote, VocalPart, VoiceSettings
from cadenza.compose.voice import VoiceBank, sing, sing_parts, world
from cadenza.compose.voice.espeak import speak
from cadenza.compose.voice.phonemes import is_vowel

# The repeat starts 4.013 beats later: not a whole number of 5 ms analysis frames.
SHIFT_BEATS = 4.013


def _line(start: float, first_word: int, velocity: int) -> list[VocalNote]:
    words = [("hold", 0, 57, 1.0), ("me", 1, 59, 0.5), ("tight", 2, 60, 1.5)]
    notes: list[VocalNote] = []
    t = start
    for text, word, pitch, beats in words:
        notes.append(VocalNote(pitch, t, beats, text, first_word + word, 0, 0, velocity=velocity))
        t += beats
    return notes


def _repeated(second_velocity: int) -> tuple[VocalPart, float]:
    notes = _line(1.0, 0, 90) + _line(1.0 + SHIFT_BEATS, 3, second_velocity)
    part = VocalPart("lead", "Vocals", VoiceSettings(gender="female"), notes)
    return part, (1.0 + SHIFT_BEATS + 3.0) * BEAT_S + 0.5


def test_a_repeated_line_is_synthesised_once_and_sounds_as_if_fresh() -> None:
    part, seconds = _repeated(second_velocity=110)
    shared = VoiceBank()
    cached = sing(part, TEMPO, seconds, RATE, shared)
    fresh = VoiceBank(reuse_phrases=False)
    uncached = sing(part, TEMPO, seconds, RATE, fresh)
    assert (shared.synthesized, fresh.synthesized) == (1, 2)
    assert np.array_equal(cached, uncached)


def test_a_repeat_at_any_offset_is_the_same_sound() -> None:
    part, seconds = _repeated(second_velocity=90)
    audio = sing(part, TEMPO, seconds, RATE)
    middle = round((1.0 + SHIFT_BEATS - 0.5) * BEAT_S * RATE)
    first = int(np.flatnonzero(audio[:middle])[0])
    second = middle + int(np.flatnonzero(audio[middle:])[0])
    length = middle - first - 1
    assert np.array_equal(audio[first : first + length], audio[second : second + length])


def test_a_louder_repeat_is_only_louder() -> None:
    part, seconds = _repeated(second_velocity=110)
    audio = sing(part, TEMPO, seconds, RATE).astype(np.float64)
    middle = round((1.0 + SHIFT_BEATS - 0.5) * BEAT_S * RATE)
    first = int(np.flatnonzero(audio[:middle])[0])
    second = middle + int(np.flatnonzero(audio[middle:])[0])
    length = round(2.5 * BEAT_S * RATE)  # well inside the notes: no edge of the gain envelope
    a, b = audio[first : first + length], audio[second : second + length]
    ratio = float(np.dot(a, b) / np.dot(a, a))
    assert ratio == pytest.approx(110 / 90, rel=1e-3)
    assert np.max(np.abs(b - ratio * a)) < 1e-4


def test_analysis_frames_keep_every_run_edge_and_thin_out_steady_spans() -> None:
    chosen = world._frames(40, [(10, 25)], 4, 16).tolist()
    assert chosen == [0, 4, 8, 9, 10, 25, 26, 30, 34, 38, 39]
    assert world._frames(1, [], 4, 16).tolist() == [0]
    assert world._frames(7, [], 1, 3).tolist() == list(range(7))


def test_sparse_analysis_matches_the_dense_one_on_the_frames_it_analyses() -> None:
    utterance = speak("fire", "en-us", 150, 90, 0)
    samples = np.frombuffer(utterance.pcm, dtype=np.int16).astype(np.float64) / 32768.0
    vowels = [(p.start, p.end) for p in utterance.phones if is_vowel(p.ipa)]
    assert vowels
    dense = world.analyse(samples, utterance.sample_rate)
    sparse = world.analyse(samples, utterance.sample_rate, vowels)
    assert sparse.sp.shape == dense.sp.shape and sparse.ap.shape == dense.ap.shape
    per_frame = utterance.sample_rate * world.FRAME_MS / 1000.0
    spans = [(int(np.ceil(a / per_frame)), int(b // per_frame)) for a, b in vowels]
    at = world._frames(dense.frames, spans, world._SP_STEP, world._SP_STEADY_STEP)
    assert at.shape[0] < 0.8 * dense.frames  # it really skipped frames
    # equal up to the tiny safeguard noise cheaptrick adds (drawn in frame order)
    np.testing.assert_allclose(sparse.sp[at], dense.sp[at], rtol=1e-5, atol=1e-12)
    assert np.array_equal(sparse.f0 > 0, dense.f0 > 0)
    # in between, the envelope stays close (log power, a steady vowel)
    log_gap = np.abs(np.log(sparse.sp) - np.log(dense.sp))
    assert float(np.median(log_gap)) < 0.2


def test_a_sung_beginning_is_reused_by_the_whole_song() -> None:
    # Two different lines, a beat apart: the preview ends between them.
    notes = [
        *_line(1.0, 0, 90),
        VocalNote(62, 1.0 + SHIFT_BEATS + 1.0, 2.0, "far", 3, 1, 0),
        VocalNote(64, 1.0 + SHIFT_BEATS + 3.0, 2.0, "away", 4, 1, 0),
    ]
    part = VocalPart("lead", "Vocals", VoiceSettings(gender="female"), notes)
    seconds = (1.0 + SHIFT_BEATS + 5.0) * BEAT_S + 0.5
    until = (1.0 + SHIFT_BEATS + 0.5) * BEAT_S
    bank = VoiceBank()
    (head,) = sing_parts([part], TEMPO, seconds, RATE, bank=bank, until_s=until)
    assert head.shape[0] == round(until * RATE) and np.abs(head).max() > 0
    assert bank.synthesized == 1  # the second line waits for the whole song
    (whole,) = sing_parts([part], TEMPO, seconds, RATE, bank=bank)
    assert bank.synthesized == 2  # the first line was not synthesised again
    (fresh,) = sing_parts([part], TEMPO, seconds, RATE)
    assert np.array_equal(whole, fresh)
    # The head is the song's beginning, up to each one's own peak scaling.
    start = int(np.flatnonzero(head)[0])
    scale = whole[start + 2000] / head[start + 2000]
    assert np.allclose(head[: start + 20000] * scale, whole[: start + 20000], atol=1e-4)
