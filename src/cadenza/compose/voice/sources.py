"""Speech sources the singer re-times and re-pitches, and the singers built on them.

A speech source turns words into a waveform with each phoneme's sample span. The singer
needs nothing else, so any synthesiser that reports its phoneme timing can sing. Flite's
US-English voices (Debian ``libflite1``) are the English singers: pocketsphinx's word error
rate on lines they speak is 0.03-0.16 against eSpeak NG's 0.86-0.88, and 0.33-0.43 on the
lines sung against 0.82-0.95 (``benchmarks/voices.py``). eSpeak NG sings every other
language (Mandarin through its ``cmn-latn-pinyin`` voice) and English wherever libflite is
missing.
"""

from __future__ import annotations

import bisect
import itertools
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

import numpy as np
import numpy.typing as npt
import soxr

from cadenza.compose.voice import espeak, flite
from cadenza.compose.voice.espeak import Phone

#: Every source is brought to this rate before analysis, so one song's words share one
#: frequency axis (eSpeak's own rate).
ANALYSIS_RATE = 22050

Array = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Speech:
    """A spoken text at ``sample_rate`` with its phonemes (IPA, sample spans) in order.

    ``band_hz`` is the highest frequency the source itself spoke: resampling a 16 kHz
    voice up to ``ANALYSIS_RATE`` leaves nothing above 8 kHz.
    """

    samples: Array
    sample_rate: int
    phones: tuple[Phone, ...]
    band_hz: float = ANALYSIS_RATE / 2

    @property
    def length(self) -> int:
        return int(self.samples.shape[0])


class SpeechSource(Protocol):
    """Speaks texts with phoneme timings; the same texts must always give the same speech."""

    @property
    def key(self) -> str:
        """Identity of the source and its settings (texts are spoken per key)."""
        ...

    @property
    def hum(self) -> str:
        """A text the source speaks as a plain open vowel."""
        ...

    @property
    def envelope_floor(self) -> float:
        """The lowest speaking pitch (Hz) the envelope analysis must allow for."""
        ...

    def speak_many(self, texts: Sequence[str]) -> list[Speech]:
        """Speak each text, in order, at ``ANALYSIS_RATE``."""
        ...


def _from_pcm(pcm: bytes, rate: int, phones: tuple[Phone, ...]) -> Speech:
    samples = np.frombuffer(pcm, dtype=np.int16).astype(np.float64) / 32768.0
    if rate == ANALYSIS_RATE:
        return Speech(samples, rate, phones)
    resampled = np.asarray(soxr.resample(samples, rate, ANALYSIS_RATE, quality="HQ"))
    ratio = ANALYSIS_RATE / rate
    total = int(resampled.shape[0])
    moved = tuple(
        Phone(p.ipa, min(total, round(p.start * ratio)), min(total, round(p.end * ratio)))
        for p in phones
    )
    phones = tuple(p for p in moved if p.end > p.start)
    return Speech(resampled, ANALYSIS_RATE, phones, band_hz=min(rate, ANALYSIS_RATE) / 2)


#: eSpeak speaks monotone near 140 Hz: a steady source pitch gives clean envelopes, and
#: the sung pitch replaces it anyway.
ESPEAK_RATE_WPM = 150
ESPEAK_PITCH = 90
ESPEAK_RANGE = 0
_ESPEAK_HUM = {"en-us": "ah", "cmn-latn-pinyin": "a1"}


@dataclass(frozen=True)
class EspeakSource:
    """eSpeak NG speaking one of its voices (e.g. ``en-us``, ``cmn-latn-pinyin``)."""

    voice: str

    @property
    def key(self) -> str:
        return f"espeak:{self.voice}"

    @property
    def hum(self) -> str:
        return _ESPEAK_HUM.get(self.voice, "a")

    @property
    def envelope_floor(self) -> float:
        return 130.0

    def speak_many(self, texts: Sequence[str]) -> list[Speech]:
        return _espeak_many([(t, self.voice) for t in texts])


