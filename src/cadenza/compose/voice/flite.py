"""A minimal ctypes binding to libflite (CMU Flite 2.x): speech with its phoneme timings.

Flite's US-English voices (Debian ``libflite1``) are far easier to understand than eSpeak
NG's, and its utterance keeps a ``Segment`` relation whose items carry each phoneme's end
time, so the singer gets exact phoneme spans as it does from eSpeak. Flite keeps global
state (voice list, lexicon caches), so every call goes through one lock. Its statistical
voices draw excitation noise from the C library's ``rand()``, which the process shares
with other libraries (FluidSynth): ``speak_fresh`` therefore runs this very file as a
short-lived child process (standard library only) that seeds ``rand()`` before each text,
so the same text always gives the same samples, whatever else the process does.
"""

from __future__ import annotations

import ctypes
import json
import subprocess
import sys
import threading
from dataclasses import dataclass
from typing import Any

if __package__:
    from cadenza.compose.voice.espeak import Phone
else:  # the child process of ``speak_fresh``: the sibling module by path, no package
    import importlib.util
    import os

    _spec = importlib.util.spec_from_file_location(
        "espeak", os.path.join(os.path.dirname(os.path.abspath(__file__)), "espeak.py")
    )
    assert _spec is not None and _spec.loader is not None
    _module = importlib.util.module_from_spec(_spec)
    sys.modules["espeak"] = _module
    _spec.loader.exec_module(_module)
    Phone = _module.Phone  # type: ignore[misc]

_LIBRARY = "libflite.so.1"
_LANG_LIBRARIES = ("libflite_usenglish.so.1", "libflite_cmulex.so.1")
#: Voices shipped by Debian's libflite1 (register function suffix = library suffix).
VOICES = ("slt", "rms", "awb", "kal16", "kal")

#: Flite's US-English phone set in IPA, so the singer's vowel test reads both sources alike.
_IPA = {
    "aa": "ɑ",
    "ae": "æ",
    "ah": "ʌ",
    "ao": "ɔ",
    "aw": "aʊ",
    "ax": "ə",
    "axr": "ɚ",
    "ay": "aɪ",
    "eh": "ɛ",
    "er": "ɝ",
    "ey": "eɪ",
    "ih": "ɪ",
    "iy": "i",
    "ow": "oʊ",
    "oy": "ɔɪ",
    "uh": "ʊ",
    "uw": "u",
    "ch": "tʃ",
    "dh": "ð",
    "hh": "h",
    "jh": "dʒ",
    "ng": "ŋ",
    "r": "ɹ",
    "sh": "ʃ",
    "th": "θ",
    "y": "j",
    "zh": "ʒ",
    "pau": "",
    "h#": "",
    "brth": "",
}


class FliteError(RuntimeError):
    """libflite or the asked voice is missing, or synthesis failed."""


class _Voice(ctypes.Structure):
    _fields_ = (("name", ctypes.c_char_p), ("features", ctypes.c_void_p))


class _Wave(ctypes.Structure):
    _fields_ = (
        ("type", ctypes.c_char_p),
        ("sample_rate", ctypes.c_int),
        ("num_samples", ctypes.c_int),
        ("num_channels", ctypes.c_int),
        ("samples", ctypes.POINTER(ctypes.c_short)),
    )


@dataclass(frozen=True)
class FliteSpeech:
    """Flite's audio for a text (16-bit native-endian mono) with its phonemes in order."""

    pcm: bytes
    sample_rate: int
    phones: tuple[Phone, ...]


def ipa(name: str) -> str:
    """The IPA spelling of a Flite phone ('' for pauses)."""
    return _IPA.get(name, name)


