"""Audio with no score -> an analysed ``Score``: tempo, bar grid, key, chords, melody, bass.

Uploaded audio has no score, so extend, cover and MIDI work on this analysis instead. It
is plain DSP, deterministic and fast (one STFT at 11.025 kHz; no model):

- an onset envelope (log-spectral flux) gives the tempo: its autocorrelation with a
  log-normal prior around 120 bpm picks the octave, then the beat frequency is refined on
  a fine grid by the envelope's Fourier magnitude, whose phase places the beat grid. One
  tempo per song, as the ``Score`` has. A lone voice (an a cappella) sings about as many
  syllables a second at any tempo, so a slow song's eighths pass for a fast beat: there the
  onsets between the beats, the stresses on them and the comb at twice the period decide
  the octave;
- beat-synchronous chroma (and a bass chroma) give the meter (4/4 or 3/4) and the
  downbeat (chord changes and low-band onsets line up on it), the key (Krumhansl-Kessler
  profiles), a chord per bar (per half bar where the harmony moves) and the bass root;
- harmonic summation over a semitone spectrum gives the predominant melody, quantized to
  eighth notes of the grid;
- a WORLD pitch track of a few excerpts tells singing (a pitch that never sits still)
  from steady instruments.

Score times are beats from the start of the audio, so the analysed notes line up with
it; the first downbeat sits ``extra["analysis"]["offset_beats"]`` beats in, and bars (of
sections and the bar grid) count from there.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import soxr
from scipy import sparse
from scipy.ndimage import maximum_filter1d

from cadenza.compose.harmony import NOTE_NAMES, chord_pcs, voice_chord
from cadenza.compose.score import Chord, Note, Score, Section, Track

RATE = 11_025
N_FFT = 2048
ONSET_FFT = 512
HOP = 256
FPS = RATE / HOP
#: The semitone spectrum spans MIDI 24..107 (C1..B7).
LOW_PITCH, N_PITCH = 24, 84
MELODY_RANGE = (48, 84)
BASS_RANGE = (28, 57)
MIN_BPM, MAX_BPM = 50.0, 220.0
CHUNK_FRAMES = 2048
#: Seconds of audio the voice check pitch-tracks (three excerpts).
VOICE_EXCERPT_S = 8.0
#: Median frame-to-frame pitch movement (cents) above which the lead is taken to be sung:
#: a heuristic (sung engine clips measured ~20, instruments and chords ~9, a lone synth 0.2).
VOICE_WOBBLE_CENTS = 14.0
#: ... and the share of frames that must be pitched (instrumental mixes measured ~0.15).
VOICE_PITCHED = 0.3
#: A lone line (an a cappella voice): under this share of its power below E2 (no bass or
#: kick; sung stems measured <= 0.0001, mixes >= 0.002) ...
LONE_SUB_SHARE = 0.001
#: ... and over this share of near-silent frames (the gaps between phrases; sung stems
#: measured >= 0.39, mixes <= 0.04).
LONE_QUIET_SHARE = 0.15
#: A lone line read at this tempo or faster may be the eighth notes of a beat half as fast.
LONE_HALVE_FROM_BPM = 110.0
#: Below this beat evidence (see ``_beat_evidence``) a lone line's beat is taken to be twice
#: the period: a cappella engine songs read an octave fast measured <= 0.58, those read
#: right >= 0.65.
LONE_BEAT_EVIDENCE = 0.62

FloatArray = npt.NDArray[np.float64]

# Krumhansl-Kessler key profiles.
_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
_QUALITIES = ("maj", "min")
#: How much a lone line's three-beat bar counts against a four-beat one: measured on 54
#: four-beat and 6 waltz a cappellas of the engine, 48 and 3 right (the chroma's evidence,
#: made for bands, had 35 and 1).
SUNG_THREE_BIAS = 0.85
#: Notes a melody needs before its own key is trusted over the audio's.
MELODY_KEY_NOTES = 8
#: How much the key profile counts against the share of the melody a scale holds.
MELODY_PROFILE_WEIGHT = 0.1
#: How much more a phrase's last note counts in that profile (measured on 80 composed
#: tunes: 65 keys exact with none, 68 with 3; 76 scales right either way).
PHRASE_END_WEIGHT = 3.0


@dataclass(frozen=True)
class Analysis:
    """What was heard; times in seconds from the start of the audio."""

    duration_s: float
    tempo_bpm: float
    beat_s: float  #: the first beat (a few ms below 0 when the audio starts on it)
    beats_per_bar: int
    downbeat_s: float  #: the first downbeat (likewise)
    key_root: int
    mode: str
    #: (start_s, end_s, root pitch class, quality)
    chords: list[tuple[float, float, int, str]]
    #: per bar: the bass root pitch class (-1 where nothing low sounds)
    bass: list[int]
    #: (midi pitch, start_s, end_s, velocity), on the eighth-note grid
    melody: list[tuple[int, float, float, int]]
    #: per bar: loudness 0..1
    bar_energy: list[float]
    voice: dict[str, Any] | None = None
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def bar_s(self) -> float:
        return self.beats_per_bar * 60.0 / self.tempo_bpm


# ------------------------------------------------------------------ spectrum


def _mono(audio: npt.NDArray[np.floating], sample_rate: int) -> npt.NDArray[np.float32]:
    data = np.asarray(audio, dtype=np.float32)
    if data.ndim == 2:
        data = data.mean(axis=1, dtype=np.float32)
    if sample_rate != RATE:
        data = np.asarray(soxr.resample(data, sample_rate, RATE, quality="MQ"), np.float32)
    return np.ascontiguousarray(data)


def _semitone_map() -> sparse.csr_matrix:
    """FFT bins -> semitone bins, each bin shared linearly between its two nearest pitches."""
    freqs = np.arange(N_FFT // 2 + 1) * RATE / N_FFT
    rows, cols, vals = [], [], []
    for k, f in enumerate(freqs):
        if f < 30.0:
            continue
        m = 69.0 + 12.0 * math.log2(f / 440.0) - LOW_PITCH
        lo = math.floor(m)
        for p, w in ((lo, 1.0 - (m - lo)), (lo + 1, m - lo)):
            if 0 <= p < N_PITCH and w > 0:
                rows.append(k)
                cols.append(p)
                vals.append(w)
    return sparse.csr_matrix((vals, (rows, cols)), shape=(freqs.size, N_PITCH), dtype=np.float32)


_SEMITONES = _semitone_map()


def _frames(x: npt.NDArray[np.float32], size: int) -> npt.NDArray[np.float32]:
    """Centred frames of ``size`` samples every ``HOP`` (a view, nothing copied)."""
    padded = np.pad(x, (size // 2, size // 2))
    n_frames = 1 + (x.size - 1) // HOP
    view: npt.NDArray[np.float32] = np.lib.stride_tricks.sliding_window_view(padded, size)[::HOP]
    return view[:n_frames]


def _spectra(x: npt.NDArray[np.float32]) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Per frame: onset strength, low-band onset strength, and the semitone spectrum.

    Onsets come from a short window (46 ms, so they are not heard early), pitch from a
    long one (186 ms, for semitone resolution down to the bass)."""
    long_frames = _frames(x, N_FFT)
    short_frames = _frames(x, ONSET_FFT)
    n_frames = len(long_frames)
    long_window = np.hanning(N_FFT).astype(np.float32)
    short_window = np.hanning(ONSET_FFT).astype(np.float32)
    low_bins = int(200.0 * ONSET_FFT / RATE) + 1
    flux = np.zeros(n_frames)
    low_flux = np.zeros(n_frames)
    semis = np.zeros((n_frames, N_PITCH), dtype=np.float32)
    previous: npt.NDArray[np.float32] | None = None
    for begin in range(0, n_frames, CHUNK_FRAMES):
        end = min(n_frames, begin + CHUNK_FRAMES)
        mag = np.abs(np.fft.rfft(long_frames[begin:end] * long_window, axis=1))
        semis[begin:end] = _SEMITONES.T.dot(mag.astype(np.float32).T).T
        short = np.abs(np.fft.rfft(short_frames[begin:end] * short_window, axis=1))
        log = np.log1p(100.0 * short).astype(np.float32)
        before = np.vstack([log[:1] if previous is None else previous[None, :], log[:-1]])
        rise = np.maximum(log - before, 0.0)
        flux[begin:end] = rise.sum(axis=1)
        low_flux[begin:end] = rise[:, 1:low_bins].sum(axis=1)
        previous = log[-1]
    return _detrend(flux), _detrend(low_flux), semis.astype(np.float64)


