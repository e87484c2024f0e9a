"""Analysis of audio with no score: tempo, grid, key, chords and melody of synthetic audio
whose answers are known, and the Score built from it."""

from __future__ import annotations

import io

import mido
import numpy as np
import numpy.typing as npt
import pytest

from cadenza.compose.analysis import (
    _sung_meter,
    analyse,
    analysis_score,
    melody_key,
    offset_beats,
)
from cadenza.compose.composer import compose
from cadenza.compose.harmony import scale_pcs
from cadenza.compose.midi import build_midi
from cadenza.compose.score import Note
from cadenza.domain.music import MusicRequest

RATE = 22_050
Audio = npt.NDArray[np.float64]


def _tone(pitch: int, seconds: float, amp: float, harmonics: int = 5) -> Audio:
    t = np.arange(int(seconds * RATE)) / RATE
    f = 440.0 * 2 ** ((pitch - 69) / 12)
    wave = sum(0.6 ** (h - 1) * np.sin(2 * np.pi * f * h * t) for h in range(1, harmonics + 1))
    env = np.minimum(1.0, t / 0.01) * np.exp(-t * 1.2) * np.minimum(1.0, (seconds - t) / 0.02)
    out: Audio = amp * wave * env
    return out


def _kick() -> Audio:
    t = np.arange(int(0.15 * RATE)) / RATE
    out: Audio = 0.8 * np.sin(2 * np.pi * (50 + 80 * np.exp(-t * 30)) * t) * np.exp(-t * 25)
    return out


def _hat(seed: int) -> Audio:
    t = np.arange(int(0.05 * RATE)) / RATE
    noise = np.random.default_rng(seed).standard_normal(t.size)
    out: Audio = 0.2 * noise * np.exp(-t * 80)
    return out


def _add(buf: Audio, x: Audio, at: float) -> None:
    i = int(at * RATE)
    n = min(len(x), len(buf) - i)
    if n > 0:
        buf[i : i + n] += x[:n]


def _drums(bpm: float, seconds: float, start: float = 0.0) -> Audio:
    """Kick on every beat (the bar's first louder), hats on the eighths."""
    buf = np.zeros(int(seconds * RATE))
    step = 30.0 / bpm
    k = 0
    while start + k * step < seconds:
        if k % 2 == 0:
            _add(buf, _kick() * (1.0 if k % 8 == 0 else 0.6), start + k * step)
        _add(buf, _hat(k), start + k * step)
        k += 1
    return buf


def _cadence(chords: list[list[int]], bpm: float, bars: int) -> Audio:
    """One chord per 4/4 bar with its root an octave down, over the drum loop."""
    bar = 4 * 60.0 / bpm
    seconds = bars * bar + 0.5
    buf = _drums(bpm, seconds) * 0.5
    for i in range(bars):
        pcs = chords[i % len(chords)]
        for p in pcs:
            _add(buf, _tone(p, bar, 0.12), i * bar)
        _add(buf, _tone(pcs[0] - 12, bar, 0.3, harmonics=3), i * bar)
    return buf


C_MAJOR = [[60, 64, 67], [65, 69, 72], [67, 71, 74], [60, 64, 67]]
A_MINOR = [[57, 60, 64], [62, 65, 69], [64, 68, 71], [57, 60, 64]]


@pytest.mark.parametrize("bpm", [96.0, 140.0])
def test_tempo_of_a_drum_loop_within_two_percent(bpm: float) -> None:
    found = analyse(_drums(bpm, 20.0, start=0.13), RATE, detect_voice=False)
    assert found.tempo_bpm == pytest.approx(bpm, rel=0.02)
    beat = 60.0 / bpm
    # the grid sits on the hits, not between them
    assert (found.beat_s - 0.13) % beat == pytest.approx(0.0, abs=0.03) or (
        found.beat_s - 0.13
    ) % beat == pytest.approx(beat, abs=0.03)


@pytest.mark.parametrize(
    ("chords", "root", "mode", "names"),
    [
        (C_MAJOR, 0, "major", [(0, "maj"), (5, "maj"), (7, "maj"), (0, "maj")]),
        (A_MINOR, 9, "minor", [(9, "min"), (2, "min"), (4, "maj"), (9, "min")]),
    ],
)
def test_key_and_chords_of_a_cadence(
    chords: list[list[int]], root: int, mode: str, names: list[tuple[int, str]]
) -> None:
    found = analyse(_cadence(chords, 100.0, 8), RATE, detect_voice=False)
    assert (found.key_root, found.mode) == (root, mode)
    assert found.beats_per_bar == 4
    assert found.tempo_bpm == pytest.approx(100.0, rel=0.02)
    assert found.downbeat_s == pytest.approx(0.0, abs=0.05)
    heard = [(r, q) for _, _, r, q in found.chords]
    assert heard[:8] == names * 2
    assert found.bass[:4] == [r for r, _ in names]


