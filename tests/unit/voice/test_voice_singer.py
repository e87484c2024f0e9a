"""The singer on short phrases: pitch, voicing, timbre, determinism, exact framing."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import replace

import numpy as np
import pytest
import pyworld
import soxr
from voice_phrases import (
    BEAT_S,
    RATE,
    TEMPO,
    english_part,
    make_part,
    mandarin_part,
    part_seconds,
)

from cadenza.compose.score import VocalNote, VocalPart, VoiceSettings
from cadenza.compose.voice import VoiceBank, sing, sing_parts, world
from cadenza.compose.voice.singer import LOWEST_NOTE

Render = Callable[[VocalPart], np.ndarray]
TRACK_RATE = 16000
HOP = 80  # 5 ms at 16 kHz


def _pyin(audio: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    librosa = pytest.importorskip("librosa")
    x = soxr.resample(audio.astype(np.float64), RATE, TRACK_RATE)
    f0, voiced, _ = librosa.pyin(
        x, fmin=70.0, fmax=900.0, sr=TRACK_RATE, frame_length=1024, hop_length=HOP
    )
    times = np.arange(f0.shape[0]) * HOP / TRACK_RATE
    return times, np.where(voiced, f0, 0.0), voiced


def _note_hz(midi: float) -> float:
    return float(440.0 * 2.0 ** ((midi - 69.0) / 12.0))


def _pitch_errors(part: VocalPart, times: np.ndarray, f0: np.ndarray) -> np.ndarray:
    """|cents| between the sung pitch and the note, skipping each note's first 60 ms."""
    errors: list[np.ndarray] = []
    for note in part.notes:
        start, end = note.start * BEAT_S, (note.start + note.duration) * BEAT_S
        frames = (times >= start + 0.06) & (times < end) & (f0 > 0)
        errors.append(np.abs(1200.0 * np.log2(f0[frames] / _note_hz(note.pitch))))
    return np.concatenate(errors)


def _vowel_voicing(part: VocalPart, times: np.ndarray, voiced: np.ndarray) -> float:
    """Share of voiced frames in the held part of each note (after the glide, before the coda)."""
    inside = np.zeros(times.shape, dtype=bool)
    for note in part.notes:
        start, length = note.start * BEAT_S, note.duration * BEAT_S
        inside |= (times >= start + 0.06) & (times < start + 0.6 * length)
    return float(np.mean(voiced[inside]))


@pytest.mark.parametrize("make", [english_part, mandarin_part], ids=["english", "mandarin"])
def test_sung_pitch_follows_the_notes(render: Render, make: Callable[[], VocalPart]) -> None:
    part = make()
    times, f0, voiced = _pyin(render(part))
    errors = _pitch_errors(part, times, f0)
    assert errors.size > 100
    assert np.mean(errors <= 50.0) >= 0.95
    assert np.median(errors) <= 10.0
    assert _vowel_voicing(part, times, voiced) >= 0.9


def _mean_f0(audio: np.ndarray) -> float:
    x = soxr.resample(audio.astype(np.float64), RATE, TRACK_RATE)
    f0, t = pyworld.dio(x, TRACK_RATE, f0_floor=60.0, f0_ceil=900.0, frame_period=5.0)
    f0 = pyworld.stonemask(x, f0, t, TRACK_RATE)
    return float(np.mean(f0[f0 > 0]))


def _centroid(audio: np.ndarray) -> float:
    """Spectral centroid above 1 kHz, where F2 and F3 sit: below it the strongest
    harmonics (F1 and the pitch itself) weigh in whatever the formant setting is."""
    spectrum = np.abs(np.fft.rfft(audio.astype(np.float64))) ** 2
    freqs = np.fft.rfftfreq(audio.shape[0], 1.0 / RATE)
    band = freqs >= 1000.0
    return float(np.sum(freqs[band] * spectrum[band]) / np.sum(spectrum[band]))


def test_female_voice_has_brighter_formants_at_the_same_pitch(render: Render) -> None:
    male = render(english_part(VoiceSettings(gender="male"), base=57))
    female = render(english_part(VoiceSettings(gender="female"), base=57))
    assert abs(_mean_f0(male) - _mean_f0(female)) < 0.03 * _mean_f0(male)
    assert _centroid(female) > 1.08 * _centroid(male)