def _espeak_many(texts: Sequence[tuple[str, str]]) -> list[Speech]:
    """(text, eSpeak voice) pairs spoken in order by one fresh eSpeak process."""
    requests = [(t, v, ESPEAK_RATE_WPM, ESPEAK_PITCH, ESPEAK_RANGE) for t, v in texts]
    try:
        utterances = espeak.speak_fresh(requests)
    except espeak.EspeakError:
        # No child process possible here (an embedded interpreter): speak in-process,
        # still correct, only not sample-identical between calls.
        utterances = [espeak.speak(*request) for request in requests]
    return [_from_pcm(u.pcm, u.sample_rate, u.phones) for u in utterances]


@dataclass(frozen=True)
class FliteSource:
    """A Flite voice; ``pitch_hz`` asks its statistical voices for a steady speaking pitch
    (the diphone and some statistical voices keep their own), ``stretch`` slows it down."""

    voice: str
    pitch_hz: float = 0.0
    stretch: float = 1.0
    floor_hz: float = 130.0

    @property
    def key(self) -> str:
        return f"flite:{self.voice}:{self.pitch_hz:g}:{self.stretch:g}"

    @property
    def hum(self) -> str:
        return "ah"

    @property
    def envelope_floor(self) -> float:
        return self.floor_hz

    def _features(self) -> tuple[tuple[str, float], ...]:
        features = [("duration_stretch", self.stretch)]
        if self.pitch_hz > 0:
            features += [("int_f0_target_mean", self.pitch_hz), ("int_f0_target_stddev", 4.0)]
        return tuple(features)

    def speak_many(self, texts: Sequence[str]) -> list[Speech]:
        """Each text is spoken on its own (``flite.speak_fresh`` seeds every text), so a
        word's speech never depends on the song: recent words come from a cache."""
        features = self._features()
        found = {t: _FLITE_CACHE.get((self.key, t)) for t in dict.fromkeys(texts)}
        missing = [t for t, said in found.items() if said is None]
        if missing:
            requests = [(t, self.voice, features) for t in missing]
            try:
                spoken = flite.speak_fresh(requests)
            except flite.FliteError:
                # No child process possible here: in-process, seeded the same way.
                spoken = [flite.speak(*request, seed=flite.SEED) for request in requests]
            for text, said in zip(missing, spoken, strict=True):
                found[text] = said
                _FLITE_CACHE.put((self.key, text), said)
        out: list[Speech] = []
        for text in texts:
            known = found[text]
            assert known is not None
            out.append(_from_pcm(known.pcm, known.sample_rate, known.phones))
        return out