class _Engine:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lib: Any = None
        self._voices: dict[str, Any] = {}
        self._keep: list[Any] = []

    def _load(self) -> Any:
        if self._lib is not None:
            return self._lib
        try:
            for name in _LANG_LIBRARIES:  # the voices resolve their language through these
                self._keep.append(ctypes.CDLL(name, mode=ctypes.RTLD_GLOBAL))
            lib = ctypes.CDLL(_LIBRARY, mode=ctypes.RTLD_GLOBAL)
        except OSError as exc:
            raise FliteError(f"libflite is not installed: {exc}") from exc
        lib.flite_init.restype = ctypes.c_int
        lib.flite_synth_text.argtypes = (ctypes.c_char_p, ctypes.c_void_p)
        lib.flite_synth_text.restype = ctypes.c_void_p
        lib.utt_wave.argtypes = (ctypes.c_void_p,)
        lib.utt_wave.restype = ctypes.POINTER(_Wave)
        lib.utt_relation.argtypes = (ctypes.c_void_p, ctypes.c_char_p)
        lib.utt_relation.restype = ctypes.c_void_p
        lib.relation_head.argtypes = (ctypes.c_void_p,)
        lib.relation_head.restype = ctypes.c_void_p
        lib.item_next.argtypes = (ctypes.c_void_p,)
        lib.item_next.restype = ctypes.c_void_p
        lib.item_feat_string.argtypes = (ctypes.c_void_p, ctypes.c_char_p)
        lib.item_feat_string.restype = ctypes.c_char_p
        lib.item_feat_float.argtypes = (ctypes.c_void_p, ctypes.c_char_p)
        lib.item_feat_float.restype = ctypes.c_float
        lib.delete_utterance.argtypes = (ctypes.c_void_p,)
        lib.delete_utterance.restype = None
        lib.flite_feat_set_float.argtypes = (ctypes.c_void_p, ctypes.c_char_p, ctypes.c_float)
        lib.flite_feat_set_float.restype = None
        lib.flite_init()
        self._lib = lib
        return lib

    def _voice(self, name: str) -> Any:
        voice = self._voices.get(name)
        if voice is not None:
            return voice
        if name not in VOICES:
            raise FliteError(f"Flite has no voice {name!r}")
        try:
            module = ctypes.CDLL(f"libflite_cmu_us_{name}.so.1", mode=ctypes.RTLD_GLOBAL)
        except OSError as exc:
            raise FliteError(f"Flite voice {name!r} is not installed: {exc}") from exc
        register = getattr(module, f"register_cmu_us_{name}")
        register.argtypes = (ctypes.c_char_p,)
        register.restype = ctypes.POINTER(_Voice)
        voice = register(None)
        if not voice:
            raise FliteError(f"Flite voice {name!r} failed to load")
        self._keep.append(module)
        self._voices[name] = voice
        return voice

    def speak(
        self, text: str, voice: str, features: tuple[tuple[str, float], ...], seed: int | None
    ) -> FliteSpeech:
        with self._lock:
            lib = self._load()
            v = self._voice(voice)
            if seed is not None:
                ctypes.CDLL(None).srand(ctypes.c_uint(seed))
            for key, value in features:
                lib.flite_feat_set_float(v.contents.features, key.encode("ascii"), value)
            utt = lib.flite_synth_text(text.encode("utf-8"), ctypes.cast(v, ctypes.c_void_p))
            if not utt:
                raise FliteError(f"Flite could not speak {text!r}")
            try:
                wave = lib.utt_wave(utt)
                if not wave:
                    raise FliteError(f"Flite gave no audio for {text!r}")
                w = wave.contents
                count = int(w.num_samples) * max(1, int(w.num_channels))
                pcm = ctypes.string_at(w.samples, count * 2) if count > 0 else b""
                rate = int(w.sample_rate)
                segments: list[tuple[str, float]] = []
                relation = lib.utt_relation(utt, b"Segment")
                item = lib.relation_head(relation) if relation else None
                while item:
                    name = (lib.item_feat_string(item, b"name") or b"").decode("ascii", "replace")
                    segments.append((name, float(lib.item_feat_float(item, b"end"))))
                    item = lib.item_next(item)
            finally:
                lib.delete_utterance(utt)
        return FliteSpeech(pcm, rate, _phones(segments, rate, len(pcm) // 2))


def _phones(segments: list[tuple[str, float]], rate: int, total: int) -> tuple[Phone, ...]:
    """Segments (name, end time) as sample spans: a segment starts where the last ended."""
    phones: list[Phone] = []
    start = 0
    for name, end_s in segments:
        end = min(total, max(start, round(end_s * rate)))
        if end > start:
            phones.append(Phone(ipa(name), start, end))
        start = end
    return tuple(phones)


_ENGINE = _Engine()


def speak(
    text: str,
    voice: str,
    features: tuple[tuple[str, float], ...] = (),
    seed: int | None = None,
) -> FliteSpeech:
    """Speak ``text`` with the Flite voice ``voice`` (one of ``VOICES``).

    ``features`` sets voice features first, e.g. ``int_f0_target_mean`` (Hz) or
    ``duration_stretch`` (> 1 is slower); they stay set for later calls with that voice.
    ``seed`` seeds the C library's ``rand()`` first (process-wide: see ``speak_fresh``).
    """
    return _ENGINE.speak(text, voice, features, seed)


Request = tuple[str, str, tuple[tuple[str, float], ...]]  # text, voice, features
#: What ``speak_fresh`` seeds ``rand()`` with before every text.
SEED = 1


def speak_fresh(requests: list[Request], timeout_s: float = 300.0) -> list[FliteSpeech]:
    """Speak each request, in order, in a fresh child process: reproducible to the sample."""
    if not requests:
        return []
    payload = json.dumps([[t, v, [list(f) for f in fs]] for t, v, fs in requests])
    try:
        done = subprocess.run(
            [sys.executable, "-I", "-S", __file__],
            input=payload.encode("utf-8"),
            capture_output=True,
            timeout=timeout_s,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise FliteError(f"Flite worker failed: {exc}") from exc
    if done.returncode != 0:
        tail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:]
        raise FliteError(f"Flite worker failed: {' '.join(tail) or done.returncode}")
    return _decode(done.stdout, len(requests))


def _decode(data: bytes, count: int) -> list[FliteSpeech]:
    out: list[FliteSpeech] = []
    at = 0
    for _ in range(count):
        end = data.index(b"\n", at)
        head = json.loads(data[at:end])
        if head.get("error"):
            raise FliteError(str(head["error"]))
        size = int(head["bytes"])
        pcm = data[end + 1 : end + 1 + size]
        phones = tuple(Phone(str(p[0]), int(p[1]), int(p[2])) for p in head["phones"])
        out.append(FliteSpeech(pcm, int(head["rate"]), phones))
        at = end + 1 + size
    return out


def _serve() -> None:
    """Child side of ``speak_fresh``: requests as JSON on stdin, speech on stdout."""
    requests = json.loads(sys.stdin.buffer.read().decode("utf-8"))
    out = sys.stdout.buffer
    for text, voice, features in requests:
        try:
            feats = tuple((str(k), float(v)) for k, v in features)
            s = speak(str(text), str(voice), feats, SEED)
            head = {
                "rate": s.sample_rate,
                "bytes": len(s.pcm),
                "phones": [[p.ipa, p.start, p.end] for p in s.phones],
            }
            out.write(json.dumps(head).encode("utf-8") + b"\n" + s.pcm)
        except FliteError as exc:
            out.write(json.dumps({"error": str(exc)}).encode("utf-8") + b"\n")
    out.flush()


def available(voice: str) -> bool:
    """Whether libflite and ``voice`` load here."""
    try:
        with _ENGINE._lock:
            _ENGINE._load()
            _ENGINE._voice(voice)
    except FliteError:
        return False
    return True


if __name__ == "__main__":
    _serve()
