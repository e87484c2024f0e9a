"""Audio with no score -> a monophonic melody: pitch track, notes, MIDI, and a voice estimate.

Uploaded audio has no score, so its MIDI and its persona come from analysis instead: the
WORLD pitch tracker (DIO refined by StoneMask, 10 ms frames) on a 16 kHz mono signal,
quiet frames gated out, the pitch median-filtered and rounded to semitones, and runs of one
semitone long enough to be heard become notes. It is one line of melody, the predominant
pitch; chords and drums are not transcribed.
"""

from __future__ import annotations

from dataclasses import dataclass

import mido
import numpy as np
import numpy.typing as npt
import pyworld
import soxr
from scipy.ndimage import median_filter

ANALYSIS_RATE = 16_000
FRAME_S = 0.01
#: Frames quieter than this below the loudest frame count as silence.
GATE_DB = 35.0
#: Shortest note kept, in frames.
MIN_NOTE_FRAMES = 6
#: DIO decimation: 2 halves its cost with the same semitone accuracy (StoneMask refines).
DIO_SPEED = 2
#: Gaps of up to this many frames inside one pitch are bridged.
MAX_GAP_FRAMES = 2
TICKS_PER_BEAT = 480
MIDI_TEMPO_BPM = 120.0
#: Median pitch above which a voice is taken to be female (between typical speaking F0s).
FEMALE_MEDIAN_HZ = 165.0

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


@dataclass(frozen=True)
class TranscribedNote:
    pitch: int
    start_s: float
    end_s: float
    velocity: int


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


def _semitones(track: PitchTrack) -> npt.NDArray[np.int64]:
    """Rounded MIDI pitch per frame, -1 where unvoiced, steadied by a median filter."""
    voiced = track.voiced
    midi = np.full(track.f0.shape, np.nan)
    midi[voiced] = 69.0 + 12.0 * np.log2(track.f0[voiced] / 440.0)
    steady = midi.copy()
    if voiced.any():
        # Filter only across voiced frames so silence does not drag pitches down.
        steady[voiced] = median_filter(midi[voiced], size=5, mode="nearest")
    out = np.where(voiced, np.rint(np.nan_to_num(steady)), -1)
    return out.astype(np.int64)


def notes_from_track(track: PitchTrack) -> list[TranscribedNote]:
    """Runs of one semitone become notes; short blips are dropped, short gaps bridged."""
    pitches = _semitones(track)
    runs: list[list[int]] = []  # [pitch, first frame, last frame]
    for index, pitch in enumerate(pitches.tolist()):
        if pitch < 0:
            continue
        if runs and runs[-1][0] == pitch and index - runs[-1][2] <= MAX_GAP_FRAMES + 1:
            runs[-1][2] = index
        else:
            runs.append([pitch, index, index])
    notes: list[TranscribedNote] = []
    for pitch, first, last in runs:
        if last - first + 1 < MIN_NOTE_FRAMES or not 0 <= pitch <= 127:
            continue
        level = float(np.mean(track.level_db[first : last + 1]))
        velocity = int(np.clip(round(40 + 87 * (level + GATE_DB) / GATE_DB), 1, 127))
        notes.append(
            TranscribedNote(
                pitch=int(pitch),
                start_s=round(first * track.frame_s, 4),
                end_s=round((last + 1) * track.frame_s, 4),
                velocity=velocity,
            )
        )
    return notes


def transcribe(audio: npt.NDArray[np.floating], sample_rate: int) -> list[TranscribedNote]:
    return notes_from_track(pitch_track(audio, sample_rate))


def transcription_midi(notes: list[TranscribedNote], title: str = "") -> mido.MidiFile:
    """A type-1 MIDI file: a conductor track and one ``Melody`` track (times are exact)."""
    ticks_per_s = TICKS_PER_BEAT * MIDI_TEMPO_BPM / 60.0
    mid = mido.MidiFile(type=1, ticks_per_beat=TICKS_PER_BEAT, charset="utf-8")
    conductor = mido.MidiTrack()
    conductor.append(mido.MetaMessage("track_name", name=title or "Transcription", time=0))
    conductor.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(MIDI_TEMPO_BPM)))
    conductor.append(mido.MetaMessage("end_of_track", time=0))
    mid.tracks.append(conductor)
    events: list[tuple[int, int, mido.Message]] = []
    for note in notes:
        on = round(note.start_s * ticks_per_s)
        off = max(on + 1, round(note.end_s * ticks_per_s))
        events.append((on, 1, mido.Message("note_on", note=note.pitch, velocity=note.velocity)))
        events.append((off, 0, mido.Message("note_off", note=note.pitch, velocity=0)))
    track = mido.MidiTrack()
    track.append(mido.MetaMessage("track_name", name="Melody", time=0))
    track.append(mido.Message("program_change", program=0, time=0))
    now = 0
    for tick, _order, message in sorted(events, key=lambda e: (e[0], e[1])):
        track.append(message.copy(time=tick - now))
        now = tick
    track.append(mido.MetaMessage("end_of_track", time=0))
    mid.tracks.append(track)
    return mid


def voice_from_track(track: PitchTrack) -> dict[str, object] | None:
    """Gender and range of the predominant voice; None when nothing is voiced enough."""
    voiced = track.f0[track.voiced]
    if voiced.size < MIN_NOTE_FRAMES * 5:
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