def _detrend(env: FloatArray) -> FloatArray:
    """Minus its local mean (~0.4 s), half-wave rectified and scaled to unit peak."""
    width = max(1, int(0.4 * FPS))
    kernel = np.ones(width) / width
    out = np.maximum(env - np.convolve(env, kernel, mode="same"), 0.0)
    peak = float(out.max()) if out.size else 0.0
    return out / peak if peak > 0 else out


# ------------------------------------------------------------------ tempo and grid


def _autocorrelation(env: FloatArray) -> FloatArray:
    """The (lightly smoothed) envelope's autocorrelation, 1 at lag 0."""
    n = env.size
    smooth = np.convolve(env, np.array([0.25, 0.5, 1.0, 0.5, 0.25]), mode="same")
    spectrum = np.fft.rfft(smooth - smooth.mean(), 2 * n)
    acf = np.fft.irfft(np.abs(spectrum) ** 2)[:n]
    out: FloatArray = acf / max(float(acf[0]), 1e-12)
    return out


def _coarse_period(env: FloatArray) -> float:
    """The beat period in frames: a comb over the onset autocorrelation (lags 1-4 times
    the period, interpolated), weighted by a tempo prior."""
    n = env.size
    acf = _autocorrelation(env)
    lo, hi = 60.0 * FPS / MAX_BPM, 60.0 * FPS / MIN_BPM
    if 4 * hi >= n - 1:
        return 60.0 * FPS / 120.0
    lags = np.arange(lo, hi, 0.05)
    comb = sum(np.interp(k * lags, np.arange(n), acf) for k in (1, 2, 3, 4)) / 4.0
    bpm = 60.0 * FPS / lags
    prior = np.exp(-0.5 * (np.log2(bpm / 120.0) / 0.9) ** 2)
    return float(lags[int(np.argmax(comb * prior))])


