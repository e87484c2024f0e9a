"""The singer: a ``VocalPart`` in, a mono vocal track out.

Each word is spoken once by the part's speech source (``sources``: Flite for English, eSpeak
NG for the rest), analysed once by WORLD, then re-timed onto its notes: onset consonants
start early so the vowel lands on the beat, the middle of the vowel is stretched to fill the
note, and the coda closes the note. The pitch is the note itself
(not an offset of the speech melody), with a short portamento and a delayed vibrato.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt
import soxr

from cadenza.compose.score import VocalNote, VocalPart, VoiceSettings
from cadenza.compose.voice import sources as speech
from cadenza.compose.voice import world
from cadenza.compose.voice.phonemes import (
    SyllableSpan,
    fit_syllables,
    is_vowel,
    syllabify,
    word_text,
)
from cadenza.compose.voice.world import FRAME_MS, Analysis, Array

PEAK = 0.5  # -6 dBFS: the mixer sets the final level
ONSET_MAX_S = 0.18
ONSET_SHARE = 0.5  # an onset may take at most this share of the previous syllable
CODA_SHARE = 0.35
STRETCH_EDGE = 0.2  # first and last 20 % of a vowel keep their natural speed
PORTAMENTO_S = 0.05
VIBRATO_DELAY_S = 0.25
VIBRATO_FADE_S = 0.15
PHRASE_GAP_S = 0.3
FADE_S = 0.004
MIN_SOUND_S = 0.2  # a word's last note is never cut shorter than this
FEMALE_FORMANT = speech.GENDER_FORMANT["female"]
_RANGES = {"male": (43.0, 67.0), "female": (53.0, 79.0)}
#: The lowest note sung (F#2, 92.5 Hz), below which the speech voices lose their body;
#: WORLD itself reaches ~44 Hz with the 512-point synthesis FFT (``world.lowest_f0``),
#: leaving room for a vibrato half a semitone under the note. Lower notes go an octave up.
LOWEST_NOTE = 42


@dataclass
class _Note:
    start: float
    end: float
    midi: float
    velocity: int


@dataclass
class _Syllable:
    notes: list[_Note]
    text: str
    word: int = -1
    span: SyllableSpan | None = None

    @property
    def start(self) -> float:
        return self.notes[0].start

    @property
    def end(self) -> float:
        return self.notes[-1].end


@dataclass
class _Word:
    language: str
    syllables: list[_Syllable] = field(default_factory=list)


@dataclass
class _Source:
    spoken: speech.Speech
    analysis: Analysis
    source: speech.SpeechSource
    offset: int = 0


#: A spoken word in the bank: (text, speech source key).
_Key = tuple[str, str]


class VoiceBank:
    """Spoken words and their WORLD analyses, shared by every part of one song.

    The lead and its harmonies sing the same words, so each distinct (text, source) is
    spoken and analysed once per song. All texts given to one ``load`` are spoken in a
    fixed order (first appearance, then one hum per source; each source in one fresh
    process), so the same song always gets the same speech. Do not keep a bank across
    songs: what a song sounds like would then depend on what was sung before.
    """

    def __init__(self, reuse_phrases: bool = True) -> None:
        self.by_key: dict[_Key, int] = {}
        self.sources: list[_Source] = []
        self._speakers: dict[str, speech.SpeechSource] = {}
        self._stacks: dict[tuple[str, str, float], tuple[Array, Array, Array, Array]] = {}
        self.reuse_phrases = reuse_phrases
        self._phrases: dict[tuple[object, ...], tuple[Array, npt.NDArray[np.int64]]] = {}
        #: phrases actually synthesised (the others were repeats)
        self.synthesized = 0

    def load(self, keys: list[tuple[str, speech.SpeechSource]]) -> None:
        """Speak and analyse the (text, source) pairs not loaded yet (plus each new
        source's hum)."""
        for _, source in keys:
            self._speakers.setdefault(source.key, source)
        ordered = [k for k in dict.fromkeys((t, s.key) for t, s in keys) if k not in self.by_key]
        used = sorted({s.key for _, s in keys})
        hums = [(self._speakers[k].hum, k) for k in used]
        ordered += [k for k in hums if k not in ordered and k not in self.by_key]
        if not ordered:
            return
        spoken = speech.speak_all([(t, self._speakers[k]) for t, k in ordered])
        for key, said in zip(ordered, spoken, strict=True):
            vowels = [(p.start, p.end) for p in said.phones if is_vowel(p.ipa)]
            source = self._speakers[key[1]]
            analysis = world.analyse(said.samples, said.sample_rate, vowels, source.envelope_floor)
            sp = world.extend_band(analysis.sp, said.band_hz, said.sample_rate)
            if sp is not analysis.sp:
                analysis = replace(analysis, sp=sp)
            self.by_key[key] = len(self.sources)
            self.sources.append(_Source(said, analysis, source))
        self._stacks.clear()
        self._phrases.clear()

    def get(self, text: str, source: speech.SpeechSource) -> int:
        return self.by_key[(text, source.key)]

    def stack(self, voice: VoiceSettings) -> tuple[Array, Array, Array, Array]:
        """All sources' frames in one array each, so re-timing is a single gather.

        Each source's envelope is formant-warped (by its own factor for this voice)
        straight onto the synthesis FFT's bins (see ``world.SYNTH_FFT``); cached per
        singer and formant setting.
        """
        key = (voice.singer, voice.gender, voice.formant_scale)
        cached = self._stacks.get(key)
        if cached is not None:
            return cached
        offset = 0
        for source in self.sources:
            source.offset = offset
            offset += source.analysis.frames
        f0 = np.concatenate([s.analysis.f0 for s in self.sources])
        sp = np.concatenate(
            [
                world.synthesis_envelope(s.analysis.sp, _formant_factor(voice, s.source))
                for s in self.sources
            ]
        )
        ap = np.concatenate([s.analysis.ap for s in self.sources])
        frames = np.array([s.analysis.frames for s in self.sources], dtype=np.float64)
        stacked = (f0, sp, ap, frames)
        self._stacks[key] = stacked
        return stacked

    def phrase(
        self, shape: _Shape, voice: VoiceSettings, sample_rate: int
    ) -> tuple[Array, npt.NDArray[np.int64]]:
        """A phrase's audio at ``sample_rate`` (full velocity) and its frames' syllables.

        The audio is a pure function of the key below, so a repeated line (a chorus, a
        double) is synthesised once and is the very same samples as a fresh synthesis.
        Callers must not modify what they get.
        """
        key = (
            shape,
            voice.singer,
            voice.gender,
            voice.formant_scale,
            voice.vibrato_rate_hz,
            voice.vibrato_depth_cents,
            voice.breathiness,
            sample_rate,
        )
        found = self._phrases.get(key)
        if found is not None:
            return found
        rate = speech.ANALYSIS_RATE
        stacked = self.stack(voice)  # also places each source in the stack (its offset)
        plan = _plan(shape, self, float(rate))
        audio = _render_shape(shape, plan, stacked, voice, rate)
        if sample_rate != rate:
            audio = soxr.resample(audio, rate, sample_rate, quality="HQ")
        self.synthesized += 1
        result = (audio, plan.owner)
        if self.reuse_phrases:
            self._phrases[key] = result
        return result


def _midi_to_hz(midi: Array) -> Array:
    hz: Array = 440.0 * np.power(2.0, (midi - 69.0) / 12.0)
    return hz


def _octave_shift(notes: list[VocalNote], voice: VoiceSettings) -> int:
    """Octaves that bring the part's median into the singer's range."""
    if not notes:
        return 0
    median = float(np.median([n.pitch + voice.transpose for n in notes]))
    low, high = _RANGES.get(voice.gender, _RANGES["male"])
    shift = 0
    while median + shift < low:
        shift += 12
    while median + shift > high:
        shift -= 12
    return shift


def _words(part: VocalPart, tempo_bpm: float, total_seconds: float) -> list[_Word]:
    """Notes in seconds, grouped into words and syllables (melisma notes join their syllable)."""
    beat = 60.0 / tempo_bpm
    shift = _octave_shift(part.notes, part.voice) + part.voice.transpose
    ordered = sorted(
        (n for n in part.notes if n.duration > 0 and n.start * beat < total_seconds),
        key=lambda n: (n.start, n.pitch),
    )
    timed: list[tuple[VocalNote, _Note]] = []
    for i, n in enumerate(ordered):
        start = max(0.0, n.start * beat)
        end = min((n.start + n.duration) * beat, total_seconds)
        if i + 1 < len(ordered):
            end = min(end, ordered[i + 1].start * beat)
        if end - start > 1e-3:
            pitch = n.pitch + shift
            while pitch < LOWEST_NOTE:
                pitch += 12
            timed.append((n, _Note(start, end, float(pitch), n.velocity)))
    words: list[_Word] = []
    last_key: tuple[int, str] | None = None
    for n, note in timed:
        key = (n.word_index, n.language)
        if n.continues and words and words[-1].syllables:
            words[-1].syllables[-1].notes.append(note)
            continue
        if key != last_key or not words:
            words.append(_Word(n.language))
            last_key = key
        words[-1].syllables.append(_Syllable([note], n.syllable or ""))
    _articulate(words, speech.singer(part.voice.singer).articulation)
    return words


def _articulate(words: list[_Word], articulation: float) -> None:
    """Release each English word's last note early: it sounds for ``articulation`` of its length
    (never less than ``MIN_SOUND_S``), then rests until the next word.

    A vowel held through every long note runs the words together: speech recognition
    (and a listener) finds the word boundaries in the releases.
    """
    if articulation >= 1.0:
        return
    for word in words:
        voice = word_text([s.text for s in word.syllables], word.language)[1]
        if not word.syllables or voice != "en-us":
            continue  # measured on English only: other languages sing legato as they did
        note = word.syllables[-1].notes[-1]
        length = note.end - note.start
        if length > MIN_SOUND_S:
            note.end = note.start + max(MIN_SOUND_S, articulation * length)


def _word_keys(words: list[_Word], singer: str) -> list[tuple[str, speech.SpeechSource]]:
    keys: list[tuple[str, speech.SpeechSource]] = []
    for word in words:
        text, voice = word_text([s.text for s in word.syllables], word.language)
        keys.append((text, speech.source_for(singer, voice)))
    return keys


def _attach_sources(words: list[_Word], store: VoiceBank, singer: str) -> list[_Syllable]:
    """Speak each word and give each syllable its span of the spoken word."""
    out: list[_Syllable] = []
    keys = _word_keys(words, singer)
    store.load(keys)
    for word, (text, source) in zip(words, keys, strict=True):
        index = store.get(text, source)
        said = store.sources[index].spoken
        spans = syllabify(said.phones)
        if not spans:
            index = store.get(source.hum, source)
            spans = syllabify(store.sources[index].spoken.phones)
        if not spans:  # the source gave no vowel even for the hum: sing the whole sound
            n = max(store.sources[index].spoken.length, 1)
            spans = [SyllableSpan(0, 0, n, n)]
        fitted = fit_syllables(spans, len(word.syllables))
        for syllable, span in zip(word.syllables, fitted, strict=True):
            if span is None and out and out[-1].word == index:
                out[-1].notes.extend(syllable.notes)
                continue
            syllable.word = index
            syllable.span = span if span is not None else spans[-1]
            out.append(syllable)
    return out


def _phrases(syllables: list[_Syllable]) -> list[list[_Syllable]]:
    phrases: list[list[_Syllable]] = []
    for syllable in syllables:
        if phrases and syllable.start - phrases[-1][-1].end <= PHRASE_GAP_S:
            phrases[-1].append(syllable)
        else:
            phrases.append([syllable])
    return phrases


@dataclass(frozen=True)
class _SyllableShape:
    """One syllable of a phrase in phrase time (seconds from the phrase's first sound)."""

    word: int
    span: SyllableSpan
    onset: float  # seconds sung before the beat
    notes: tuple[tuple[float, float, float], ...]  # (start, end, midi)

    @property
    def start(self) -> float:
        return self.notes[0][0]

    @property
    def end(self) -> float:
        return self.notes[-1][1]


#: A phrase as its synthesis sees it: everything the sound depends on except where the
#: phrase lies in the song and how loud each note is (both applied after synthesis), so
#: repeated lines (choruses) share one synthesis.
_Shape = tuple[_SyllableShape, ...]
_TIME_DIGITS = 6  # phrase times are kept to the microsecond: repeats compare equal


def _shape(phrase: list[_Syllable], rate: float) -> tuple[float, _Shape]:
    """Where the phrase's first sound starts in the song, and the phrase in phrase time."""
    onsets: list[float] = []
    for i, syl in enumerate(phrase):
        assert syl.span is not None
        onset_src = (syl.span.vowel_start - syl.span.onset) / rate
        room = syl.start if i == 0 else ONSET_SHARE * (syl.start - phrase[i - 1].start)
        onsets.append(max(0.0, min(onset_src, ONSET_MAX_S, room)))
    origin = phrase[0].start - onsets[0]
    shape: list[_SyllableShape] = []
    for syl, onset in zip(phrase, onsets, strict=True):
        assert syl.span is not None
        notes = tuple(
            (
                round(n.start - origin, _TIME_DIGITS),
                round(n.end - origin, _TIME_DIGITS),
                n.midi,
            )
            for n in syl.notes
        )
        shape.append(_SyllableShape(syl.word, syl.span, round(onset, _TIME_DIGITS), notes))
    return origin, tuple(shape)


@dataclass
class _Plan:
    """Where each output frame of a phrase takes its sound from (frame 0 at phrase time 0)."""

    source: Array  # global source frame position (fractional), -1 = silence
    vowel: npt.NDArray[np.bool_]  # inside a held vowel
    owner: npt.NDArray[np.int64]  # the syllable sounding in each frame, -1 = none


def _frame_times(count: int) -> Array:
    times: Array = np.arange(count, dtype=np.float64) * (FRAME_MS / 1000.0)
    return times


def _plan(shape: _Shape, store: VoiceBank, rate: float) -> _Plan:
    """The time map: onset before the beat, stretched vowel, coda at the end of the note."""
    fp = FRAME_MS / 1000.0
    times = _frame_times(math.ceil(shape[-1].end / fp) + 2)
    source = np.full(times.shape, -1.0)
    vowel = np.zeros(times.shape, dtype=bool)
    owner = np.full(times.shape, -1, dtype=np.int64)
    for i, syl in enumerate(shape):
        span = syl.span
        offset = store.sources[syl.word].offset
        frames = store.sources[syl.word].analysis.frames
        end = syl.end
        if i + 1 < len(shape):
            end = min(end, shape[i + 1].start - shape[i + 1].onset)
        end = max(end, syl.start + fp)
        on_s, v_s, v_e, c_e = (
            span.onset / rate,
            span.vowel_start / rate,
            span.vowel_end / rate,
            span.coda_end / rate,
        )
        coda = min(c_e - v_e, CODA_SHARE * (end - syl.start))
        held = end - syl.start - coda
        length = v_e - v_s
        out_knots = [syl.start - syl.onset, syl.start]
        src_knots = [on_s, v_s]
        if held > length > 0:
            edge = STRETCH_EDGE * length
            out_knots += [syl.start + edge, syl.start + held - edge]
            src_knots += [v_s + edge, v_e - edge]
        out_knots += [syl.start + held, end]
        src_knots += [v_e, c_e]
        xp, fpk = _increasing(out_knots, src_knots)
        mask = (times >= xp[0]) & (times < end)
        if not mask.any():
            continue
        src_t = np.interp(times[mask], xp, fpk)
        source[mask] = offset + np.clip(src_t / fp, 0.0, frames - 1.0)
        vowel[mask] = (times[mask] >= syl.start) & (times[mask] < syl.start + held)
        owner[mask] = i
    return _Plan(source, vowel, owner)


def _gains(shape: _Shape, owner: npt.NDArray[np.int64], velocities: list[list[int]]) -> Array:
    """Per-frame loudness of the notes (their velocities), frame 0 at phrase time 0."""
    times = _frame_times(owner.shape[0])
    gain = np.ones(times.shape)
    for i, (syl, notes) in enumerate(zip(shape, velocities, strict=True)):
        mine = owner == i
        for (start, end, _), velocity in zip(syl.notes, notes, strict=True):
            inside = mine & (times >= start - syl.onset) & (times < end)
            gain[inside] = min(1.2, max(0.2, velocity / 100.0))
    return gain


def _increasing(xs: list[float], ys: list[float]) -> tuple[Array, Array]:
    """Knots with strictly increasing x (zero-length segments dropped)."""
    px, py = [xs[0]], [ys[0]]
    for x, y in zip(xs[1:], ys[1:], strict=True):
        if x > px[-1] + 1e-9:
            px.append(x)
            py.append(y)
        else:
            py[-1] = y
    return np.array(px), np.array(py)


def _pitch(times: Array, shape: _Shape, voice: VoiceSettings) -> Array:
    """The sung pitch (MIDI, fractional): the notes, glided into and with vibrato."""
    notes = [n for syl in shape for n in syl.notes]
    starts = np.array([n[0] for n in notes])
    ends = np.array([n[1] for n in notes])
    midis = np.array([n[2] for n in notes])
    idx = np.clip(np.searchsorted(starts, times, side="right") - 1, 0, len(notes) - 1)
    pitch = midis[idx].copy()
    rel = times - starts[idx]
    previous = np.clip(idx - 1, 0, None)
    porta = np.minimum(PORTAMENTO_S, 0.3 * (ends[idx] - starts[idx]))
    gliding = (idx > 0) & (rel >= 0) & (rel < porta) & (starts[idx] - ends[previous] < 0.1)
    u = np.where(gliding, rel / np.maximum(porta, 1e-6), 1.0)
    smooth = u * u * (3.0 - 2.0 * u)
    pitch = np.where(gliding, midis[previous] + (midis[idx] - midis[previous]) * smooth, pitch)
    late = rel - VIBRATO_DELAY_S
    depth = voice.vibrato_depth_cents / 100.0 * np.clip(late / VIBRATO_FADE_S, 0.0, 1.0)
    vibrato = depth * np.sin(2.0 * np.pi * voice.vibrato_rate_hz * np.maximum(late, 0.0))
    result: Array = pitch + np.where(late > 0, vibrato, 0.0)
    return result


def _aperiodicity_shape(bins: int, rate: float, breathiness: float) -> tuple[Array, Array]:
    """Per-bin cap and floor of vowel aperiodicity: clean low band, some air up high."""
    hz = np.linspace(0.0, rate / 2.0, bins)
    cap = np.interp(hz, [0.0, 3000.0, 8000.0, rate / 2.0], [0.05, 0.1, 0.6, 0.9])
    # eSpeak's source is perfectly periodic up to Nyquist, which WORLD turns into buzz:
    # voices carry mostly noise above ~5 kHz.
    floor = np.interp(hz, [0.0, 3000.0, 6000.0, rate / 2.0], [0.0, 0.05, 0.35, 0.7])
    breath = max(0.0, min(1.0, breathiness))
    floor = floor + breath * (0.2 + 0.6 * hz / (rate / 2.0))
    cap = np.maximum(cap, floor)
    return cap, floor


def _consonant_cap(bins: int, rate: float) -> Array:
    hz = np.linspace(0.0, rate / 2.0, bins)
    cap: Array = np.interp(hz, [0.0, 1500.0, 4000.0, rate / 2.0], [0.2, 0.3, 1.0, 1.0])
    return cap


def _render_shape(
    shape: _Shape,
    plan: _Plan,
    stacked: tuple[Array, Array, Array, Array],
    voice: VoiceSettings,
    rate: int,
) -> Array:
    """The phrase's audio at the analysis rate, every note at full velocity."""
    f0_src, sp_src, ap_src, _ = stacked
    times = _frame_times(plan.source.shape[0])
    sounding = plan.source >= 0
    pos = np.where(sounding, plan.source, 0.0)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, sp_src.shape[0] - 1)
    frac = (pos - lo)[:, None]
    sp = sp_src[lo] * (1.0 - frac) + sp_src[hi] * frac
    ap = ap_src[lo] * (1.0 - frac) + ap_src[hi] * frac
    near = np.rint(pos).astype(np.int64)
    voiced = sounding & (plan.vowel | (f0_src[near] > 0))
    f0 = np.where(voiced, _midi_to_hz(_pitch(times, shape, voice)), 0.0)
    cap, floor = _aperiodicity_shape(sp.shape[1], float(rate), voice.breathiness)
    held = plan.vowel & sounding
    ap[held] = np.clip(ap[held], floor, cap)
    consonant = voiced & ~held  # voiced consonants: a clear low band, their own noise above
    ap[consonant] = np.minimum(ap[consonant], _consonant_cap(ap.shape[1], float(rate)))
    sp[~sounding] = world.silence_power()
    ap[~sounding] = 1.0
    return world.synthesize(f0, sp, np.clip(ap, 0.0, 1.0), rate)