MELODY = [(64, 1), (67, 1), (69, 2), (67, 1), (64, 1), (62, 2), (60, 4)]


def _melody_over_drums(bpm: float) -> Audio:
    beat = 60.0 / bpm
    total = sum(b for _, b in MELODY) * beat
    buf = _drums(bpm, total + 0.5) * 0.4
    at = 0.0
    for pitch, beats in MELODY:
        _add(buf, _tone(pitch, beats * beat * 0.95, 0.35), at)
        at += beats * beat
    return buf


def test_melody_notes_on_the_beat_grid() -> None:
    bpm = 100.0
    found = analyse(_melody_over_drums(bpm), RATE, detect_voice=False)
    beat = 60.0 / found.tempo_bpm
    heard = [(p, round((s - found.beat_s) / beat * 2) / 2) for p, s, _, _ in found.melody]
    expected, at = [], 0.0
    for pitch, beats in MELODY:
        expected.append((pitch, at))
        at += beats
    assert heard == expected


def test_analysis_score_is_tagged_tempo_correct_and_deterministic() -> None:
    audio = _cadence(C_MAJOR, 100.0, 16)
    found = analyse(audio, RATE, detect_voice=False)
    score = analysis_score(found, title="Demo", tags="", seed=5)
    again = analysis_score(analyse(audio, RATE, detect_voice=False), title="Demo", seed=5)
    assert score.to_dict() == again.to_dict()
    assert score.extra["analysed"] is True and score.extra["key"] == "C major"
    assert score.instrumental and not score.vocals
    assert score.genre == "pop"  # the neutral default with no tags
    assert score.duration_s == pytest.approx(len(audio) / RATE, abs=0.01)
    assert {t.name for t in score.tracks} == {"Melody", "Bass", "Chords"} or {
        t.name for t in score.tracks
    } == {"Bass", "Chords"}
    assert sum(s.bars for s in score.sections) == 16
    assert offset_beats(score) == pytest.approx(0.0, abs=0.1)
    tagged = analysis_score(found, title="Demo", tags="jazz, piano", seed=5)
    assert tagged.genre == "jazz" and tagged.tags == "jazz, piano"
    buffer = io.BytesIO()
    build_midi(score).save(file=buffer)
    midi = mido.MidiFile(file=io.BytesIO(buffer.getvalue()))
    tempo = next(m.tempo for m in midi.tracks[0] if m.type == "set_tempo")
    assert mido.tempo2bpm(tempo) == pytest.approx(100.0, rel=0.02)
    assert {"Bass", "Chords"} <= {t.name for t in midi.tracks}