def _fine_grid(env: FloatArray, period: float, spread: float = 0.04) -> tuple[float, float]:
    """(period, phase) in frames: the beat frequency within ``spread`` of ``period`` where
    the envelope's Fourier magnitude (fundamental plus second harmonic) peaks."""
    keep = np.flatnonzero(env > 0.02)  # the sum is over onsets only: skip the rest
    t = keep.astype(np.float64)
    weights = env[keep]
    candidates = period * np.linspace(1.0 - spread, 1.0 + spread, 161 if spread > 0 else 1)
    best_score, best_period, best_phase = -1.0, period, 0.0
    for cand in candidates:
        angle = 2.0 * np.pi * t / cand
        z1 = complex(np.dot(weights, np.cos(angle)), -np.dot(weights, np.sin(angle)))
        z2 = complex(np.dot(weights, np.cos(2 * angle)), -np.dot(weights, np.sin(2 * angle)))
        score = abs(z1) + 0.5 * abs(z2)
        if score > best_score:
            best_score, best_period = score, float(cand)
            best_phase = (-np.angle(z1) / (2.0 * np.pi) * cand) % cand
    return best_period, float(best_phase)


def _lone_line(semis: FloatArray) -> bool:
    """Whether the audio is one line alone (an a cappella voice): next to no power under
    E2, where a mix's bass and kick sit, and silent gaps between its phrases."""
    power = semis**2
    total = power.sum(axis=1)
    if float(total.sum()) <= 0.0:
        return False
    sub = float(power[:, : 40 - LOW_PITCH].sum() / total.sum())
    level = 10.0 * np.log10(total + 1e-12)
    quiet = float(np.mean(level < np.percentile(level, 95) - 30.0))
    return sub < LONE_SUB_SHARE and quiet > LONE_QUIET_SHARE


def _grid_strength(peaks: FloatArray, period: float, phases: FloatArray) -> FloatArray:
    """Mean onset strength (``peaks``: the envelope's local maxima) on the grid of
    ``period`` frames at each phase."""
    n = peaks.size
    count = max(1, int(n / period) + 1)
    at = np.rint(phases[:, None] + period * np.arange(count)[None, :]).astype(np.int64)
    inside = at < n
    values = np.where(inside, peaks[np.minimum(at, n - 1)], 0.0)
    out: FloatArray = values.sum(axis=1) / np.maximum(inside.sum(axis=1), 1)
    return out