def _formant_factor(voice: VoiceSettings, source: speech.SpeechSource) -> float:
    """The envelope's frequency scale for words spoken by ``source``.

    A female voice left at the neutral 1.0 reads as 1.17 (eSpeak-based trials put the
    useful range at 1.15-1.2; more costs intelligibility); any other value is taken as
    given. eSpeak's words take it as it is; a named singer's own source is scaled relative
    to the gender's neutral setting (a female source needs no shift).
    """
    scale = voice.formant_scale
    if abs(scale - 1.0) < 1e-9 and voice.gender == "female":
        scale = FEMALE_FORMANT
    if not isinstance(source, speech.EspeakSource):
        scale = speech.formant_factor(voice.singer, voice.gender, scale)
    return float(min(1.45, max(0.75, scale)))


def sing(
    part: VocalPart,
    tempo_bpm: float,
    total_seconds: float,
    sample_rate: int = 44100,
    bank: VoiceBank | None = None,
) -> np.ndarray:
    """Sing ``part``: float32 mono, ``round(total_seconds * sample_rate)`` samples, peak -6 dBFS.

    Notes are the sounding pitches plus ``voice.transpose``, moved by whole octaves only when
    the part's median falls outside the singer's range. Deterministic: no randomness at all.
    ``bank`` shares speech between the parts of one song (see ``sing_parts``).
    """
    length = max(0, round(total_seconds * sample_rate))
    if length == 0 or tempo_bpm <= 0 or not part.notes:
        return np.zeros(length, dtype=np.float32)
    words = _words(part, tempo_bpm, total_seconds)
    return _sing_words(part, words, length, sample_rate, bank or VoiceBank())


