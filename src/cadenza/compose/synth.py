"""Instrument rendering: the score's tracks through a General MIDI SoundFont, stem by stem.

FluidSynth runs in-process and writes float samples (16-bit output would add dither noise and
stems would no longer sum to the mix). The SoundFont is loaded once per process and reused:
loading FluidR3 costs about half a second. Reverb and chorus of the synth are off so every
stem starts from a clean state and all room effects live in the mix, per stem. Stems are
split into lanes fixed by the score, each with its own synths; lanes run in parallel threads
(FluidSynth works outside the GIL) where the process has free cores.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import soxr

from cadenza.compose.parallel import run_all
from cadenza.compose.score import Score, Track

DEFAULT_SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
SAMPLE_RATE = 44100
#: Seconds rendered after the last beat so releases and reverb tails ring out.
TAIL_SECONDS = 1.5

#: Voices per stem pass; FluidSynth's cost follows the voice count, and only strummed
#: guitars and pads come near the cap. Stealing takes the quietest release tails: with the
#: guitar release below, a 3-minute strummed guitar stem at 24 voices differs from a
#: 64-voice render by -46.6 dB and a pad by -46.0 dB (keys, bass, drums: identical), and
#: the guitar renders ~45 % faster.
POLYPHONY = 24
_FLUID_BLOCK = 64

#: Rate of the stems whose sound stays below 16 kHz. FluidSynth's cost follows the sample
#: rate; measured on FluidR3, a strummed guitar has -48 dB of its energy above 16 kHz and
#: keys, pads and bass below -70 dB, so 32 kHz renders them 25-30 % faster with nothing
#: audible lost once resampled (soxr HQ) to the song's rate. Cymbals need the full band.
REDUCED_RATE = 32000
FULL_BAND_STEMS = frozenset({"Drums", "Percussion", "FX"})
#: Resampling a 3-minute stem costs about what synthesising ~7 voices at the full rate
#: does, a quarter of which the reduced rate saves. A stem that sounds fewer notes at once
#: than this on average (a bass line, a lead) renders cheaper at the full rate, and better.
SPARSE_NOTES = 1.5

#: FluidSynth's interpolation (fluid_interp): 4th order by default; linear is ~20 % cheaper.
INTERP_LINEAR = 1
INTERP_4TH_ORDER = 4
#: GM programs rendered with linear interpolation: smooth, dark timbres where it differs
#: from 4th order by less than -47 dB (measured on FluidR3 over 3-minute stems: pad -47.7,
#: bass -63.5, drum kit -51.1 dB), far under what anyone hears in a mix. Bright ones
#: (guitar -38, piano -41 dB) keep 4th order.
LINEAR_PROGRAMS = frozenset(range(32, 40)) | frozenset(range(88, 96))  # basses, pads
#: Offset (timecents) to the release of guitars (GM 24-31). FluidR3 lets a released guitar
#: string ring ~9 s, so a strummed part keeps every earlier chord sounding under the new one,
#: which a re-struck string cannot do; -1200 halves it (4.5 s), and the voices it frees
#: make the stem ~10 % cheaper.
GUITAR_RELEASE_TC = -1200.0
GUITAR_PROGRAMS = frozenset(range(24, 32))
_GEN_VOLENVRELEASE = 38
#: A string sounds one note at a time: striking it again stops what it still rang. Each
#: string of a guitar track plays on a MIDI channel of its own whose voices share an
#: exclusive class, so FluidSynth damps a string's previous note (a 0.9 s release) when the
#: string's next note starts, instead of letting every earlier strum ring on for seconds
#: under the new chord. A strummed 3-minute part then sounds ~9 voices at a time instead of
#: running into the polyphony cap, and renders in ~40 % of the time.
GUITAR_STRINGS = 6
_GEN_EXCLUSIVECLASS = 57
_STRING_CLASS = 1.0
_MELODIC_CHANNELS = tuple(c for c in range(16) if c != 9)

AudioArray = npt.NDArray[np.float32]


class SynthError(RuntimeError):
    """FluidSynth or the SoundFont could not be used."""


@dataclass(frozen=True)
class _Event:
    sample: int
    order: int  # 0 = note off before 1 = note on at the same sample
    channel: int
    key: int
    velocity: int


@dataclass(frozen=True)
class _Span:
    """A note as FluidSynth plays it: key, velocity and its exact sample span."""

    start: int
    end: int
    key: int
    velocity: int


@dataclass(frozen=True)
class _Part:
    """A track laid out on channels: its spans and the channel each one plays on."""

    track: Track
    channels: tuple[int, ...]
    spans: list[_Span]
    lanes: list[int]  # index into ``channels`` per span
    damped: bool  # the channels' voices share an exclusive class (strings)


class _Font:
    """A loaded SoundFont, kept by a synth of its own that never plays.

    Parsing FluidR3's presets costs a fresh synth ~40 ms to load and as much to free, even
    with the samples cached; a fresh synth borrows a loaded one instead. Presets and samples
    are only read while voices play, so a borrowed font sounds exactly like a loaded one.
    """

    def __init__(self, soundfont: Path) -> None:
        self.soundfont = soundfont
        self.holder = _new_synth(SAMPLE_RATE, 0.2)
        sfid = int(self.holder.sfload(str(soundfont)))
        if sfid < 0:
            self.holder.delete()
            raise SynthError(f"FluidSynth could not load {soundfont}")
        pointer = _lib().get_sfont_by_id(self.holder.synth, sfid)
        if not pointer:
            self.holder.delete()
            raise SynthError(f"FluidSynth could not load {soundfont}")
        self.pointer = int(pointer)


class _Library:
    """The few FluidSynth calls pyfluidsynth does not wrap, typed once."""

    def __init__(self, fl: Any) -> None:
        self.write = _typed(
            fl.fluid_synth_write_float,
            ctypes.c_int,
            [ctypes.c_void_p, ctypes.c_int] + [ctypes.c_void_p, ctypes.c_int, ctypes.c_int] * 2,
        )
        self.set_interp = _typed(
            fl.fluid_synth_set_interp_method,
            ctypes.c_int,
            [ctypes.c_void_p, ctypes.c_int, ctypes.c_int],
        )
        self.set_gen = _typed(
            fl.fluid_synth_set_gen,
            ctypes.c_int,
            [ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_float],
        )
        self.get_sfont_by_id = _typed(
            fl.fluid_synth_get_sfont_by_id, ctypes.c_void_p, [ctypes.c_void_p, ctypes.c_int]
        )
        self.add_sfont = _typed(
            fl.fluid_synth_add_sfont, ctypes.c_int, [ctypes.c_void_p, ctypes.c_void_p]
        )
        self.remove_sfont = _typed(
            fl.fluid_synth_remove_sfont, ctypes.c_int, [ctypes.c_void_p, ctypes.c_void_p]
        )
        self.set_log_function = _typed(
            fl.fluid_set_log_function,
            ctypes.c_void_p,
            [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p],
        )


def _typed(function: Any, restype: Any, argtypes: list[Any]) -> Callable[..., Any]:
    function.argtypes = argtypes
    function.restype = restype
    return cast(Callable[..., Any], function)


_LIBRARY: list[_Library] = []
#: FluidSynth's warning level; its log functions are process-wide.
_FLUID_WARN = 2
_LOG_LOCK = threading.Lock()


def _fluidsynth() -> Any:
    try:
        import fluidsynth
    except (ImportError, OSError) as exc:  # the shared library may be missing
        raise SynthError(f"FluidSynth is not available: {exc}") from exc
    return fluidsynth


def _lib() -> _Library:
    if not _LIBRARY:
        _LIBRARY.append(_Library(_fluidsynth()._fl))
    return _LIBRARY[0]


def _new_synth(sample_rate: int, gain: float) -> Any:
    return _fluidsynth().Synth(
        gain=gain,
        samplerate=float(sample_rate),
        channels=16,
        **{
            "synth.reverb.active": 0,
            "synth.chorus.active": 0,
            "synth.polyphony": POLYPHONY,
            "synth.cpu-cores": 1,
        },
    )


class _Instrument:
    """One fresh FluidSynth instance playing a borrowed, loaded SoundFont."""

    def __init__(self, font: _Font, sample_rate: int, gain: float) -> None:
        self.sample_rate = sample_rate
        self._font: _Font | None = font
        self._fs = _new_synth(sample_rate, gain)
        lib = _lib()
        self._sfid = int(lib.add_sfont(self._fs.synth, font.pointer))
        if self._sfid < 0:
            self._fs.delete()
            _return_font(font)
            raise SynthError(f"FluidSynth could not use {font.soundfont}")
        self._write: Callable[..., int] = lib.write
        self._set_interp: Callable[..., int] = lib.set_interp
        self._set_gen: Callable[..., int] = lib.set_gen
        self._lock = threading.Lock()
        self._written = 0  # samples rendered since creation

    def close(self) -> None:
        """Free the synth and hand its SoundFont back for the next synth."""
        with self._lock:
            font, self._font = self._font, None
            if font is None:
                return
            fs: Any = self._fs
            lib = _lib()
            # Removing the font re-selects every channel's program, which finds none and
            # warns per channel: expected here, so FluidSynth's warnings pause meanwhile.
            with _LOG_LOCK:
                previous = lib.set_log_function(_FLUID_WARN, None, None)
                try:
                    lib.remove_sfont(fs.synth, font.pointer)
                finally:
                    lib.set_log_function(_FLUID_WARN, previous, None)
            fs.delete()
            _return_font(font)

    def _reset(self) -> None:
        fs: Any = self._fs
        # Reset first, then silence: FluidSynth 2.3 drops sound-off requests that are still
        # queued when a system reset follows, and the previous render's voices (a pad's
        # release, say) would sound on into the next stem.
        fs.system_reset()
        for ch in range(16):
            fs.all_sounds_off(ch)
        # Let killed voices leave the voice pool, and end on a boundary of FluidSynth's
        # 64-sample blocks: events take effect at block starts, so a render that began
        # mid-block would shift every note and the same score would give other samples.
        pad = 256 + (-(self._written + 256)) % _FLUID_BLOCK
        scratch = np.zeros((pad, 2), dtype=np.float32)
        self._render_into(scratch, 0, pad)

    def _render_into(self, out: AudioArray, start: int, stop: int) -> None:
        count = stop - start
        if count <= 0:
            return
        base = out.ctypes.data + start * 2 * 4
        status = self._write(self._fs.synth, count, base, 0, 2, base, 1, 2)
        self._written += count
        if status != 0:
            raise SynthError("FluidSynth failed to render samples")

    def render(self, tracks: list[Track], tempo_bpm: float, n_samples: int) -> AudioArray:
        """Render tracks that share a stem in one pass; returns ``(n_samples, 2)`` float32."""
        with self._lock:
            self._reset()
            fs: Any = self._fs
            events: list[_Event] = []
            for part in _layout(tracks, tempo_bpm, self.sample_rate):
                track = part.track
                for channel in part.channels:
                    self._configure(channel, track, part.damped)
                for span, lane in zip(part.spans, part.lanes, strict=True):
                    channel = part.channels[lane]
                    events.append(_Event(span.start, 1, channel, span.key, span.velocity))
                    events.append(_Event(span.end, 0, channel, span.key, 0))
            events.sort(key=lambda e: (e.sample, e.order, e.channel, e.key))
            out = np.zeros((n_samples, 2), dtype=np.float32)
            cursor = 0
            for event in events:
                at = min(max(event.sample, 0), n_samples)
                self._render_into(out, cursor, at)
                cursor = at
                if event.order == 0:
                    fs.noteoff(event.channel, event.key)
                else:
                    fs.noteon(event.channel, event.key, event.velocity)
            self._render_into(out, cursor, n_samples)
            return out

    def _configure(self, channel: int, track: Track, damped: bool) -> None:
        """Program and settings of a channel, set after the reset (which restores the
        defaults) on every channel used, so a synth reused for another stem never keeps a
        previous setting."""
        fs: Any = self._fs
        if track.is_drum:
            fs.program_select(channel, self._sfid, 128, track.program)
        else:
            fs.program_select(channel, self._sfid, 0, track.program)
        linear = track.is_drum or track.program in LINEAR_PROGRAMS
        self._set_interp(fs.synth, channel, INTERP_LINEAR if linear else INTERP_4TH_ORDER)
        guitar = not track.is_drum and track.program in GUITAR_PROGRAMS
        self._set_gen(fs.synth, channel, _GEN_VOLENVRELEASE, GUITAR_RELEASE_TC if guitar else 0.0)
        self._set_gen(fs.synth, channel, _GEN_EXCLUSIVECLASS, _STRING_CLASS if damped else 0.0)
        fs.cc(channel, 7, _clamp_midi(round(track.volume * 127)))
        fs.cc(channel, 10, _clamp_midi(round(64 + track.pan * 63)))


def _layout(tracks: list[Track], tempo_bpm: float, sample_rate: int) -> list[_Part]:
    """Every track on its channel; a guitar on one channel per string it needs, if the 15
    melodic channels hold every track that way (else each track keeps one, undamped)."""
    spans = [_note_spans(t, tempo_bpm, sample_rate) for t in tracks]
    strings = [
        max(1, min(GUITAR_STRINGS, _most_at_once(s)))
        if not t.is_drum and t.program in GUITAR_PROGRAMS
        else 1
        for t, s in zip(tracks, spans, strict=True)
    ]
    damp = sum(k for t, k in zip(tracks, strings, strict=True) if not t.is_drum) <= len(
        _MELODIC_CHANNELS
    )
    parts: list[_Part] = []
    used = 0
    for index, (track, track_spans, count) in enumerate(zip(tracks, spans, strings, strict=True)):
        if track.is_drum:
            parts.append(_Part(track, (9,), track_spans, [0] * len(track_spans), False))
            continue
        guitar = track.program in GUITAR_PROGRAMS
        if not damp:
            channel = _MELODIC_CHANNELS[index % len(_MELODIC_CHANNELS)]
            parts.append(_Part(track, (channel,), track_spans, [0] * len(track_spans), False))
            continue
        channels = tuple(_MELODIC_CHANNELS[used + i] for i in range(count))
        used += len(channels)
        lanes = _strings(track_spans, len(channels)) if guitar else [0] * len(track_spans)
        parts.append(_Part(track, channels, track_spans, lanes, guitar))
    return parts


def _most_at_once(spans: list[_Span]) -> int:
    """The most spans sounding at one sample (a span ending where another starts is not)."""
    edges = sorted([(s.start, 1) for s in spans] + [(s.end, -1) for s in spans])
    most = sounding = 0
    for _, step in edges:
        sounding += step
        most = max(most, sounding)
    return most


def _strings(spans: list[_Span], count: int) -> list[int]:
    """The string (0..count-1) each span is played on, for spans in start order.

    A note takes a string whose previous note has ended, preferring the one that last
    played the same key (a chord struck again), then the nearest key (the hand moves
    little), then the lowest string, so held notes are never stopped while ``count``
    covers the most notes held at once; past it, the string freed soonest is taken.
    """
    free_at = [0] * count
    last_key: list[int | None] = [None] * count
    lanes: list[int] = []
    for span in spans:
        free = [i for i in range(count) if free_at[i] <= span.start]
        if not free:
            free = [min(range(count), key=lambda i: (free_at[i], i))]

        def preference(i: int, key: int = span.key) -> tuple[int, int, int]:
            previous = last_key[i]
            distance = 128 if previous is None else abs(previous - key)
            return (distance != 0, distance, i)

        string = min(free, key=preference)
        free_at[string], last_key[string] = span.end, span.key
        lanes.append(string)
    return lanes


def _clamp_midi(value: int) -> int:
    return max(0, min(127, value))


def _note_spans(track: Track, tempo_bpm: float, sample_rate: int) -> list[_Span]:
    """Notes at exact sample positions, in start order; a repeated key ends where the next
    one starts."""
    per_beat = 60.0 * sample_rate / tempo_bpm
    by_key: dict[int, list[tuple[int, int, int]]] = {}
    for note in track.notes:
        if not 0 <= note.pitch <= 127 or note.duration <= 0:
            continue
        start = round(note.start * per_beat)
        end = max(start + 1, round((note.start + note.duration) * per_beat))
        by_key.setdefault(note.pitch, []).append((start, end, _clamp_midi(note.velocity)))
    spans: list[_Span] = []
    for key, notes in by_key.items():
        notes.sort()
        for i, (start, end, velocity) in enumerate(notes):
            if i + 1 < len(notes):
                end = min(end, notes[i + 1][0])
            if velocity <= 0:
                continue
            spans.append(_Span(start, max(end, start + 1), key, velocity))
    spans.sort(key=lambda s: (s.start, s.key))
    return spans


_FREE_FONTS: dict[str, list[_Font]] = {}
_FONTS_LOCK = threading.Lock()


def _lease_font(soundfont: Path) -> _Font:
    """A loaded SoundFont no open synth is using (loaded now if every one is in use)."""
    if not soundfont.is_file():
        raise SynthError(f"SoundFont not found: {soundfont}")
    key = str(soundfont.resolve())
    with _FONTS_LOCK:
        free = _FREE_FONTS.setdefault(key, [])
        if free:
            return free.pop()
    return _Font(Path(key))


def _return_font(font: _Font) -> None:
    with _FONTS_LOCK:
        _FREE_FONTS.setdefault(str(font.soundfont), []).append(font)


def preload(soundfont: Path = DEFAULT_SOUNDFONT, synths: int | None = None) -> None:
    """Load the SoundFont for ``synths`` synths open at once (by default as many as a
    render opens: one per lane and rate), so that no render pays for loading it."""
    count = 2 * RENDER_LANES if synths is None else synths
    fonts = [_lease_font(Path(soundfont)) for _ in range(count)]
    for font in fonts:
        _return_font(font)


def instrument(
    soundfont: Path = DEFAULT_SOUNDFONT, sample_rate: int = SAMPLE_RATE, gain: float = 0.2
) -> _Instrument:
    """A fresh synth for one song, playing a SoundFont loaded once per process.

    FluidSynth voices keep a little state from their previous note (the amplitude ramp
    starts where the last one ended), so a synth reused across songs would make a song's
    samples depend on what was rendered before. The loaded SoundFont holds no such state:
    each fresh synth borrows one (see ``_Font``) and ``close`` hands it back.
    """
    return _Instrument(_lease_font(Path(soundfont)), sample_rate, gain)


def song_samples(score: Score, sample_rate: int = SAMPLE_RATE) -> int:
    """Length of every rendered stem: the score plus a tail for releases."""
    return round((score.duration_s + TAIL_SECONDS) * sample_rate)


def stems_of(tracks: Iterable[Track]) -> dict[str, list[Track]]:
    """Tracks grouped by stem name, in order of first appearance."""
    grouped: dict[str, list[Track]] = {}
    for track in tracks:
        if track.notes:
            grouped.setdefault(track.stem, []).append(track)
    return grouped


def render_rate(
    stem: str,
    sample_rate: int = SAMPLE_RATE,
    tracks: list[Track] | None = None,
) -> int:
    """The rate a stem is synthesised at before it is resampled to ``sample_rate``: the
    full rate for full-band stems and for ``tracks`` too sparse to repay the resampling."""
    if stem in FULL_BAND_STEMS or sample_rate <= REDUCED_RATE:
        return sample_rate
    if tracks is not None and _mean_notes(tracks) < SPARSE_NOTES:
        return sample_rate
    return REDUCED_RATE


def _mean_notes(tracks: list[Track]) -> float:
    """Notes sounding at once on average, from the first note's start to the last's end."""
    notes = [n for t in tracks for n in t.notes if n.duration > 0]
    if not notes:
        return 0.0
    span = max(n.start + n.duration for n in notes) - min(n.start for n in notes)
    return sum(n.duration for n in notes) / span if span > 0 else 0.0


#: Stems render in this many lanes, each a sequence of stems on its own synths, and the
#: lanes run in parallel where cores are free. The split depends on the score only, so the
#: samples do not depend on the machine.
RENDER_LANES = 2


def _estimated_cost(tracks: list[Track], tempo_bpm: float) -> float:
    """Rough synthesis cost: sounding note-seconds plus a second of release per note."""
    notes = [n for t in tracks for n in t.notes if n.duration > 0]
    return sum(n.duration for n in notes) * 60.0 / tempo_bpm + len(notes)


def _lanes(grouped: dict[str, list[Track]], tempo_bpm: float) -> list[list[str]]:
    """Stems split into ``RENDER_LANES`` lanes of similar estimated cost (largest first)."""
    costs = {stem: _estimated_cost(tracks, tempo_bpm) for stem, tracks in grouped.items()}
    lanes: list[list[str]] = [[] for _ in range(min(RENDER_LANES, len(grouped)))]
    loads = [0.0] * len(lanes)
    for stem in sorted(grouped, key=lambda s: (-costs[s], list(grouped).index(s))):
        lane = loads.index(min(loads))
        lanes[lane].append(stem)
        loads[lane] += costs[stem]
    return lanes


def render_tracks(
    score: Score,
    soundfont: Path = DEFAULT_SOUNDFONT,
    sample_rate: int = SAMPLE_RATE,
    progress: Callable[[float], None] | None = None,
) -> dict[str, AudioArray]:
    """One stereo float32 ``(n, 2)`` array per instrument stem present in the score.

    Most stems are synthesised at ``REDUCED_RATE`` and resampled (see ``render_rate``).
    """
    n = song_samples(score, sample_rate)
    grouped = stems_of(score.tracks)
    done = [0]

    def step() -> None:
        done[0] += 1
        if progress is not None:
            progress(done[0] / len(grouped))

    def lane_job(stems: list[str]) -> Callable[[Callable[[], None]], dict[str, AudioArray]]:
        def run(stem_done: Callable[[], None]) -> dict[str, AudioArray]:
            synths: dict[int, _Instrument] = {}
            out: dict[str, AudioArray] = {}
            try:
                for stem in stems:
                    rate = render_rate(stem, sample_rate, grouped[stem])
                    if rate not in synths:
                        synths[rate] = instrument(soundfont, rate)
                    tracks = grouped[stem]
                    if rate == sample_rate:
                        out[stem] = synths[rate].render(tracks, score.tempo_bpm, n)
                    else:
                        low = synths[rate].render(
                            tracks, score.tempo_bpm, song_samples(score, rate)
                        )
                        out[stem] = _fit(soxr.resample(low, rate, sample_rate, quality="HQ"), n)
                        del low
                    stem_done()
            finally:
                for synth in synths.values():
                    synth.close()
            return out

        return run

    lanes = _lanes(grouped, score.tempo_bpm)
    rendered: dict[str, AudioArray] = {}
    for part in run_all([lane_job(lane) for lane in lanes], step):
        rendered.update(part)
    return {stem: rendered[stem] for stem in grouped}


def _fit(audio: npt.NDArray[np.float32], n: int) -> AudioArray:
    """``audio`` as float32 of exactly ``n`` frames (resampling may round the length)."""
    if audio.shape[0] == n:
        return np.ascontiguousarray(audio, dtype=np.float32)
    out = np.zeros((n, audio.shape[1]), dtype=np.float32)
    out[: min(n, audio.shape[0])] = audio[:n]
    return out