def _beat_evidence(env: FloatArray, period: float) -> float:
    """How much ``period`` looks like the beat of a lone sung line rather than its eighth
    notes, higher for the beat.

    A syllable rate fits both a slow beat's eighths and a fast beat, and the prior alone
    cannot tell them apart. Three cues can: a beat is split into sung eighths, so onsets fall
    halfway between its beats, while an eighth is rarely split again; a beat at twice the
    period would carry the stressed syllables and less between them; and the autocorrelation
    comb is about as strong at twice an eighth's period as at the period, weaker at twice
    a beat's. Their weights were set on engine songs (see ``LONE_BEAT_EVIDENCE``)."""
    peaks = maximum_filter1d(env, size=5)
    phases = np.linspace(0.0, period, 24, endpoint=False)
    on = _grid_strength(peaks, period, phases)
    best = int(np.argmax(on))
    between = float(on[(best + 12) % 24] / max(float(on[best]), 1e-9))
    double = _grid_strength(peaks, 2.0 * period, 2.0 * phases)
    best2 = int(np.argmax(double))
    alternate = float(double[(best2 + 12) % 24] / max(float(double[best2]), 1e-9))
    acf = _autocorrelation(env)

    def comb(p: float) -> float:
        return float(np.mean(np.interp([k * p for k in (1, 2, 3, 4)], np.arange(acf.size), acf)))

    ratio = comb(2.0 * period) / max(comb(period), 1e-9)
    return between + 0.3 * alternate + 0.5 * (1.0 - ratio)


def _beat_frames(n_frames: int, period: float, phase: float) -> FloatArray:
    if period - phase < 0.08 * FPS:  # a beat a hair before the start is the first one
        phase -= period
    count = max(1, math.floor((n_frames - 1 - phase) / period) + 1)
    out: FloatArray = phase + period * np.arange(count, dtype=np.float64)
    return out


def _sync(values: FloatArray, edges: FloatArray) -> FloatArray:
    """Mean of ``values`` rows between consecutive frame ``edges``."""
    idx = np.clip(np.round(edges).astype(np.int64), 0, len(values))
    csum = np.vstack([np.zeros((1, values.shape[1])), np.cumsum(values, axis=0)])
    counts = np.maximum(np.diff(idx), 1)[:, None]
    out: FloatArray = (csum[idx[1:]] - csum[idx[:-1]]) / counts
    return out


def _chroma(semis: FloatArray, pitches: tuple[int, int] = (LOW_PITCH, 108)) -> FloatArray:
    """Pitch-class energy of the semitone spectrum between two MIDI pitches."""
    folded = np.zeros((semis.shape[0], 12))
    for p in range(max(pitches[0], LOW_PITCH), min(pitches[1], LOW_PITCH + N_PITCH)):
        folded[:, p % 12] += semis[:, p - LOW_PITCH]
    return folded


def _normalise(rows: FloatArray) -> FloatArray:
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    out: FloatArray = rows / np.maximum(norms, 1e-9)
    return out


def _meter(chroma: FloatArray, low_onset: FloatArray) -> tuple[int, int]:
    """(beats per bar, index of the first downbeat beat): where chord changes and low
    onsets recur."""
    unit = _normalise(chroma)
    change = np.zeros(len(unit))
    if len(unit) > 1:
        change[1:] = 1.0 - np.sum(unit[1:] * unit[:-1], axis=1)
    evidence = change / max(float(change.max()), 1e-9) + low_onset / max(
        float(low_onset.max()), 1e-9
    )
    return _bars(evidence, three_bias=0.7)


def _bars(evidence: FloatArray, *, three_bias: float) -> tuple[int, int]:
    """(beats per bar, first downbeat beat): the bar of 4 or 3 beats (the latter's
    contrast scaled by ``three_bias``) whose downbeats stand out most in per-beat
    ``evidence``."""
    best: tuple[float, int, int] = (-math.inf, 4, 0)
    for meter, bias in ((4, 1.0), (3, three_bias)):
        if len(evidence) < 2 * meter:
            continue
        for offset in range(meter):
            contrast = float(evidence[offset::meter].mean() - evidence.mean()) * bias
            if contrast > best[0]:
                best = (contrast, meter, offset)
    return best[1], best[2]