def _sing_words(
    part: VocalPart,
    words: list[_Word],
    length: int,
    sample_rate: int,
    store: VoiceBank,
    until_s: float | None = None,
) -> np.ndarray:
    out = np.zeros(length, dtype=np.float32)
    syllables = _attach_sources(words, store, part.voice.singer)
    if not syllables:
        return out
    fade = max(1, int(FADE_S * sample_rate))
    ramp = np.linspace(0.0, 1.0, fade)
    rate = float(speech.ANALYSIS_RATE)
    for phrase in _phrases(syllables):
        if until_s is not None and phrase[0].start >= until_s:
            break  # phrases come in time order
        origin, shape = _shape(phrase, rate)
        audio, owner = store.phrase(shape, part.voice, sample_rate)
        velocities = [[n.velocity for n in syl.notes] for syl in phrase]
        gain = _gains(shape, owner, velocities)
        at_samples = np.arange(audio.shape[0], dtype=np.float64) / sample_rate
        audio = audio * np.interp(at_samples, _frame_times(gain.shape[0]), gain)
        if audio.shape[0] > 2 * fade:
            audio[:fade] *= ramp
            audio[-fade:] *= ramp[::-1]
        at = round(origin * sample_rate)
        if at < 0:
            audio, at = audio[-at:], 0
        stop = min(length, at + audio.shape[0])
        if stop > at:
            out[at:stop] += audio[: stop - at]
    peak = max(float(out.max()), -float(out.min()))  # no song-length temporary
    if peak > 0:
        out *= np.float32(PEAK / peak)
    return out