class _Cache:
    """A small thread-safe LRU of Flite speech (16-bit at Flite's rate: ~25 KB a word)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[tuple[str, str], flite.FliteSpeech] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str]) -> flite.FliteSpeech | None:
        with self._lock:
            said = self._items.get(key)
            if said is not None:
                self._items.move_to_end(key)
            return said

    def put(self, key: tuple[str, str], said: flite.FliteSpeech) -> None:
        with self._lock:
            self._items[key] = said
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)


_FLITE_CACHE = _Cache(1024)


def speak_all(requests: Sequence[tuple[str, SpeechSource]]) -> list[Speech]:
    """Speak (text, source) pairs, each source's texts in one call in the order given.

    All eSpeak voices share one call (one process), as they always have: eSpeak's state
    carries from one text to the next, so this keeps a song's speech as it was.
    """
    groups: dict[str, list[int]] = {}
    for i, (_, source) in enumerate(requests):
        group = "espeak" if isinstance(source, EspeakSource) else source.key
        groups.setdefault(group, []).append(i)
    out: dict[int, Speech] = {}
    for group, indices in groups.items():
        if group == "espeak":
            texts = [(requests[i][0], requests[i][1]) for i in indices]
            spoken = _espeak_many([(t, s.voice) for t, s in texts if isinstance(s, EspeakSource)])
        else:
            spoken = requests[indices[0]][1].speak_many([requests[i][0] for i in indices])
        out.update(zip(indices, spoken, strict=True))
    return [out[i] for i in range(len(requests))]


@dataclass(frozen=True)
class Singer:
    """A named singer: the speech source for English, its sex, and its own colour.

    ``formant`` scales the source's envelope at the gender's neutral setting (a male
    source sung as a female voice needs its formants raised; a female source does not).
    ``articulation`` is the share of a word's last note that sounds (see the singer): with
    kal, sung-line WER was 0.72 legato, 0.49 with every note at 0.6 and 0.33 with word ends
    at 0.5 (pocketsphinx loses words in vowels held past ~3x their spoken length).
    ``words`` are tag words that ask for this singer; ``share`` is how often a seed
    draws it among its gender's singers when no tag asks.
    """

    name: str
    gender: str
    english: FliteSource | None
    formant: float
    words: tuple[str, ...] = ()
    articulation: float = 0.5
    share: float = 1.0


#: The legacy singer: eSpeak NG for every language (scores written before singers had
#: names carry an empty name and are sung by it, as they were).
ESPEAK = "espeak"
SINGERS: dict[str, Singer] = {
    s.name: s
    for s in (
        Singer(ESPEAK, "any", None, 1.0, articulation=1.0),
        Singer("kal", "male", FliteSource("kal16", pitch_hz=140.0), 1.0, ("bright", "smooth")),
        Singer(
            "awb",
            "male",
            FliteSource("awb", pitch_hz=140.0),
            1.0,
            ("raspy", "gritty", "rough", "husky"),
        ),
        # Formants measured by intelligibility: slt a touch lower than its own (0.95 beat
        # 1.0 and 1.08), the male diphone voice raised less than eSpeak's 1.17 (1.10).
        Singer(
            "slt", "female", FliteSource("slt", pitch_hz=180.0), 0.95, ("soft", "sweet", "gentle")
        ),
        # Sung only where tags ask: its words are far less clear than slt's (dry lead WER
        # over six seeds, pop 0.47 against 0.29, folk 0.75 against 0.47).
        Singer(
            "kal-f",
            "female",
            FliteSource("kal16", pitch_hz=140.0),
            1.10,
            ("bright", "powerful"),
            share=0.0,
        ),
    )
}
#: The neutral formant setting of each gender in ``VoiceSettings.formant_scale``.
GENDER_FORMANT = {"male": 1.0, "female": 1.17}


def singers_for(gender: str) -> list[str]:
    """The named singers of ``gender``, in a fixed order (installed here or not: a score
    names its singer, and a missing source falls back to eSpeak NG at render time)."""
    return [s.name for s in SINGERS.values() if s.gender == gender]


def singer_words() -> list[str]:
    """Every tag word that asks for a named singer."""
    return sorted({w for s in SINGERS.values() for w in s.words})


def choose_singer(gender: str, tags: str, draw: float) -> str:
    """The singer of ``gender`` that the tags ask for (a tag word such as "raspy"),
    else the one ``draw`` (uniform in [0, 1)) picks."""
    names = singers_for(gender)
    if not names:
        return ESPEAK
    words = set(tags.lower().replace(",", " ").split())
    for name in names:
        if words & set(SINGERS[name].words):
            return name
    edges = list(itertools.accumulate(SINGERS[name].share for name in names))
    if edges[-1] <= 0:
        return names[0]
    return names[min(len(names) - 1, bisect.bisect_right(edges, draw * edges[-1]))]


@lru_cache(maxsize=16)
def _installed(voice: str) -> bool:
    return flite.available(voice)


def singer(name: str) -> Singer:
    """The singer called ``name``; unknown names (and "") are the eSpeak singer."""
    return SINGERS.get(name, SINGERS[ESPEAK])


def source_for(name: str, language_voice: str) -> SpeechSource:
    """What speaks a word for singer ``name`` in eSpeak voice ``language_voice``.

    Only US English goes to the singer's own source, and only where it is installed;
    everything else (Mandarin, other languages, a missing libflite) is eSpeak NG's.
    """
    chosen = singer(name)
    if (
        language_voice == "en-us"
        and chosen.english is not None
        and _installed(chosen.english.voice)
    ):
        return chosen.english
    return EspeakSource(language_voice)


def formant_factor(name: str, gender: str, formant_scale: float) -> float:
    """The envelope's frequency scale for a part: the singer's own, moved by how far the
    part's ``formant_scale`` is from its gender's neutral setting (eSpeak takes it as is)."""
    chosen = singer(name)
    if chosen.english is None:
        return formant_scale
    return chosen.formant * formant_scale / GENDER_FORMANT.get(gender, 1.0)