def _sung_meter(notes: list[tuple[int, int, int, float]], n_beats: int) -> tuple[int, int]:
    """(beats per bar, first downbeat beat) of a lone sung line, which has no chord
    changes or bass to show its bars: its long notes start on strong beats, so each beat
    is weighed by the length of the notes that start on it."""
    accents = np.zeros(max(1, n_beats))
    for _, step, length, _ in notes:
        if step % 2 == 0 and step // 2 < n_beats:  # steps are half beats
            accents[step // 2] += length / 2.0
    return _bars(accents, three_bias=SUNG_THREE_BIAS)


def _key(chroma: FloatArray) -> tuple[int, str]:
    profile = chroma.sum(axis=0)
    if not profile.any():
        return 0, "major"
    best = (-2.0, 0, "major")
    for mode, template in (("major", _MAJOR), ("minor", _MINOR)):
        for root in range(12):
            r = float(np.corrcoef(profile, np.roll(template, root))[0, 1])
            if r > best[0]:
                best = (r, root, mode)
    return best[1], best[2]


def melody_key(notes: list[Note]) -> tuple[int, str] | None:
    """The key of a transcribed melody alone; None for too few notes to tell.

    A lone voice's chroma leans to its dominant (each sung note's third harmonic is a
    fifth above it), its fundamentals do not. And a tune can dwell on its fifth, which
    fools a key profile: the key is the one whose scale holds the most of the melody (by
    note length; a minor key's leading tone counts half), the profile only breaking ties,
    with the notes that end a phrase (a beat's rest after them) counted again: phrases
    come home to the tonic.
    """
    if len(notes) < MELODY_KEY_NOTES:
        return None
    ordered = sorted(notes, key=lambda n: n.start)
    histogram = np.zeros(12)
    endings = np.zeros(12)
    for i, note in enumerate(ordered):
        length = max(0.0, note.duration)
        histogram[note.pitch % 12] += length
        after = ordered[i + 1].start if i + 1 < len(ordered) else math.inf
        if after - (note.start + note.duration) >= 1.0:
            endings[note.pitch % 12] += length
    total = float(histogram.sum())
    if total <= 0:
        return None
    weighted = histogram + PHRASE_END_WEIGHT * endings
    best = (-math.inf, 0, "major")
    for mode, template, steps in (
        ("major", _MAJOR, (0, 2, 4, 5, 7, 9, 11)),
        ("minor", _MINOR, (0, 2, 3, 5, 7, 8, 10)),
    ):
        for root in range(12):
            held = sum(histogram[(root + step) % 12] for step in steps)
            if mode == "minor":
                held += 0.5 * histogram[(root + 11) % 12]
            profile = float(np.corrcoef(weighted, np.roll(template, root))[0, 1])
            score = held / total + MELODY_PROFILE_WEIGHT * profile
            if score > best[0]:
                best = (score, root, mode)
    return best[1], best[2]


def _templates(key_root: int, mode: str) -> tuple[FloatArray, list[tuple[int, str]]]:
    """Unit chord templates (12 major and 12 minor triads), in-key chords slightly favoured."""
    from cadenza.compose.harmony import scale_pcs

    scale = set(scale_pcs(key_root, mode))
    rows, names = [], []
    for quality in _QUALITIES:
        for root in range(12):
            pcs = chord_pcs(root, quality)
            row = np.full(12, 0.0)
            row[pcs] = 1.0
            row[root] += 0.3
            weight = 1.0 if set(pcs) <= scale else 0.93
            rows.append(row / np.linalg.norm(row) * weight)
            names.append((root, quality))
    return np.array(rows), names


def _chords(
    chroma: FloatArray, bass: FloatArray, bpb: int, key_root: int, mode: str
) -> list[tuple[int, int, int, str]]:
    """(first beat, beats, root, quality) per bar, split at the half bar where that fits
    clearly better; beats are indices into the downbeat-aligned beat features."""
    templates, names = _templates(key_root, mode)
    feats = _normalise(chroma) + 0.5 * _normalise(bass)

    def fit(a: int, b: int) -> tuple[float, int]:
        v = feats[a:b].sum(axis=0)
        scores = templates @ (v / max(float(np.linalg.norm(v)), 1e-9))
        i = int(np.argmax(scores))
        return float(scores[i]), i

    out: list[tuple[int, int, int, str]] = []
    for start in range(0, len(feats) - bpb + 1, bpb):
        whole, i = fit(start, start + bpb)
        half = bpb // 2
        if bpb == 4:
            s1, i1 = fit(start, start + half)
            s2, i2 = fit(start + half, start + bpb)
            if i1 != i2 and (s1 + s2) / 2 > whole + 0.06:
                out.append((start, half, *names[i1]))
                out.append((start + half, bpb - half, *names[i2]))
                continue
        out.append((start, bpb, *names[i]))
    merged: list[tuple[int, int, int, str]] = []
    for chord in out:
        if merged and merged[-1][2:] == chord[2:] and merged[-1][1] < bpb:
            prev = merged[-1]
            merged[-1] = (prev[0], prev[1] + chord[1], prev[2], prev[3])
        else:
            merged.append(chord)
    return merged


def _melody(semis: FloatArray, edges: FloatArray) -> list[tuple[int, int, int, float]]:
    """(pitch, first step, steps, strength) per note on the eighth-note grid ``edges``."""
    lo, hi = MELODY_RANGE
    compressed = np.sqrt(semis)
    salience = np.zeros((semis.shape[0], hi - lo + 1))
    for h, weight in ((1, 1.0), (2, 0.8), (3, 0.64), (4, 0.51), (5, 0.41)):
        shift = round(12 * math.log2(h))
        for p in range(lo, hi + 1):
            col = p + shift - LOW_PITCH
            if 0 <= col < N_PITCH:
                salience[:, p - lo] += weight * compressed[:, col]
    steps = _sync(salience, edges)
    best = np.argmax(steps, axis=1)
    strength = steps[np.arange(len(steps)), best]
    level = float(np.percentile(strength, 90)) if strength.size else 0.0
    voiced = strength > 0.35 * level
    notes: list[tuple[int, int, int, float]] = []
    for i in range(len(steps)):
        if not voiced[i]:
            continue
        pitch = int(best[i]) + lo
        last = notes[-1] if notes else None
        # The same pitch goes on unless it is struck again (its salience jumps back up).
        held = i > 0 and strength[i] < 1.25 * steps[i - 1, pitch - lo]
        if last is not None and last[0] == pitch and last[1] + last[2] == i and held:
            notes[-1] = (pitch, last[1], last[2] + 1, max(last[3], float(strength[i])))
        else:
            notes.append((pitch, i, 1, float(strength[i])))
    return notes


def _voice(audio: npt.NDArray[np.floating], sample_rate: int) -> dict[str, Any] | None:
    """A singer's voice when the lead pitch keeps moving (vibrato, glides); None when the
    pitched lines sit still as instruments' do."""
    from cadenza.compose.transcribe import PitchTrack, pitch_track, voice_from_track

    data = np.asarray(audio, dtype=np.float32)
    if data.ndim == 2:
        data = data.mean(axis=1)
    span = int(VOICE_EXCERPT_S * sample_rate)
    if data.size <= 3 * span:
        pieces = [data]
    else:
        pieces = [data[int(c * data.size) - span // 2 :][:span] for c in (0.3, 0.5, 0.7)]
    tracks = [pitch_track(p, sample_rate) for p in pieces]
    f0 = np.concatenate([t.f0 for t in tracks])
    level = np.concatenate([t.level_db for t in tracks])
    voiced = f0 > 0
    if voiced.sum() < 50 or float(voiced.mean()) < VOICE_PITCHED:
        return None
    cents = np.where(voiced, 1200.0 * np.log2(np.maximum(f0, 1e-6) / 440.0), np.nan)
    moves = np.abs(np.diff(cents))
    steady = moves[np.isfinite(moves) & (moves < 60.0)]
    if steady.size < 40 or float(np.median(steady)) < VOICE_WOBBLE_CENTS:
        return None
    return voice_from_track(PitchTrack(f0, level))


# ------------------------------------------------------------------ analysis


def analyse(
    audio: npt.NDArray[np.floating], sample_rate: int, *, detect_voice: bool = True
) -> Analysis:
    """Tempo, grid, key, chords, bass and melody of ``audio`` (mono or ``(frames, ch)``)."""
    clock = time.process_time()
    x = _mono(audio, sample_rate)
    duration = x.size / RATE
    if x.size < RATE:
        x = np.pad(x, (0, RATE - x.size))
    env, low_env, semis = _spectra(x)
    spectra_s = time.process_time() - clock
    drive = env + 2.0 * low_env
    period, phase = _fine_grid(drive, _coarse_period(drive))
    lone = _lone_line(semis)
    if (
        lone
        and 60.0 * FPS / period >= LONE_HALVE_FROM_BPM
        and 4 * 2 * period < drive.size
        and _beat_evidence(drive, period) < LONE_BEAT_EVIDENCE
    ):
        # The eighth notes, with the most onsets, time the beat best: keep their period
        # doubled and only place the slower grid on the beats that carry the stresses.
        period, phase = _fine_grid(drive, 2.0 * period, spread=0.0)
    beats = _beat_frames(env.size, period, phase)
    edges = np.append(beats, beats[-1] + period)
    beat_chroma = _sync(_chroma(semis), edges)
    beat_bass = _sync(_chroma(semis, BASS_RANGE), edges)
    low_at = np.array([low_env[max(0, int(b) - 2) : int(b) + 3].max(initial=0.0) for b in beats])
    halves = np.sort(np.concatenate([beats, beats + period / 2]))
    step_edges = np.append(halves, beats[-1] + period)
    notes = _melody(semis, step_edges)
    bpb, first = _sung_meter(notes, len(beats)) if lone else _meter(beat_chroma, low_at)
    key_root, mode = _key(beat_chroma + 0.5 * beat_bass)
    tempo = 60.0 * FPS / period
    beat_s = float(beats[0]) / FPS  # a hair below 0 where the music starts on the beat
    downbeat_s = float(beats[first]) / FPS
    chords_b = _chords(beat_chroma[first:], beat_bass[first:], bpb, key_root, mode)
    beat_len = period / FPS
    chords = [
        (downbeat_s + a * beat_len, downbeat_s + (a + n) * beat_len, root, q)
        for a, n, root, q in chords_b
    ]
    n_bars = (len(beats) - first) // bpb
    bass = []
    rms = []
    power = semis.sum(axis=1)
    for bar in range(n_bars):
        a = first + bar * bpb
        v = beat_bass[a : a + bpb].sum(axis=0)
        bass.append(int(np.argmax(v)) if v.max() > 1e-6 else -1)
        # The first beat may lie a hair before the audio (a negative frame).
        lo_f, hi_f = max(0, int(beats[a])), int(edges[a + bpb])
        rms.append(float(np.sqrt(power[lo_f:hi_f].mean())) if hi_f > lo_f else 0.0)
    peak = max(rms, default=0.0)
    bar_energy = [round(r / peak, 3) if peak > 0 else 0.0 for r in rms]
    strongest = max((s for *_, s in notes), default=1.0)
    melody = [
        (
            pitch,
            float(step_edges[i] / FPS),
            float(step_edges[i + n] / FPS),
            int(np.clip(round(60 + 50 * s / strongest), 1, 127)),
        )
        for pitch, i, n, s in notes
    ]
    voice = _voice(audio, sample_rate) if detect_voice else None
    return Analysis(
        duration_s=duration,
        tempo_bpm=tempo,
        beat_s=beat_s,
        beats_per_bar=bpb,
        downbeat_s=downbeat_s,
        key_root=key_root,
        mode=mode,
        chords=chords,
        bass=bass,
        melody=melody,
        bar_energy=bar_energy,
        voice=voice,
        timings={
            "spectra_s": round(spectra_s, 3),
            "total_s": round(time.process_time() - clock, 3),
        },
    )


# ------------------------------------------------------------------ score


def _sections(energy: list[float], melody_bars: set[int]) -> list[Section]:
    """8-bar sections (4 in short pieces): quiet or tuneless ends are intro and outro,
    the louder of the middle ones choruses."""
    n = len(energy)
    if n == 0:
        return []
    unit = 8 if n >= 24 else 4
    spans = [(s, min(unit, n - s)) for s in range(0, n, unit)]
    if len(spans) > 1 and spans[-1][1] < unit // 2:  # a short tail joins the last section
        _, b = spans.pop()
        spans[-1] = (spans[-1][0], spans[-1][1] + b)
    means = [sum(energy[s : s + b]) / b for s, b in spans]
    middle = sorted(means[1:-1]) or means
    median = middle[len(middle) // 2]
    out: list[Section] = []
    counts: dict[str, int] = {}
    for index, ((start, bars), level) in enumerate(zip(spans, means, strict=True)):
        tuneless = not any(b in melody_bars for b in range(start, start + bars))
        quiet = level < 0.8 * median or tuneless
        if len(spans) > 2 and index == 0 and quiet:
            kind = "intro"
        elif len(spans) > 2 and index == len(spans) - 1 and quiet:
            kind = "outro"
        else:
            kind = "chorus" if level >= median and len(spans) > 1 else "verse"
        counts[kind] = counts.get(kind, 0) + 1
        label = kind.capitalize() + (f" {counts[kind]}" if kind in ("verse", "chorus") else "")
        out.append(Section(kind, label, start, bars, round(min(1.0, max(0.1, level)), 3)))
    return out


def analysis_score(found: Analysis, *, title: str = "", tags: str = "", seed: int = 0) -> Score:
    """The analysis as the engine's own ``Score``: chords, a melody part, a bass line."""
    from cadenza.compose.composer import ENGINE_VERSION
    from cadenza.compose.style import resolve_style

    tempo = round(found.tempo_bpm, 2)
    beat = 60.0 / tempo
    bpb = found.beats_per_bar
    offset = found.downbeat_s / beat

    def beats(seconds: float) -> float:
        return round(max(0.0, seconds) / beat, 4)

    style = resolve_style(tags, seed=seed)
    genre = style.genre
    chords = [
        Chord(root, q, beats(a), round(beats(b) - beats(a), 4)) for a, b, root, q in found.chords
    ]
    melody_track = Track(
        "Melody",
        "Vocals" if found.voice else "Keyboard",
        53 if found.voice else 0,
        channel=0,
        volume=0.85,
    )
    for pitch, start, end, velocity in found.melody:
        melody_track.notes.append(
            Note(pitch, beats(start), round(beats(end) - beats(start), 4), velocity)
        )
    bass_track = Track("Bass", "Bass", 33, channel=1, volume=0.8)
    chord_track = Track("Chords", "Keyboard", 0, channel=2, volume=0.6)
    previous: list[int] | None = None
    for chord in chords:
        pcs = chord_pcs(chord.root, chord.quality)
        voicing = voice_chord(pcs, 52, 76, previous)
        previous = voicing
        for p in voicing:
            chord_track.notes.append(Note(p, chord.start, chord.duration, 70))
    bar_beats = float(bpb)
    for bar, root in enumerate(found.bass):
        if root < 0:
            continue
        start = round(max(0.0, offset + bar * bar_beats), 4)
        bass_track.notes.append(Note(36 + (root - 36) % 12, start, bar_beats, 90))
    melody_bars = {int((n.start - offset) // bar_beats) for n in melody_track.notes}
    sections = _sections(found.bar_energy, melody_bars)
    key = f"{NOTE_NAMES[found.key_root]} {found.mode}"
    voice = found.voice
    return Score(
        title=title or "Untitled",
        tags=tags,
        seed=seed,
        genre=genre,
        tempo_bpm=tempo,
        key_root=found.key_root,
        mode=found.mode,
        beats_per_bar=bpb,
        sections=sections,
        chords=chords,
        tracks=[t for t in (melody_track, bass_track, chord_track) if t.notes],
        vocals=[],
        words=[],
        total_beats=round(found.duration_s / beat, 4),
        instrumental=voice is None,
        engine_version=ENGINE_VERSION,
        extra={
            "analysed": True,
            "key": key,
            "style": style.label,
            "moods": [],
            "voice": str(voice["gender"]) if voice else None,
            "analysis": {
                "offset_beats": round(offset, 4),
                "downbeat_s": round(found.downbeat_s, 4),
                "beat_s": round(found.beat_s, 4),
                "tempo_bpm": round(found.tempo_bpm, 3),
                "voice": voice,
                "bass": found.bass,
                "bar_energy": found.bar_energy,
            },
        },
    )


def is_analysed(score: Score) -> bool:
    return bool(score.extra.get("analysed"))


def offset_beats(score: Score) -> float:
    """Where the first bar starts, in beats (0 for composed scores)."""
    info = score.extra.get("analysis")
    if isinstance(info, dict):
        return float(info.get("offset_beats") or 0.0)
    return 0.0