def test_female_voice_sings_a_low_melody_an_octave_up(render: Render) -> None:
    male = render(english_part(VoiceSettings(gender="male"), base=48))
    female = render(english_part(VoiceSettings(gender="female"), base=48))
    ratio = _mean_f0(female) / _mean_f0(male)
    assert 1.8 < ratio < 2.2
    assert _centroid(female) > _centroid(male)


def test_transpose_moves_the_pitch() -> None:
    up = english_part(VoiceSettings(transpose=3), base=50)
    audio = sing(up, TEMPO, part_seconds(up), RATE)
    plain = english_part(base=50)
    reference = sing(plain, TEMPO, part_seconds(plain), RATE)
    ratio = _mean_f0(audio) / _mean_f0(reference)
    assert abs(1200.0 * np.log2(ratio) - 300.0) < 40.0


def test_notes_below_the_lowest_sung_note_are_sung_an_octave_up() -> None:
    # A melody whose median sits in range but whose low notes fall under what WORLD can
    # synthesise (E2 and below aborted the process with a heap corruption).
    # The median (50) is in the male range, so the part itself is not moved.
    pitches = [38, 50, 55, 57, 55, 50, 38, 50, 55, 38]
    low = make_part(
        [
            *[("sun", 0), ("light", 1), ("on", 2), ("the", 3), ("wa", 4), ("ter", 4)],
            *[("beau", 5), ("ti", 5), ("ful", 5), ("day", 6)],
        ],
        pitches,
        [1.0] * 10,
    )
    audio = sing(low, TEMPO, part_seconds(low), RATE)
    assert audio.shape[0] == round(part_seconds(low) * RATE) and np.abs(audio).max() > 0.1
    times, f0, _ = _pyin(audio)
    for note in low.notes:
        start = note.start * BEAT_S
        frames = (times >= start + 0.1) & (times < start + 0.4) & (f0 > 0)
        if not frames.any():
            continue
        sung = float(np.median(f0[frames]))
        expected = _note_hz(note.pitch if note.pitch >= LOWEST_NOTE else note.pitch + 12)
        assert abs(1200.0 * np.log2(sung / expected)) < 60.0, (note.pitch, sung)