def test_bar_energy_when_the_first_bar_starts_a_hair_before_the_audio(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A first beat at a negative frame must not make the first bar's loudness NaN (which
    zeroed every bar's energy)."""
    from cadenza.compose import analysis

    period = 60.0 * analysis.FPS / 120.0
    monkeypatch.setattr(analysis, "_fine_grid", lambda env, p: (period, period - 2.0))
    monkeypatch.setattr(analysis, "_meter", lambda chroma, low: (4, 0))
    t = np.arange(8 * RATE) / RATE
    loudness = np.where(t < 4.0, 0.05, 0.4)
    audio = (loudness * np.sin(2 * np.pi * 220.0 * t)).astype(np.float32)
    found = analyse(audio, RATE, detect_voice=False)
    assert found.beat_s < 0
    energy = np.array(found.bar_energy)
    assert np.isfinite(energy).all()
    assert energy.max() == pytest.approx(1.0)
    assert energy[0] < 0.5 * energy[-1]


def _tune(pitches: list[int]) -> list[Note]:
    """One beat a note, a beat's rest after every fourth (a phrase's end)."""
    return [Note(pitch, i + i // 4, 1.0, 90) for i, pitch in enumerate(pitches)]


def test_a_melody_that_dwells_on_its_fifth_keeps_its_key() -> None:
    # Ab major's tune, half of it on Eb: a key profile alone reads Eb major, whose scale
    # lacks the tune's Db.
    pitches = [63] * 12 + [61] * 4 + [65] * 4 + [60] * 2 + [67]
    assert melody_key(_tune(pitches)) == (8, "major")
    # A minor tune with its leading tone: the minor key, not its relative major.
    tune = [57, 60, 64, 62, 60, 59, 57, 56, 57, 64, 57, 57]
    assert melody_key(_tune(tune)) == (9, "minor")
    assert melody_key(_tune(tune[:5])) is None  # too few notes to tell


def test_a_tune_that_never_sings_the_scales_odd_note_is_in_the_key_its_phrases_end_on() -> None:
    # G major without C or C#: D major's scale holds it as well; its phrases end on G.
    pitches = [62, 64, 66, 67, 62, 62, 69, 67, 71, 69, 66, 67, 74, 71, 69, 67]
    assert melody_key(_tune(pitches)) == (7, "major")


def test_melody_keys_of_composed_tunes_keep_their_scale() -> None:
    lyrics = "[Verse]\nLight on the water, hold on to me\nCarry the morning over the sea"
    held = 0
    for seed, tags in enumerate(("pop", "folk", "rock", "sad minor ballad", "country", "r&b")):
        score = compose(MusicRequest(tags=tags, lyrics=lyrics, max_duration_s=30, seed=seed), seed)
        lead = next(v for v in score.vocals if v.stem == "Vocals")
        notes = [Note(n.pitch, n.start, n.duration, 90) for n in lead.notes]
        found = melody_key(notes)
        assert found is not None
        held += set(scale_pcs(*found)) == set(scale_pcs(score.key_root, score.mode))
    assert held >= 5


A_CAPPELLA_LYRICS = """[Verse]
I walked along the river when the evening light was low
Every window in the village had a candle burning slow
And I counted all the footsteps that would carry me back home
Through the orchard and the meadow where the winter roses grow

[Chorus]
Hold on to me, hold on
Till the morning comes along
Every word you never said
Is a song inside my head
"""


def _a_cappella(tags: str, seed: int) -> tuple[float, Audio]:
    """(true tempo, the sung parts alone) of a 40 s engine song: an a cappella upload."""
    from cadenza.compose.composer import compose
    from cadenza.compose.pipeline import clip_seed
    from cadenza.compose.voice import sing_parts
    from cadenza.domain.music import MusicRequest

    request = MusicRequest(
        title="T", tags=tags, lyrics=A_CAPPELLA_LYRICS, max_duration_s=40, seed=seed
    )
    score = compose(request, clip_seed(seed, 0))
    parts = [p for p in score.vocals if p.notes]
    assert parts
    sung = sing_parts(parts, score.tempo_bpm, score.duration_s, RATE)
    n = min(len(a) for a in sung)
    voice: Audio = np.sum([np.asarray(a, np.float64)[:n] for a in sung], axis=0)
    return score.tempo_bpm, voice


@pytest.mark.parametrize(
    ("tags", "seed"),
    [
        # Slow songs sing a syllable per eighth note, as fast as a fast song's beats.
        ("ballad, male vocals, 68 bpm", 33),
        ("slow soul, female vocals, 70 bpm", 12),
        ("ballad, 71 bpm", 13),
        ("folk, acoustic, 74 bpm", 14),
        # ... and fast ones keep their beat.
        ("pop, upbeat, 120 bpm", 21),
        ("dance pop, 140 bpm", 23),
        ("punk rock, 152 bpm", 24),
    ],
)
def test_tempo_of_a_lone_voice_within_two_percent_octave_included(tags: str, seed: int) -> None:
    bpm, voice = _a_cappella(tags, seed)
    found = analyse(voice, RATE, detect_voice=False)
    assert found.tempo_bpm == pytest.approx(bpm, rel=0.02)


@pytest.mark.parametrize("meter", [3, 4])
def test_a_lone_lines_bars_are_where_its_long_notes_start(meter: int) -> None:
    # Per bar: a long note on its downbeat, then short ones (steps are half beats); the
    # line starts one beat in, so the first downbeat is beat 1.
    notes = []
    for bar in range(8):
        start = 2 * (1 + bar * meter)
        notes.append((60, start, 3, 1.0))
        notes += [(62, start + 3 + k, 1, 1.0) for k in range(2 * meter - 3)]
    assert _sung_meter(notes, 1 + 8 * meter) == (meter, 1)