def sing_parts(
    parts: list[VocalPart],
    tempo_bpm: float,
    total_seconds: float,
    sample_rate: int = 44100,
    progress: Callable[[float], None] | None = None,
    *,
    bank: VoiceBank | None = None,
    until_s: float | None = None,
) -> list[np.ndarray]:
    """Sing every part of a song, each as ``sing`` would, speaking each word only once.

    The words of all parts are spoken by one eSpeak process and analysed once, so
    harmonies and doubles cost only their synthesis.

    ``until_s`` sings the beginning only (a preview): the phrases that start before it,
    into arrays ``until_s`` long, each part scaled by its own peak so far. Every word of
    the song is still spoken, in the order a whole song speaks them, so a later call for
    the whole song with the same ``bank`` gives the very samples of a fresh one and
    reuses the phrases synthesised here instead of synthesising them again.
    """
    bank = VoiceBank() if bank is None else bank
    length = max(0, round(total_seconds * sample_rate))
    if until_s is not None:
        length = min(length, max(0, round(until_s * sample_rate)))
    if length == 0 or tempo_bpm <= 0:
        return [np.zeros(length, dtype=np.float32) for _ in parts]
    words = [_words(p, tempo_bpm, total_seconds) for p in parts]
    bank.load([k for p, w in zip(parts, words, strict=True) for k in _word_keys(w, p.voice.singer)])
    sung: list[np.ndarray] = []
    for part, part_words in zip(parts, words, strict=True):
        sung.append(_sing_words(part, part_words, length, sample_rate, bank, until_s))
        if progress is not None:
            progress(len(sung) / len(parts))
    return sung