def test_world_synthesis_survives_a_pitch_below_its_floor() -> None:
    # In a child process: below the floor pyworld writes past its buffers and aborts.
    code = (
        "import numpy as np\n"
        "from cadenza.compose.voice import world\n"
        "frames = 400\n"
        "f0 = np.full(frames, 60.0)\n"
        "sp = np.full((frames, world.SYNTH_FFT // 2 + 1), 1e-4)\n"
        "ap = np.full_like(sp, 0.2)\n"
        "y = world.synthesize(f0, sp, ap, 22050)\n"
        "assert np.isfinite(y).all() and y.shape[0] > 0\n"
        "assert world.lowest_f0(22050) > 22050 / world.SYNTH_FFT\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]


def test_lowest_sung_note_keeps_clear_of_the_synthesis_floor() -> None:
    half_semitone_below = _note_hz(LOWEST_NOTE - 0.5)
    assert half_semitone_below > world.lowest_f0(22050)


def test_rendering_is_bitwise_deterministic(render: Render) -> None:
    part = english_part()
    again = sing(part, TEMPO, part_seconds(part), RATE)
    assert np.array_equal(render(part), again)


def test_two_threads_get_the_same_audio_as_one(render: Render) -> None:
    parts = [english_part(), mandarin_part()]
    results: dict[int, np.ndarray] = {}

    def run(i: int) -> None:
        results[i] = sing(parts[i], TEMPO, part_seconds(parts[i]), RATE)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for i, part in enumerate(parts):
        assert np.array_equal(results[i], render(part))


@pytest.mark.parametrize(("seconds", "rate"), [(6.0, 44100), (5.4321, 44100), (3.3, 22050)])
def test_output_length_and_level(seconds: float, rate: int) -> None:
    part = english_part()
    audio = sing(part, TEMPO, seconds, rate)
    assert audio.dtype == np.float32
    assert audio.shape == (round(seconds * rate),)
    assert np.all(np.isfinite(audio))
    assert abs(float(np.max(np.abs(audio))) - 0.5) < 1e-3


def test_silence_where_no_note_sounds(render: Render) -> None:
    part = english_part()
    audio = render(part)
    first = part.notes[0].start * BEAT_S
    last = max(n.start + n.duration for n in part.notes) * BEAT_S
    assert not np.any(audio[: int((first - 0.2) * RATE)])
    assert not np.any(audio[int((last + 0.02) * RATE) :])
    # the one-beat rest after "water": nothing until the next onset may start
    rest_start = (part.notes[5].start + part.notes[5].duration) * BEAT_S
    rest_end = part.notes[6].start * BEAT_S
    assert not np.any(audio[int((rest_start + 0.02) * RATE) : int((rest_end - 0.2) * RATE)])
    # and every note is actually sung
    for note in part.notes:
        start, end = note.start * BEAT_S, (note.start + note.duration) * BEAT_S
        middle = audio[int(start * RATE) : int(end * RATE)]
        assert np.sqrt(np.mean(middle.astype(np.float64) ** 2)) > 0.01


def test_empty_part_and_zero_length() -> None:
    empty = VocalPart("lead", "Vocals", VoiceSettings(), [])
    assert not np.any(sing(empty, TEMPO, 2.0))
    assert sing(empty, TEMPO, 2.0).shape == (88200,)
    assert sing(english_part(), TEMPO, 0.0).shape == (0,)


def test_notes_past_the_end_are_cut() -> None:
    part = english_part()
    audio = sing(part, TEMPO, 1.2, RATE)
    assert audio.shape == (round(1.2 * RATE),)
    assert np.any(audio)


@pytest.mark.parametrize(
    ("syllables", "language"),
    [
        (["", "!!", "123"], "en"),
        (["😀", "~"], "en"),
        (["hel", "lo世", "界"], "en"),
        (["love", "你", "ok"], "zh"),
        (["co", "ra", "zón"], "es"),
        (["la", "la"], "xx"),
    ],
)
def test_odd_lyrics_never_crash_and_are_sung(syllables: list[str], language: str) -> None:
    part = make_part(
        [(s, 0) for s in syllables], [57] * len(syllables), [1.0] * len(syllables), language
    )
    audio = sing(part, TEMPO, part_seconds(part), RATE)
    assert np.all(np.isfinite(audio))
    assert float(np.max(np.abs(audio))) > 0.4


def test_melisma_holds_the_vowel_across_notes() -> None:
    notes = [
        VocalNote(55, 0.0, 1.0, "oh", 0, 0, 0),
        VocalNote(57, 1.0, 1.0, "", 0, 0, 0, continues=True),
        VocalNote(59, 2.0, 1.0, "", 0, 0, 0, continues=True),
    ]
    part = VocalPart("lead", "Vocals", VoiceSettings(vibrato_depth_cents=0.0), notes)
    audio = sing(part, TEMPO, 2.0, RATE)
    times, f0, voiced = _pyin(audio)
    for note in notes:
        start, end = note.start * BEAT_S + 0.08, (note.start + note.duration) * BEAT_S - 0.05
        frames = (times >= start) & (times < end)
        assert np.mean(voiced[frames]) > 0.9
        cents = np.abs(1200.0 * np.log2(f0[frames & voiced] / _note_hz(note.pitch)))
        assert np.median(cents) < 15.0


def test_explicit_formant_scale_is_not_applied_twice(render: Render) -> None:
    default = render(english_part(VoiceSettings(gender="female"), base=57))
    explicit = render(english_part(VoiceSettings(gender="female", formant_scale=1.17), base=57))
    assert np.array_equal(default, explicit)
    darker = render(english_part(VoiceSettings(gender="female", formant_scale=0.9), base=57))
    assert _centroid(darker) < _centroid(default)


def test_parts_of_a_song_share_their_speech() -> None:
    lead = english_part()
    harmony = VocalPart(
        "Harmony",
        "Backing Vocals",
        lead.voice,
        [replace(n, pitch=n.pitch + 4) for n in lead.notes],
    )
    seconds = part_seconds(lead)
    bank = VoiceBank()
    sung = [sing(p, TEMPO, seconds, RATE, bank) for p in (lead, harmony)]
    spoken = len(bank.sources)
    sing(harmony, TEMPO, seconds, RATE, bank)
    assert len(bank.sources) == spoken  # the harmony's words were all spoken for the lead
    together = sing_parts([lead, harmony], TEMPO, seconds, RATE)
    again = sing_parts([lead, harmony], TEMPO, seconds, RATE)
    assert all(np.array_equal(a, b) for a, b in zip(together, again, strict=True))
    assert all(a.shape == b.shape for a, b in zip(together, sung, strict=True))
    assert not np.array_equal(together[0], together[1])  # other pitches, own synthesis
